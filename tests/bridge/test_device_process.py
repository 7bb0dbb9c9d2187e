"""The device side in a process of its own (bridge/device_process.py), on a real JACK dummy server:
the engine's process never loads PortAudio, the child's errors come back as the same sentences,
a child that dies leaves the engine answering, and the stream starts and plays without an underrun."""
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


def test_a_device_process_that_dies_leaves_the_engine_answering(jack):
    b = _bridge(jack)
    b.set_audio(make_signal(0.5), RATE)
    b.play()
    pid = b.status()["device_process"]
    os.kill(pid, signal.SIGKILL)  # a plugin crashing the child would look the same
    time.sleep(0.2)
    with pytest.raises(DeviceGone, match="the audio device process has ended"):
        b.play()
    status = b.status()  # status still answers, saying what happened
    assert status["playing"] is False and "ended" in status["message"]
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
