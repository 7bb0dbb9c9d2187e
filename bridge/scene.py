"""What the player mixes: an immutable `Scene` of voices and a loop region, and the mixing math
(looping, loop seams) that the producer thread and offline renders share.

Pure numpy on preallocated blocks, no state: the producer calls `mix_scene` once per block.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.errors import InputError
from engine.signal.clips import seam_envelope


@dataclass(frozen=True)
class Voice:
    """One layer: its source audio (kept to re-resample edits) and the same at the device rate."""

    source: np.ndarray  # [T_model] f32
    source_rate: int
    samples: np.ndarray  # [T_device] f32
    gain: float = 1.0    # linear


@dataclass(frozen=True)
class Scene:
    """Everything the producer mixes: voices and the loop region in device frames."""

    voices: tuple[Voice, ...] = ()
    loop: tuple[int, int] | None = None  # [start, end) frames; None loops the longest voice

    @property
    def length(self) -> int:
        return max((len(v.samples) for v in self.voices), default=0)

    def bounds(self) -> tuple[int, int]:
        return self.loop if self.loop is not None else (0, self.length)


def as_mono(samples, field_name: str = "samples") -> np.ndarray:
    """Validates model audio: finite mono float32. # [T]"""
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim != 1:
        raise InputError(f"{field_name}: expected mono audio [T], got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise InputError(f"{field_name}: contains NaN or infinite samples")
    return x


def mix_scene(scene: Scene, position: int, out: np.ndarray, seam: int = 0) -> int:
    """Mixes the voices from `position` into out [n], looping; returns the next position.

    The loop seam (`seam` frames, 0: a hard cut): when the loop starts at least `seam` frames into
    the audio, its last `seam` frames crossfade into the frames just before its start, so the jump
    back lands where that audio was heading; a loop with nothing before its start (the whole grid)
    dips instead (`engine.signal.clips.seam_envelope`, the same the renders apply)."""
    out.fill(0.0)
    start, end = scene.bounds()
    if end <= start or not scene.voices:
        return position
    if not start <= position < end:
        position = start
    i, n = 0, len(out)
    while i < n:
        k = min(n - i, end - position)
        _mix_into(scene, position, out[i:i + k])
        if seam and end - start > 2 * seam:
            _seam(scene, position, out[i:i + k], start, end, seam)
        i += k
        position += k
        if position >= end:
            position = start
    return position


def _mix_into(scene: Scene, position: int, out: np.ndarray) -> None:
    for voice in scene.voices:
        seg = voice.samples[position:position + len(out)]
        if len(seg):
            out[:len(seg)] += voice.gain * seg


def _seam(scene: Scene, position: int, out: np.ndarray, start: int, end: int, seam: int) -> None:
    """Applies the loop seam to out [k], the mix of positions [position, position + k)."""
    k = len(out)
    if start >= seam:  # audio before the start: crossfade the tail into it
        a = max(position, end - seam)
        if a < position + k:
            j = np.arange(a - (end - seam), position + k - (end - seam))  # 0..seam-1
            w = ((j + 1) / (seam + 1)).astype(np.float32)
            pre = np.zeros(len(j), np.float32)
            _mix_into(scene, start - seam + int(j[0]), pre)
            out[a - position:] = out[a - position:] * (1.0 - w) + pre * w
    elif position < start + seam // 2 or position + k > end - seam // 2:
        out *= seam_envelope(np.arange(position, position + k), start, end, seam)
