"""Log-mel front end in numpy (no torch), shared by training, the live decoder and evaluation.

Frames are centred: frame f covers samples [f * hop - n_fft/2, f * hop + n_fft/2), zero-padded at
the clip's edges, so a clip of T samples has T // hop + 1 frames. The dB reference is fixed
(`AudioConfig.ref_amplitude`), never the clip's own peak, so any chunk's mel equals the same frames
of the whole clip (see `mel_chunked`). Values are normalised dB: (dB - min_db) / -min_db, where 0
is the floor and 1 is a full-scale sine.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from engine.config import AudioConfig
from engine.signal.audio import Audio


@dataclass(frozen=True)
class Mel:
    """Normalised log-mel frames. # [M, F]"""

    values: np.ndarray
    frame_rate_hz: float

    def __post_init__(self) -> None:
        if self.values.ndim != 2 or self.values.dtype != np.float32:
            raise ValueError(f"Mel needs float32 values of shape [M, F], got {self.values.dtype} {self.values.shape}")

    @property
    def n_frames(self) -> int:
        return self.values.shape[1]


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


@lru_cache(maxsize=8)
def mel_filterbank(cfg: AudioConfig) -> np.ndarray:
    """Triangular HTK-mel filters with unit peaks. # [M, n_fft // 2 + 1]"""
    n_bins = cfg.n_fft // 2 + 1
    f_max = min(cfg.f_max_hz, cfg.sample_rate / 2)
    edges_hz = mel_to_hz(np.linspace(hz_to_mel(cfg.f_min_hz), hz_to_mel(f_max), cfg.n_mels + 2))
    bins_hz = np.linspace(0, cfg.sample_rate / 2, n_bins)
    lower, centre, upper = edges_hz[:-2, None], edges_hz[1:-1, None], edges_hz[2:, None]
    rising = (bins_hz[None] - lower) / np.maximum(centre - lower, 1e-9)
    falling = (upper - bins_hz[None]) / np.maximum(upper - centre, 1e-9)
    fb = np.clip(np.minimum(rising, falling), 0.0, None)
    # A filter narrower than one FFT bin (low f_min at a small n_fft) still gets its nearest bin.
    empty = fb.sum(axis=1) == 0
    fb[empty, np.argmin(np.abs(bins_hz[None] - centre[empty]), axis=1)] = 1.0
    return fb.astype(np.float32)


@lru_cache(maxsize=8)
def mel_pseudo_inverse(cfg: AudioConfig) -> np.ndarray:
    """Pseudo-inverse of the filterbank, cached: mel amplitude -> linear magnitude. # [n_fft//2+1, M]"""
    return np.linalg.pinv(mel_filterbank(cfg).astype(np.float64)).astype(np.float32)


@lru_cache(maxsize=8)
def analysis_window(n_fft: int) -> np.ndarray:
    return np.hanning(n_fft + 1)[:-1].astype(np.float32)  # periodic Hann


def n_frames_for(n_samples: int, hop_length: int) -> int:
    return n_samples // hop_length + 1


def stft_magnitude(padded: np.ndarray, n_frames: int, cfg: AudioConfig) -> np.ndarray:
    """|STFT| of frames starting every hop in an already padded signal, scaled so a full-scale
    sine peaks near 1. # [n_fft//2+1, F]"""
    frames = np.lib.stride_tricks.sliding_window_view(padded, cfg.n_fft)[:: cfg.hop_length][:n_frames]
    spectrum = np.fft.rfft(frames * analysis_window(cfg.n_fft), axis=-1)
    return (np.abs(spectrum) / (analysis_window(cfg.n_fft).sum() / 2)).T.astype(np.float32)


def magnitude_to_mel(magnitude: np.ndarray, cfg: AudioConfig) -> np.ndarray:
    """Linear magnitude -> normalised log-mel. # [K, F] -> [M, F]"""
    amplitude = mel_filterbank(cfg) @ magnitude
    db = 20.0 * np.log10(np.maximum(amplitude / cfg.ref_amplitude, 10.0 ** (cfg.min_db / 20.0)))
    return ((db - cfg.min_db) / -cfg.min_db).astype(np.float32)


def mel_to_amplitude(values: np.ndarray, cfg: AudioConfig) -> np.ndarray:
    """Normalised log-mel -> mel amplitude (the inverse of the dB step). # [M, F]"""
    db = values.astype(np.float32) * -cfg.min_db + cfg.min_db
    return (cfg.ref_amplitude * 10.0 ** (db / 20.0)).astype(np.float32)


def mel_to_magnitude(values: np.ndarray, cfg: AudioConfig) -> np.ndarray:
    """Normalised log-mel -> linear magnitude by the cached pseudo-inverse. # [M, F] -> [K, F]"""
    return np.maximum(mel_pseudo_inverse(cfg) @ mel_to_amplitude(values, cfg), 0.0)


def mel_spectrogram(audio: Audio, cfg: AudioConfig) -> Mel:
    """Whole-clip log-mel. # [T] -> [M, T // hop + 1]"""
    _check_rate(audio, cfg)
    n_frames = n_frames_for(len(audio.samples), cfg.hop_length)
    half = cfg.n_fft // 2
    padded = np.pad(audio.samples, (half, half + cfg.hop_length))
    return Mel(magnitude_to_mel(stft_magnitude(padded, n_frames, cfg), cfg), cfg.frame_rate_hz)


def mel_chunked(audio: Audio, cfg: AudioConfig, chunk_frames: int) -> Mel:
    """Same frames as `mel_spectrogram`, computed chunk by chunk from each chunk's own samples
    plus n_fft/2 of context either side (what a streaming front end sees)."""
    _check_rate(audio, cfg)
    n_frames = n_frames_for(len(audio.samples), cfg.hop_length)
    half = cfg.n_fft // 2
    padded = np.pad(audio.samples, (half, half + cfg.hop_length))
    parts = []
    for start in range(0, n_frames, chunk_frames):
        count = min(chunk_frames, n_frames - start)
        window = padded[start * cfg.hop_length: (start + count - 1) * cfg.hop_length + cfg.n_fft]
        parts.append(magnitude_to_mel(stft_magnitude(window, count, cfg), cfg))
    return Mel(np.concatenate(parts, axis=1), cfg.frame_rate_hz)


def _check_rate(audio: Audio, cfg: AudioConfig) -> None:
    if audio.sample_rate != cfg.sample_rate:
        raise ValueError(f"audio at {audio.sample_rate} Hz given to a {cfg.sample_rate} Hz mel front end")
