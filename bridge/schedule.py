"""Sample-accurate timing: the audio timeline's clock, and commands that wait for their frame.

The clock. Every audio callback stores, in preallocated arrays, where the ring's read position was
and when (`time.perf_counter`, CLOCK_MONOTONIC: shared by the processes of one machine). Frame `f`
of the ring leaves for the device at `epoch + f / sample_rate`, where `epoch` is the smallest
`time - frame / sample_rate` of the recent callbacks: a callback can start late (the OS, a busy
machine) but never early, so the minimum is the device's own frame clock without the wake-up
jitter. JACK's recorder in the same cycle sees the same frames at the same time.

The commands. `Player` control calls made inside `with player.at(t)` do not go to the producer's
queue at once: they wait in `TimedCommands` for the frame `t` falls on, and the producer cuts its
block there, so a gain, play/stop, seek, loop or scene change (a code edit) starts on that very
frame. A time whose frame the producer has already written is applied at once (the caller counts
it late). Times are Unix seconds (`time.time()`, what OSC time tags give) at the API and
converted once to the monotonic clock here.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import numpy as np

CLOCK_WINDOW = 16  # callbacks the epoch is the minimum over (85 ms at 256 frames / 48 kHz): long
#                    enough that one of them was on time, short enough to follow a shift at once (a
#                    cycle JACK skipped for us, an underrun: every later frame is heard a block later)


class FrameClock:
    """Where the device is on the ring's frame count, from the callbacks' time stamps."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = int(sample_rate)
        self._offsets = np.full(CLOCK_WINDOW, np.inf)  # time - frame / rate, per callback (s)
        self._count = 0
        self._last_frame = -1

    def stamp(self, frame: int, started_s: float) -> None:
        """Audio callback: frame `frame` is being handed to the device at `started_s`. No allocation.
        When the frame did not move since the last callback, that one underran: every later frame
        is heard a block later than before, so the old stamps are dropped."""
        if frame == self._last_frame:
            self._offsets.fill(np.inf)
        self._last_frame = frame
        self._offsets[self._count % CLOCK_WINDOW] = started_s - frame / self.sample_rate
        self._count += 1

    @property
    def running(self) -> bool:
        return self._count > 8  # a few callbacks before the estimate means anything

    def epoch_s(self) -> float:
        return float(np.min(self._offsets))

    def frame_at(self, unix_s: float) -> int | None:
        """The ring frame heard at Unix time `unix_s`; None while no stream runs."""
        if not self.running:
            return None
        monotonic_s = unix_s - (time.time() - time.perf_counter())
        return round((monotonic_s - self.epoch_s()) * self.sample_rate)

    def time_of(self, frame: int) -> float:
        """Unix time at which ring frame `frame` is heard (the inverse of frame_at)."""
        return self.epoch_s() + frame / self.sample_rate + (time.time() - time.perf_counter())


class TimedCommands:
    """Producer commands waiting for their time (any thread pushes, the producer takes). They keep
    their time, not a frame: the producer maps it to a frame with the clock as it is when it
    renders the block, so an underrun in between (every later frame heard a block later) does not
    shift them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[tuple[float, int, tuple]] = []  # (unix_s, sequence, command), sorted
        self._seq = 0
        self.late = 0  # batches of commands whose frame was already written when the producer got them

    def push(self, unix_s: float, command: tuple) -> None:
        with self._lock:
            self._seq += 1
            self._pending.append((float(unix_s), self._seq, command))
            self._pending.sort(key=lambda item: item[:2])

    def segments(self, start: int, n: int, frame_at) -> list[tuple[int, list[tuple]]]:
        """The block [start, start + n) cut where commands are due (`frame_at(unix_s)` -> frame):
        [(frames, commands due at the segment's start)], lengths summing to n. Commands due before
        `start` come first (late)."""
        with self._lock:
            if not self._pending or frame_at(self._pending[0][0]) >= start + n:
                return [(n, [])]
            out, at, due = [], start, []
            if frame_at(self._pending[0][0]) < start:
                self.late += 1  # one count per batch that missed its frame (a bundle, a note)
            while self._pending and frame_at(self._pending[0][0]) < start + n:
                unix_s, _, command = self._pending.pop(0)
                frame = frame_at(unix_s)
                frame = max(frame, start)
                if frame > at:
                    out.append((frame - at, due))
                    at, due = frame, []
                due.append(command)
            out.append((start + n - at, due))
            return out


class AtTime:
    """The `with player.at(unix_s):` context: per thread, so the dispatcher and the decode thread
    can each time their own calls."""

    def __init__(self) -> None:
        self._local = threading.local()

    @contextmanager
    def __call__(self, unix_s: float | None):
        previous = getattr(self._local, "unix_s", None)
        self._local.unix_s = unix_s
        try:
            yield
        finally:
            self._local.unix_s = previous

    @property
    def current(self) -> float | None:
        return getattr(self._local, "unix_s", None)


# ---------------------------------------------------------------- measuring it (tests, tools/bench)
def onsets(x, silent_frames: int = 64, heard=None) -> list[int]:
    """Frames where sound starts after at least `silent_frames` of digital silence. x [T]; heard [T]
    bool (a recording's `heard()`): a stretch the recorder missed continues what came before it, so
    the sound after a missed cycle is not a new onset."""
    sounding = np.asarray(x) != 0.0
    if heard is not None:
        missed = np.flatnonzero(~np.asarray(heard))
        for run in np.split(missed, np.flatnonzero(np.diff(missed) > 1) + 1) if missed.size else ():
            sounding[run] = sounding[run[0] - 1] if run[0] > 0 else False
    nonzero = np.flatnonzero(sounding)
    if not nonzero.size:
        return []
    starts = [int(nonzero[0])] if nonzero[0] >= silent_frames else []
    gaps = np.flatnonzero(np.diff(nonzero) > silent_frames)
    return starts + [int(nonzero[g + 1]) for g in gaps]


def recorded_unix_s(recording, frame: int, window: int = CLOCK_WINDOW) -> float:
    """Unix time at which recorded `frame` passed, on JACK's frame clock as the recorder saw it
    (`bridge.jack_tools.Recording`): the recorder's own late wake-ups are taken out the same way
    as the bridge's, by the minimum over nearby cycles of time - frame / rate."""
    rate = recording.sample_rate
    k = int(np.searchsorted(recording.cycle_frame, frame, side="right")) - 1
    lo, hi = max(0, k - window // 2), min(len(recording.cycle_frame), k + window // 2 + 1)
    epoch = float(np.min(recording.cycle_time_s[lo:hi] - recording.cycle_frame[lo:hi] / rate))
    return epoch + frame / rate + (time.time() - time.perf_counter())
