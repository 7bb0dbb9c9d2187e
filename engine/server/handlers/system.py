"""System routes: /ping, /status, /notify, /cancel."""
from __future__ import annotations

from engine.server.handlers import done, handles


@handles("/ping")
def ping(core, client, args):
    return [("/pong", list(args))]


@handles("/status")
def status(core, client, args):
    return [("/status", core.status_pairs())]


@handles("/notify")
def notify(core, client, args):
    on = bool(args[0])
    if len(args) > 1 and hasattr(client, "set_reply_port"):
        client.set_reply_port(args[1])
    client.subscribed = on
    return done("/notify")


@handles("/cancel")
def cancel(core, client, args):
    return done("/cancel", core.worker.cancel(args[0] if args else None))
