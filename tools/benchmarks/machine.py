"""What the machine did besides our work while a figure was measured: the share of CPU time the
hypervisor gave to others (steal, from /proc/stat). On a VM this, not the load average, explains
real-time figures that move with nothing else running: a 10-minute soak with 14% steal counted
7,009 late JACK cycles where one with ~1% counted 1,057 (docs/bridge.md).

    with CpuSteal() as steal:
        ...measure...
    figure["steal_share"] = steal.share  # None where /proc/stat has no steal column
"""
from __future__ import annotations

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
