"""UI test fixtures: a real `distill serve` process on free ports with a tiny real model, and a
small OSC peer that reads the engine's grid independently of the page under test."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # ui_peers, for the test modules too

from ui_peers import ROOT, OscPeer  # noqa: E402


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


@pytest.fixture(scope="session")
def served(tmp_path_factory):
    """`distill serve` as a subprocess (what a musician runs), with a tiny model loaded and a grid."""
    missing = _server_module_missing()
    if missing:
        pytest.skip(missing)
    sys.path.insert(0, str(ROOT / "tests" / "server"))
    from tiny_model import make_tiny_model  # the server tests' tiny real model (codec + prior)
    root = tmp_path_factory.mktemp("ui-library")
    make_tiny_model(root / "models" / "tiny.distill")
    for name in ("clips", "inputs"):
        (root / name).mkdir()
    cmd = [sys.executable, "-m", "engine.cli", "serve", "--osc-port", "0", "--web-port", "0",
           "--models-dir", str(root / "models"), "--clips-dir", str(root / "clips"),
           "--input-dir", str(root / "inputs"), "--model", "tiny"]
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    osc_port = web_port = None
    deadline = time.monotonic() + 60
    while (osc_port is None or web_port is None) and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if m := re.search(r"OSC on udp://127\.0\.0\.1:(\d+)", line):
            osc_port = int(m.group(1))
        if m := re.search(r"web editor: http://127\.0\.0\.1:(\d+)/", line):
            web_port = int(m.group(1))
    if osc_port is None or web_port is None:
        proc.kill()
        pytest.fail(f"distill serve did not start: {proc.stderr.read()[-2000:]}")
    served = Served(osc_port, web_port, root)
    peer = OscPeer(osc_port)
    try:
        peer.wait_loaded()
        reply = peer.answer("/generate", 2.0, 1)  # a grid to click on, from a real prior run
        assert reply[0] == "/done", reply
    finally:
        peer.close()
    yield served
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def osc(served):
    peer = OscPeer(served.osc_port)
    yield peer
    peer.close()
