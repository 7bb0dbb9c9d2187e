"""Audio in and out: any file a musician has becomes mono float32 at the model rate.

`load_audio` reads one file (wav, flac, ogg/oga, aiff, mp3; 8-96 kHz; 8/16/24/32-bit int or float;
mono or stereo) through `pedalboard.io`, which never writes to the source. `scan_folder` walks a
folder recursively and returns what it can use plus a `Skipped` entry, with a reason, for every
file it cannot.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.atomic import atomic_path
from engine.errors import InputError
from pedalboard.io import AudioFile

AUDIO_EXTENSIONS = (".wav", ".wave", ".flac", ".ogg", ".oga", ".aif", ".aiff", ".mp3")
SILENCE_PEAK = 1e-5  # -100 dBFS: below this a file is digital silence
DURATION_TOLERANCE_S = 1e-3  # a 0.0998 s file is "0.1 s" to anyone who made it


@dataclass(frozen=True)
class Audio:
    """Mono float32 samples in [-1, 1] (clipped input stays as it is) at `sample_rate`. # [T]"""

    samples: np.ndarray
    sample_rate: int
    source: str = ""

    def __post_init__(self) -> None:
        if self.samples.ndim != 1 or self.samples.dtype != np.float32:
            raise ValueError(f"Audio needs float32 samples of shape [T], got {self.samples.dtype} {self.samples.shape}")
        if self.sample_rate <= 0:
            raise ValueError(f"Audio sample_rate must be positive, got {self.sample_rate}")

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


class AudioError(InputError):
    """A file that cannot be used; the message names the file and why."""


def load_audio(path: str | os.PathLike, sample_rate: int, min_duration_s: float = 0.1) -> Audio:
    """Reads `path` as mono float32 at `sample_rate`, or raises AudioError naming the file."""
    path = Path(path)
    try:
        with AudioFile(str(path)) as f:
            source_rate = f.samplerate
            frames = f.frames
            if frames == 0:
                raise AudioError(f"{path}: zero length")
            with f.resampled_to(float(sample_rate)) if source_rate != sample_rate else f as r:
                data = r.read(r.frames)  # [C, T]
    except AudioError:
        raise
    except Exception as e:  # pedalboard raises ValueError/RuntimeError with terse texts
        raise AudioError(f"{path}: not readable as audio ({_short(e)})") from None
    if data.size == 0:
        raise AudioError(f"{path}: zero length")
    mono = data.mean(axis=0).astype(np.float32)
    if not np.all(np.isfinite(mono)):
        raise AudioError(f"{path}: contains NaN or infinite samples")
    duration_s = frames / source_rate  # the file's own length, before resampling rounds it
    if duration_s + DURATION_TOLERANCE_S < min_duration_s:
        raise AudioError(f"{path}: too short ({duration_s:.3f} s < {min_duration_s} s)")
    if float(np.max(np.abs(mono))) < SILENCE_PEAK:
        raise AudioError(f"{path}: digital silence")
    return Audio(mono, sample_rate, str(path))


def scan_folder(folder: str | os.PathLike, sample_rate: int, min_duration_s: float = 0.1
                ) -> tuple[list[Audio], list[Skipped]]:
    """Loads every file under `folder` (recursively, sorted); returns (used, skipped)."""
    folder = Path(folder)
    if not folder.exists():
        raise AudioError(f"{folder}: no such file or folder")
    paths = [folder] if folder.is_file() else sorted(p for p in folder.rglob("*") if p.is_file())
    used: list[Audio] = []
    skipped: list[Skipped] = []
    for path in paths:
        if path.name.startswith("."):
            continue
        if path.suffix.lower() not in AUDIO_EXTENSIONS:
            skipped.append(Skipped(str(path), f"not an audio file extension ({path.suffix or 'none'})"))
            continue
        try:
            used.append(load_audio(path, sample_rate, min_duration_s))
        except AudioError as e:
            skipped.append(Skipped(str(path), str(e).removeprefix(f"{path}: ")))
    return used, skipped


def save_audio(path: str | os.PathLike, audio: Audio | np.ndarray, sample_rate: int | None = None,
               bit_depth: int | str = 16) -> Path:
    """Writes mono or [C, T] audio atomically (temp file + rename); the format follows the suffix.

    `bit_depth` is 16, 24 or "float" (32-bit float).
    """
    if isinstance(audio, Audio):
        samples, sample_rate = audio.samples, audio.sample_rate
    else:
        samples = audio
    if sample_rate is None:
        raise ValueError("save_audio needs a sample_rate for raw arrays")
    samples = np.asarray(samples, dtype=np.float32)
    data = samples[None, :] if samples.ndim == 1 else samples  # [C, T]
    quality = {16: 16, 24: 24, "float": 32, 32: 32}[bit_depth]
    with atomic_path(path) as tmp:
        with AudioFile(str(tmp), "w", samplerate=float(sample_rate), num_channels=data.shape[0],
                       bit_depth=quality) as f:
            f.write(data)
    return Path(path)


def _short(error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text[:160]

