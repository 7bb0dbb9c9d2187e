"""Model rate -> device rate: a windowed-sinc polyphase resampler in numpy, exact per output sample.

Each output sample is a pure function of the input samples around it, so resampling only the
region an edit touched gives the same samples as resampling the whole buffer again
(`resample_region`, equal to float rounding). The live path and the offline render call the same function, so what the
bridge streams equals what it renders.
"""
from __future__ import annotations

from functools import lru_cache
from math import gcd

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from engine.errors import InputError

HALF_TAPS = 16       # zero crossings each side at the lower rate: about -80 dB aliasing with beta 8.6
KAISER_BETA = 8.6
MAX_PHASES = 4096    # 48 kHz <-> 44.1 kHz needs 147 or 160; a rate pair needing more is refused
CHUNK = 16384        # outputs computed per gather, bounding temporary memory to a few MB


@lru_cache(maxsize=16)
def _kernel(src_rate: int, dst_rate: int) -> tuple[int, int, int, np.ndarray]:
    """(L, M, W, table [L, 2W]): dst = src * L / M, W input taps each side, one row per phase."""
    g = gcd(src_rate, dst_rate)
    up, down = dst_rate // g, src_rate // g
    if up > MAX_PHASES:
        raise InputError(f"sample rates {src_rate} -> {dst_rate}: ratio {up}/{down} too fine to resample")
    cutoff = min(1.0, up / down)  # below the lower Nyquist when downsampling
    width = int(np.ceil(HALF_TAPS / cutoff))
    k = np.arange(-width + 1, width + 1)  # [2W] input offsets from floor(t)
    u = k[None, :] - (np.arange(up) / up)[:, None]  # [L, 2W] distance to the output instant
    window = np.i0(KAISER_BETA * np.sqrt(np.clip(1.0 - (u / width) ** 2, 0.0, 1.0))) / np.i0(KAISER_BETA)
    table = cutoff * np.sinc(cutoff * u) * window
    table /= table.sum(axis=1, keepdims=True)  # unity gain at DC for every phase
    return up, down, width, table.astype(np.float32)


def output_frames(num_frames: int, src_rate: int, dst_rate: int) -> int:
    """Length of `num_frames` input samples once resampled: ceil(T * dst / src)."""
    return -(-num_frames * dst_rate // src_rate)


def resample_region(x: np.ndarray, src_rate: int, dst_rate: int, start: int, stop: int) -> np.ndarray:
    """Output samples [start, stop) of resampling mono `x` [T] from src_rate to dst_rate. # [stop-start]

    Samples outside x count as zeros. Equal rates return a plain copy of the slice.
    """
    x = np.asarray(x, dtype=np.float32)
    if src_rate == dst_rate:
        out = np.zeros(max(0, stop - start), np.float32)
        lo, hi = max(start, 0), min(stop, len(x))
        if hi > lo:
            out[lo - start:hi - start] = x[lo:hi]
        return out
    up, down, width, table = _kernel(int(src_rate), int(dst_rate))
    out = np.empty(max(0, stop - start), np.float32)
    if stop <= start:
        return out
    first_in = (start * down) // up - width + 1  # the lowest input index any output here reads
    last_in = ((stop - 1) * down) // up + width + 1
    window = np.zeros(last_in - first_in, np.float32)  # the input span, zeros outside x
    lo, hi = max(first_in, 0), min(last_in, len(x))
    if hi > lo:
        window[lo - first_in:hi - first_in] = x[lo:hi]
    if up > 4:  # many phases: one matrix-vector product per output residue is fastest
        windows = sliding_window_view(window, 2 * width)  # windows[i] = window[i:i + 2W], a view
        for r in range(min(up, stop - start)):
            m0 = start + r
            first_row = (m0 * down) // up - width + 1 - first_in
            count = len(range(m0, stop, up))
            rows = windows[first_row:first_row + (count - 1) * down + 1:down]  # [count, 2W]
            out[r::up] = rows @ table[(m0 * down) % up]
        return out
    taps = np.arange(-width + 1, width + 1) - first_in
    for c0 in range(start, stop, CHUNK):
        m = np.arange(c0, min(stop, c0 + CHUNK), dtype=np.int64)
        base = (m * down) // up  # floor of the input position of each output
        values = window[base[:, None] + taps[None, :]]  # [n, 2W]
        out[c0 - start:c0 - start + len(m)] = np.einsum("nk,nk->n", values, table[(m * down) % up])
    return out


def resample(x: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Resamples mono `x` [T] to dst_rate. # [ceil(T * dst / src)]"""
    return resample_region(x, src_rate, dst_rate, 0, output_frames(len(x), src_rate, dst_rate))


def changed_output_range(start: int, stop: int, src_rate: int, dst_rate: int) -> tuple[int, int]:
    """Output samples that can differ when input samples [start, stop) change (filter support included)."""
    if src_rate == dst_rate:
        return start, stop
    up, down, width, _ = _kernel(int(src_rate), int(dst_rate))
    first = max(0, ((start - width) * up) // down)
    last = -(-(stop + width) * up // down) + 1
    return first, last
