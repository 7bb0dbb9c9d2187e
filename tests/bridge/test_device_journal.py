"""The journal a restarted device process is told (bridge/device_journal.py): the newest state of every
call that sets it, edits applied to its own copy of the audio, the effects chain left out."""
import numpy as np

from bridge.device_journal import DeviceJournal


def test_replay_brings_voices_edits_gains_loop_and_transport_in_order():
    j = DeviceJournal()
    sound = np.linspace(-1, 1, 1000, dtype=np.float32)
    j.record("find_device", ("system", True, "distill"), {})
    j.record("set_audio", (sound, 48000), {"changed": None, "voice": 0, "gain_db": None})
    j.record("apply_splice", (100, np.zeros(50, np.float32), 0), {})
    j.record("set_audio", (np.ones(10, np.float32), 24000), {"voice": 1, "gain_db": -3.0})
    j.record("set_voice_gain", (0, -6.0), {})
    j.record("set_loop_frames", (0, 500), {})
    j.record("set_gain_db", (-1.5,), {})
    j.record("open_stream", (True,), {})
    j.record("add_effect", ("Gain", {"gain_db": 3.0}, None, False), {})  # not replayed
    j.record("play", (), {})
    calls = j.replay()
    assert [name for name, *_ in calls] == ["find_device", "set_voices", "set_loop_frames", "set_gain_db",
                                            "open_stream", "play"]
    (voices,), _ = calls[1][1:]
    (main, rate, gain), (second, rate2, gain2) = voices
    assert rate == 48000 and gain == -6.0 and rate2 == 24000 and gain2 == -3.0 and len(second) == 10
    assert np.all(main[100:150] == 0) and main[99] == sound[99] and main[150] == sound[150]
    assert sound[120] != 0  # the caller's array is not the journal's copy
    j.record("stop", (), {})
    assert "play" not in [name for name, *_ in j.replay()]


def test_set_voices_replaces_and_a_new_voice_starts_at_0_db():
    j = DeviceJournal()
    j.record("set_voices", ([(np.zeros(4, np.float32), 48000, -2.0), (np.ones(4, np.float32), 48000)],), {})
    j.record("set_audio", (np.ones(3, np.float32), 48000), {"voice": 2})
    voices = j.replay()[0][1][0]
    assert [g for _, _, g in voices] == [-2.0, 0.0, 0.0] and len(voices[2][0]) == 3
