"""The device side in a process of its own (bridge/device_process.py), on a real JACK dummy server:
the engine's process never loads PortAudio, the child's errors come back as the same sentences,
a child that dies is started again (and one that keeps dying left gone, the engine answering), and
the stream starts and plays without an underrun."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bridge.bridge import Bridge
from bridge.device_process import DeviceGone
from bridge.jack_tools import Recorder
from bridge_helpers import RATE, make_signal
from engine.errors import InputError

ROOT = Path(__file__).resolve().parents[2]


def _bridge(jack, **kwargs) -> Bridge:
    return Bridge("system", RATE, 256, strict_device=True, device_process=True,
                  jack_client_name=f"{jack.client}-dp", **kwargs)


def test_the_engine_process_never_loads_portaudio(jack):
    """Playing, editing and reading status through the child leave sounddevice out of this process."""
    code = """
import json, sys, time
import numpy as np
from bridge.bridge import Bridge
b = Bridge("system", 48000, 256, strict_device=True, device_process=True)
b.set_audio(np.full(4800, 0.1, np.float32), 48000)
b.play()
time.sleep(0.3)
b.set_audio(np.full(4800, 0.2, np.float32), 48000, changed=(0, 100))
status = b.status()
clean = b.close()
print(json.dumps({"sounddevice": "sounddevice" in sys.modules, "playing": status["playing"],
                  "child": status["device_process"], "underruns": status["underruns"], "clean": clean}))
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JACK_DEFAULT_SERVER": jack.name, "JACK_NO_START_SERVER": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["playing"] and result["clean"] and result["child"] not in (None, os.getpid())
    assert result["sounddevice"] is False, "the engine's process loaded PortAudio"


def test_errors_in_the_child_come_back_as_the_same_sentences(jack):
    b = _bridge(jack, defer_stream=True)
    try:
        b.set_audio(make_signal(0.2), RATE)
        with pytest.raises(InputError, match=r"voice 3: expected 0\.\.0"):
            b.set_voice_gain(3, 0.0)
        with pytest.raises(InputError, match="not a built-in"):
            b.add_effect("NoSuchEffect")
        with pytest.raises(InputError, match="effects slot 5"):
            b.add_effect("Gain", {"gain_db": -3.0}, index=5)
        assert b.add_effect("Gain", {"gain_db": -3.0}) == 0  # the child lives on after each error
        assert b.effects()[0]["values"]["gain_db"] == -3.0
        assert b.status()["voices"] == 1
    finally:
        assert b.close()


def test_the_childs_start_up_objects_are_frozen_out_of_the_garbage_collectors_sight(jack):
    """A full collection over them held the GIL for ~9 ms (bridge/priority.py GcPauses): after start-up
    and a plugin load they are frozen, and the collector's pauses are reported."""
    b = _bridge(jack, defer_stream=True)
    try:
        before = b.host.state()["gc_frozen_objects"]
        assert before > 5000  # numpy, sounddevice, pedalboard, the host: frozen after init and find_device
        b.add_effect("Gain", {"gain_db": -3.0})
        state = b.host.state()
        assert state["gc_frozen_objects"] >= before and state["gc_max_ms"] >= 0.0
        assert isinstance(state["gc_collections"], int)
    finally:
        assert b.close()


def test_a_device_process_that_dies_is_started_again_and_plays_on(jack):
    """A crash of the child (a VST3 plugin's, say: SIGKILL looks the same) costs a moment of sound,
    not the session: the next call starts a new child with the same audio, edits included, gain,
    loop and transport, and without the effects chain; /status says so."""
    b = _bridge(jack)
    try:
        sound = make_signal(0.5)
        b.set_audio(sound, RATE)
        b.apply_splice(0, np.zeros(2400, np.float32))  # an edit the new child must play too
        b.set_gain_db(-6.0)
        b.add_effect("Gain", {"gain_db": 0.0})
        b.play()
        pid = b.status()["device_process"]
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
        status = b.status()  # the call that finds it dead starts the new one
        assert status["device_process"] not in (None, pid) and status["device_restarts"] == 1
        time.sleep(0.3)  # the new child's producer takes the replayed play from its next block
        status = b.status()
        assert status["playing"] and status["voices"] == 1 and status["effects"] == 0
        assert "started again without its effects chain" in status["message"]
        with Recorder(b.status()["jack_ports"][:1], 0.6) as rec:
            pass
        heard = rec.result().audio[:, 0]
        assert 0.05 < np.abs(heard).max() <= np.abs(sound).max() * 10 ** (-6 / 20) + 1e-3  # our sound, 6 dB down
        assert b.status()["underruns"] == 0
    finally:
        started = time.perf_counter()
        b.close()
        assert time.perf_counter() - started < 5.0


def test_a_device_process_that_keeps_dying_is_left_gone_with_a_sentence(jack):
    """Three restarts a minute at most: then calls fail with one sentence and status still answers."""
    b = _bridge(jack)
    try:
        b.set_audio(make_signal(0.5), RATE)
        b.play()
        for _ in range(3):
            os.kill(b.status()["device_process"], signal.SIGKILL)
            time.sleep(0.2)
        os.kill(b.status()["device_process"], signal.SIGKILL)
        time.sleep(0.2)
        with pytest.raises(DeviceGone, match="the audio device process has ended"):
            b.play()
        status = b.status()
        assert status["playing"] is False and status["device_restarts"] == 3 and "ended" in status["message"]
    finally:
        started = time.perf_counter()
        b.close()
        assert time.perf_counter() - started < 5.0


def test_no_underrun_from_start_up_to_first_sound_and_through_a_recording(jack):
    """Deferred open, first play, a recorder connecting and leaving twice: no underrun, real sound."""
    b = _bridge(jack, defer_stream=True)
    try:
        assert not b.stream_open and b.jack_ports == []
        b.set_audio(make_signal(1.0), RATE)
        b.play()
        assert b.stream_open and len(b.jack_ports) == 2
        time.sleep(0.3)
        for _ in range(2):
            with Recorder(b.jack_ports[:2], 0.4) as rec:
                pass
            assert np.abs(rec.result().audio).max() > 0.05  # it recorded our sound
        status = b.status()
        assert status["underruns"] == 0 and status["idle_underruns"] == 0, status
        assert status["playing"] and status["callback_p99_share"] < 1.0
    finally:
        assert b.close()
