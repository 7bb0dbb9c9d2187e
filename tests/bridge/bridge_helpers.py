"""Helpers shared by the bridge tests: test audio, and readings retried past a loaded machine (the
alignment is bridge.jack_tools.align)."""
from __future__ import annotations

import numpy as np

from bridge.jack_tools import until_clean

RATE = 48000
PERIOD = 256


def make_signal(seconds: float = 1.0, seed: int = 0, rate: int = RATE) -> np.ndarray:
    """Non-periodic mono test audio: decaying tones, a chirp and a little noise. # [T] f32"""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    hits = np.exp(-8.0 * (t % 0.2)) * np.sin(2 * np.pi * (150 + 400 * t) * t)
    return (0.4 * hits + 0.02 * rng.standard_normal(len(t))).astype(np.float32)


def without_underruns(bridge, scenario, good=None, attempts: int = 5):
    """bridge.jack_tools.until_clean with the bridge's own count of underruns and host underflows
    (PortAudio's output_underflow, raised in every client for any xrun of the server)."""
    def missed() -> int:
        status = bridge.status()
        return status["underruns"] + status["host_underflows"]

    return until_clean(scenario, missed, good, attempts)
