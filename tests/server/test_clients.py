"""Peers cannot crowd each other out: a full peer table never locks a newcomer out, silent peers
expire, and the /fail budget of a source holds whatever the table does (engine/server/clients.py)."""
from __future__ import annotations

import math
import time

from osc_client import OscClient
from engine.protocol import FAIL_BURST, FAIL_PER_S, MAX_PEERS
from engine.server.clients import ClientTable, FailLimiter


def subscribe_many(port: int, n: int) -> list[OscClient]:
    peers = [OscClient(port, timeout_s=10) for _ in range(n)]
    for p in peers:
        p.send("/notify", 1)
    for p in peers:
        msg = p.recv()
        while msg[0] == "/heartbeat":
            msg = p.recv()
        assert msg == ("/done", ["/notify"]), msg
    return peers


def heard_heartbeat(peer: OscClient, within_s: float) -> bool:
    """Whether a /heartbeat arrives within `within_s` (the first one ends the wait)."""
    deadline = time.monotonic() + within_s
    try:
        while (left := deadline - time.monotonic()) > 0:
            peer.sock.settimeout(left)
            if peer.recv()[0] == "/heartbeat":
                return True
    except TimeoutError:
        pass
    return False


def test_a_full_table_takes_a_newcomer_and_drops_the_least_recent(server):
    peers = subscribe_many(server.osc_port, MAX_PEERS)  # the table is full of subscribers
    newcomer = OscClient(server.osc_port, timeout_s=10)
    try:
        assert newcomer.answer("/notify", 1) == ("/done", ["/notify"])
        assert heard_heartbeat(newcomer, within_s=1.5)  # heartbeat_s is 0.5 in the fixture
        heard_heartbeat(peers[0], within_s=0.6)  # one may have been on its way before it was dropped
        peers[0].drain(quiet_s=0.05)
        assert not heard_heartbeat(peers[0], within_s=1.5)  # the least recently active went
        assert heard_heartbeat(peers[-1], within_s=1.5)
    finally:
        for p in (*peers, newcomer):
            p.close()


def test_the_fail_budget_holds_per_source_while_the_table_churns(server):
    bad = OscClient(server.osc_port, timeout_s=10)
    crowd: list[OscClient] = []
    try:
        crowd += subscribe_many(server.osc_port, MAX_PEERS)
        start = time.monotonic()
        for _ in range(50):
            bad.send("/no/such")
        crowd += subscribe_many(server.osc_port, MAX_PEERS)  # evicts `bad` from the peer table
        for _ in range(50):
            bad.send("/no/such")
        elapsed = time.monotonic() - start
        fails = [m for m in bad.drain(quiet_s=0.5) if m[0] == "/fail"]
        # the documented budget: FAIL_BURST at once, then FAIL_PER_S per second
        assert FAIL_BURST <= len(fails) <= FAIL_BURST + math.ceil(FAIL_PER_S * elapsed) + 1, (len(fails), elapsed)
        assert bad.answer("/ping", "alive") == ("/pong", ["alive"])
    finally:
        for p in (bad, *crowd):
            p.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_silent_peers_expire_and_any_message_renews():
    clock = Clock()
    table = ClientTable(max_peers=3, timeout_s=60.0, clock=clock)
    send = lambda: (lambda address, args: None)  # noqa: E731
    table.get("web", send, subscribed=True, pinned=True)
    for key in ("a", "b", "c"):
        table.get(key, send, subscribed=True)
    clock.now += 50
    table.get("a", send)  # a message renews "a"
    clock.now += 20
    assert table.expire() == 2  # "b" and "c" were silent for 70 s
    assert "a" in table and "web" in table and "b" not in table
    clock.now += 3600
    assert table.expire() == 1 and "web" in table  # pinned peers never expire
    for key in ("d", "e", "f", "g"):
        table.get(key, send)
    assert "d" not in table and all(k in table for k in ("e", "f", "g")) and table.evicted == 1


def test_the_fail_budget_is_a_token_bucket_per_source():
    clock = Clock()
    limit = FailLimiter(burst=20, per_s=20.0, max_sources=2, clock=clock)
    assert sum(limit.allow("x") for _ in range(100)) == 20
    clock.now += 0.5
    assert sum(limit.allow("x") for _ in range(100)) == 10
    assert limit.allow("y") and limit.allow("z")  # "x" is the least recent of three: forgotten
    assert sum(limit.allow("z") for _ in range(100)) == 19
