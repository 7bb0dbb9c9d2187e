"""Random and mutated OSC datagrams for robustness tests and the `osc_fuzz_survived` figure.

Four kinds, mixed: random bytes; valid messages of every route with mutated bytes (flips,
truncation, insertion, a wrong type tag); messages with wrong types or arity; and oversized
datagrams. A datagram that would be a *valid* command which changes state is never sent (checked
by parsing and coercing it like the server does), so "the session is unchanged afterwards" is a
fair test: everything sent must fail or be a read-only query.
"""
from __future__ import annotations

import random
import struct

from engine import protocol
from engine.errors import InputError
from engine.server.args import coerce_args
from engine.server.osc import build_message, parse_datagram

READ_ONLY = frozenset({"/ping", "/status", "/model/list", "/model/info", "/grid/get", "/sampling",
                       "/train/progress", "/fx/list", "/labels/get"})
_VALUES = [0, 1, -1, 2**31 - 1, -2**31, 7, 0.0, 0.5, -3.25, 1e30, float("inf"), float("nan"), "", "x",
           "../../etc/passwd", "/abs", "tiny", "a" * 300, "\u00e9\u00e8"]


def _random_args(rng: random.Random, route: protocol.Route) -> list:
    n = rng.choice([len(route.args), route.min_args, rng.randint(0, len(route.args) + 3)])
    return [rng.choice(_VALUES) for _ in range(n)]


def _mutate(rng: random.Random, data: bytes) -> bytes:
    raw = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(5)
        if kind == 0 and raw:  # flip a bit
            i = rng.randrange(len(raw))
            raw[i] ^= 1 << rng.randrange(8)
        elif kind == 1 and raw:  # truncate
            del raw[rng.randrange(len(raw)):]
        elif kind == 2:  # insert junk
            i = rng.randrange(len(raw) + 1)
            raw[i:i] = rng.randbytes(rng.randint(1, 8))
        elif kind == 3:  # a wrong type tag
            comma = raw.find(b",")
            if comma >= 0 and comma + 1 < len(raw):
                raw[comma + 1] = ord(rng.choice("ifsbhdTFNcmrq[]"))
        else:  # huge blob size
            raw += b",b\x00\x00" + struct.pack(">i", rng.choice([-1, 2**31 - 1, 5]))
    return bytes(raw)


def changes_state(data: bytes) -> bool:
    """True when the server would accept `data` as a command that may change state."""
    try:
        messages = parse_datagram(data)
    except InputError:
        return False
    for address, args in messages:
        route = protocol.ROUTES_BY_ADDRESS.get(address)
        if route is None or address in READ_ONLY:
            continue
        try:
            coerce_args(route, args)
            return True
        except InputError:
            continue
    return False


def datagrams(n: int, seed: int = 0):
    """Yields `n` hostile datagrams (bytes), reproducibly from `seed`."""
    rng = random.Random(seed)
    routes = protocol.ROUTES
    made = 0
    while made < n:
        kind = rng.random()
        if kind < 0.25:
            data = rng.randbytes(rng.randint(0, 96))
        elif kind < 0.30:
            data = rng.choice([b"#bundle\x00", b"/"]) + rng.randbytes(rng.randint(0, 64))
        elif kind < 0.32:
            data = build_message("/ping", ["x" * rng.randint(protocol.MAX_DATAGRAM_BYTES, 20000)])
        else:
            route = rng.choice(routes)
            try:
                data = build_message(route.address, _random_args(rng, route))
            except (OverflowError, TypeError, struct.error):
                continue
            if kind < 0.8:
                data = _mutate(rng, data)
        if changes_state(data):
            continue
        made += 1
        yield data


def run_fuzz(port: int, n: int, seed: int = 0, host: str = "127.0.0.1", sync_every: int = 500,
             timeout_s: float = 10.0) -> dict:
    """Sends `n` hostile datagrams to a server, pausing every `sync_every` for a /ping round trip
    (so the kernel never drops what the server has not read yet). Returns counts; `answered` is
    False when a sync ping got no /pong (the server died or hung)."""
    import socket
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(timeout_s)
    try:  # up to 500 datagrams' replies wait here until the sync: too many for the default buffer
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    except OSError:
        pass
    sent, replies, answered = 0, 0, True
    try:
        for data in datagrams(n, seed):
            sock.sendto(data, (host, port))
            sent += 1
            if sent % sync_every == 0 or sent == n:
                token = f"sync-{sent}"
                sock.sendto(build_message("/ping", [token]), (host, port))
                while True:
                    try:
                        reply = parse_datagram(sock.recv(65536))[0]
                    except (TimeoutError, OSError):
                        return {"sent": sent, "replies": replies, "answered": False}
                    if reply == ("/pong", [token]):
                        break
                    replies += 1
    finally:
        sock.close()
    return {"sent": sent, "replies": replies, "answered": answered}
