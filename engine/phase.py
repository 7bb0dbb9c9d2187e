"""Mel -> audio: phase reconstruction, numpy only (the live path imports this without torch).

Every method here uses the framing of `engine.mel`: centred frames every hop, periodic Hann
window, magnitudes scaled by sum(window) / 2, so `mel_spectrogram(method(mel, cfg))` ~ `mel`.
A clip of F frames becomes (F - 1) * hop samples, the length whose mel has F frames again.

A phase reconstructor is any callable `(mel, cfg) -> Audio` (`PhaseReconstructor`); `griffin_lim`
is the first one and the reference the others are measured against.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Protocol

import numpy as np

from engine.audio import Audio
from engine.config import AudioConfig
from engine.mel import Mel, analysis_window, mel_to_magnitude


class PhaseReconstructor(Protocol):
    def __call__(self, mel: Mel, cfg: AudioConfig) -> Audio:
        """Normalised log-mel [M, F] -> mono audio of (F - 1) * hop samples at cfg.sample_rate."""
        ...


def n_samples_for(n_frames: int, hop_length: int) -> int:
    """Samples rendered for `n_frames` mel frames (inverse of `engine.mel.n_frames_for`)."""
    return max(n_frames - 1, 0) * hop_length


def _scale(n_fft: int) -> float:
    return float(analysis_window(n_fft).sum() / 2)  # the magnitude scale `stft_magnitude` divides by


def stft(samples: np.ndarray, n_frames: int, cfg: AudioConfig) -> np.ndarray:
    """Complex STFT with the mel front end's framing and scale. # [T] -> [n_fft//2+1, F] complex64"""
    half = cfg.n_fft // 2
    need = (n_frames - 1) * cfg.hop_length + cfg.n_fft
    padded = np.zeros(need, dtype=np.float32)
    body = samples[: max(need - half, 0)]
    padded[half: half + len(body)] = body
    frames = np.lib.stride_tricks.sliding_window_view(padded, cfg.n_fft)[:: cfg.hop_length][:n_frames]
    spectrum = np.fft.rfft(frames * analysis_window(cfg.n_fft), axis=-1)  # [F, K]
    return (spectrum.T / _scale(cfg.n_fft)).astype(np.complex64)


def overlap_add(frames: np.ndarray, cfg: AudioConfig) -> np.ndarray:
    """Windowed time frames [F, n_fft] -> padded signal of (F - 1) * hop + n_fft samples."""
    n_frames = frames.shape[0]
    out = np.zeros((n_frames - 1) * cfg.hop_length + cfg.n_fft, dtype=np.float32)
    ratio = cfg.n_fft // cfg.hop_length
    if cfg.n_fft % cfg.hop_length == 0:
        # Sum frames in `ratio` interleaved groups: each group tiles without overlap (vectorised).
        for r in range(ratio):
            group = frames[r::ratio]  # [G, n_fft]
            if len(group):
                start = r * cfg.hop_length
                out[start: start + group.size] += group.reshape(-1)
    else:
        for f in range(n_frames):
            out[f * cfg.hop_length: f * cfg.hop_length + cfg.n_fft] += frames[f]
    return out


def istft(spectrum: np.ndarray, cfg: AudioConfig) -> np.ndarray:
    """Inverse of `stft` (least squares away from the clip edges). # [K, F] complex -> [(F-1) * hop]"""
    n_frames = spectrum.shape[1]
    window = analysis_window(cfg.n_fft)
    frames = np.fft.irfft(spectrum.T * _scale(cfg.n_fft), n=cfg.n_fft, axis=-1).astype(np.float32)
    frames *= window
    half = cfg.n_fft // 2
    keep = slice(half, half + n_samples_for(n_frames, cfg.hop_length))
    return overlap_add(frames, cfg)[keep] / window_envelope(n_frames, cfg)[keep]


def window_envelope(n_frames: int, cfg: AudioConfig) -> np.ndarray:
    """Overlap-added squared window of `n_frames` frames, floored: what least-squares overlap-add
    divides by (constant away from the clip edges). # [(F - 1) * hop + n_fft]"""
    squared = analysis_window(cfg.n_fft) ** 2
    envelope = overlap_add(np.broadcast_to(squared, (n_frames, cfg.n_fft)), cfg)
    return np.maximum(envelope, 1e-3 * float(squared.max()))


def griffin_lim(mel: Mel, cfg: AudioConfig, n_iter: int = 32, momentum: float = 0.99,
                seed: int = 0) -> Audio:
    """Fast Griffin-Lim (Perraudin et al. 2013): alternating projections with momentum.

    Target magnitude from the mel by the filterbank pseudo-inverse; random initial phase from
    `seed` (deterministic). # mel [M, F] -> Audio [(F - 1) * hop]
    """
    magnitude = mel_to_magnitude(mel.values, cfg)  # [K, F]
    return Audio(griffin_lim_magnitude(magnitude, cfg, n_iter, momentum, seed), cfg.sample_rate)


def griffin_lim_magnitude(magnitude: np.ndarray, cfg: AudioConfig, n_iter: int = 32,
                          momentum: float = 0.99, seed: int = 0,
                          initial_phase: np.ndarray | None = None) -> np.ndarray:
    """Fast Griffin-Lim on a linear magnitude [K, F]; returns samples [(F - 1) * hop] float32."""
    n_frames = magnitude.shape[1]
    if n_frames < 1:
        return np.zeros(0, dtype=np.float32)
    if initial_phase is None:
        rng = np.random.default_rng(seed)
        angles = np.exp(2j * np.pi * rng.random(magnitude.shape)).astype(np.complex64)
    else:
        angles = np.exp(1j * initial_phase).astype(np.complex64)
    magnitude = magnitude.astype(np.float32)
    alpha = momentum / (1.0 + momentum)
    previous = np.zeros_like(angles)
    samples = istft(magnitude * angles, cfg)
    for _ in range(n_iter):
        rebuilt = stft(samples, n_frames, cfg)
        angles = rebuilt - alpha * previous
        angles /= np.abs(angles) + 1e-16
        previous = rebuilt
        samples = istft(magnitude * angles, cfg)
    return samples.astype(np.float32)
