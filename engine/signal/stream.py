"""PGHI streamed: `PhaseStream` turns pushed mel frames into every sample no later frame can change,
`BlockReader` reads audio blocks of any size from a stream of frames, and `pghi` is the stream run
over a whole clip (so offline and live share one arithmetic, sample for sample)."""
from __future__ import annotations

import numpy as np

from engine.config import AudioConfig
from engine.signal.audio import Audio
from engine.signal.mel import Mel, mel_to_magnitude
from engine.signal.pghi import integrate_phase, log_magnitude, synthesise, time_advance
from engine.signal.stft import frames_envelope, n_samples_for, overlap_add


CHUNK_FRAMES = 64  # frames integrated per step of a long push


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


def pghi_samples(mel_values: np.ndarray, cfg: AudioConfig) -> np.ndarray:
    """PGHI of a whole clip: mel [M, F] -> [(F - 1) * hop], or [V, M, F] -> [V, (F - 1) * hop]."""
    stream = PhaseStream(cfg)
    first = stream.push(mel_values)
    return np.concatenate([first, stream.finish()], axis=-1)


def pghi(mel: Mel, cfg: AudioConfig) -> Audio:
    """Phase-gradient heap integration, one pass, no iterations: the shipped live method. Equals
    any streaming split of the same frames (`PhaseStream`). # mel [M, F] -> [(F - 1) * hop]"""
    return Audio(pghi_samples(mel.values, cfg).astype(np.float32), cfg.sample_rate)


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
