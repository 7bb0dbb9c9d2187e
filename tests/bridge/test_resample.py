"""The resampler: accurate, exact per region (edits), identity at equal rates."""
import numpy as np
import pytest

from bridge.resample import changed_output_range, output_frames, resample, resample_region
from engine.errors import InputError


@pytest.mark.parametrize("dst", [44100, 96000, 22050, 32000])
def test_sine_is_resampled_accurately(dst):
    t = np.arange(48000) / 48000
    y = resample((0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32), 48000, dst)
    assert len(y) == output_frames(48000, 48000, dst) == dst
    ref = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(len(y)) / dst)
    assert np.abs(y[500:-500] - ref[500:-500]).max() < 1e-4


def test_equal_rates_copy_exactly():
    x = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
    assert np.array_equal(resample(x, 48000, 48000), x)


@pytest.mark.parametrize("dst", [44100, 96000])
def test_region_after_an_edit_equals_a_full_resample(dst):
    x = np.random.default_rng(1).standard_normal(20000).astype(np.float32)
    edited = x.copy()
    edited[7000:9000] = 0.0
    first, last = changed_output_range(7000, 9000, 48000, dst)
    full_old, full_new = resample(x, 48000, dst), resample(edited, 48000, dst)
    differs = np.nonzero(np.abs(full_old - full_new) > 1e-6)[0]
    assert first <= differs.min() and differs.max() < last  # the range covers every changed output
    patched = full_old.copy()
    patched[first:last] = resample_region(edited, 48000, dst, first, last)
    assert np.abs(patched - full_new).max() < 1e-6


def test_a_rate_pair_too_fine_is_refused():
    with pytest.raises(InputError, match="too fine"):
        resample(np.zeros(10, np.float32), 48000, 44101)
