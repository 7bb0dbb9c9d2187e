"""The peers the server remembers, and the `/fail` budget of each source.

OSC is connectionless, so the server keeps a table of the peers it has heard from: where their
replies go (`/notify 1 PORT`), and whether they want notifications. The table must stay useful
whatever the peers do:

The numbers are wire-contract facts, declared in `engine/protocol.py` (and listed in docs/osc.md).

- **Expiry.** An OSC peer silent for `PEER_TIMEOUT_S` is forgotten (subscription and reply port):
  any message renews it, so a patch that subscribes renews with `/notify 1 PORT` (or polls
  `/status`) more often than that. Peers that are not datagrams (web clients while their socket
  is open, the `--reply-port`, the console) never expire: they are *pinned*.
- **Full table.** At `MAX_PEERS` OSC peers, the least recently active one goes, never the newcomer
  (the newcomer is the most recent), so 256 idle subscribers cannot lock a new one out.
- **`/fail` budget.** Rate-limit state lives in its own bounded LRU keyed by the source (an OSC
  `(host, port)`, a web socket), apart from the peer table, so evicting or expiring a peer never
  refills its budget: a source gets at most `FAIL_BURST` `/fail` at once and `FAIL_PER_S` per second
  after that, whatever the table holds. The rest are counted (`/status fails_dropped`).
"""
from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from engine.errors import InputError
from engine.protocol import FAIL_BURST, FAIL_PER_S, MAX_PEERS, PEER_TIMEOUT_S

MAX_FAIL_SOURCES = 4096  # sources whose /fail budget is remembered (least recent forgotten first)


@dataclass(eq=False)
class Client:
    """A peer: an OSC address or a WebSocket. `send(address, args)` must not block."""

    key: Any
    send: Callable[[str, list], None]
    subscribed: bool = False
    dest: Any = None  # where replies go ([host, port] for OSC); notifications go once per dest
    reply_port_hook: Callable[[int], None] | None = None
    pinned: bool = False  # never expires nor is evicted (web socket, --reply-port, console)
    last_seen: float = field(default_factory=time.monotonic)

    def set_reply_port(self, port: int) -> None:
        if self.reply_port_hook is None:
            raise InputError("a reply port applies to OSC clients only")
        self.reply_port_hook(port)


class ClientTable:
    """Pinned peers plus at most `max_peers` expiring ones, least recently active first."""

    def __init__(self, max_peers: int = MAX_PEERS, timeout_s: float = PEER_TIMEOUT_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_peers, self.timeout_s, self.clock = max_peers, timeout_s, clock
        self._pinned: dict[Any, Client] = {}
        self._peers: OrderedDict[Any, Client] = OrderedDict()  # least recently active first
        self.evicted = 0  # peers dropped because the table was full
        self.expired = 0  # peers dropped because they went silent

    def get(self, key: Any, make_send: Callable[[], Callable[[str, list], None]], subscribed: bool = False,
            pinned: bool = False) -> Client:
        """The peer for `key`, created if new; either way it has just been active."""
        now = self.clock()
        c = self._pinned.get(key) or self._peers.get(key)
        if c is None:
            c = Client(key, make_send(), subscribed, pinned=pinned, last_seen=now)
            if pinned:
                self._pinned[key] = c
            else:
                self._peers[key] = c
                while len(self._peers) > self.max_peers:
                    self._peers.popitem(last=False)
                    self.evicted += 1
            return c
        c.last_seen = now
        if not c.pinned:
            self._peers.move_to_end(key)
        return c

    def forget(self, key: Any) -> None:
        self._pinned.pop(key, None)
        self._peers.pop(key, None)

    def expire(self) -> int:
        """Forgets the OSC peers silent for longer than `timeout_s`; returns how many."""
        deadline, n = self.clock() - self.timeout_s, 0
        while self._peers:
            key, oldest = next(iter(self._peers.items()))
            if oldest.last_seen >= deadline:
                break
            del self._peers[key]
            n += 1
        self.expired += n
        return n

    def __contains__(self, key: Any) -> bool:
        return key in self._pinned or key in self._peers

    def __len__(self) -> int:
        return len(self._pinned) + len(self._peers)

    def __iter__(self) -> Iterator[Client]:
        return iter([*self._pinned.values(), *self._peers.values()])


class FailLimiter:
    """A token bucket per source, in an LRU of at most `max_sources` (the least recent is forgotten:
    the source sending now is always the most recent, so its budget holds)."""

    def __init__(self, burst: int = FAIL_BURST, per_s: float = FAIL_PER_S, max_sources: int = MAX_FAIL_SOURCES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.burst, self.per_s, self.max_sources, self.clock = burst, per_s, max_sources, clock
        self._buckets: OrderedDict[Any, tuple[float, float]] = OrderedDict()  # key -> (tokens, time)

    def allow(self, source: Any) -> bool:
        """Takes one token from `source`'s bucket; False when it has none left."""
        now = self.clock()
        tokens, then = self._buckets.pop(source, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) * self.per_s)
        allowed = tokens >= 1.0
        self._buckets[source] = (tokens - 1.0 if allowed else tokens, now)
        if len(self._buckets) > self.max_sources:
            self._buckets.popitem(last=False)
        return allowed
