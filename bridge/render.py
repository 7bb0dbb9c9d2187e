"""Clips for the DAW: mono model audio through the effects chain into a wav, flac or aiff file.

`render_clip` resamples to the DAW's rate with the same resampler the live path uses, sets the
length (seconds, or bars at a tempo: padded with silence so effect tails ring into it, or cut with
a 5 ms fade-out), runs a fresh copy of the chain over the whole clip (equal to the live stream,
block for block), optionally normalises the integrated loudness (BS.1770, LUFS) or the peak, and
writes a new file in the clips folder; it never overwrites one.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bridge.effects import EffectsChain
from bridge.scene import as_mono
from bridge.resample import resample
from bridge.tempo import Tempo
from engine.errors import InputError
from engine.facts import RENDER_FORMATS, check_bit_depth
from engine.server.ports import check_render_size
from engine.signal.audio import save_audio
from engine.signal.clips import finish, fit_length, seam_frames, unique_clip_path

FORMATS = RENDER_FORMATS


@dataclass(frozen=True)
class ClipSpec:
    """How to write a clip: format, bit depth (16, 24 or 32 = float, wav only; "float" is read as 32), rate, length."""

    format: str = "wav"
    bit_depth: int | str = 24
    sample_rate: int = 48000
    duration_s: float | None = None  # None: the audio's own length
    bars: float | None = None        # length in bars at `tempo` (instead of duration_s)
    tempo: Tempo = Tempo()
    loudness_lufs: float | None = None  # e.g. -14.0: integrated loudness after normalising
    peak_db: float | None = None        # or a sample peak target, e.g. -1.0 dBFS
    name: str = "clip"
    loop: bool = False  # a longer length loops the audio (as the live stream does) instead of padding
    gain_db: float = 0.0  # master gain after the chain, as the live stream applies it

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise InputError(f"format {self.format!r}: expected one of {', '.join(FORMATS)}")
        object.__setattr__(self, "bit_depth", check_bit_depth(self.bit_depth, self.format))
        if not 8000 <= int(self.sample_rate) <= 192000:
            raise InputError(f"sample_rate {self.sample_rate}: expected 8000-192000")
        if self.duration_s is not None and self.bars is not None:
            raise InputError("length: give duration_s or bars, not both")
        if self.duration_s is not None and not 0 < float(self.duration_s) <= 3600:
            raise InputError(f"duration_s {self.duration_s}: expected (0, 3600] seconds")
        if self.bars is not None and not 0 < float(self.bars) <= 1000:
            raise InputError(f"bars {self.bars}: expected (0, 1000]")
        if self.loudness_lufs is not None and self.peak_db is not None:
            raise InputError("normalise: give loudness_lufs or peak_db, not both")
        if self.loudness_lufs is not None and not -70 <= float(self.loudness_lufs) <= 0:
            raise InputError(f"loudness_lufs {self.loudness_lufs}: expected -70..0 LUFS")
        if self.peak_db is not None and not -60 <= float(self.peak_db) <= 0:
            raise InputError(f"peak_db {self.peak_db}: expected -60..0 dBFS")
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", self.name) or self.name.startswith("."):
            raise InputError(f"name {self.name!r}: use 1-64 letters, digits, '_', '-', '.' (see clip_name())")

    @property
    def target_frames(self) -> int | None:
        if self.bars is not None:
            return self.tempo.frames(bars=self.bars, sample_rate=int(self.sample_rate))
        if self.duration_s is not None:
            return round(float(self.duration_s) * int(self.sample_rate))
        return None


def render_audio(samples, sample_rate: int, spec: ClipSpec, chain: EffectsChain | None = None,
                 copy_chain: bool = True) -> np.ndarray:
    """The clip's audio, not yet written: resampled, sized, through `chain` from a reset state,
    normalised. `copy_chain=True` runs a freshly loaded copy so a live chain is never touched;
    False runs `chain` itself (one the caller owns). # [C, T] float32 (C: 1 while the chain is mono)"""
    x = as_mono(samples)
    rate = int(spec.sample_rate)
    y = fit_length(resample(x, int(sample_rate), rate), spec.target_frames, rate, loop=spec.loop,
                   seam=seam_frames(rate) if spec.loop else 0)  # [T], loop seams as the live stream plays them
    out = y[None, :]
    if chain is not None and chain.slots:
        out = (chain.fresh_copy() if copy_chain else chain).process(out, rate, reset=True)
    return finish(out, rate, spec.gain_db, spec.loudness_lufs, spec.peak_db)


def unique_path(folder: str | os.PathLike, name: str, suffix: str) -> Path:
    """folder/name-001.suffix, -002, ...: `engine.signal.clips.unique_clip_path`, the one naming scheme."""
    return unique_clip_path(folder, name, suffix)


def render_clip(samples, sample_rate: int, clips_dir: str | os.PathLike, spec: ClipSpec = ClipSpec(),
                chain: EffectsChain | None = None, copy_chain: bool = True) -> Path:
    """Renders mono `samples` [T] at `sample_rate` through `chain` into a new file; returns its path.
    A clip over the length limit, or one the disk has no room for, is refused before any work."""
    frames = spec.target_frames
    if frames is None:
        frames = round(np.shape(samples)[-1] * int(spec.sample_rate) / int(sample_rate))
    check_render_size(frames, int(spec.sample_rate), spec.bit_depth, Path(clips_dir))
    audio = render_audio(samples, sample_rate, spec, chain, copy_chain)
    if spec.bit_depth in (16, 24):
        audio = np.clip(audio, -1.0, 1.0)  # integer formats: clip rather than wrap
    path = unique_clip_path(clips_dir, spec.name, spec.format)
    try:
        save_audio(path, audio, int(spec.sample_rate), bit_depth=spec.bit_depth)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path
