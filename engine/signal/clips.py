"""What every render path shares, so a clip sounds the same with or without a device, with or
without the bridge: the voice mix, the length rule, master gain and normalisation, the clip names.

A render is: layers mixed (voice 0 the grid, then the layered voices at their gains, each from
the start, as the live stream mixes them) -> looped or cut to the length -> the DAW's rate ->
the effect chain (bridge only) -> master gain -> normalisation (-14 LUFS by default, BS.1770) ->
a new file `NAME-001.EXT`, `NAME-002.EXT`, ... claimed atomically, never overwritten.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from engine.errors import InputError

CUT_FADE_S = 0.005  # a cut end fades out over 5 ms so it does not click
MAX_GAIN_DB = 40.0  # normalising near-silence would only raise noise
NORMALIZE_LUFS = -14.0  # what /render/settings normalize=1 aims at (streaming services' reference)
LOOP_SEAM_MS = 10.0  # the loop seam's crossfade: long enough to hide any step, short enough not to smear a hit


def seam_frames(sample_rate: int, seam_ms: float = LOOP_SEAM_MS) -> int:
    return int(round(seam_ms * sample_rate / 1000.0))


def seam_envelope(positions: np.ndarray, start: int, end: int, seam: int) -> np.ndarray:
    """Gain per position of a loop [start, end) with no audio before `start` to crossfade into:
    the last seam/2 frames before the end fade out and the first seam/2 after the start fade in,
    so the jump back is a dip of `seam` frames instead of a step. # positions [n] -> [n] float32"""
    half = seam // 2
    g = np.ones(len(positions), np.float32)
    if half < 1 or end - start <= 2 * half:
        return g
    head = positions - start
    tail = end - positions
    g = np.where(head < half, (head + 1) / (half + 1), g)
    return np.where(tail <= half, np.minimum(g, tail / (half + 1)), g).astype(np.float32)


def clip_name(text: str, format: str = "wav") -> str:
    """A safe clip name from free text: folders and a matching suffix dropped, other characters
    turned into '-' ("My Take 2.wav" -> "My-Take-2")."""
    stem = Path(str(text)).name
    if stem.lower().endswith(f".{format}"):
        stem = stem[:-len(format) - 1]
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-.")[:64]
    return stem or "clip"


def unique_clip_path(folder: str | os.PathLike, name: str, suffix: str) -> Path:
    """folder/NAME-001.suffix, -002, ...: the first name not taken, created empty to claim it (two
    renders never share one). `name` is made safe with `clip_name` first."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stem = clip_name(name, suffix)
    for i in range(1, 100000):
        path = folder / f"{stem}-{i:03d}.{suffix}"
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            continue
        os.close(fd)
        return path
    raise InputError(f"{folder}: no free clip name for {stem!r}")


def mix_layers(layers: list[tuple[np.ndarray, float]]) -> np.ndarray:
    """Mono layers [(samples [T_i], gain_db)] summed, each from sample 0; as long as the longest
    (the live stream loops the longest voice). # [max T_i] float32"""
    out = np.zeros(max((len(s) for s, _ in layers), default=0), np.float32)
    for samples, gain_db in layers:
        out[:len(samples)] += np.float32(10.0 ** (float(gain_db) / 20.0)) * np.asarray(samples, np.float32)
    return out


def fit_length(samples: np.ndarray, frames: int | None, sample_rate: int, loop: bool = True,
               seam: int = 0) -> np.ndarray:
    """`samples` [T] looped (or padded with silence, `loop=False`) or cut to `frames`; an end that
    falls inside the audio fades out over CUT_FADE_S. None keeps the length. With `loop` and `seam`
    frames, every pass gets the live stream's loop seam (`seam_envelope`). # [frames]"""
    if loop and seam and len(samples):
        n = len(samples) if frames is None else frames
        period = len(samples)
        y = np.resize(samples, n).astype(np.float32) * seam_envelope(np.arange(n) % period, 0, period, seam)
        if n % period and n > period or n < period:
            fade = min(n, round(CUT_FADE_S * sample_rate))
            y[n - fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
        return y
    if frames is None or frames == len(samples):
        return samples
    if frames < len(samples) or (loop and len(samples)):
        y = np.resize(samples, frames).astype(np.float32)  # loops when longer
        if frames % max(len(samples), 1):
            fade = min(frames, round(CUT_FADE_S * sample_rate))
            y[frames - fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
        return y
    return np.concatenate([samples, np.zeros(frames - len(samples), np.float32)])


def finish(out: np.ndarray, sample_rate: int, gain_db: float = 0.0, loudness_lufs: float | None = None,
           peak_db: float | None = None) -> np.ndarray:
    """Master gain, then normalisation to an integrated loudness or a sample peak (which replaces
    the level the gain gave). out # [C, T] -> [C, T] float32"""
    from engine.signal.loudness import integrated_loudness
    out = np.asarray(out, np.float32)
    if gain_db:
        out = out * np.float32(10.0 ** (float(gain_db) / 20.0))
    if loudness_lufs is not None:
        loudness = integrated_loudness(out, sample_rate)
        if np.isfinite(loudness):
            out = out * np.float32(10.0 ** (min(loudness_lufs - loudness, MAX_GAIN_DB) / 20.0))
    elif peak_db is not None:
        peak = float(np.max(np.abs(out))) if out.size else 0.0
        if peak > 0:
            out = out * np.float32(min(10.0 ** (peak_db / 20.0) / peak, 10.0 ** (MAX_GAIN_DB / 20.0)))
    return out.astype(np.float32)
