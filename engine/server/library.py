"""The model library: the `.distill` files in a models folder, summarised without loading weights.

Listing reads only each bundle's `manifest.json` (size-capped, engine/bundle.py), cached by the
file's (mtime, size), so `distill models` and `/model/list` stay quick with many models; the server
lists on its reader thread, never on the dispatcher. A file that is not a readable bundle is listed with health
"unreadable" and the reason, never dropped silently.
"""
from __future__ import annotations

import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from engine.bundle import BUNDLE_SUFFIX, read_manifest
from engine.errors import InputError

DEFAULT_MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
MAX_CACHED = 4096  # summaries kept (a few hundred bytes each)
_CACHE: dict[str, tuple[tuple[int, int], "ModelEntry"]] = {}  # path -> ((mtime_ns, size), entry)
_CACHE_LOCK = threading.Lock()  # the server lists on its reader thread, the CLI on its main thread


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
    """Summarises one bundle from its manifest alone (size-capped and checked, engine/bundle.py),
    cached by (mtime, size): listing a folder again re-reads only the files that changed."""
    try:
        st = path.stat()
    except OSError as e:
        return _unreadable(path, f"cannot be read ({e.strerror})")
    key = (st.st_mtime_ns, st.st_size)
    with _CACHE_LOCK:
        cached = _CACHE.get(str(path))
    if cached is not None and cached[0] == key:
        return cached[1]
    entry = _summarise(path)
    with _CACHE_LOCK:
        _CACHE[str(path)] = (key, entry)
        while len(_CACHE) > MAX_CACHED:
            _CACHE.pop(next(iter(_CACHE)))
    return entry


def _summarise(path: Path) -> ModelEntry:
    try:
        manifest = read_manifest(path)
    except InputError as e:
        return _unreadable(path, str(e).removeprefix(f"{path}: ").removeprefix(f"{path} "))
    codec = manifest["config"].get("codec", {})
    meta = manifest.get("meta", {})
    try:
        report = meta.get("report", {}) or {}
        health = report.get("health", {}) or {}
        files = report.get("files", {}).get("used", meta.get("dataset", {}).get("files", 0))
        files = len(files) if isinstance(files, list) else int(files or 0)
        verdict, message = str(health.get("verdict", "unknown")), str(health.get("message", ""))
    except (AttributeError, TypeError, ValueError):  # a report of another shape: the model may still load
        files, verdict, message = 0, "unknown", "its training report is malformed"
    return ModelEntry(_name(path), str(path), int(codec.get("levels", 0)), int(codec.get("codebook_size", 0)),
                      files, verdict, manifest["created"], manifest["model_id"], "prior" in manifest["tensors"],
                      message)


def _unreadable(path: Path, reason: str) -> ModelEntry:
    return ModelEntry(_name(path), str(path), 0, 0, 0, "unreadable", "", message=reason)


def _name(path: Path) -> str:
    return path.name[: -len(BUNDLE_SUFFIX)] if path.name.endswith(BUNDLE_SUFFIX) else path.stem


def list_models(folder: str | os.PathLike | None = None, contains: str = "") -> list[ModelEntry]:
    """Every `.distill` file in `folder` (not recursive), sorted by name; `contains` filters names."""
    folder = Path(folder) if folder is not None else models_dir()
    if not folder.is_dir():
        return []
    # Hidden names are skipped: a save killed before its rename leaves ".NAME.xxxx.tmp.distill" behind.
    paths = sorted(p for p in folder.iterdir()
                   if p.name.endswith(BUNDLE_SUFFIX) and not p.name.startswith(".") and not p.is_dir())
    entries = [read_entry(p) for p in paths]
    needle = contains.lower()
    return [e for e in entries if needle in e.name.lower()]
