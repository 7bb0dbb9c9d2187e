"""Live decoding without torch: codes -> mel (ONNX Runtime) -> audio (PGHI), incremental edits.

This module and everything it imports use only numpy, onnxruntime and safetensors (through
`engine.bundle`): a process that plays Distill live never loads torch. What it needs is read
from the bundle: the ONNX decoder graph (`decoder.onnx`), the audio config, levels, codebook size,
time stride and the decoder's receptive field (`meta["onnx"]`, written by `distill export`).

    decoder = LiveDecoder("model.distill")
    audio = decoder.render(codes)                  # a whole grid  # [T]
    layered = decoder.render_voices([a, b, c])     # N voices, one batched call  # [N, T]
    reader = decoder.block_reader(codes)           # streaming: reader.read(block_size)  # [block]
    loop = decoder.loop(codes)                     # keeps mel + phase for edits
    splice = loop.edit(new_codes)                  # re-decodes only what the edit touches
    buffer[splice.start: splice.stop] = splice.samples

An edit re-decodes the changed code frames plus the decoder's receptive field, re-integrates
phase from the frame before (the stored phase carries on), and re-synthesises only the frames
that changed. The new frames join the old ones through the synthesis window's overlap (a
Hann-squared crossfade of n_fft - hop samples at each side), so there is no sample step.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import onnxruntime as ort

from engine.bundle import Bundle, BundleModel, load_bundle
from engine.codes import Codes, CodesError
from engine.config import AudioConfig
from engine.errors import InputError
from engine.signal.mel import mel_to_magnitude
from engine.signal.pghi import integrate_phase, log_magnitude, synthesise, time_advance
from engine.signal.stft import frames_envelope, n_samples_for, overlap_add, single_thread_blas
from engine.signal.stream import BlockReader, pghi_samples

DECODER_FILE = "decoder.onnx"
MAX_RECEPTIVE_FRAMES = 4096  # read from the bundle: it sizes the decode context (real decoders: tens of frames)


class LiveDecoderError(InputError):
    """A model that cannot be decoded live; the message says how to fix it."""


def session_for(graph: bytes, threads: int = 1) -> ort.InferenceSession:
    """An ONNX Runtime session set for latency: `threads` intra-op threads, sequential."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])


@dataclass(frozen=True)
class DecoderSpec:
    """What the live path knows about a model, all from its manifest."""

    audio: AudioConfig
    levels: int
    codebook_size: int
    time_stride: int
    receptive_field_frames: int  # code frames either side that can change a frame's mel
    model_id: str

    @property
    def code_frame_rate_hz(self) -> float:
        return self.audio.frame_rate_hz / self.time_stride


@dataclass(frozen=True)
class Splice:
    """New samples for [start, stop) of a loop's buffer. # samples [stop - start]"""

    start: int
    samples: np.ndarray

    @property
    def stop(self) -> int:
        return self.start + len(self.samples)


class LiveDecoder:
    """Decodes code grids of one model to audio with ONNX Runtime and PGHI, torch-free."""

    def __init__(self, model: Bundle | str | os.PathLike, threads: int = 1, pin_blas: bool = True):
        bundle = model if isinstance(model, Bundle) else load_bundle(model)
        where = "this model" if isinstance(model, Bundle) else str(model)
        fix = f"run `distill export {where if where != 'this model' else 'MODEL'}` to add it"
        info = bundle.meta.get("onnx")
        if DECODER_FILE not in bundle.files or not isinstance(info, dict):
            raise LiveDecoderError(f"{where} has no ONNX decoder graph for live decoding; {fix}")
        if info.get("model_id") != bundle.model_id:
            raise LiveDecoderError(f"{where}: its ONNX decoder graph was exported from other weights; "
                                   f"{fix.replace('add it', 'export it again')}")
        codec = bundle.config.codec
        receptive = info.get("decoder_receptive_field_frames")
        if not isinstance(receptive, int) or isinstance(receptive, bool) or not 0 <= receptive <= MAX_RECEPTIVE_FRAMES:
            raise LiveDecoderError(f"{where}: its ONNX decoder record (meta.onnx) gives a receptive field of "
                                   f"{receptive!r} frames, not 0 to {MAX_RECEPTIVE_FRAMES}; "
                                   f"{fix.replace('add it', 'export it again')}")
        self.spec = DecoderSpec(bundle.config.audio, codec.levels, codec.codebook_size, codec.time_stride,
                                receptive, bundle.model_id)
        if pin_blas:
            single_thread_blas()  # the mel pseudo-inverse is a BLAS product: keep it on this core
        self.session = session_for(bundle.files[DECODER_FILE], threads)

    def check(self, codes: Codes) -> None:
        """Refuses codes of another model or another grid shape, with a sentence saying which."""
        spec = self.spec
        if codes.model_id and codes.model_id != spec.model_id:
            raise CodesError(f"these codes were made by model {codes.model_id}, not by this model ({spec.model_id})")
        if codes.levels != spec.levels or codes.codebook_size != spec.codebook_size:
            raise CodesError(f"codes have {codes.levels} levels x {codes.codebook_size} codes; this model has "
                             f"{spec.levels} x {spec.codebook_size}")

    def decode_mel(self, indices: np.ndarray) -> np.ndarray:
        """One ONNX call. # codes [B, Q, F'] int64 -> mel [B, M, F' * time_stride] float32"""
        if indices.shape[-1] == 0:  # the graph's convs refuse an empty time axis
            return np.zeros((indices.shape[0], self.spec.audio.n_mels, 0), dtype=np.float32)
        return self.session.run(None, {"codes": np.ascontiguousarray(indices, dtype=np.int64)})[0]

    def render(self, codes: Codes) -> np.ndarray:
        """A whole grid to audio. # [Q, F'] -> [(F' * stride - 1) * hop] float32"""
        self.check(codes)
        return pghi_samples(self.decode_mel(codes.indices[None])[0], self.spec.audio)

    def render_voices(self, voices: Sequence[Codes]) -> list[np.ndarray]:
        """N layered voices: grids of equal length are decoded in one batched ONNX call and their
        phase integrated together; returns each voice's samples, in order. # N x [T_i]"""
        for codes in voices:
            self.check(codes)
        out: list[np.ndarray | None] = [None] * len(voices)
        by_length: dict[int, list[int]] = {}
        for i, codes in enumerate(voices):
            by_length.setdefault(codes.n_frames, []).append(i)
        for members in by_length.values():
            batch = np.stack([voices[i].indices for i in members])  # [B, Q, F']
            samples = pghi_samples(self.decode_mel(batch), self.spec.audio)  # [B, T]
            for i, row in zip(members, samples):
                out[i] = row
        return out  # type: ignore[return-value]

    def mel_chunks(self, codes: Codes, chunk_frames: int = 16) -> Iterator[np.ndarray]:
        """Streams a grid's mel in chunks of `chunk_frames` code frames, each decoded with the
        receptive field of context either side, so the chunks join into exactly the whole-grid
        mel. Feed them to `engine.signal.stream.BlockReader` for audio blocks. # yields [M, n * stride]"""
        self.check(codes)
        field, stride = self.spec.receptive_field_frames, self.spec.time_stride
        for start in range(0, codes.n_frames, chunk_frames):
            stop = min(start + chunk_frames, codes.n_frames)
            lo, hi = max(start - field, 0), min(stop + field, codes.n_frames)
            mel = self.decode_mel(codes.indices[None, :, lo:hi])[0]
            yield mel[:, (start - lo) * stride: (stop - lo) * stride]

    def block_reader(self, codes: Codes, chunk_frames: int = 16) -> BlockReader:
        """Audio blocks of any size for a grid, decoded and phase-reconstructed as they are read."""
        chunks = self.mel_chunks(codes, chunk_frames)
        return BlockReader(self.spec.audio, lambda: next(chunks, None))

    def loop(self, codes: Codes) -> "LiveLoop":
        """Renders a grid and keeps what an incremental edit needs (mel and phase)."""
        self.check(codes)
        return LiveLoop(self, codes)


class LiveModel(BundleModel):
    """A loaded bundle as `distill serve` holds it: what the live path reads (config, model id, code
    frame rate, codebooks) without torch. Anything else a `engine.codec.model.Model` offers (encode,
    decode, render, the codec itself) is forwarded to one built on first use, which imports torch
    then and only then (encoding audio, perceptual moves, offline renders without the ONNX path)."""

    def __init__(self, bundle: Bundle) -> None:
        super().__init__(bundle)
        self._torch_model = None

    def codebook_vectors(self) -> np.ndarray:
        """Per-level codebooks in codebook space, read from the weights. # [Q, K, d]"""
        codec = self.bundle.tensors["codec"]
        return np.stack([np.asarray(codec[f"quantizer.rvq.layers.{q}._codebook.embed"])[0]
                         for q in range(self.config.codec.levels)]).astype(np.float32)

    @property
    def torch_model(self):
        if self._torch_model is None:
            from engine.codec.model import Model
            self._torch_model = Model(self.bundle)
        return self._torch_model

    def __getattr__(self, name: str):
        if name.startswith("_"):  # copy/pickle probes must not build the torch model
            raise AttributeError(name)
        return getattr(self.torch_model, name)


class LiveLoop:
    """A rendered grid that edits re-decode locally. `samples` [T] is the current audio; `edit`
    returns the `Splice` that turns the previous audio into the new one and applies it to
    `samples` in place: a player on another thread should copy `samples` once and then apply each
    splice to its own buffer at a block boundary, never read this array while an edit runs.
    Memory: mel and phase of the whole grid (about 3.4 MB per 8 s at the default config)."""

    def __init__(self, decoder: LiveDecoder, codes: Codes):
        self.decoder = decoder
        cfg = decoder.spec.audio
        self.codes = codes
        self.mel = decoder.decode_mel(codes.indices[None])[0]  # [M, F]
        magnitude = mel_to_magnitude(self.mel[None], cfg)  # [1, K, F]
        logm = log_magnitude(magnitude, cfg)
        self.phase = integrate_phase(magnitude, logm, logm[..., 0], logm[..., -1], None, None, cfg)[0]  # [K, F]
        frames = synthesise(magnitude, self.phase[None], cfg)[0]
        half = cfg.n_fft // 2
        n_frames = self.mel.shape[1]
        stop = n_samples_for(n_frames, cfg.hop_length)
        self.samples = (overlap_add(frames, cfg)[half: half + stop]
                        / frames_envelope(half, half + stop, n_frames, cfg)).astype(np.float32)

    @property
    def n_frames(self) -> int:
        return self.mel.shape[1]

    def edit(self, codes: Codes) -> Splice | None:
        """Applies a new grid of the same length; re-decodes only the code frames that changed
        plus the receptive field, and returns the changed samples (None when nothing changed)."""
        decoder, spec = self.decoder, self.decoder.spec
        decoder.check(codes)
        if codes.indices.shape != self.codes.indices.shape:
            raise CodesError(f"an edit must keep the grid's shape {self.codes.indices.shape}, got {codes.indices.shape}")
        changed = np.flatnonzero((codes.indices != self.codes.indices).any(axis=0))
        self.codes = codes
        if len(changed) == 0:
            return None
        cfg, stride, field = spec.audio, spec.time_stride, spec.receptive_field_frames
        n_codes, n_frames = codes.n_frames, self.n_frames
        c0, c1 = int(changed[0]), int(changed[-1]) + 1
        # 1. Mel: frames of code frames [c0 - field, c1 + field) can change; decoding a window
        # with another receptive field of context either side gives them exactly.
        w0, w1 = max(c0 - 2 * field, 0), min(c1 + 2 * field, n_codes)
        m0, m1 = max((c0 - field) * stride, 0), min((c1 + field) * stride, n_frames)
        window = decoder.decode_mel(codes.indices[None, :, w0:w1])[0]
        self.mel[:, m0:m1] = window[:, m0 - w0 * stride: m1 - w0 * stride]
        # 2. Phase: frame m0 - 1 sees m0 as look-ahead, frame m1 sees m1 - 1 as look-behind.
        p0, p1 = max(m0 - 1, 0), min(m1 + 1, n_frames)
        overlap = -(-cfg.n_fft // cfg.hop_length)
        q0, q1 = max(p0 - overlap + 1, 0), min(p1 + overlap - 1, n_frames)  # frames overlapping [p0, p1)
        l0, l1 = max(q0, p0 - 1), min(q1, p1 + 1)  # frames whose log|S| the integration reads
        magnitude = mel_to_magnitude(self.mel[None, :, q0:q1], cfg)  # [1, K, q1 - q0]
        logm = log_magnitude(magnitude[..., l0 - q0: l1 - q0], cfg)
        inner = slice(p0 - l0, p1 - l0)
        log_before = logm[..., p0 - 1 - l0] if p0 > 0 else logm[..., 0]
        log_after = logm[..., p1 - l0] if p1 < n_frames else logm[..., -1]
        phase_before = self.phase[None, :, p0 - 1] if p0 > 0 else None
        advance_before = time_advance(logm[..., p0 - 1 - l0: p0 - l0], cfg)[..., 0] if p0 > 0 else None
        self.phase[:, p0:p1] = integrate_phase(magnitude[..., p0 - q0: p1 - q0], logm[..., inner], log_before,
                                               log_after, phase_before, advance_before, cfg)[0]
        # 3. Samples: every padded position frames [p0, p1) touch, from all frames overlapping it.
        frames = synthesise(magnitude, self.phase[None, :, q0:q1], cfg)[0]  # [q1 - q0, n_fft]
        segment = overlap_add(frames, cfg)  # padded positions [q0 * hop, ...)
        half, hop = cfg.n_fft // 2, cfg.hop_length
        total = len(self.samples)
        lo = max(p0 * hop, half)  # padded positions; output sample j sits at j + n_fft / 2
        hi = min((p1 - 1) * hop + cfg.n_fft, total + half)
        if hi <= lo:
            return None
        new = segment[lo - q0 * hop: hi - q0 * hop] / frames_envelope(lo, hi, n_frames, cfg)
        self.samples[lo - half: hi - half] = new
        return Splice(lo - half, new.astype(np.float32))
