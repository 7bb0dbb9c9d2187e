"""What handlers and the core share about messages: the handler type, replies, and the grid as
OSC chunks. Imports nothing else of the server, so any server module may import it."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Union

import numpy as np

from engine import protocol
from engine.server.args import with_defaults

if TYPE_CHECKING:
    from engine.server.core import Client, Core
    from engine.server.jobs import Job

Value = Union[int, float, str, None]  # an argument after coercion (None: an optional one left out)
Args = list  # list[Value], checked against the route by `engine.server.args.coerce_args`
Reply = tuple[str, list]  # (address, args) sent to the client that asked
Replies = list[Reply]
Handler = Callable[["Core", "Client", Args], Union[Replies, "Job", None]]


def args_or_defaults(address: str, args: Args) -> Args:
    """`args` with the optional arguments that were not sent filled from the route table."""
    return with_defaults(protocol.ROUTES_BY_ADDRESS[address], args)


def done(address: str, *values: Any) -> Replies:
    return [("/done", [address, *values])]


class HandlerTable(dict):
    """address -> handler, for one module's routes. `@table.handles("/addr")` adds to this table
    only; the composition root merges the tables it chooses (`engine.server.handlers.handler_table`)."""

    def handles(self, address: str) -> Callable[[Handler], Handler]:
        if address not in protocol.ROUTES_BY_ADDRESS:
            raise KeyError(f"handler for {address}, which is not in engine/protocol.py ROUTES")

        def add(fn: Handler) -> Handler:
            if address in self:
                raise KeyError(f"two handlers for {address}")
            self[address] = fn
            return fn
        return add


def merge_tables(*tables: dict[str, Handler]) -> dict[str, Handler]:
    out: dict[str, Handler] = {}
    for table in tables:
        twice = set(out) & set(table)
        if twice:
            raise KeyError(f"two handlers for {', '.join(sorted(twice))}")
        out.update(table)
    return out


def changed_frames(old: np.ndarray | None, new: np.ndarray) -> tuple[int, int] | None:
    """The half-open frame range where two grids differ; all of `new` when shapes differ."""
    if old is None or old.shape != new.shape:
        return (0, new.shape[1]) if new.shape[1] else None
    cols = np.flatnonzero((old != new).any(axis=0))
    return (int(cols[0]), int(cols[-1]) + 1) if cols.size else None


def grid_chunks(indices: np.ndarray, version: int, frame_start: int, frame_stop: int) -> Replies:
    """`/grid/chunk version level frame codes...` messages of at most GRID_CHUNK_CODES codes."""
    out = []
    step = protocol.GRID_CHUNK_CODES
    for level in range(indices.shape[0]):
        row = indices[level]
        for f0 in range(frame_start, frame_stop, step):
            f1 = min(f0 + step, frame_stop)
            out.append(("/grid/chunk", [version, level, f0, *row[f0:f1].tolist()]))
    return out
