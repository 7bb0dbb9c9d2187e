"""Server test fixtures: a tiny real model library, an in-process server on free ports, and a
small OSC client (tests/server/osc_client.py) over a real UDP socket."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from engine.server.app import Server, ServeOptions  # noqa: E402
from osc_client import OscClient, wait_for  # noqa: E402,F401  (tests import them from osc_client)
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
    from engine.signal.audio import save_audio
    t = np.arange(16000, dtype=np.float32) / 16000
    save_audio(inputs / "tone.wav", (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000)
    return root


@pytest.fixture
def shared_jack():
    """The JACK server `./run test` starts (JACK_DEFAULT_SERVER, else distill-test); a test run
    alone starts it here, and only a server started here is stopped after the test."""
    import os
    from bridge.jack_tools import JackServer
    jack = JackServer.ensure(os.environ.get("JACK_DEFAULT_SERVER", "distill-test"), 48000, 256)
    yield jack
    jack.stop()


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
