"""Integrated loudness after ITU-R BS.1770-4 (LUFS), in numpy only.

K-weighting is the standard two-biquad cascade (high shelf +4 dB near 1.7 kHz, high-pass near
38 Hz) designed for any sample rate with libebur128's formulas, which reproduce the 48 kHz coefficients
of the recommendation. Numpy has no recursive filter, so the cascade runs as an FFT convolution with its
impulse response, taken long enough (0.3 s) that the truncated tail is below 1e-7 of the peak.
Gating: 400 ms blocks with 75 % overlap, absolute gate -70 LUFS, relative gate -10 LU. A clip
shorter than one block is measured as a single block. Channel weights are 1 (mono, L, R).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
BLOCK_S = 0.4
IMPULSE_S = 0.3  # K-weighting impulse response kept (rounded up to a power of two)
OVERLAP = 0.75


def _biquads(sample_rate: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(b, a) of the K-weighting shelf and high-pass at `sample_rate`."""
    out = []
    # high shelf, as libebur128 derives it: reproduces the recommendation's 48 kHz coefficients
    gain_db, q, fc = 3.999843853973347, 0.7071752369554196, 1681.974450955533
    k = np.tan(np.pi * fc / sample_rate)
    vh = 10.0 ** (gain_db / 20.0)
    vb = vh ** 0.4996667741545416
    a0 = 1.0 + k / q + k * k
    b = np.array([(vh + vb * k / q + k * k), 2.0 * (k * k - vh), (vh - vb * k / q + k * k)]) / a0
    a = np.array([1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0])
    out.append((b, a))
    # high-pass; BS.1770 keeps b = [1, -2, 1]
    q, fc = 0.5003270373238773, 38.13547087602444
    k = np.tan(np.pi * fc / sample_rate)
    a0 = 1.0 + k / q + k * k
    out.append((np.array([1.0, -2.0, 1.0]), np.array([1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0])))
    return out


def k_weighting_coefficients(sample_rate: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The two (b, a) biquads, normalised to a[0] = 1."""
    return _biquads(int(sample_rate))


@lru_cache(maxsize=8)
def _impulse_response(sample_rate: int) -> np.ndarray:
    """Impulse response of the K-weighting cascade, from its frequency response. # [N]

    The slowest part, the 38 Hz high-pass (a double pole, time constant about 4 ms), has decayed
    below 1e-7 of its peak well within IMPULSE_S."""
    n = 1 << int(np.ceil(np.log2(IMPULSE_S * sample_rate)))
    z = np.exp(-1j * 2.0 * np.pi * np.arange(n // 2 + 1) / n)
    response = np.ones_like(z)
    for b, a in _biquads(sample_rate):
        response *= (b[0] + b[1] * z + b[2] * z * z) / (a[0] + a[1] * z + a[2] * z * z)
    return np.fft.irfft(response, n)


def k_weight(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """K-weighted signal, causal, same length. x [C, T] -> [C, T]"""
    h = _impulse_response(sample_rate)
    t = x.shape[-1]
    n = 1 << int(np.ceil(np.log2(t + len(h))))
    spectrum = np.fft.rfft(x.astype(np.float64), n, axis=-1) * np.fft.rfft(h, n)[None, :]
    return np.fft.irfft(spectrum, n, axis=-1)[:, :t]


def integrated_loudness(x: np.ndarray, sample_rate: int) -> float:
    """Gated integrated loudness in LUFS of x [T] or [C, T]; -inf for silence."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    y = k_weight(x, sample_rate)
    block = int(round(BLOCK_S * sample_rate))
    hop = int(round(block * (1.0 - OVERLAP)))
    t = y.shape[-1]
    if t < block:
        starts = [0]
        block = t
    else:
        starts = list(range(0, t - block + 1, hop))
    power = np.cumsum(np.concatenate([np.zeros((y.shape[0], 1)), y * y], axis=1), axis=1)  # [C, T+1]
    mean_square = np.array([(power[:, s + block] - power[:, s]) / block for s in starts])  # [J, C]
    block_power = mean_square.sum(axis=1)  # channel weights 1
    with np.errstate(divide="ignore"):
        block_lufs = -0.691 + 10.0 * np.log10(block_power)
    gated = block_power[block_lufs > ABSOLUTE_GATE_LUFS]
    if len(gated) == 0:
        return float("-inf")
    relative = -0.691 + 10.0 * np.log10(gated.mean()) + RELATIVE_GATE_LU
    gated = block_power[(block_lufs > ABSOLUTE_GATE_LUFS) & (block_lufs > relative)]
    return float(-0.691 + 10.0 * np.log10(gated.mean()))
