"""Real-time scheduling for the threads an edit passes through on its way to the device.

An edit reaches the ear through the OSC dispatcher (the thread running the server's asyncio loop)
and the decode thread (bridge/engine_audio.py `BridgeAudio`). At normal priority on a busy machine (a
`distill train` on the other core, a browser) each of them waits for a time slice: measured with
`tools/bench --only edit_to_splice_ms` at load 2.5 on 2 cores, the decode's p95 was 10 ms for 3.7 ms
of work; at SCHED_FIFO it was 4.2 ms. Both run below the producer (bridge/player.py, priority 3)
and JACK's own threads (about 10), so they never delay a block, and with SCHED_RESET_ON_FORK so
that threads they start (the server's worker, executors, PortAudio's) begin at normal priority
instead of inheriting it. Linux's real-time throttling keeps 5% of each core for everything else.
A whole-grid decode (up to seconds for a long grid) runs at normal priority (`normal_priority`):
only the splice of an edit, a few ms, needs to go first.
"""
from __future__ import annotations

import contextlib
import gc
import os
import time

DISPATCHER_RT_PRIORITY = 1
DECODE_RT_PRIORITY = 2  # the decode runs while the dispatcher answers: it goes first
# the device process (bridge/device_process.py): its call thread takes control calls, the producer
# (bridge/player.py) refills the ring; JACK's client threads (the callback) run at about 5-10
DEVICE_CALLS_RT_PRIORITY = 2
PRODUCER_RT_PRIORITY = 3
# Python hands the GIL to a waiting thread after this long (its default is 5 ms, a whole block):
# the device process's callback and producer wait behind its call thread (bridge/host.py), the
# engine's decode thread behind the dispatcher and the web server (bridge/engine_audio.py)
GIL_SWITCH_INTERVAL_S = 0.0005


def hand_over_gil_quickly() -> None:
    """This process's threads get the GIL within GIL_SWITCH_INTERVAL_S of asking for it."""
    import sys
    sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_INTERVAL_S))


def raise_thread_priority(rt_priority: int) -> bool:
    """SCHED_FIFO at `rt_priority` for the calling thread, not inherited by threads it starts.
    False (and normal scheduling) without the privilege or off Linux."""
    try:
        flags = os.SCHED_FIFO | os.SCHED_RESET_ON_FORK
        os.sched_setscheduler(0, flags, os.sched_param(rt_priority))
        return True
    except (AttributeError, OSError):
        return False


@contextlib.contextmanager
def normal_priority():
    """Normal scheduling for the calling thread inside the block (a SCHED_FIFO one would hold a
    core from every normal thread for as long as it computes), its own policy back after."""
    try:
        policy, param = os.sched_getscheduler(0), os.sched_getparam(0)
        lowered = policy & ~os.SCHED_RESET_ON_FORK == os.SCHED_FIFO
        if lowered:
            os.sched_setscheduler(0, os.SCHED_OTHER | os.SCHED_RESET_ON_FORK, os.sched_param(0))
    except (AttributeError, OSError):
        lowered = False
    try:
        yield
    finally:
        if lowered:
            with contextlib.suppress(OSError):
                os.sched_setscheduler(0, policy, param)


class GcPauses:
    """Freezes what a process has built and times the cyclic garbage collector's pauses after.

    A collection holds the GIL for its whole length: a full one over the device process's ~24,000
    objects (numpy, sounddevice, pedalboard, a VST3) took 9 ms on an idle core here and longer on a
    busy one, and the callback and the producer wait behind it. `gc.freeze()` after start-up and after
    each plugin load moves those long-lived objects out of the collector's sight (a full collection
    then took 0.0 ms); what is made per edit is freed by reference counting as before. `state()`
    says what the collector still costs (`gc_max_ms`, `gc_collections`: the soak reports them)."""

    def __init__(self) -> None:
        self.count = 0
        self.max_s = 0.0
        self._started_s = 0.0
        gc.callbacks.append(self._on_collection)

    def freeze(self) -> None:
        gc.freeze()

    def state(self) -> dict:
        """JSON-safe: the longest collection since the last reset, their count, the objects frozen."""
        return {"gc_max_ms": round(self.max_s * 1e3, 3), "gc_collections": self.count,
                "gc_frozen_objects": gc.get_freeze_count()}

    def reset(self) -> None:
        self.count, self.max_s = 0, 0.0

    def _on_collection(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started_s = time.perf_counter()
        else:
            self.count += 1
            self.max_s = max(self.max_s, time.perf_counter() - self._started_s)
