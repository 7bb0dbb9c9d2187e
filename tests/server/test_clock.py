"""The bundle clock (engine/server/clock.py) on a real asyncio loop: a future tag runs its messages
inside `audio.at(tag)` about `schedule_ahead_s` before the tag; a tag nearer than that, or past,
runs at once and counts one late bundle however many messages it has. NTP conversion."""
from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from engine.server.clock import BundleClock, ntp_to_unix_s


class Audio:
    def __init__(self) -> None:
        self.current = None
        self.calls: list = []

    def schedule_ahead_s(self) -> float:
        return 0.02

    @contextlib.contextmanager
    def at(self, unix_s):
        self.current = unix_s
        try:
            yield
        finally:
            self.current = None


class Core:
    late_bundles = 0


def test_future_tags_wait_and_run_at_their_time_late_ones_run_now_and_count_once():
    audio, core = Audio(), Core()

    async def main():
        clock = BundleClock(core, asyncio.get_running_loop(), audio)
        now = time.time()
        tag = now + 0.1
        for name in ("a", "b"):
            clock(tag, lambda name=name: audio.calls.append((name, audio.current, time.time())))
        for name in ("late1", "late2"):  # one late bundle of two messages
            clock(now - 1.0, lambda name=name: audio.calls.append((name, audio.current, time.time())))
        clock(now + 0.005, lambda: audio.calls.append(("near", audio.current, time.time())))
        assert [c[0] for c in audio.calls] == ["late1", "late2", "near"] and core.late_bundles == 2
        await asyncio.sleep(0.2)
        return tag

    tag = asyncio.run(main())
    timed = [c for c in audio.calls if c[0] in "ab"]
    assert [c[0] for c in timed] == ["a", "b"] and all(c[1] == tag for c in timed)
    assert all(tag - 0.05 < c[2] < tag for c in timed)  # early by the lead, never after the tag
    assert all(c[1] is None for c in audio.calls if c[0] not in "ab")


def test_ntp_time_tags():
    assert ntp_to_unix_s(0, 1) is None
    assert ntp_to_unix_s(2_208_988_800 + 10, 2 ** 31) == pytest.approx(10.5)
