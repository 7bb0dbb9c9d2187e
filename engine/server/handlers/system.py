"""System routes: /ping, /status, /notify, /cancel."""
from __future__ import annotations

from engine.server.core import Client, Core
from engine.server.wire import Args, HandlerTable, Replies, done

TABLE = HandlerTable()


@TABLE.handles("/ping")
def ping(core: Core, client: Client, args: Args) -> Replies:
    return [("/pong", list(args))]


@TABLE.handles("/status")
def status(core: Core, client: Client, args: Args) -> Replies:
    return [("/status", core.status_pairs())]


@TABLE.handles("/notify")
def notify(core: Core, client: Client, args: Args) -> Replies:
    on = bool(args[0])
    if len(args) > 1:
        client.set_reply_port(args[1])
    client.subscribed = on
    return done("/notify")


@TABLE.handles("/cancel")
def cancel(core: Core, client: Client, args: Args) -> Replies:
    return done("/cancel", core.worker.cancel(args[0] if args else None))
