"""Phase-gradient heap integration (PGHI): the phase of a magnitude in one pass, frame by frame,
so it streams (`engine.signal.stream` runs it over a clip or a stream); `pghi_griffin_lim` starts
Griffin-Lim from it for offline renders. Measurements: docs/decode.md."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from engine.config import AudioConfig
from engine.signal.audio import Audio
from engine.signal.griffin_lim import griffin_lim_magnitude
from engine.signal.mel import Mel, analysis_window, mel_pseudo_inverse, mel_to_magnitude
from engine.signal.stft import stft_scale


# --- Phase-gradient heap integration (PGHI), frame-recursive so it streams -------------------------
#
# Prusa, Balazs & Sondergaard (2017): for a Gaussian-like window the phase's time and frequency
# derivatives follow from the log-magnitude's frequency and time derivatives, so phase can be
# integrated in one pass instead of iterated. The heap (which integrates from the loudest bins
# outwards) is replaced by a vectorised equivalent per frame: the spectrum is split into regions at
# its troughs; each region's peak is integrated along time from the previous frame (where
# sinusoids live), every other bin along frequency from its region's peak (which keeps transients
# and partials vertically coherent). One frame of look-ahead (the centred time derivative), no
# iterations: one inverse FFT per frame plus a few vector operations.
#
# Arrays carry a leading voice axis V (layered voices are integrated together, one Python loop over
# frames for all of them): magnitudes [V, K, n].

HANN_GAMMA = 0.25645  # lambda / n_fft^2 of the Gaussian closest to a Hann window (Prusa et al.)
SIGNIFICANT_DB = -80.0  # bins below this (re ref_amplitude) carry no phase information
# Log-magnitudes are floored this far below their frame's peak before differentiating: the mel
# pseudo-inverse is unreliable in quiet bins. 20 dB measured best among 10-50 dB per frame and
# 40-100 dB absolute (spectral convergence on dev-mixed-120/dev-small-30, docs/decode.md).
GRADIENT_RANGE_DB = 20.0


def log_magnitude(magnitude: np.ndarray, cfg: AudioConfig) -> np.ndarray:
    """Per-frame floored log|S| (per frame, so a stream needs no later frames). # [V, K, n]"""
    floor = np.maximum(magnitude.max(axis=-2, keepdims=True) * 10.0 ** (-GRADIENT_RANGE_DB / 20.0),
                       cfg.ref_amplitude * 10.0 ** (cfg.min_db / 20.0))
    return np.log(np.maximum(magnitude, floor)).astype(np.float32)


def time_advance(logm: np.ndarray, cfg: AudioConfig) -> np.ndarray:
    """Phase advance per hop (instantaneous frequency x hop) from the frequency slope. # [V, K, n]"""
    slope = np.empty_like(logm)  # d log|S| / d bin: centred, one-sided at the edges
    slope[:, 1:-1] = (logm[:, 2:] - logm[:, :-2]) * 0.5
    slope[:, 0], slope[:, -1] = logm[:, 1] - logm[:, 0], logm[:, -1] - logm[:, -2]
    bins = np.arange(logm.shape[1], dtype=np.float32)[:, None]
    hop, n_fft = cfg.hop_length, cfg.n_fft
    return np.float32(hop / (HANN_GAMMA * n_fft)) * slope + np.float32(2 * np.pi * hop / n_fft) * bins


def _frequency_offsets(log_prev: np.ndarray, log_next: np.ndarray, cfg: AudioConfig) -> np.ndarray:
    """Phase of every bin relative to bin 0 of its frame, integrated along frequency from the
    time slope (centred over the neighbouring frames). Phases are referenced to the frame start,
    as `np.fft.rfft` of a frame gives them: hence the -pi per bin. # [V, K, n]"""
    step = np.float32(-0.5 * HANN_GAMMA * cfg.n_fft / cfg.hop_length) * (log_next - log_prev) - np.float32(np.pi)
    offsets = np.zeros_like(step)
    np.cumsum((step[:, 1:] + step[:, :-1]) * 0.5, axis=1, out=offsets[:, 1:])
    return offsets


def _regions(magnitude: np.ndarray, cfg: AudioConfig) -> tuple[np.ndarray, np.ndarray]:
    """Splits every frame of every voice at its troughs (local minima) and where bins turn
    (in)significant. Flat, frame-major over B = V * K bins: each bin's region [n * B], each
    region's peak as a flat index [R]. No loops."""
    m = np.ascontiguousarray(magnitude.transpose(2, 0, 1))  # [n, V, K]
    significant = m > cfg.ref_amplitude * 10.0 ** (SIGNIFICANT_DB / 20.0)
    boundary = np.zeros(m.shape, dtype=bool)
    boundary[..., 1:-1] = (m[..., 1:-1] < m[..., :-2]) & (m[..., 1:-1] <= m[..., 2:])
    boundary[..., 1:] |= significant[..., 1:] != significant[..., :-1]
    boundary[..., 0] = True  # every voice's bin 0 starts a region
    flat, starts = m.reshape(-1), np.flatnonzero(boundary)
    sizes = np.diff(np.append(starts, flat.size))  # [R]
    region = np.repeat(np.arange(len(starts)), sizes)  # a repeat: 4x faster than a cumsum of `boundary`
    maxima = np.maximum.reduceat(flat, starts)  # [R]
    hits = np.flatnonzero(flat == np.repeat(maxima, sizes))
    first = np.ones(len(hits), dtype=bool)
    first[1:] = region[hits[1:]] != region[hits[:-1]]
    return region, hits[first]


@lru_cache(maxsize=8)
def _mel_bins(cfg: AudioConfig) -> int:
    """Bins below the first one the mel pseudo-inverse never reaches, plus that one (which keeps the
    centred slope of the last reached bin): above f_max a magnitude from the mel is exactly 0."""
    reached = np.flatnonzero(np.any(mel_pseudo_inverse(cfg) != 0, axis=1))
    return min(int(reached[-1]) + 2 if len(reached) else 1, cfg.n_fft // 2 + 1)


def _live_bins(magnitude: np.ndarray, cfg: AudioConfig) -> int:
    """How many low bins carry the signal: `_mel_bins` when every bin from its last one up is exactly
    0 (a magnitude from the mel), else all. Phase and synthesis skip the rest (17% at 48 kHz, f_max
    20 kHz): their magnitude is 0, so the audio is the same, and they join no region of a live bin."""
    k = _mel_bins(cfg)
    return k if k < magnitude.shape[1] and not magnitude[:, k - 1:].any() else magnitude.shape[1]


def integrate_phase(magnitude: np.ndarray, logm: np.ndarray, log_before: np.ndarray,
                    log_after: np.ndarray, phase_before: np.ndarray | None,
                    advance_before: np.ndarray | None, cfg: AudioConfig) -> np.ndarray:
    """PGHI phases of n consecutive frames of V voices, given the frame before them (its log
    magnitude [V, K], phase and advance; None for a clip's first frame) and the log magnitude of
    the frame after (the look-ahead; at a clip's end, the last frame). # [V, K, n] -> [V, K, n]"""
    n_voices, n_bins, n_frames = logm.shape
    live = _live_bins(magnitude, cfg)
    if live < n_bins:  # bins of exactly 0 magnitude: phase 0 there
        phase = np.zeros(logm.shape, dtype=np.float32)
        phase[:, :live] = integrate_phase(magnitude[:, :live], logm[:, :live], log_before[:, :live], log_after[:, :live],
                                          None if phase_before is None else phase_before[:, :live],
                                          None if advance_before is None else advance_before[:, :live], cfg)
        return phase
    width = n_voices * n_bins
    advance = time_advance(logm, cfg)
    log_prev = np.concatenate([log_before[..., None], logm[..., :-1]], axis=-1)
    log_next = np.concatenate([logm[..., 1:], log_after[..., None]], axis=-1)
    offsets = _frequency_offsets(log_prev, log_next, cfg)
    region, peaks = _regions(magnitude, cfg)
    # Frame-major [n, V * K] copies: every per-frame slice below is contiguous.
    advance_t = np.ascontiguousarray(advance.transpose(2, 0, 1)).reshape(n_frames, width)
    offsets_t = np.ascontiguousarray(offsets.transpose(2, 0, 1)).reshape(n_frames, width)
    # A region's anchor (its peak's phase minus the peak's frequency offset) is the anchor of the
    # previous frame's region holding that peak bin, plus a known increment: the peak's offset in
    # the previous frame and the mean of its phase advance over the two frames, minus its offset
    # now. That is a sum along a chain of regions back to the first frame, done for all frames at
    # once by pointer doubling (log2(n) vector steps instead of a Python loop over frames), in
    # float64 so that sums over long clips stay exact before wrapping.
    flat_advance, flat_offsets = advance_t.reshape(-1), offsets_t.reshape(-1)
    has_parent = peaks >= width
    earlier = np.where(has_parent, peaks - width, 0)  # the peak bin in the previous frame
    peak_bins = peaks % width
    if advance_before is None:
        advance_earlier = np.where(has_parent, flat_advance[earlier], flat_advance[peaks])
    else:
        advance_earlier = np.where(has_parent, flat_advance[earlier], advance_before.reshape(-1)[peak_bins])
    start = np.zeros(width) if phase_before is None else phase_before.reshape(-1).astype(np.float64)
    increment = ((advance_earlier + flat_advance[peaks]) * 0.5 - flat_offsets[peaks]).astype(np.float64)
    increment += np.where(has_parent, flat_offsets[earlier], start[peak_bins])
    n_regions = len(peaks)
    parent = np.append(np.where(has_parent, region[earlier], n_regions), n_regions)  # [R + 1]; R: root
    anchor = np.append(increment, 0.0)
    for _ in range(max(int(np.ceil(np.log2(max(n_frames, 1)))), 0)):
        anchor = anchor + anchor[parent]
        parent = parent[parent]
    anchor = np.mod(anchor[:-1], 2 * np.pi).astype(np.float32)  # wrapped: float32 stays exact
    phase = anchor[region] + flat_offsets  # [n * V * K]
    return phase.reshape(n_frames, n_voices, n_bins).transpose(1, 2, 0)


def synthesise(magnitude: np.ndarray, phase: np.ndarray, cfg: AudioConfig) -> np.ndarray:
    """Windowed time frames of a magnitude and phase. # [V, K, n] -> [V, n, n_fft] float32"""
    live = _live_bins(magnitude, cfg)
    spectrum = np.zeros((magnitude.shape[0], magnitude.shape[2], magnitude.shape[1]), dtype=np.complex64)  # [V, n, K]
    m, p = magnitude[:, :live], phase[:, :live]
    spectrum[..., :live] = ((m * stft_scale(cfg.n_fft)) * (np.cos(p) + 1j * np.sin(p))).transpose(0, 2, 1)
    frames = np.fft.irfft(spectrum, n=cfg.n_fft, axis=-1).astype(np.float32, copy=False)
    frames *= analysis_window(cfg.n_fft)
    return frames


def pghi_griffin_lim(mel: Mel, cfg: AudioConfig, n_iter: int = 8, momentum: float = 0.99) -> Audio:
    """PGHI as the starting point of fast Griffin-Lim: offline renders where a few more ms buy
    quality (not streaming: every iteration sees the whole clip). # mel [M, F] -> [(F - 1) * hop]"""
    magnitude = mel_to_magnitude(mel.values, cfg)[None]  # [1, K, F]
    logm = log_magnitude(magnitude, cfg)
    phase = integrate_phase(magnitude, logm, logm[..., 0], logm[..., -1], None, None, cfg)[0]
    return Audio(griffin_lim_magnitude(magnitude[0], cfg, n_iter, momentum, initial_phase=phase), cfg.sample_rate)
