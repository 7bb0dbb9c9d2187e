"""Pitch bend: `/midi/bend` (and a system port's pitchwheel) drives the CC target the mapping binds
to `bend 0`, at 14-bit resolution: Creativity in the default mapping, a move after a remap, learned
like a controller; a bend sweep is one undo step."""
from __future__ import annotations

import pytest

from engine.edit.midi import DEFAULT_MAP, bend_value
from engine.facts import KNOBS
from osc_client import wait_for


def bindings(client) -> list[list]:
    return [m[1] for m in client.call("/midi/map/list", skip=()) if m[0] == "/midi/binding"]


def test_the_bend_wheel_drives_creativity_and_a_sweep_is_one_undo_step(loaded):
    knob = next(k for k in KNOBS.values() if k.word == "creativity")
    assert DEFAULT_MAP.find("bend", 0, 1).target == "creativity" and ["bend", 0, "creativity", 0] in bindings(loaded)
    before = loaded.answer("/sampling")[1]
    for value, want in ((0, knob.minimum), (16383, knob.maximum), (8192, None), (12000, None)):
        assert loaded.answer("/midi/bend", value, 2) == ("/done", ["/midi/bend"])
        want = knob.minimum + (knob.maximum - knob.minimum) * value / 16383 if want is None else want
        assert loaded.answer("/sampling")[1][0] == pytest.approx(want, abs=1e-3), value
    assert bend_value(8192) == pytest.approx(63.5, abs=0.01)  # finer than a CC's 64 steps
    assert loaded.answer("/undo")[0] == "/done"  # the whole sweep
    assert loaded.answer("/sampling")[1] == before
    reply = loaded.answer("/midi/bend", 16384)
    assert reply[0] == "/fail" and "16383" in reply[1][1], reply


def test_bend_bindings_are_checked_and_learned_like_a_controller(loaded):
    for args, words in ((("bend", 3, "brighter"), "a channel has one pitch bend"),
                        (("bend", 0, "slice", 0, 8), "is for a note")):
        reply = loaded.answer("/midi/map", *args)
        assert reply[0] == "/fail" and words in reply[1][1], reply
    loaded.answer("/notify", 1)
    assert loaded.answer("/midi/learn", "focus")[0] == "/done"
    loaded.send("/midi/bend", 9000)
    learned = wait_for(lambda: [m for m in loaded.drain() if m[0] == "/midi/learned"])
    assert learned[0] == ("/midi/learned", ["bend", 0, "focus"])
    assert ["bend", 0, "focus", 0] in bindings(loaded)
    assert loaded.answer("/midi/unmap", "bend", 0)[0] == "/done"
    assert not any(b[0] == "bend" for b in bindings(loaded))
    assert loaded.answer("/midi/map/reset")[0] == "/done"


def test_a_system_ports_pitchwheel_is_a_bend_message():
    mido = pytest.importorskip("mido")
    from bridge.midi import event_message
    assert event_message(mido.Message("pitchwheel", pitch=-8192, channel=2)) == ("/midi/bend", [0, 3])
    assert event_message(mido.Message("pitchwheel", pitch=8191)) == ("/midi/bend", [16383, 1])
