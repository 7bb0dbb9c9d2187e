"""A small OSC client over a real UDP socket for the server tests (its own module, not conftest, so
that tests/server and tests/ui can be collected in one pytest run: both have a conftest.py)."""
from __future__ import annotations

import socket
import time

from engine.server.osc import build_message, parse_datagram


class OscClient:
    """Sends OSC to the server and collects replies on its own UDP socket."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout_s: float = 15.0) -> None:
        self.addr = (host, port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(timeout_s)
        self.port = self.sock.getsockname()[1]

    def send(self, address: str, *args) -> None:
        self.sock.sendto(build_message(address, list(args)), self.addr)

    def send_raw(self, data: bytes) -> None:
        self.sock.sendto(data, self.addr)

    def recv(self) -> tuple[str, list]:
        return parse_datagram(self.sock.recv(65536))[0]

    def call(self, address: str, *args, skip=("/progress", "/heartbeat", "/grid/changed", "/grid/chunk",
                                              "/selection", "/model", "/transport")) -> list[tuple[str, list]]:
        """Sends and returns every message up to and including the answer to `address`
        (/done address, /fail address, or the route's own reply), skipping notifications."""
        self.send(address, *args)
        out = []
        own = {"/ping": "/pong", "/status": "/status", "/model/info": "/model/info", "/sampling": "/sampling",
               "/train/progress": "/train/progress"}.get(address)
        while True:
            msg = self.recv()
            if msg[0] in skip and msg[0] not in (own,):
                continue
            out.append(msg)
            if msg[0] == own or (msg[0] in ("/done", "/fail") and msg[1] and msg[1][0] == address):
                return out

    def answer(self, address: str, *args) -> tuple[str, list]:
        return self.call(address, *args)[-1]

    def drain(self, quiet_s: float = 0.2) -> list:
        old = self.sock.gettimeout()
        self.sock.settimeout(quiet_s)
        out = []
        try:
            while True:
                out.append(parse_datagram(self.sock.recv(65536))[0])
        except socket.timeout:
            return out
        finally:
            self.sock.settimeout(old)

    def close(self) -> None:
        self.sock.close()


def wait_for(predicate, timeout_s: float = 10.0, step_s: float = 0.02):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step_s)
    raise AssertionError("condition not met in time")
