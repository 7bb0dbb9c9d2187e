"""Audio that reaches the engine over OSC goes through the one bounded reader: a pipe, a symlink
loop, a lying header and a folder of them each get one `/fail` sentence, nothing hangs, and the
server keeps answering."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from engine.server.app import Server, ServeOptions
from osc_client import OscClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "signal"))
from test_audio_limits import lying_wav  # noqa: E402


def test_edit_encode_and_train_start_refuse_hostile_audio(tiny_library, tmp_path):
    models, inputs = tmp_path / "models", tmp_path / "inputs"
    models.mkdir()
    (inputs / "bad").mkdir(parents=True)
    shutil.copy(tiny_library / "models" / "tiny.distill", models / "tiny.distill")
    os.mkfifo(inputs / "pipe.wav")
    (inputs / "loop.wav").symlink_to("loop.wav")
    lying_wav(inputs / "lie.wav")
    lying_wav(inputs / "bad" / "lie.wav")
    (inputs / "folder.wav").mkdir()
    options = ServeOptions(osc_port=0, web_port=0, models_dir=models, clips_dir=tmp_path / "clips",
                           input_dir=inputs, heartbeat_s=0.5)
    server = Server(options, log=lambda text: None).start_in_thread()
    client = OscClient(server.osc_port, timeout_s=60)
    try:
        assert client.answer("/model/load", "tiny")[0] == "/done"
        expected = {
            "pipe.wav": "a named pipe (FIFO), not an audio file",
            "folder.wav": "a folder named like an audio file, not an audio file",
            "lie.wav": "damaged header: it claims 13.5 h of audio but the file holds at most 1.1 s; re-export the file",
        }
        for name, reason in expected.items():
            reply = client.answer("/edit/encode", name)
            assert reply[0] == "/fail" and reply[1][0] == "/edit/encode", reply
            assert reply[1][1].endswith(f"{name}: {reason}"), reply
        reply = client.answer("/edit/encode", "loop.wav")  # refused where the path is confined
        assert reply == ("/fail", ["/edit/encode", "audio file 'loop.wav' is a symlink loop (the link points back to itself)"])
        reply = client.answer("/train/start", "bad", "never")
        assert reply[0] == "/fail" and "no usable audio (1 files skipped" in reply[1][1], reply
        assert client.answer("/ping", 7) == ("/pong", [7])
        assert client.answer("/status")[0] == "/status"
    finally:
        client.close()
        server.join()
    assert not (models / "never.distill").exists()
