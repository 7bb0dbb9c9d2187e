"""The steal share benchmarks report next to real-time figures (tools/benchmarks/machine.py)."""
from __future__ import annotations

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
        sum(i * i for i in range(200_000))
    assert steal.share is not None and 0.0 <= steal.share <= 1.0  # Linux has had the column since 2.6.11
