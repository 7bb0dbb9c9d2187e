"""The Bridge facade without a device: effects ops, session state, render, status."""
import json
from pathlib import Path

import numpy as np
import pytest
from pedalboard.io import AudioFile

from bridge.bridge import Bridge
from bridge_helpers import RATE, make_signal
from engine.errors import InputError

ZAMCOMPX2 = "/usr/lib/vst3/ZamCompX2.vst3"
ZAMCOMP = "/usr/lib/vst3/ZamComp.vst3"


@pytest.fixture
def offline(tmp_path):
    b = Bridge(play_audio=False, clips_dir=str(tmp_path))
    yield b
    b.close()


@pytest.mark.skipif(not Path(ZAMCOMPX2).exists(), reason="apt-get install zam-plugins")
def test_effect_slots_can_be_added_moved_set_bypassed_and_saved(offline):
    assert offline.add_effect("Reverb", {"room_size": 0.2}) == 0
    assert offline.add_effect(ZAMCOMP, {"threshold_db": -30.0}) == 1
    assert offline.add_effect(ZAMCOMPX2, index=0) == 0  # stereo first: ZamComp now runs dual mono
    assert [s["name"] for s in offline.effects()] == ["ZamCompX2", "Reverb", "ZamComp"]
    assert len(offline.player.chain.slots[2].instances) == 2
    offline.set_effect_param(0, "threshold_db", -18.0)
    offline.set_effect_bypass(1, True)
    offline.move_effect(2, 1)
    offline.remove_effect(2)
    state = json.loads(json.dumps(offline.effects_to_dict()))
    assert [s["plugin"] for s in state["slots"]] == [ZAMCOMPX2, ZAMCOMP]
    assert state["slots"][0]["params"] == {"threshold_db": -18.0}
    offline.effects_from_dict({"format": 1, "slots": []})
    assert offline.effects() == []
    offline.effects_from_dict(state)
    assert offline.effects_to_dict() == state
    with pytest.raises(InputError, match="slot 7"):
        offline.set_effect_param(7, "ratio", 2.0)


def test_render_goes_through_the_chain_and_status_says_render_only(offline, tmp_path):
    offline.add_effect("Gain", {"gain_db": -6.0})
    x = make_signal(0.5)
    path = offline.render(x, RATE, bit_depth="float", name="My Take.wav")
    assert path.name == "My-Take-001.wav"
    with AudioFile(str(path)) as f:
        data = f.read(f.frames)
    assert np.allclose(data[0], x * 10 ** (-6 / 20), atol=1e-6)
    offline.set_voices([(x, RATE), (x, RATE, -6.0)])
    mixed = offline.render(effects=False, bit_depth="float", name="mix")
    with AudioFile(str(mixed)) as f:
        assert np.allclose(f.read(f.frames)[0], x * (1 + 10 ** (-6 / 20)), atol=1e-6)
    status = offline.status()
    assert status["device"] is None and "renders clips" in status["message"]
    assert status["voices"] == 2 and status["effects"] == 1 and status["output_latency_s"] is None
    json.dumps(status)


def test_transport_input_is_checked(offline):
    with pytest.raises(InputError, match="position_s"):
        offline.seek(-1.0)
    with pytest.raises(InputError, match="loop"):
        offline.set_loop(2.0, 1.0)
    with pytest.raises(InputError, match="bpm"):
        offline.set_tempo(3)
    offline.set_tempo(90, 3)
    offline.set_loop_bars(1, 2)
    assert offline.status()["loop_s"] == [2.0, 4.0]


def test_repeated_renders_start_from_a_reset_chain(offline):
    offline.add_effect("Reverb", {"room_size": 0.9})
    x = make_signal(0.3)
    first = offline.render(x, RATE, bit_depth="float")
    second = offline.render(x, RATE, bit_depth="float")  # the cached render chain must not carry a tail
    offline.set_effect_param(0, "room_size", 0.1)
    third = offline.render(x, RATE, bit_depth="float")  # the chain changed: the cache is rebuilt
    read = lambda p: AudioFile(str(p)).read(10**7)  # noqa: E731
    assert np.array_equal(read(first), read(second))
    assert not np.allclose(read(first), read(third))
