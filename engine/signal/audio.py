"""Audio in and out: any file a musician has becomes mono float32 at the model rate.

`load_audio` reads one file (wav, flac, ogg/oga, aiff, mp3; 8-96 kHz; 8/16/24/32-bit int or float;
mono or stereo) through `pedalboard.io`, which never writes to the source. `scan_folder` walks a
folder recursively and returns what it can use plus a `Skipped` entry, with a reason, for every
file it cannot.
"""
from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.atomic import atomic_path
from engine.config import AudioConfig
from engine.errors import InputError
from pedalboard.io import AudioFile

AUDIO_EXTENSIONS = (".wav", ".wave", ".flac", ".ogg", ".oga", ".aif", ".aiff", ".mp3")
SILENCE_PEAK = 1e-5  # -100 dBFS: below this a file is digital silence
DURATION_TOLERANCE_S = 1e-3  # a 0.0998 s file is "0.1 s" to anyone who made it
MAX_FILE_DURATION_S = AudioConfig.max_file_duration_s  # 20 min: one file cannot take the memory
READ_BLOCK_FRAMES = 1 << 16  # about 1.4 s at 48 kHz: the most of the source held at once
UNCOMPRESSED_EXTENSIONS = (".wav", ".wave", ".aif", ".aiff")
PCM_BYTES = {"int8": 1, "uint8": 1, "int16": 2, "int24": 3, "int32": 4, "float32": 4, "float64": 8}


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


def load_audio(path: str | os.PathLike, sample_rate: int, min_duration_s: float = 0.1,
               max_duration_s: float = MAX_FILE_DURATION_S) -> Audio:
    """Reads `path` as mono float32 at `sample_rate`, or raises AudioError naming the file.

    The one reader for training, reconstruct, encode and the server: the path must be a readable
    regular file (a FIFO would block `open`, a device never ends); the declared length is checked
    against `max_duration_s` (at the source rate) and, for uncompressed files, against the bytes the
    file holds before anything is read; then it is read, mixed to mono and resampled in blocks of
    READ_BLOCK_FRAMES, so memory is the mono result at the model rate, never the whole source.
    """
    path = Path(path)
    check_audio_path(path)
    try:
        with AudioFile(str(path)) as f:
            source_rate, frames, channels = f.samplerate, f.frames, f.num_channels
            if frames == 0:
                raise AudioError(f"{path}: zero length")
            _check_declared_length(path, frames, source_rate, channels, str(f.file_dtype), max_duration_s)
            with f.resampled_to(float(sample_rate)) if source_rate != sample_rate else f as r:
                mono = _read_mono(r)
    except AudioError:
        raise
    except Exception as e:  # pedalboard raises ValueError/RuntimeError with terse texts
        raise AudioError(f"{path}: not readable as audio ({_short(e)})") from None
    if mono.size == 0:
        raise AudioError(f"{path}: zero length")
    if not np.all(np.isfinite(mono)):
        raise AudioError(f"{path}: contains NaN or infinite samples")
    duration_s = frames / source_rate  # the file's own length, before resampling rounds it
    if duration_s + DURATION_TOLERANCE_S < min_duration_s:
        raise AudioError(f"{path}: too short ({duration_s:.3f} s < {min_duration_s} s)")
    if float(np.max(np.abs(mono))) < SILENCE_PEAK:
        raise AudioError(f"{path}: digital silence")
    return Audio(mono, sample_rate, str(path))


def check_audio_path(path: Path) -> None:
    """Refuses, before any open(), what is not a readable regular file (each with its reason):
    the server calls it before queueing a job, `load_audio` before reading."""
    try:
        st = path.stat()  # follows symlinks: a link to a good file is a good file
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise AudioError(f"{path}: a symlink loop (the link points back to itself)") from None
        if e.errno == errno.ENOENT and path.is_symlink():
            raise AudioError(f"{path}: a broken symlink (it points to {os.readlink(path)}, which does not exist)") from None
        if e.errno == errno.ENOENT:
            raise AudioError(f"{path}: no such file") from None
        raise AudioError(f"{path}: cannot be read ({e.strerror})") from None
    kind = _file_kind(st.st_mode)
    if kind:
        raise AudioError(f"{path}: {kind}, not an audio file")
    try:
        with open(path, "rb") as f:  # a regular file: open() cannot block
            f.read(1)
    except OSError as e:
        raise AudioError(f"{path}: cannot be read ({e.strerror})") from None
    if st.st_size == 0:
        raise AudioError(f"{path}: zero length (an empty file)")


def _file_kind(mode: int) -> str:
    """'' for a regular file, else what it is, in words."""
    if stat.S_ISREG(mode):
        return ""
    if stat.S_ISDIR(mode):
        return "a folder named like an audio file"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _check_declared_length(path: Path, frames: int, source_rate: float, channels: int, dtype: str,
                           max_duration_s: float) -> None:
    """Refuses a header that claims more than the file holds, or more than the length limit."""
    declared_s = frames / source_rate
    bytes_per_sample = PCM_BYTES.get(dtype) if path.suffix.lower() in UNCOMPRESSED_EXTENSIONS else None
    if bytes_per_sample:
        holds = path.stat().st_size // (bytes_per_sample * max(1, channels))  # an upper bound, headers included
        if frames > holds:
            raise AudioError(f"{path}: damaged header: it claims {_duration(declared_s)} of audio but the file "
                             f"holds at most {_duration(holds / source_rate)}; re-export the file")
    if declared_s > max_duration_s:
        raise AudioError(f"{path}: too long ({_duration(declared_s)}; the limit is {_duration(max_duration_s)}, "
                         "set by audio.max_file_duration_s); cut it into shorter files or raise the limit")


def _read_mono(r) -> np.ndarray:
    """Reads an open (possibly resampled) pedalboard file block by block into one mono array. # [T]"""
    expected = int(r.frames)  # already bounded by _check_declared_length
    out = np.empty(expected, np.float32)
    n = 0
    while n < expected:
        block = r.read(min(READ_BLOCK_FRAMES, expected - n))  # [C, t]
        if block.shape[1] == 0:
            break  # a compressed file shorter than its estimate
        out[n:n + block.shape[1]] = block.mean(axis=0)
        n += block.shape[1]
    return out[:n] if n == expected else out[:n].copy()


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def scan_folder(folder: str | os.PathLike, sample_rate: int, min_duration_s: float = 0.1,
                max_duration_s: float = MAX_FILE_DURATION_S) -> tuple[list[Audio], list[Skipped]]:
    """Loads every file under `folder` (recursively, sorted); returns (used, skipped).

    Nothing is dropped silently except hidden names (".DS_Store", our own ".x.tmp.wav" saves):
    every other entry that is not used is a `Skipped` with its reason. Symlinked folders are
    followed once; a link back to a folder already walked is reported, never walked again.
    """
    folder = Path(folder)
    if not folder.exists() and not folder.is_symlink():
        raise AudioError(f"{folder}: no such file or folder")
    used: list[Audio] = []
    skipped: list[Skipped] = []
    if not folder.is_dir():
        paths, skipped = [folder], []
    else:
        paths = _walk(folder, skipped)
    for path in paths:
        if path.suffix.lower() not in AUDIO_EXTENSIONS:
            skipped.append(Skipped(str(path), f"not an audio file extension ({path.suffix or 'none'})"))
            continue
        try:
            used.append(load_audio(path, sample_rate, min_duration_s, max_duration_s))
        except AudioError as e:
            skipped.append(Skipped(str(path), str(e).removeprefix(f"{path}: ")))
    skipped.sort(key=lambda s: s.path)
    return used, skipped


def _walk(folder: Path, skipped: list[Skipped]) -> list[Path]:
    """Every non-folder entry under `folder`, sorted; folders named like audio files and links
    back into walked folders go to `skipped`. Never stats through a FIFO (scandir only lists)."""
    found: list[Path] = []
    seen: set[tuple[int, int]] = set()
    stack = [folder]
    while stack:
        current = stack.pop()
        try:
            st = current.stat()
            entries = sorted(os.scandir(current), key=lambda e: e.name)
        except OSError as e:
            skipped.append(Skipped(str(current), f"folder cannot be read ({e.strerror})"))
            continue
        if (st.st_dev, st.st_ino) in seen:
            skipped.append(Skipped(str(current), "a symlink to a folder already scanned (a loop); not scanned twice"))
            continue
        seen.add((st.st_dev, st.st_ino))
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            try:
                is_dir = entry.is_dir()  # follows symlinks; a loop raises or answers False
            except OSError:
                is_dir = False
            if is_dir:
                if path.suffix.lower() in AUDIO_EXTENSIONS:
                    skipped.append(Skipped(str(path), "a folder named like an audio file (its contents are scanned)"))
                stack.append(path)
            else:
                found.append(path)
    return sorted(found)


def save_audio(path: str | os.PathLike, audio: Audio | np.ndarray, sample_rate: int | None = None,
               bit_depth: int | str = 16) -> Path:
    """Writes mono or [C, T] audio atomically (temp file + rename); the format follows the suffix.

    `bit_depth` is 16, 24 or 32 (32 always means float, `engine.facts.BIT_DEPTHS`; "float" is the same).
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

