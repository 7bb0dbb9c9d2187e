"""Per-edit stage times of `distill serve`, for the `edit_to_splice_ms` figure (tools/benchmarks/ear.py).

With `DISTILL_TRACE_EDITS=1` in its environment, the server stamps each datagram on the dispatcher
thread (`begin`, `stamp`), the audio port takes the stamps of the datagram whose edit it queues
(`take`) and, once the new samples are in the player, writes one line to stderr:

    distill trace edit {"received": 1234.5678, "handler": ..., "queued": ..., "picked": ..., ...}

Stamps are `time.perf_counter()`, CLOCK_MONOTONIC on Linux: the same clock in every process of the
machine, so a client's stamp at `sendto` (on loopback, the datagram's arrival in the socket) lines
up with them. Off (the default), every call site is one `if trace.ENABLED:` test.
"""
from __future__ import annotations

import json
import os
import sys
import time

ENV = "DISTILL_TRACE_EDITS"
ENABLED = os.environ.get(ENV, "") not in ("", "0")
PREFIX = "distill trace edit "
STAGES = ("received", "handler", "queued", "picked", "decoded", "spliced")  # in the order they happen

_current: dict[str, float] | None = None  # the datagram the dispatcher handles now (dispatcher thread only)


def begin() -> None:
    """A datagram was read from the socket (dispatcher thread)."""
    global _current
    _current = {"received": time.perf_counter()}


def stamp(stage: str) -> None:
    """Stamps `stage` on the datagram being handled (dispatcher thread); no-op outside one."""
    if _current is not None:
        _current[stage] = time.perf_counter()


def take() -> dict[str, float] | None:
    """The stamps of the datagram being handled, stamped `queued`, for the thread that finishes
    its edit; None outside a datagram (a job's commit, an edit from the web editor or MIDI)."""
    global _current
    out, _current = _current, None
    if out is not None:
        out["queued"] = time.perf_counter()
    return out


def finish(stamps: dict[str, float] | None, stage: str = "spliced", **facts) -> None:
    """Stamps the last stage and writes the line (any thread)."""
    if stamps is None:
        return
    stamps[stage] = time.perf_counter()
    print(PREFIX + json.dumps({**stamps, **facts}), file=sys.stderr, flush=True)


def parse(text: str) -> list[dict]:
    """The trace lines in a server's stderr, in order."""
    return [json.loads(line[len(PREFIX):]) for line in text.splitlines() if line.startswith(PREFIX)]
