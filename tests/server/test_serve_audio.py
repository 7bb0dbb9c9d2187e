"""`distill serve --device`: the composition root joins server and bridge. With a real JACK server
(dummy driver) transport plays, edits, effects and renders go through the bridge. (A device that
does not exist: tests/server/test_peers.py, whose server runs that way.)"""
from __future__ import annotations

import os
import shutil
import time

import pytest

from conftest import OscClient
from engine.server.spawn import ServeProcess


def status(client) -> dict:
    pairs = client.answer("/status")[1]
    return dict(zip(pairs[::2], pairs[1::2]))


@pytest.fixture(scope="module")
def onnx_library(tmp_path_factory):
    from tiny_model import make_tiny_model
    root = tmp_path_factory.mktemp("onnx-library")
    make_tiny_model(root / "models" / "live.distill", onnx=True)
    return root


def dirs(root) -> tuple:
    return ("--models-dir", str(root / "models"), "--clips-dir", str(root / "clips"), "--input-dir", str(root))


@pytest.mark.skipif(shutil.which("jackd") is None, reason="needs jackd2 (.ci/run installs it)")
def test_jack_device_plays_edits_and_renders_through_the_bridge(onnx_library):
    from bridge.jack_tools import JackServer
    name = f"distill-serve-{os.getpid()}"
    jack = JackServer.ensure(name, 48000, 256)
    try:
        env = {"JACK_DEFAULT_SERVER": name, "JACK_NO_START_SERVER": "1"}
        with ServeProcess(*dirs(onnx_library), "--device", "system", "--model", "live", env=env) as proc:
            client = OscClient(proc.osc_port)
            deadline = time.monotonic() + 60
            while status(client)["model"] != "live" and time.monotonic() < deadline:
                time.sleep(0.2)
            assert status(client)["audio"] != "none", proc.banner
            assert client.answer("/generate", 2.0, 1)[0] == "/done"
            assert client.answer("/play") == ("/done", ["/play"])
            time.sleep(0.5)
            s = status(client)
            assert s["transport"] == "playing" and s["position_s"] > 0
            assert client.answer("/edit/set", 0, 4, 3)[0] == "/done"
            assert client.answer("/gain", -6)[0] == "/done"
            assert client.answer("/fx/add", "Gain")[0] == "/done"
            assert client.answer("/fx/param", 0, "gain_db", -3.0)[0] == "/done"
            slots = client.call("/fx/list", skip=())
            assert ("/done", ["/fx/list", 1]) == slots[-1]
            assert client.answer("/undo")[0] == "/done"  # undoes the parameter change
            assert client.answer("/audition/code", 1, 2, 16)[0] == "/done"
            assert client.answer("/stop") == ("/done", ["/stop"])
            rendered = client.answer("/render", "through-bridge")
            assert rendered[0] == "/done" and os.path.getsize(rendered[1][1]) > 1000
            assert client.answer("/tempo", 120)[0] == "/done"
            assert client.answer("/render/length", 0, 1)[0] == "/done"  # one bar at 120 bpm: 2 s
            from pedalboard.io import AudioFile
            with AudioFile(client.answer("/render", "one-bar")[1][1]) as f:
                assert abs(f.frames / f.samplerate - 2.0) < 0.01
            client.close()
    finally:
        jack.stop()
