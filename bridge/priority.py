"""Real-time scheduling for the threads an edit passes through on its way to the device.

An edit reaches the ear through the OSC dispatcher (the thread running the server's asyncio loop)
and the decode thread (bridge/serve.py `BridgeAudio`). At normal priority on a busy machine (a
`distill train` on the other core, a browser) each of them waits for a time slice: measured with
`tools/bench --only edit_to_splice_ms` at load 2.5 on 2 cores, the decode's p95 was 10 ms for 3.7 ms
of work; at SCHED_FIFO it was 4.2 ms. Both run below the producer (bridge/player.py, priority 3)
and JACK's own threads (about 10), so they never delay a block, and with SCHED_RESET_ON_FORK so
that threads they start (the server's worker, executors, PortAudio's) begin at normal priority
instead of inheriting it. Linux's real-time throttling keeps 5% of each core for everything else.
"""
from __future__ import annotations

import os

DISPATCHER_RT_PRIORITY = 1
DECODE_RT_PRIORITY = 2  # the decode runs while the dispatcher answers: it goes first
# the device process (bridge/device_process.py): its call thread takes control calls, the producer
# (bridge/player.py) refills the ring; JACK's client threads (the callback) run at about 5-10
DEVICE_CALLS_RT_PRIORITY = 2
PRODUCER_RT_PRIORITY = 3


def raise_thread_priority(rt_priority: int) -> bool:
    """SCHED_FIFO at `rt_priority` for the calling thread, not inherited by threads it starts.
    False (and normal scheduling) without the privilege or off Linux."""
    try:
        flags = os.SCHED_FIFO | os.SCHED_RESET_ON_FORK
        os.sched_setscheduler(0, flags, os.sched_param(rt_priority))
        return True
    except (AttributeError, OSError):
        return False
