"""Link that stays locked: the playing loop re-aligns to the session's bar lines.

While Ableton Link is on and the player plays, `LinkLock`'s thread asks Link for the next bar line,
shortly before it (the schedule-ahead time plus a margin, so a tempo change just before still
counts), and queues a timed `Player.align_frames` on that bar line's frame (bridge/schedule.py).
On that frame the producer compares where the loop is with where it should be; more than
`TOLERANCE_MS` off, it seeks there with the player's edit crossfade (`crossfade_ms`, 5 ms): a
resample-free slip at the bar line, never a click and never a pitch change. Within the tolerance it
does nothing, so a steady session plays the loop untouched.

Where the loop should be: the loop region counts as `n = round(loop length / bar length)` bars
(at least 1), cut into n equal parts; bar line k (k counted on Link's beat timeline) starts part
k mod n. So a loop's start lands on a bar line (every n bars), whatever the session's tempo does:
after a peer speeds up, a loop longer than the new bar is cut at the bar line; after it slows
down, a one-bar loop wraps early and restarts on the bar line (no time-stretching).
"""
from __future__ import annotations

import threading
import time

TOLERANCE_MS = 1.0  # Link itself keeps peers within about a millisecond
MARGIN_S = 0.03     # ask Link this much before the latest moment the command can still be queued


class LinkLock:
    def __init__(self, bridge) -> None:
        self.bridge = bridge
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="distill-link-lock", daemon=True)

    def start(self) -> "LinkLock":
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 1.0) -> None:
        self._stop.set()
        self._thread.join(timeout=timeout_s)

    def _ahead_s(self) -> float:
        cfg = self.bridge.config
        return (self.bridge.lead_frames + cfg.block_size) / cfg.sample_rate + MARGIN_S

    def _run(self) -> None:
        while not self._stop.is_set():
            link, state = self.bridge.link, self.bridge.host.state()
            if link is None or not state["playing"] or not state["clock_running"]:
                self._stop.wait(0.02)
                continue
            bar = link.next_bar(self._ahead_s())
            if bar is None:
                self._stop.wait(0.02)
                continue
            wait_s = bar[0] - time.time() - self._ahead_s() - MARGIN_S
            if wait_s > 0 and self._stop.wait(wait_s):
                return
            bar = link.next_bar(self._ahead_s())  # again, close to it: the tempo may have changed
            if bar is None:
                continue
            self._queue(*bar)
            self._stop.wait(max(0.0, bar[0] - time.time()) + 0.005)

    def _queue(self, bar_unix_s: float, bar_number: int, bar_s: float) -> None:
        rate = self.bridge.config.sample_rate
        start, end = self.bridge.host.state()["bounds_frames"]
        if end <= start:
            return
        length = end - start
        parts = max(1, round(length / (bar_s * rate)))
        target = start + (bar_number % parts) * length // parts
        with self.bridge.at(bar_unix_s):
            self.bridge.align_frames(target, round(TOLERANCE_MS * rate / 1000))
