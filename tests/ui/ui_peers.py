"""Peers the UI tests talk to the engine with, independently of the page or patch under test."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "ui"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


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


def _server_module_missing() -> str | None:
    for module in ("engine/server/app.py", "engine/server/web.py", "bridge/serve.py"):
        if not (ROOT / module).exists():
            return f"the server is not there yet ({module} missing)"
    return None


@dataclass(frozen=True)
class Served:
    osc_port: int
    web_port: int
    root: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}/"


def make_library(root: Path) -> Path:
    """models/tiny.distill (the server tests' tiny real model: codec + prior), clips/, inputs/."""
    sys.path.insert(0, str(ROOT / "tests" / "server"))
    from tiny_model import make_tiny_model
    make_tiny_model(root / "models" / "tiny.distill")
    for name in ("clips", "inputs"):
        (root / name).mkdir(exist_ok=True)
    return root


def start_serve(root: Path, *extra: str) -> tuple[subprocess.Popen, Served]:
    """`distill serve` as a subprocess on free ports, as a musician runs it; output goes to serve.log
    (a file, so a chatty server never blocks on a full pipe). Returns once the model is loaded."""
    missing = _server_module_missing()
    if missing:
        pytest.skip(missing)
    log_path = root / f"serve-{time.monotonic_ns()}.log"
    cmd = [sys.executable, "-m", "engine.cli", "serve", "--osc-port", "0", "--web-port", "0",
           "--models-dir", str(root / "models"), "--clips-dir", str(root / "clips"),
           "--input-dir", str(root / "inputs"), "--model", "tiny", *extra]
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    ports: dict[str, int] = {}
    deadline = time.monotonic() + 60
    while len(ports) < 2 and time.monotonic() < deadline and proc.poll() is None:
        text = log_path.read_text()
        for key, pattern in (("osc", r"OSC on udp://127\.0\.0\.1:(\d+)"), ("web", r"web editor: http://127\.0\.0\.1:(\d+)/")):
            if m := re.search(pattern, text):
                ports[key] = int(m.group(1))
        time.sleep(0.05)
    if len(ports) < 2:
        stop_serve(proc)
        pytest.fail(f"distill serve did not start: {log_path.read_text()[-2000:]}")
    peer = OscPeer(ports["osc"])
    try:
        peer.wait_loaded()
    finally:
        peer.close()
    return proc, Served(ports["osc"], ports["web"], root)


def stop_serve(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def open_page(browser, url: str):
    """A new page on the editor, once connected with a grid; console errors and page errors collected."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    local = ("http://127.0.0.1:", "ws://127.0.0.1:", "data:")  # no assets from the internet, ever
    page.on("request", lambda r: None if r.url.startswith(local) else problems.append(f"off-machine request: {r.url}"))
    page.on("websocket", lambda ws: None if ws.url.startswith(local) else problems.append(f"off-machine socket: {ws.url}"))
    started = time.perf_counter()
    page.goto(url)
    page.wait_for_function("document.getElementById('conn').textContent === 'connected'"
                           " && window.Distill.state.model.frames > 0", timeout=15000)
    return page, problems, time.perf_counter() - started


def drag_select(page, levels: int, f0: int, f1: int) -> None:
    """Drags the Select tool over every level from frame f0 to frame f1 (inclusive), as a user does."""
    page.click(".tool[data-tool=select]")
    a = page.evaluate(f"Distill.state.view.cellCentre(0, {f0})")
    b = page.evaluate(f"Distill.state.view.cellCentre({levels - 1}, {f1})")
    page.mouse.move(a["x"], a["y"])
    page.mouse.down()
    page.mouse.move(b["x"], b["y"], steps=5)
    page.mouse.up()
