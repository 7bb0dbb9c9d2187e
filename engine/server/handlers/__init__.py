"""Handlers, one per route of `engine/protocol.py`, in one `HandlerTable` per module.

A handler is `fn(core: Core, client: Client, args: Args) -> Replies | Job | None`: `args` are
already checked against the table (optional ones not sent are absent: use `args_or_defaults`);
`replies` is a list of `(address, args)` sent to the client; a `Job` goes to the worker. Bad input
raises `InputError` (the core answers `/fail`). Nothing registers itself: `handler_table()` merges
the modules' tables and the composition root (`engine.server.app.Server`) hands the result to
`Core`. The tests check that every route has exactly one handler.
"""
from __future__ import annotations

from engine.server.wire import Handler, merge_tables


def handler_table() -> dict[str, Handler]:
    """address -> handler for every route."""
    from engine.server.handlers import audio, edit, midi, model, system
    return merge_tables(system.TABLE, model.TABLE, edit.TABLE, audio.TABLE, midi.TABLE)
