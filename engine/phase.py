"""Mel -> audio: phase reconstruction, numpy only (the live path imports this without torch).

Every method here uses the framing of `engine.mel`: centred frames every hop, periodic Hann
window, magnitudes scaled by sum(window) / 2, so `mel_spectrogram(method(mel, cfg))` ~ `mel`.
A clip of F frames becomes (F - 1) * hop samples, the length whose mel has F frames again.

A phase reconstructor is any callable `(mel, cfg) -> Audio` (`PhaseReconstructor`):
    griffin_lim        fast Griffin-Lim with momentum: the reference (32 iterations ~17x PGHI's cost)
    pghi               phase-gradient heap integration, one pass: the live method; streams
                       (`PhaseStream`, `BlockReader`) with the same samples as offline
    pghi_griffin_lim   PGHI as the start of 8 GL iterations: GL 32's quality at ~1/3 of its cost
Measurements and trade-offs: docs/decode.md.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Protocol

import numpy as np

from engine.audio import Audio
from engine.config import AudioConfig
from engine.mel import Mel, analysis_window, mel_to_magnitude


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
    # float64 on purpose: numpy 2.4's float32 rfft path measured ~4x slower than its float64 one.
    spectrum = np.fft.rfft(frames * analysis_window(cfg.n_fft).astype(np.float64), axis=-1)  # [F, K]
    return (spectrum.T * (1.0 / _scale(cfg.n_fft))).astype(np.complex64)


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
CHUNK_FRAMES = 64  # frames integrated per step of a long push


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


def _regions(magnitude: np.ndarray, cfg: AudioConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Splits every frame of every voice at its troughs (local minima) and where bins turn
    (in)significant. Flat, frame-major over B = V * K bins: each bin's region [n * B], each
    region's peak as a flat index [R], where each frame's regions start [n + 1]. No loops."""
    m = np.ascontiguousarray(magnitude.transpose(2, 0, 1))  # [n, V, K]
    significant = m > cfg.ref_amplitude * 10.0 ** (SIGNIFICANT_DB / 20.0)
    boundary = np.zeros(m.shape, dtype=bool)
    boundary[..., 1:-1] = (m[..., 1:-1] < m[..., :-2]) & (m[..., 1:-1] <= m[..., 2:])
    boundary[..., 1:] |= significant[..., 1:] != significant[..., :-1]
    boundary[..., 0] = True  # every voice's bin 0 starts a region
    flat, starts = m.reshape(-1), np.flatnonzero(boundary)
    region = np.cumsum(boundary.reshape(-1)) - 1
    maxima = np.maximum.reduceat(flat, starts)  # [R]
    hits = np.flatnonzero(flat == maxima[region])
    first = np.ones(len(hits), dtype=bool)
    first[1:] = region[hits[1:]] != region[hits[:-1]]
    frame_starts = np.concatenate([[0], np.cumsum(boundary.reshape(m.shape[0], -1).sum(axis=1))])
    return region, hits[first], frame_starts


def integrate_phase(magnitude: np.ndarray, logm: np.ndarray, log_before: np.ndarray,
                    log_after: np.ndarray, phase_before: np.ndarray | None,
                    advance_before: np.ndarray | None, cfg: AudioConfig) -> np.ndarray:
    """PGHI phases of n consecutive frames of V voices, given the frame before them (its log
    magnitude [V, K], phase and advance; None for a clip's first frame) and the log magnitude of
    the frame after (the look-ahead; at a clip's end, the last frame). # [V, K, n] -> [V, K, n]"""
    n_voices, n_bins, n_frames = logm.shape
    width = n_voices * n_bins
    advance = time_advance(logm, cfg)
    log_prev = np.concatenate([log_before[..., None], logm[..., :-1]], axis=-1)
    log_next = np.concatenate([logm[..., 1:], log_after[..., None]], axis=-1)
    offsets = _frequency_offsets(log_prev, log_next, cfg)
    region, peaks, frame_starts = _regions(magnitude, cfg)
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
    spectrum = (magnitude * _scale(cfg.n_fft)) * (np.cos(phase) + 1j * np.sin(phase))
    frames = np.fft.irfft(spectrum.transpose(0, 2, 1), n=cfg.n_fft, axis=-1).astype(np.float32)
    frames *= analysis_window(cfg.n_fft)
    return frames


class PhaseStream:
    """Streaming PGHI + overlap-add for V voices at once: `push` mel frames, get back every sample
    no later frame can change; `finish` returns the rest. Any split of the frames gives the same
    samples as `pghi` on the whole clip (same arithmetic; latency: one frame of look-ahead plus the
    window overlap). Mel [M, n] gives samples [T]; mel [V, M, n] gives [V, T]."""

    def __init__(self, cfg: AudioConfig):
        self.cfg = cfg
        self._overlap = -(-cfg.n_fft // cfg.hop_length)  # frames touching one sample
        self._frames = 0  # frames synthesised so far
        self._pending: tuple[np.ndarray, np.ndarray] | None = None  # (|S|, log) awaiting look-ahead [V, K]
        self._log_before: np.ndarray | None = None  # [V, K]
        self._phase: np.ndarray | None = None  # [V, K]
        self._advance: np.ndarray | None = None  # [V, K]
        self._buffer: np.ndarray | None = None  # [V, L] padded positions [_base, _base + L)
        self._base = 0
        self._emitted = 0  # output samples returned (output sample j = padded position j + n_fft/2)
        self._single = True

    def push(self, mel_values: np.ndarray) -> np.ndarray:
        """Adds normalised log-mel frames [M, n] or [V, M, n]; returns the samples now final."""
        self._single = mel_values.ndim == 2
        mel = mel_values[None] if self._single else mel_values
        if self._buffer is None:
            self._buffer = np.zeros((mel.shape[0], self.cfg.n_fft), dtype=np.float32)
        if mel.shape[-1] <= CHUNK_FRAMES:
            return self._shape(self._push(mel))
        # Long inputs in chunks: the working set stays in cache (measured ~20% faster at 64).
        parts = [self._push(mel[..., i: i + CHUNK_FRAMES]) for i in range(0, mel.shape[-1], CHUNK_FRAMES)]
        return self._shape(np.concatenate(parts, axis=-1))

    def _push(self, mel: np.ndarray) -> np.ndarray:  # [V, M, n] -> [V, samples]
        if mel.shape[-1] == 0:
            return np.zeros((mel.shape[0], 0), dtype=np.float32)
        magnitude = mel_to_magnitude(mel, self.cfg)  # [V, K, n]
        logm = log_magnitude(magnitude, self.cfg)
        if self._pending is not None:
            magnitude = np.concatenate([self._pending[0][..., None], magnitude], axis=-1)
            logm = np.concatenate([self._pending[1][..., None], logm], axis=-1)
        self._pending = (magnitude[..., -1], logm[..., -1])
        if magnitude.shape[-1] > 1:
            self._integrate(magnitude[..., :-1], logm[..., :-1], logm[..., -1])
        return self._emit(final=False)

    def finish(self) -> np.ndarray:
        """Integrates the last frame (its own look-ahead); returns the remaining samples, up to
        (F - 1) * hop in all."""
        if self._pending is not None:
            magnitude, logm = self._pending
            self._pending = None
            self._integrate(magnitude[..., None], logm[..., None], logm)
        if self._buffer is None:
            return np.zeros(0, dtype=np.float32)
        return self._shape(self._emit(final=True))

    def _shape(self, samples: np.ndarray) -> np.ndarray:
        return samples[0] if self._single else samples

    def _integrate(self, magnitude: np.ndarray, logm: np.ndarray, log_after: np.ndarray) -> None:
        log_before = logm[..., 0] if self._log_before is None else self._log_before
        phase = integrate_phase(magnitude, logm, log_before, log_after, self._phase, self._advance, self.cfg)
        self._phase, self._log_before = phase[..., -1].copy(), logm[..., -1].copy()
        self._advance = time_advance(logm[..., -1:], self.cfg)[..., 0]
        self._add_frames(synthesise(magnitude, phase, self.cfg))

    def _add_frames(self, frames: np.ndarray) -> None:  # [V, n, n_fft]
        n_fft, hop = self.cfg.n_fft, self.cfg.hop_length
        n = frames.shape[1]
        start = self._frames * hop  # padded position of the first new frame
        end = start + (n - 1) * hop + n_fft
        if end - self._base > self._buffer.shape[1]:
            grown = np.zeros((self._buffer.shape[0], end - self._base), dtype=np.float32)
            grown[:, : self._buffer.shape[1]] = self._buffer
            self._buffer = grown
        for voice, voice_frames in enumerate(frames):
            self._buffer[voice, start - self._base: end - self._base] += overlap_add(voice_frames, self.cfg)
        self._frames += n

    def _emit(self, final: bool) -> np.ndarray:
        half = self.cfg.n_fft // 2
        stop = (n_samples_for(self._frames, self.cfg.hop_length) + half) if final else self._frames * self.cfg.hop_length
        first = self._emitted + half
        if stop <= first:
            return np.zeros((self._buffer.shape[0], 0), dtype=np.float32)
        out = self._buffer[:, first - self._base: stop - self._base] / self._envelope(first, stop)
        self._emitted = stop - half
        rest = self._buffer[:, stop - self._base:]  # no frame touches what came before again
        self._buffer = np.zeros((rest.shape[0], max(rest.shape[1], self.cfg.n_fft)), dtype=np.float32)
        self._buffer[:, : rest.shape[1]] = rest
        self._base = stop
        return out.astype(np.float32)

    def _envelope(self, first: int, stop: int) -> np.ndarray:
        return frames_envelope(first, stop, self._frames, self.cfg)


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


def pghi_samples(mel_values: np.ndarray, cfg: AudioConfig) -> np.ndarray:
    """PGHI of a whole clip: mel [M, F] -> [(F - 1) * hop], or [V, M, F] -> [V, (F - 1) * hop]."""
    stream = PhaseStream(cfg)
    first = stream.push(mel_values)
    return np.concatenate([first, stream.finish()], axis=-1)


def pghi(mel: Mel, cfg: AudioConfig) -> Audio:
    """Phase-gradient heap integration, one pass, no iterations: the shipped live method. Equals
    any streaming split of the same frames (`PhaseStream`). # mel [M, F] -> [(F - 1) * hop]"""
    return Audio(pghi_samples(mel.values, cfg).astype(np.float32), cfg.sample_rate)


def pghi_griffin_lim(mel: Mel, cfg: AudioConfig, n_iter: int = 8, momentum: float = 0.99) -> Audio:
    """PGHI as the starting point of fast Griffin-Lim: offline renders where a few more ms buy
    quality (not streaming: every iteration sees the whole clip). # mel [M, F] -> [(F - 1) * hop]"""
    magnitude = mel_to_magnitude(mel.values, cfg)[None]  # [1, K, F]
    logm = log_magnitude(magnitude, cfg)
    phase = integrate_phase(magnitude, logm, logm[..., 0], logm[..., -1], None, None, cfg)[0]
    return Audio(griffin_lim_magnitude(magnitude[0], cfg, n_iter, momentum, initial_phase=phase), cfg.sample_rate)


class BlockReader:
    """Audio blocks of any size from a stream of mel frames: what an audio callback's feeder does.

    `next_frames()` returns the next mel frames [M, n] (any n >= 1) or None at the end; `read`
    returns exactly `block_size` samples, zero-padded after the end. # -> [block_size]"""

    def __init__(self, cfg: AudioConfig, next_frames):
        self._stream = PhaseStream(cfg)
        self._next_frames = next_frames
        self._ready = np.zeros(0, dtype=np.float32)
        self.finished = False

    def read(self, block_size: int) -> np.ndarray:
        parts, have = [self._ready], len(self._ready)
        while have < block_size and not self.finished:
            frames = self._next_frames()
            new = self._stream.finish() if frames is None else self._stream.push(frames)
            self.finished = frames is None
            parts.append(new)
            have += len(new)
        ready = np.concatenate(parts)
        block = np.zeros(block_size, dtype=np.float32)
        block[: min(block_size, len(ready))] = ready[:block_size]
        self._ready = ready[block_size:]
        return block

    @property
    def exhausted(self) -> bool:
        return self.finished and len(self._ready) == 0
