"""edit_to_ear_ms finds the loop's period in a JACK recording even where the recorder missed cycles."""
from __future__ import annotations

import numpy as np
import pytest

from tools.benchmarks.ear import _period


def test_the_period_is_found_across_a_cycle_the_recorder_missed() -> None:
    loop = np.random.default_rng(0).standard_normal(48000 - 37).astype(np.float32)  # a period off the guess
    x = np.tile(loop, 3)
    heard = np.ones(len(x), bool)
    x[100_000:100_256] = 0.0  # a missed cycle, silence in the recording, inside the compared window
    heard[100_000:100_256] = False
    assert _period(x, 48000, 104_000, heard) == 48000 - 37
    with pytest.raises(RuntimeError, match="does not repeat"):  # without the mask the gap breaks equality
        _period(x, 48000, 104_000)
