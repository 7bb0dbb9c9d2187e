"""Server test fixtures: a tiny real model library, an in-process server on free ports, and a
small OSC client over a real UDP socket."""
from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from engine.server.app import Server, ServeOptions  # noqa: E402
from engine.server.osc import build_message, parse_datagram  # noqa: E402
from tiny_model import make_tiny_model  # noqa: E402


@pytest.fixture(scope="session")
def tiny_library(tmp_path_factory) -> Path:
    """A folder with models/tiny.distill (with labels and the ONNX decoder graph), an input folder
    with a wav, and a clips folder."""
    root = tmp_path_factory.mktemp("library")
    make_tiny_model(root / "models" / "tiny.distill", onnx=True)
    (root / "clips").mkdir()
    inputs = root / "inputs"
    inputs.mkdir()
    import numpy as np
    from engine.audio import save_audio
    t = np.arange(16000, dtype=np.float32) / 16000
    save_audio(inputs / "tone.wav", (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000)
    return root


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


@pytest.fixture
def server(tiny_library):
    options = ServeOptions(osc_port=0, web_port=0, models_dir=tiny_library / "models",
                           clips_dir=tiny_library / "clips", input_dir=tiny_library / "inputs", heartbeat_s=0.5)
    srv = Server(options, log=lambda text: None).start_in_thread()
    yield srv
    srv.join()
    for f in (tiny_library / "models").glob("*.session.json"):
        f.unlink()  # each test starts from a fresh grid


@pytest.fixture
def client(server):
    c = OscClient(server.osc_port)
    yield c
    c.close()


@pytest.fixture
def loaded(client):
    """A client of a server with the tiny model loaded."""
    reply = client.answer("/model/load", "tiny")
    assert reply[0] == "/done", reply
    return client


def wait_for(predicate, timeout_s: float = 10.0, step_s: float = 0.02):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step_s)
    raise AssertionError("condition not met in time")
