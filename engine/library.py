"""The model library: the `.distill` files in a models folder, summarised without loading weights.

Listing reads only each bundle's `manifest.json` (a few KB), so `distill models` and `/model/list`
stay instant with many models. A file that is not a readable bundle is listed with health
"unreadable" and the reason, never dropped silently.
"""
from __future__ import annotations

import json
import os
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from engine.bundle import BUNDLE_FORMAT, BUNDLE_SUFFIX, MANIFEST

DEFAULT_MODELS_DIR = Path(__file__).resolve().parent.parent / "models"


@dataclass(frozen=True)
class ModelEntry:
    """One model in the library. `files`: training files used (0 when unknown)."""

    name: str
    path: str
    levels: int
    codebook_size: int
    files: int
    health: str  # green | yellow | red | unknown | unreadable
    created: str
    model_id: str = ""
    has_prior: bool = False
    message: str = ""  # health advice, or why the file is unreadable

    def to_json(self) -> dict:
        return asdict(self)


def models_dir() -> Path:
    """`$DISTILL_MODELS` or the repository's `models/`."""
    return Path(os.environ.get("DISTILL_MODELS", DEFAULT_MODELS_DIR))


def read_entry(path: Path) -> ModelEntry:
    """Summarises one bundle from its manifest alone."""
    name = path.name[: -len(BUNDLE_SUFFIX)] if path.name.endswith(BUNDLE_SUFFIX) else path.stem
    try:
        with zipfile.ZipFile(path) as z:
            manifest = json.loads(z.read(MANIFEST))
        if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
            raise ValueError("not a Distill bundle manifest")
        codec = manifest.get("config", {}).get("codec", {})
        meta = manifest.get("meta", {}) or {}
        report = meta.get("report", {}) or {}
        health = report.get("health", {}) or {}
        files = report.get("files", {}).get("used", meta.get("dataset", {}).get("files", 0))
        if isinstance(files, list):
            files = len(files)
        return ModelEntry(name, str(path), int(codec.get("levels", 0)), int(codec.get("codebook_size", 0)),
                          int(files or 0), str(health.get("verdict", "unknown")), str(manifest.get("created", "")),
                          str(manifest.get("model_id", "")), "prior" in manifest.get("tensors", {}),
                          str(health.get("message", "")))
    except (OSError, KeyError, ValueError, TypeError, AttributeError, zipfile.BadZipFile) as e:
        return ModelEntry(name, str(path), 0, 0, 0, "unreadable", "", message=f"{type(e).__name__}: {e}")


def list_models(folder: str | os.PathLike | None = None, contains: str = "") -> list[ModelEntry]:
    """Every `.distill` file in `folder` (not recursive), sorted by name; `contains` filters names."""
    folder = Path(folder) if folder is not None else models_dir()
    if not folder.is_dir():
        return []
    paths = sorted(p for p in folder.iterdir() if p.name.endswith(BUNDLE_SUFFIX) and p.is_file())
    entries = [read_entry(p) for p in paths]
    needle = contains.lower()
    return [e for e in entries if needle in e.name.lower()]
