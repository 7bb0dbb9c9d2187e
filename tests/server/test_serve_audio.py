"""`distill serve --device NAME` when the device cannot open: the composition root says so, and the
server keeps serving OSC, the effect chain and rendering. (A device that plays: test_peers.py.)"""
from __future__ import annotations

from pathlib import Path

from osc_client import OscClient


def test_missing_device_says_so_and_keeps_serving_effects_and_rendering(tiny_library, tmp_path, capsys):
    from bridge.serve import BridgeAudio, open_bridge_audio
    from engine.server.app import Server, ServeOptions
    for f in (tiny_library / "models").glob("*.session.json"):
        f.unlink()  # a fresh grid and an empty chain
    audio = open_bridge_audio("no-such-device-xyz", 48000, 256, tmp_path)
    assert isinstance(audio, BridgeAudio) and audio.describe() == "none"
    assert "no-such-device-xyz" in capsys.readouterr().err
    srv = Server(ServeOptions(osc_port=0, web_port=None, models_dir=tiny_library / "models", clips_dir=tmp_path,
                              input_dir=tmp_path), audio, log=lambda text: None).start_in_thread()
    try:
        client = OscClient(srv.osc_port)
        assert client.answer("/model/load", "tiny")[0] == "/done"
        reply = client.answer("/play")
        assert reply[0] == "/fail" and "no audio device" in reply[1][1]
        assert client.answer("/fx/add", "Gain")[0] == "/done"  # the chain works without a device
        assert client.answer("/fx/param", 0, "gain_db", -6)[0] == "/done"
        assert client.call("/fx/list", skip=())[-1] == ("/done", ["/fx/list", 1])
        done = client.answer("/render", "offline")
        assert done[0] == "/done" and Path(done[1][1]).stat().st_size > 1000
        pairs = client.answer("/status")[1]
        assert dict(zip(pairs[::2], pairs[1::2]))["audio"] == "none"
        client.close()
    finally:
        srv.join()
        audio.close()
