"""MIDI over OSC on an in-process server (no audio device): the mapping is data in the session
(edited, listed, saved and restored with it), a controller sweep is one undo step, moves driven by a
controller coalesce, MIDI learn binds the next event, and what a note cannot do (no audio device)
answers the note's sender with the command's /fail. Notes heard on a real JACK device:
tests/server/test_midi_jack.py."""
from __future__ import annotations

import json

import pytest

from engine.edit.midi import DEFAULT_MAP, Binding, MidiMap, velocity_gain_db
from engine.errors import InputError
from osc_client import wait_for


def status(client) -> dict:
    pairs = client.answer("/status")[1]
    return dict(zip(pairs[::2], pairs[1::2]))


def bindings(client) -> list[list]:
    return [m[1] for m in client.call("/midi/map/list", skip=()) if m[0] == "/midi/binding"]


def test_the_mapping_is_data_that_refuses_bad_bindings_with_a_sentence():
    assert DEFAULT_MAP.find("note", 48, 3).target == "slice"
    assert MidiMap.from_json(json.loads(json.dumps(DEFAULT_MAP.to_json()))) == DEFAULT_MAP
    for bad, words in ((("note", 40, "brighter", ()), "is for a controller"),
                       (("cc", 200, "gain", ()), "expected 0..127"),
                       (("note", 40, "region", (0, 1)), "takes level_start"),
                       (("midi", 1, "gain", ()), "expected note, cc or bend")):
        with pytest.raises(InputError, match=words):
            Binding(*bad)
    with pytest.raises(InputError, match="not a version 1"):
        MidiMap.from_json({"bindings": []})
    assert velocity_gain_db(127) == 0.0 and velocity_gain_db(0) == -96.0
    assert -12.5 < velocity_gain_db(64) < -11.5


def test_mapping_routes_edit_the_mapping_and_it_is_saved_with_the_session(loaded, tiny_library):
    default = bindings(loaded)
    assert len(default) == len(DEFAULT_MAP.bindings) and ["note", 48, "slice", 0, 0, 8] in default
    assert loaded.answer("/midi/map", "note", 40, "region", 0, 2, 4, 20) == ("/done", ["/midi/map"])
    assert loaded.answer("/midi/map", "cc", 48, "voice_gain", 2)[0] == "/done"
    assert loaded.answer("/midi/unmap", "note", 49)[0] == "/done"
    now = bindings(loaded)
    assert ["note", 40, "region", 0, 0, 2, 4, 20] in now and ["cc", 48, "voice_gain", 0, 2] in now
    assert not any(b[:2] == ["note", 49] for b in now)
    reply = loaded.answer("/midi/map", "note", 41, "darker")
    assert reply[0] == "/fail" and "is for a controller" in reply[1][1], reply
    reply = loaded.answer("/midi/unmap", "note", 49)
    assert reply[0] == "/fail" and "no MIDI note 49" in reply[1][1]
    path = loaded.answer("/session/save")[1][1]
    stored = json.loads(open(path).read())["midi"]
    assert {"kind": "note", "number": 40, "target": "region", "params": [0, 2, 4, 20]} in stored["bindings"]
    assert loaded.answer("/midi/map/reset")[0] == "/done"
    assert bindings(loaded) == default
    assert loaded.answer("/model/load", "tiny")[0] == "/done"  # the saved session comes back with it
    assert ["note", 40, "region", 0, 0, 2, 4, 20] in bindings(loaded)


def test_a_controller_sweep_is_one_undo_step(loaded):
    before = loaded.answer("/sampling")[1]
    assert loaded.answer("/edit/set", 0, 1, 3)[0] == "/done"
    for value in range(0, 128, 8):
        assert loaded.answer("/midi/cc", 71, value) == ("/done", ["/midi/cc"])
    creativity = loaded.answer("/sampling")[1][0]
    assert creativity == pytest.approx(0.05 + 1.95 * 120 / 127, abs=1e-3)
    assert loaded.answer("/midi/cc", 73, 127, 5)[0] == "/done"  # focus on any channel: the codebook size
    assert loaded.answer("/sampling")[1][1] == 8
    assert loaded.answer("/undo")[0] == "/done"  # the focus sweep
    assert loaded.answer("/undo")[0] == "/done"  # the whole creativity sweep ...
    assert loaded.answer("/sampling")[1] == before
    assert loaded.answer("/undo")[0] == "/done"  # ... then the edit before it
    assert loaded.answer("/undo")[0] == "/fail"


def test_a_controller_move_sweep_coalesces_into_one_undo_step(loaded):
    loaded.answer("/generate", 2.0, 3)
    version = status(loaded)["version"]
    grid = lambda: status(loaded)["version"]  # noqa: E731
    for value in (20, 40, 60, 80, 100, 127):  # faster than the move jobs finish
        loaded.send("/midi/cc", 74, value)
    wait_for(lambda: status(loaded)["jobs"] == 0 and grid() > version, timeout_s=30)
    loaded.drain()
    assert status(loaded)["can_undo"] == 1
    assert loaded.answer("/undo")[0] == "/done"  # one step undoes the sweep: the generated grid is back
    assert loaded.answer("/undo")[0] == "/done"  # (the generate)
    assert loaded.answer("/undo")[0] == "/fail"


def test_midi_learn_binds_the_next_event_of_its_kind(server, loaded):
    loaded.answer("/notify", 1)
    assert loaded.answer("/midi/learn", "region", 0, 1, 0, 4) == ("/done", ["/midi/learn"])
    loaded.send("/midi/cc", 30, 64)  # a controller while learning a note action: ignored
    loaded.send("/midi/note", 30, 100, 2)
    learned = wait_for(lambda: [m for m in loaded.drain() if m[0] == "/midi/learned"])
    assert learned[0] == ("/midi/learned", ["note", 30, "region"])
    assert ["note", 30, "region", 0, 0, 1, 0, 4] in bindings(loaded)
    assert not any(b[:2] == ["cc", 30] for b in bindings(loaded))
    assert loaded.answer("/midi/learn", "gain")[0] == "/done"
    assert loaded.answer("/midi/learn", "off")[0] == "/done"
    loaded.send("/midi/cc", 31, 64)
    assert not any(b[:2] == ["cc", 31] for b in bindings(loaded))
    reply = loaded.answer("/midi/learn", "loudest")
    assert reply[0] == "/fail" and "not one of off" in reply[1][1]


def test_a_note_without_an_audio_device_answers_with_the_commands_fail(loaded):
    msgs = loaded.call("/midi/note", 48, 100)
    assert msgs[-1] == ("/done", ["/midi/note"])
    fails = [m for m in msgs if m[0] == "/fail"]
    assert fails and fails[0][1][0] == "/audition/region" and "no audio device" in fails[0][1][1]
    assert loaded.answer("/midi/note", 48, 0)[0] == "/done"  # the release
    assert loaded.answer("/midi/note", 128, 1)[0] == "/fail"


def test_link_route_joins_and_leaves_a_session(tiny_library, tmp_path):
    pytest.importorskip("aalink")
    from bridge.serve import open_bridge_audio
    from engine.server.app import Server, ServeOptions
    from osc_client import OscClient
    audio = open_bridge_audio(None, 48000, 256, tmp_path)  # no device: Link still shares the tempo
    srv = Server(ServeOptions(osc_port=0, web_port=None, models_dir=tiny_library / "models", clips_dir=tmp_path,
                              input_dir=tmp_path), audio, log=lambda text: None).start_in_thread()
    try:
        client = OscClient(srv.osc_port)
        reply = client.answer("/link", 1, 1)
        assert reply[0] == "/done" and reply[1][0] == "/link" and reply[1][1] >= 0, reply
        assert status(client)["link"] == 1
        assert client.answer("/link", 0) == ("/done", ["/link", 0])
        assert status(client)["link"] == 0
        assert client.answer("/link", 2)[0] == "/fail"
        client.close()
    finally:
        srv.join()
        audio.close()
