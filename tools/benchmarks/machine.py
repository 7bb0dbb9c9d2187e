"""What the machine did besides our work while a figure was measured: the share of CPU time the
hypervisor gave to others (steal, from /proc/stat), and the stalls a real-time thread on each CPU
saw. On a VM these, not the load average, explain real-time figures that move with nothing else
running: a 10-minute soak with 14% steal counted 7,009 late JACK cycles where one with ~1% counted
1,057, and a SCHED_FIFO thread sleeping 1 ms at a time woke up to 100 ms late, on both CPUs at once,
during a soak at load 0.06 (docs/bridge.md, "Stalls of the whole machine").

    with CpuSteal() as steal, CpuStalls() as stalls:
        ...measure...
    figure["steal_share"] = steal.share  # None where /proc/stat has no steal column
    figure["cpu_stalls"] = stalls.summary(lead_ms)  # None where no probe could run
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

PROC_STAT = Path("/proc/stat")


def _steal_and_total() -> tuple[int, int] | None:
    """(steal, total) jiffies over all CPUs, or None where the kernel does not report steal."""
    try:
        fields = PROC_STAT.read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    if len(fields) < 9 or fields[0] != "cpu":
        return None
    times = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal (guest is in user)
    return times[7], sum(times)


class CpuSteal:
    """The steal share of all CPUs' time between entering and leaving the block."""

    def __init__(self) -> None:
        self.start: tuple[int, int] | None = None
        self.share: float | None = None

    def __enter__(self) -> "CpuSteal":
        self.start = _steal_and_total()
        return self

    def __exit__(self, *exc) -> None:
        end = _steal_and_total()
        if self.start is not None and end is not None and end[1] > self.start[1]:
            self.share = round((end[0] - self.start[0]) / (end[1] - self.start[1]), 4)


STALL_PROBE_PRIORITY = 4  # above the device process's producer (3), below JACK's threads (~10)
STALL_MS = 5.0  # a wake-up this late (for a 1 ms sleep) is reported


class CpuStalls:
    """One probe process per CPU, pinned and SCHED_FIFO, sleeping 1 ms at a time and noting each
    wake-up more than STALL_MS late: what no thread of ours could have run through. Its work is a
    few microseconds a millisecond."""

    def __init__(self) -> None:
        self.probes: list[subprocess.Popen] = []
        self.stalls: dict[int, list[tuple[float, float]]] | None = None  # cpu -> [(unix s, ms late)]
        self.realtime = False  # every probe got SCHED_FIFO (without it its stalls include the load's)

    def __enter__(self) -> "CpuStalls":
        try:
            cpus = sorted(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            return self
        self.probes = [subprocess.Popen([sys.executable, __file__, "--stall-probe", str(cpu)],
                                        stdout=subprocess.PIPE, text=True) for cpu in cpus]
        for probe in self.probes:
            probe.stdout.readline()  # "ready": its SIGTERM handler is in place (or it died: "")
        return self

    def __exit__(self, *exc) -> None:
        if not self.probes:
            return
        self.stalls, realtime = {}, []
        for probe in self.probes:
            probe.send_signal(signal.SIGTERM)
        for probe in self.probes:
            try:
                out, _ = probe.communicate(timeout=5.0)
                report = json.loads(out)
                self.stalls[report["cpu"]] = [tuple(g) for g in report["stalls"]]
                realtime.append(bool(report["realtime"]))
            except (subprocess.TimeoutExpired, ValueError, KeyError):
                probe.kill()
        self.realtime = bool(realtime) and all(realtime)

    def spanning(self, unix_s: float, margin_s: float = 0.005) -> dict | None:
        """The stall each CPU was in at `unix_s` (ms; 0: none), e.g. when a block underran."""
        if not self.stalls:
            return None
        return {str(c): max((ms for t, ms in g if t - ms / 1e3 - margin_s <= unix_s <= t + margin_s), default=0.0)
                for c, g in self.stalls.items()}

    def summary(self, lead_ms: float) -> dict | None:
        """{"longest_ms": per CPU, "over_lead": stalls longer than `lead_ms` on each CPU, "on_all_cpus":
        those longer than `lead_ms` that every CPU saw within 50 ms of each other, "probe_priority":
        SCHED_FIFO's, None where the probes could not get it}."""
        if not self.stalls:
            return None
        longest = {str(c): round(max((ms for _, ms in g), default=0.0), 1) for c, g in self.stalls.items()}
        over = {c: [t for t, ms in g if ms > lead_ms] for c, g in self.stalls.items()}
        first, *others = over.values()
        together = sum(all(any(abs(t - u) < 0.05 for u in times) for times in others) for t in first)
        return {"longest_ms": longest, "over_lead": {str(c): len(t) for c, t in over.items()},
                "on_all_cpus": together, "lead_ms": round(lead_ms, 2),
                "probe_priority": STALL_PROBE_PRIORITY if self.realtime else None}  # None: not real-time


def _stall_probe(cpu: int) -> None:
    """The probe's own process (see CpuStalls): runs until SIGTERM, then prints its stalls as JSON."""
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    realtime = True
    try:
        os.sched_setaffinity(0, {cpu})
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(STALL_PROBE_PRIORITY))
    except (AttributeError, OSError):
        realtime = False
    print("ready", flush=True)
    stalls = []
    last = time.monotonic()
    while not stop:
        time.sleep(0.001)
        now = time.monotonic()
        late_ms = (now - last) * 1e3 - 1.0
        if late_ms > STALL_MS:
            stalls.append((round(time.time(), 3), round(late_ms, 1)))
        last = now
    print(json.dumps({"cpu": cpu, "realtime": realtime, "stalls": stalls[-10000:]}))


if __name__ == "__main__" and sys.argv[1:2] == ["--stall-probe"]:
    _stall_probe(int(sys.argv[2]))
