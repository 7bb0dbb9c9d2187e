"""A preallocated single-producer single-consumer ring of stereo frames, and callback timing.

The producer thread writes blocks ahead of the playhead; the audio callback copies one block out
or, when too little is there, writes silence and counts an underrun. Neither side takes a lock:
the counters are Python ints that only their owner assigns (the producer `written`, the callback
`read`), and the GIL makes each assignment atomic, so the callback never waits on the producer.
"""
from __future__ import annotations

import os
import select
import time

import numpy as np


class Ring:
    """`capacity` frames of `channels` float32 samples. # [capacity, C]"""

    def __init__(self, capacity: int, channels: int = 2) -> None:
        self.frames = np.zeros((capacity, channels), np.float32)
        self.capacity = capacity
        self.written = 0  # frames ever written: assigned by the producer only
        self.read = 0     # frames ever read: assigned by the callback only
        self.underruns = 0

    def available(self) -> int:
        return self.written - self.read

    def space(self) -> int:
        return self.capacity - (self.written - self.read)

    def write(self, block: np.ndarray) -> None:
        """Producer side: appends block [n, C]; the caller checked `space() >= n`."""
        n = len(block)
        i = self.written % self.capacity
        first = min(n, self.capacity - i)
        self.frames[i:i + first] = block[:first]
        if first < n:
            self.frames[:n - first] = block[first:]
        self.written += n  # publish only after the samples are in place

    def read_into(self, out: np.ndarray) -> bool:
        """Callback side: copies len(out) frames into out [n, C], or silence and an underrun count."""
        n = len(out)
        r = self.read
        if self.written - r < n:
            out.fill(0.0)
            self.underruns += 1
            return False
        i = r % self.capacity
        first = self.capacity - i
        if first >= n:
            out[:] = self.frames[i:i + n]
        else:
            out[:first] = self.frames[i:]
            out[first:] = self.frames[:n - first]
        self.read = r + n
        return True


class CallbackTimer:
    """Durations of the last `size` callbacks, in a preallocated array (seconds). # [size]"""

    def __init__(self, size: int = 8192) -> None:
        self.durations_s = np.zeros(size, np.float64)
        self.count = 0

    def record(self, started_s: float) -> None:
        self.durations_s[self.count % len(self.durations_s)] = time.perf_counter() - started_s
        self.count += 1

    def p99_s(self) -> float:
        n = min(self.count, len(self.durations_s))
        return float(np.percentile(self.durations_s[:n], 99)) if n else 0.0


class Waker:
    """Wakes the producer: a non-blocking pipe write needs no lock and allocates nothing."""

    def __init__(self) -> None:
        self._r, self._w = os.pipe()
        os.set_blocking(self._w, False)
        os.set_blocking(self._r, False)

    def wake(self) -> None:
        try:
            os.write(self._w, b"\0")
        except (BlockingIOError, OSError):
            pass  # already plenty of wake-ups pending, or closed

    def wait(self, timeout_s: float) -> None:

        ready, _, _ = select.select([self._r], [], [], timeout_s)
        if ready:
            try:
                os.read(self._r, 4096)
            except (BlockingIOError, OSError):
                pass

    def close(self) -> None:
        for fd in (self._r, self._w):
            try:
                os.close(fd)
            except OSError:
                pass
