"""The steal share and CPU stalls benchmarks report next to real-time figures (tools/benchmarks/machine.py)."""
from __future__ import annotations

import os
import time

from tools.benchmarks import machine


def test_steal_share_is_the_steal_column_over_all_cpu_time(tmp_path, monkeypatch) -> None:
    stat = tmp_path / "stat"
    monkeypatch.setattr(machine, "PROC_STAT", stat)
    stat.write_text("cpu  100 0 50 800 0 0 10 40 0 0\ncpu0 1 2 3\n")  # 1000 jiffies, 40 of them stolen
    with machine.CpuSteal() as steal:
        stat.write_text("cpu  400 0 100 1300 0 0 20 180 0 0\n")  # +1000 jiffies, +140 stolen
    assert steal.share == 0.14


def test_no_steal_column_gives_none(tmp_path, monkeypatch) -> None:
    stat = tmp_path / "stat"
    monkeypatch.setattr(machine, "PROC_STAT", stat)
    stat.write_text("cpu  100 0 50 800\n")  # an old kernel's four columns
    with machine.CpuSteal() as steal:
        pass
    assert steal.share is None


def test_this_machine_reads_a_share_between_0_and_1() -> None:
    with machine.CpuSteal() as steal:
        busy_until = time.monotonic() + 0.1  # several jiffies on any machine (a fixed count of
        while time.monotonic() < busy_until:  # work ran in under one on a fast VM: no share)
            pass
    assert steal.share is not None and 0.0 <= steal.share <= 1.0  # Linux has had the column since 2.6.11


def test_the_stall_probes_run_on_every_cpu_and_report_what_they_saw() -> None:
    # real probe processes: a 0.3 s run on a quiet or busy machine, whatever it saw, in the summary's shape
    with machine.CpuStalls() as stalls:
        time.sleep(0.3)
    cpus = {str(c) for c in os.sched_getaffinity(0)}
    summary = stalls.summary(16.0)
    assert set(summary["longest_ms"]) == set(summary["over_lead"]) == cpus
    assert set(stalls.spanning(time.time())) == cpus
    assert summary["probe_priority"] == (machine.STALL_PROBE_PRIORITY if stalls.realtime else None)


def test_a_stall_longer_than_the_lead_on_both_cpus_counts_once_as_on_all_cpus() -> None:
    stalls = machine.CpuStalls()
    # cpu 0: a 90 ms stall ending at t=100.0 and a 20 ms one at 105.0; cpu 1: the same 90 ms one
    stalls.stalls = {0: [(100.0, 90.0), (105.0, 20.0)], 1: [(100.01, 88.0), (106.0, 6.0)]}
    summary = stalls.summary(16.0)
    assert summary["longest_ms"] == {"0": 90.0, "1": 88.0}
    assert summary["over_lead"] == {"0": 2, "1": 1} and summary["on_all_cpus"] == 1
    assert stalls.spanning(99.95) == {"0": 90.0, "1": 88.0}  # inside both
    assert stalls.spanning(104.99) == {"0": 20.0, "1": 0.0}
