"""The framing every phase method shares: centred frames every hop, periodic Hann window,
magnitudes scaled by sum(window) / 2 (`stft_scale`), so `mel_spectrogram(method(mel, cfg))` ~ `mel`.
A clip of F frames becomes (F - 1) * hop samples, the length whose mel has F frames again.
Also the one BLAS setting of the live path (`single_thread_blas`)."""
from __future__ import annotations

from functools import lru_cache
from typing import Protocol

import numpy as np

from engine.config import AudioConfig
from engine.signal.audio import Audio
from engine.signal.mel import Mel, analysis_window


def single_thread_blas() -> bool:
    """Limits numpy's BLAS to one thread, process-wide (the mel pseudo-inverse is a matrix product):
    on a loaded 2-core machine two BLAS threads made it ~10x slower. threadpoolctl finds whichever
    BLAS numpy loaded (OpenBLAS, MKL, Accelerate, BLIS) on any platform. True when one was limited."""
    from threadpoolctl import threadpool_info, threadpool_limits
    threadpool_limits(limits=1, user_api="blas")
    return any(lib["user_api"] == "blas" and lib["num_threads"] == 1 for lib in threadpool_info())


class PhaseReconstructor(Protocol):
    def __call__(self, mel: Mel, cfg: AudioConfig) -> Audio:
        """Normalised log-mel [M, F] -> mono audio of (F - 1) * hop samples at cfg.sample_rate."""
        ...


def n_samples_for(n_frames: int, hop_length: int) -> int:
    """Samples rendered for `n_frames` mel frames (inverse of `engine.signal.mel.n_frames_for`)."""
    return max(n_frames - 1, 0) * hop_length


def stft_scale(n_fft: int) -> float:
    """The magnitude scale the STFT divides by and the inverse multiplies by: sum(window) / 2."""
    return float(analysis_window(n_fft).sum() / 2)


def stft(samples: np.ndarray, n_frames: int, cfg: AudioConfig) -> np.ndarray:
    """Complex STFT with the mel front end's framing and scale. # [T] -> [n_fft//2+1, F] complex64"""
    half = cfg.n_fft // 2
    need = (n_frames - 1) * cfg.hop_length + cfg.n_fft
    padded = np.zeros(need, dtype=np.float32)
    body = samples[: max(need - half, 0)]
    padded[half: half + len(body)] = body
    frames = np.lib.stride_tricks.sliding_window_view(padded, cfg.n_fft)[:: cfg.hop_length][:n_frames]
    # float64 on purpose: numpy 2.4's float32 rfft path measured ~4x slower than its float64 one.
    spectrum = np.fft.rfft(frames * analysis_window(cfg.n_fft).astype(np.float64), axis=-1)  # [F, K]
    return (spectrum.T * (1.0 / stft_scale(cfg.n_fft))).astype(np.complex64)


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
    frames = np.fft.irfft(spectrum.T * stft_scale(cfg.n_fft), n=cfg.n_fft, axis=-1).astype(np.float32)
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


def frames_envelope(first: int, stop: int, n_frames: int, cfg: AudioConfig) -> np.ndarray:
    """Overlap-added squared window over padded positions [first, stop) of a clip of `n_frames`
    frames: exact at both clip edges, periodic in between, floored. # [stop - first]"""
    n_fft, hop = cfg.n_fft, cfg.hop_length
    squared = analysis_window(n_fft) ** 2
    steady = _steady_envelope(n_fft, hop)
    if np.ptp(steady) <= 1e-6 * steady.max():  # Hann at hop n_fft/4: constant (1.5)
        envelope = np.full(stop - first, steady[0], dtype=np.float32)
    else:
        envelope = steady[np.arange(first, stop) % hop]
    edge_start = max(first, n_fft - hop)  # positions before this lack frames < 0
    edge_stop = min(stop, n_frames * hop)  # positions from this on lack frames >= n_frames
    for lo, hi in ((first, min(stop, edge_start)), (max(first, edge_stop), stop)):
        if lo >= hi:
            continue
        positions = np.arange(lo, hi)
        exact = np.zeros(hi - lo, dtype=np.float32)
        for back in range(-(-n_fft // hop)):
            frame = positions // hop - back
            offset = positions - frame * hop
            valid = (frame >= 0) & (frame < n_frames) & (offset < n_fft)
            exact[valid] += squared[offset[valid]]
        envelope[lo - first: hi - first] = np.maximum(exact, 1e-3 * float(squared.max()))
    return envelope


@lru_cache(maxsize=8)
def _steady_envelope(n_fft: int, hop_length: int) -> np.ndarray:
    """Squared-window overlap-add away from the edges, by position modulo hop. # [hop]"""
    squared = analysis_window(n_fft).astype(np.float64) ** 2
    padded = np.pad(squared, (0, (-n_fft) % hop_length))
    return padded.reshape(-1, hop_length).sum(axis=0).astype(np.float32)
