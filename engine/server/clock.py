"""Time-tagged OSC bundles on the audio timeline: the engine's scheduler.

A bundle's time tag is a Unix time (the wire layer converts OSC's NTP seconds; "immediately" and
plain messages never get here). `BundleClock(timetag_s, run)` is the `Core.scheduler` hook:

- a tag at least `audio.schedule_ahead_s()` in the future (the ring's lead plus one block: 37 ms
  at 256 frames / 48 kHz) is honoured: it is held on the dispatcher's loop until FIRE_MARGIN_S
  more than that before its time (the way through the dispatcher, and the decode thread for a code
  edit, on a loaded machine), then its messages run inside `audio.at(tag)`, so the bridge applies
  transport and parameter changes on the exact frame of the tag and a code edit from that frame on
  (once decoded);
- a tag nearer than that, or in the past, cannot be honoured: its messages run at once and the
  bundle is counted in `/status late_bundles` (so does a timed change whose frame the bridge had
  already written when it arrived, e.g. an edit whose decode took too long).

So a client stamps its bundles at least `schedule_ahead_s` ahead, as SuperCollider's and Max's
schedulers do with their latency; 50 ms is a safe default (docs/osc.md). The clock is the
machine's wall clock (`time.time()`), the one OSC time tags speak; the bridge maps it onto the
device's frames (`bridge/schedule.py`).
"""
from __future__ import annotations

import asyncio
import time
from typing import Callable

FIRE_MARGIN_S = 0.03  # timed messages run this much before the audio side's deadline


class BundleClock:
    def __init__(self, core, loop: asyncio.AbstractEventLoop, audio, now: Callable[[], float] = time.time) -> None:
        self.core, self.loop, self.audio, self.now = core, loop, audio, now
        self._last_late: float | None = None  # a bundle's messages share its tag: count it once
        self._waiting: dict[float, list] = {}  # tag -> its messages in arrival order (one timer per tag)

    def __call__(self, timetag_s: float, run: Callable[[], None]) -> None:
        """Dispatcher thread: runs `run()` (one message of a bundle) at `timetag_s`, or now if late."""
        lead_s = timetag_s - self.now()
        ahead_s = self.audio.schedule_ahead_s()
        if lead_s < ahead_s:  # its frame is as good as written: apply it now, and say so
            if timetag_s != self._last_late:
                self.core.late_bundles += 1
                self._last_late = timetag_s
            run()
            return
        if timetag_s in self._waiting:
            self._waiting[timetag_s].append(run)
            return
        self._waiting[timetag_s] = [run]
        self.loop.call_later(max(0.0, lead_s - ahead_s - FIRE_MARGIN_S), self._run_at, timetag_s)

    def _run_at(self, timetag_s: float) -> None:
        with self.audio.at(timetag_s):
            for run in self._waiting.pop(timetag_s, []):
                run()


def ntp_to_unix_s(seconds: int, fraction: int) -> float | None:
    """An OSC time tag (NTP seconds since 1900 and a 32-bit fraction) in Unix seconds; None for
    the special "immediately" tag (0, 1)."""
    if seconds == 0 and fraction == 1:
        return None
    return seconds - 2_208_988_800 + fraction / 2 ** 32
