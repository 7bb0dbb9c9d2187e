"""Fast Griffin-Lim with momentum: the reference phase method (32 iterations ~17x PGHI's cost),
and the refinement after PGHI in `pghi_griffin_lim`. Framing: `engine.signal.stft`."""
from __future__ import annotations

import numpy as np

from engine.config import AudioConfig
from engine.signal.audio import Audio
from engine.signal.mel import Mel, mel_to_magnitude
from engine.signal.stft import istft, stft


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
