"""Helpers shared by the bridge tests: test audio, and readings retried past a loaded machine (the
alignment is bridge.jack_tools.align)."""
from __future__ import annotations

import time

import numpy as np
import pytest

RATE = 48000
PERIOD = 256


def make_signal(seconds: float = 1.0, seed: int = 0, rate: int = RATE) -> np.ndarray:
    """Non-periodic mono test audio: decaying tones, a chirp and a little noise. # [T] f32"""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    hits = np.exp(-8.0 * (t % 0.2)) * np.sin(2 * np.pi * (150 + 400 * t) * t)
    return (0.4 * hits + 0.02 * rng.standard_normal(len(t))).astype(np.float32)


def without_underruns(bridge, scenario, good=None, attempts: int = 5):
    """Runs scenario() until no underrun and no host underflow happened during it: on a loaded
    shared machine a starved block (counted, and measured by the soak figure), or a cycle JACK
    found us late for (the VM's steal time; PortAudio's output_underflow, raised in every client
    for any xrun of the server), would otherwise read as a click or as other audio. A reading that
    `good(result)` accepts is kept even if the server counted a late cycle meanwhile (the late
    cycle fell where it did no harm); a wrong sound with every block delivered fails at once in
    the caller's asserts."""
    def missed() -> int:
        status = bridge.status()
        return status["underruns"] + status["host_underflows"]

    for attempt in range(attempts):
        before = missed()
        result = scenario()
        if missed() == before or (good is not None and good(result)):
            return result
        time.sleep(0.3 * (attempt + 1))  # steal comes in bursts: let one pass before reading again
    pytest.fail(f"underruns or host underflows in each of {attempts} attempts: the machine is too loaded to judge")
