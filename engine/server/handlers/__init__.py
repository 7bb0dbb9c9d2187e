"""Handlers, one per route of `engine/protocol.py`, registered by address with `@handles`.

A handler is `fn(core, client, args) -> replies | Job`: `args` are already checked against the
table (optional ones not sent are absent: use `args_or_defaults`); `replies` is a list of
`(address, args)` sent to the client; a `Job` goes to the worker. Bad input raises `InputError`
(the core answers `/fail`). The tests check that every route has exactly one handler.
"""
from __future__ import annotations

from typing import Any, Callable

from engine.protocol import ROUTES_BY_ADDRESS
from engine.server.args import with_defaults

Handler = Callable[[Any, Any, list], Any]
HANDLERS: dict[str, Handler] = {}


def handles(address: str) -> Callable[[Handler], Handler]:
    if address not in ROUTES_BY_ADDRESS:
        raise KeyError(f"handler for {address}, which is not in engine/protocol.py ROUTES")

    def register(fn: Handler) -> Handler:
        if address in HANDLERS:
            raise KeyError(f"two handlers for {address}")
        HANDLERS[address] = fn
        return fn
    return register


def args_or_defaults(address: str, args: list) -> list:
    return with_defaults(ROUTES_BY_ADDRESS[address], args)


def done(address: str, *values: Any) -> list[tuple[str, list]]:
    return [("/done", [address, *values])]


from engine.server.handlers import audio, edit, midi, model, system  # noqa: E402,F401  (registers)
