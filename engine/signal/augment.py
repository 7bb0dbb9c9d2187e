"""Spectral augmentation on normalised log-mel, aimed at variety the codebooks can learn from.

Working in the mel domain keeps it cheap (no re-analysis per step): gain is an offset in dB, EQ a
smooth curve over bins, pitch a fractional shift along the mel axis (mel bins are roughly
log-frequency, so a shift is close to a transposition), time a small resampling of frames.
`engine.codec.train.augmented_code_change` measures the point of it (reported as
`codec.augmented_code_change`): augmented chunks must encode to at least 20%
different codes, or the codec sees the same thing twice.
"""
from __future__ import annotations

import numpy as np

GAIN_DB = 6.0
EQ_DB = 6.0
PITCH_BINS = 2.0  # about +-1.5 semitones at 128 bins
TIME_STRETCH = 0.1
DB_RANGE = 100.0  # normalised units: 1.0 == 100 dB (AudioConfig.min_db = -100)


def augment_mel(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random gain + EQ + pitch + time variant of a chunk. # [M, F] -> [M, F]"""
    n_mels, n_frames = values.shape
    out = _shift_bins(values, rng.uniform(-PITCH_BINS, PITCH_BINS))
    out = _stretch_frames(out, 1.0 + rng.uniform(-TIME_STRETCH, TIME_STRETCH), n_frames)
    curve = _smooth_curve(n_mels, rng) * EQ_DB + rng.uniform(-GAIN_DB, GAIN_DB)  # dB per bin
    audible = out > 1e-3  # keep the floor at the floor: silence stays silence
    out = np.where(audible, out + curve[:, None] / DB_RANGE, out)
    return np.clip(out, 0.0, None).astype(np.float32)


def _smooth_curve(n_bins: int, rng: np.random.Generator) -> np.ndarray:
    """A tilt plus one broad bump, in [-1, 1]."""
    x = np.linspace(-1.0, 1.0, n_bins)
    centre, width = rng.uniform(-1, 1), rng.uniform(0.2, 0.8)
    bump = np.exp(-0.5 * ((x - centre) / width) ** 2)
    curve = rng.uniform(-0.5, 0.5) * x + rng.uniform(-0.5, 0.5) * bump
    return np.clip(curve, -1.0, 1.0)


def _shift_bins(values: np.ndarray, shift: float) -> np.ndarray:
    n_mels = values.shape[0]
    source = np.clip(np.arange(n_mels) - shift, 0, n_mels - 1)
    lo = np.floor(source).astype(int)
    hi = np.minimum(lo + 1, n_mels - 1)
    frac = (source - lo)[:, None]
    return values[lo] * (1 - frac) + values[hi] * frac


def _stretch_frames(values: np.ndarray, rate: float, n_frames: int) -> np.ndarray:
    source = np.clip(np.arange(n_frames) * rate, 0, values.shape[1] - 1)
    lo = np.floor(source).astype(int)
    hi = np.minimum(lo + 1, values.shape[1] - 1)
    frac = (source - lo)[None, :]
    return values[:, lo] * (1 - frac) + values[:, hi] * frac
