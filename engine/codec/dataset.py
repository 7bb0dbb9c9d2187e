"""Training data: whole-file mels, a split by file, and random fixed-length crops.

Splitting by file (never by chunk) keeps validation honest: chunks of one file are near copies of
each other. Files shorter than a chunk are padded with the mel floor; long files give one crop per
chunk length per epoch, at random offsets.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from engine.config import AudioConfig
from engine.signal.audio import Audio
from engine.signal.mel import mel_spectrogram


@dataclass(frozen=True)
class MelSet:
    names: tuple[str, ...]  # source paths
    mels: tuple[np.ndarray, ...]  # each [M, F_i]

    @property
    def n_frames(self) -> int:
        return sum(m.shape[1] for m in self.mels)

    def subset(self, indices: list[int]) -> "MelSet":
        return MelSet(tuple(self.names[i] for i in indices), tuple(self.mels[i] for i in indices))


def mel_set(audios: list[Audio], cfg: AudioConfig) -> MelSet:
    return MelSet(tuple(a.source for a in audios), tuple(mel_spectrogram(a, cfg).values for a in audios))


def split_by_file(names: tuple[str, ...], val_share: float, seed: int) -> tuple[list[int], list[int]]:
    """Deterministic split of file indices: the same files and seed always give the same split.

    Each file's place comes from a hash of its name and the seed, so adding a file does not
    reshuffle the others. At least one file is held out when there are 2 or more.
    """
    if len(names) < 2:
        return list(range(len(names))), []
    order = sorted(range(len(names)),
                   key=lambda i: hashlib.sha256(f"{seed}:{names[i].rsplit('/', 1)[-1]}".encode()).hexdigest())
    n_val = min(len(names) - 1, max(1, round(len(names) * val_share)))
    return sorted(order[n_val:]), sorted(order[:n_val])


def pad_to(mel: np.ndarray, n_frames: int) -> np.ndarray:
    """Right-pads [M, F] with the floor (0) to at least n_frames."""
    if mel.shape[1] >= n_frames:
        return mel
    return np.pad(mel, ((0, 0), (0, n_frames - mel.shape[1])))


def epoch_crops(mels: MelSet, chunk_frames: int, rng: np.random.Generator, min_crops: int = 0) -> np.ndarray:
    """One epoch of random crops: ceil(F_i / chunk) per file, the whole round repeated until there
    are at least `min_crops` (a 5-file set would otherwise make an epoch of two steps, all overhead).
    # [N, M, chunk_frames]"""
    crops = []
    while not crops or len(crops) < min_crops:
        for mel in mels.mels:
            mel = pad_to(mel, chunk_frames)
            count = -(-mel.shape[1] // chunk_frames)
            for start in rng.integers(0, mel.shape[1] - chunk_frames + 1, size=count):
                crops.append(mel[:, start:start + chunk_frames])
    order = rng.permutation(len(crops))
    return np.stack([crops[i] for i in order]).astype(np.float32)


def all_chunks(mels: MelSet, chunk_frames: int) -> np.ndarray:
    """Every file cut into consecutive chunks (the last padded). # [N, M, chunk_frames]"""
    chunks = []
    for mel in mels.mels:
        mel = pad_to(mel, chunk_frames)
        for start in range(0, mel.shape[1], chunk_frames):
            chunks.append(pad_to(mel[:, start:start + chunk_frames], chunk_frames))
    return np.stack(chunks).astype(np.float32)
