"""Peers the UI tests talk to the engine with, independently of the page or patch under test."""
from __future__ import annotations

import socket
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "ui"


class OscPeer:
    """An OSC client on its own UDP socket: the test's independent view of the engine."""

    def __init__(self, port: int, timeout_s: float = 30.0) -> None:
        from engine.server.osc import build_message, parse_datagram
        self._build, self._parse = build_message, parse_datagram
        self.addr = ("127.0.0.1", port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(timeout_s)

    def send(self, address: str, *args) -> None:
        self.sock.sendto(self._build(address, list(args)), self.addr)

    def call(self, address: str, *args) -> list[tuple[str, list]]:
        """Every message up to the answer to `address` (its own reply, /done or /fail for it)."""
        own = {"/ping": "/pong", "/status": "/status", "/sampling": "/sampling"}.get(address)
        self.send(address, *args)
        out = []
        while True:
            msg = self._parse(self.sock.recv(65536))[0]
            out.append(msg)
            if msg[0] == own or (msg[0] in ("/done", "/fail") and msg[1] and msg[1][0] == address):
                return out

    def answer(self, address: str, *args) -> tuple[str, list]:
        return self.call(address, *args)[-1]

    def status(self) -> dict:
        args = self.answer("/status")[1]
        return dict(zip(args[0::2], args[1::2]))

    def wait_loaded(self, timeout_s: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            st = self.status()
            if st.get("model") and st.get("jobs") == 0:
                return st
            time.sleep(0.1)
        raise AssertionError(f"model not loaded: {st}")

    def grid(self) -> np.ndarray:
        """The engine's grid [Q, F] as /grid/get sends it."""
        grid = None
        for address, args in self.call("/grid/get"):
            if address == "/grid/info":
                grid = np.zeros((args[1], args[2]), dtype=np.int64)
            elif address == "/grid/chunk" and grid is not None:
                grid[args[1], args[2]:args[2] + len(args) - 3] = args[3:]
            elif address == "/fail":
                raise AssertionError(f"/grid/get failed: {args}")
        assert grid is not None, "no /grid/info"
        return grid

    def close(self) -> None:
        self.sock.close()


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_udp_port() -> int:
    """A UDP port nobody listens on right now (for a patch's reply port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
