"""Codes: the sound's discrete "DNA", an integer grid of RVQ levels x code frames.

Vocabulary (used everywhere but `engine/codec/quantizer.py`, which translates the library's words):
*codes* are integer indices `[Q, F]`; *code vectors* are their embeddings.

The codes file (`distill encode/decode/generate --codes-out`) is JSON, versioned:
    {"format": "distill-codes", "version": 1, "model_id": "<bundle model id>",
     "levels": Q, "frames": F, "codebook_size": K, "frame_rate_hz": 46.875,
     "codes": [[level 0 codes...], [level 1 codes...], ...]}
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.atomic import write_text_atomic
from engine.errors import InputError
from engine.jsonfile import JsonLimitError, read_json_file

CODES_FORMAT = "distill-codes"
CODES_VERSION = 1
MAX_CODES_BYTES = 64 * 2**20  # an hour of 8 levels at 47 frames/s is about 7 MB of JSON


class CodesError(InputError):
    """A codes grid or codes file that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Codes:
    """An RVQ code grid. # indices [Q, F] int64 in [0, codebook_size)"""

    indices: np.ndarray
    codebook_size: int
    frame_rate_hz: float
    model_id: str = ""

    def __post_init__(self) -> None:
        idx = self.indices
        if not isinstance(idx, np.ndarray) or idx.ndim != 2 or idx.dtype != np.int64:
            raise CodesError(f"codes must be an int64 array of shape [Q, F], got "
                             f"{getattr(idx, 'dtype', type(idx))} {getattr(idx, 'shape', '')}")
        if idx.size and (idx.min() < 0 or idx.max() >= self.codebook_size):
            raise CodesError(f"codes must lie in [0, {self.codebook_size}), got [{idx.min()}, {idx.max()}]")
        idx.setflags(write=False)  # edits make new grids; a shared grid never changes under a reader

    @property
    def levels(self) -> int:
        return self.indices.shape[0]

    @property
    def n_frames(self) -> int:
        return self.indices.shape[1]

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.frame_rate_hz

    def with_indices(self, indices: np.ndarray) -> "Codes":
        return Codes(np.ascontiguousarray(indices, dtype=np.int64), self.codebook_size,
                     self.frame_rate_hz, self.model_id)

    def to_json(self) -> dict:
        return {
            "format": CODES_FORMAT, "version": CODES_VERSION, "model_id": self.model_id,
            "levels": self.levels, "frames": self.n_frames, "codebook_size": self.codebook_size,
            "frame_rate_hz": self.frame_rate_hz, "codes": self.indices.tolist(),
        }

    @classmethod
    def from_json(cls, data: dict, source: str = "codes") -> "Codes":
        if not isinstance(data, dict) or data.get("format") != CODES_FORMAT:
            raise CodesError(f"{source}: not a Distill codes file (missing \"format\": \"{CODES_FORMAT}\")")
        if data.get("version") != CODES_VERSION:
            raise CodesError(f"{source}: codes file version {data.get('version')!r} is not supported "
                             f"(this Distill reads version {CODES_VERSION})")
        try:
            indices = np.asarray(data["codes"], dtype=np.int64)
            if indices.ndim != 2 or indices.shape != (data["levels"], data["frames"]):
                raise CodesError(f"{source}: codes shape {indices.shape} does not match "
                                 f"levels={data['levels']} frames={data['frames']}")
            return cls(indices, int(data["codebook_size"]), float(data["frame_rate_hz"]), str(data["model_id"]))
        except KeyError as e:
            raise CodesError(f"{source}: missing field {e}") from None
        except (TypeError, ValueError) as e:
            if isinstance(e, CodesError):
                raise CodesError(f"{source}: {e}") from None
            raise CodesError(f"{source}: malformed codes ({e})") from None


def save_codes(path: str | os.PathLike, codes: Codes) -> Path:
    """Writes a codes file atomically."""
    return write_text_atomic(path, json.dumps(codes.to_json()))


def load_codes(path: str | os.PathLike) -> Codes:
    path = Path(path)
    try:
        data = read_json_file(path, MAX_CODES_BYTES)
    except FileNotFoundError:
        raise CodesError(f"{path}: no such codes file") from None
    except JsonLimitError as e:
        raise CodesError(f"{path}: not readable as a codes file ({e.reason})") from None
    return Codes.from_json(data, str(path))
