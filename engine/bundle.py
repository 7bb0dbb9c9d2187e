"""The `.distill` bundle: one file per trained model, format version 2.

A zip holding:
    manifest.json           {"format": "distill-bundle", "version": 2, "model_id", "created",
                             "config": {...}, "tensors": {component: member}, "files": [member...],
                             "meta": {...}}  (meta: training report, dataset summary, labels, ...)
    <component>.safetensors one per tensor component ("codec", "prior", ...)
    <name>                  extra binary members, e.g. ONNX graphs ("decoder.onnx")

Loading never executes code: tensors come from safetensors, everything else is JSON or opaque
bytes. Saves are atomic (temp file in the same folder, then rename), so a crash never leaves a
half-written model where a good one was. Every way a file can be wrong gets one sentence naming it.
"""
from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import InputError
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from engine.atomic import atomic_path
from engine.config import Config

BUNDLE_FORMAT = "distill-bundle"
BUNDLE_VERSION = 2
BUNDLE_SUFFIX = ".distill"
MANIFEST = "manifest.json"


class BundleError(InputError):
    """A model file that cannot be loaded; the message names the file and the reason."""


@dataclass(frozen=True)
class Bundle:
    config: Config
    model_id: str
    created: str
    tensors: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # component -> name -> array
    files: dict[str, bytes] = field(default_factory=dict)  # extra members (ONNX graphs)
    meta: dict[str, Any] = field(default_factory=dict)  # JSON-safe: report, dataset, labels, ...

    def with_tensors(self, component: str, tensors: dict[str, np.ndarray]) -> "Bundle":
        return replace(self, tensors={**self.tensors, component: tensors})

    def with_file(self, name: str, data: bytes) -> "Bundle":
        return replace(self, files={**self.files, name: data})

    def with_meta(self, **items: Any) -> "Bundle":
        return replace(self, meta={**self.meta, **items})


def save_bundle(path: str | os.PathLike, bundle: Bundle) -> Path:
    """Writes `bundle` to `path` atomically and returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    manifest = {
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION,
        "model_id": bundle.model_id,
        "created": bundle.created,
        "config": bundle.config.to_dict(),
        "tensors": {name: f"{name}.safetensors" for name in sorted(bundle.tensors)},
        "files": sorted(bundle.files),
        "meta": bundle.meta,
    }
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))
        for name in sorted(bundle.tensors):
            arrays = {k: np.ascontiguousarray(v) for k, v in bundle.tensors[name].items()}
            z.writestr(f"{name}.safetensors", st_save(arrays))
        for name in sorted(bundle.files):
            z.writestr(name, bundle.files[name])
    return path


def load_bundle(path: str | os.PathLike) -> Bundle:
    """Reads a bundle without executing anything in it, or raises BundleError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise BundleError(f"{path}: no such model file")
    data = path.read_bytes()
    if not data.startswith(b"PK"):
        raise BundleError(f"{path}: not a Distill model (not a zip archive; random or foreign bytes)")
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
        names = set(z.namelist())
    except zipfile.BadZipFile:
        raise BundleError(f"{path}: damaged or truncated Distill model (the zip directory is unreadable)") from None
    with z:
        if MANIFEST not in names:
            if any(n.endswith("data.pkl") or n.endswith(".pkl") for n in names):
                raise BundleError(f"{path}: a pickled PyTorch file, not a Distill model; "
                                  "Distill never unpickles model files")
            raise BundleError(f"{path}: a zip file without {MANIFEST}, not a Distill model")
        manifest = _read_json(z, MANIFEST, path)
        _check_manifest(manifest, path)
        try:
            config = Config.from_dict(manifest["config"])
        except (TypeError, ValueError) as e:
            raise BundleError(f"{path}: model config is invalid ({e})") from None
        tensors = {}
        for component, member in manifest["tensors"].items():
            try:
                tensors[component] = st_load(_read_member(z, member, path))
            except BundleError:
                raise
            except Exception as e:
                raise BundleError(f"{path}: tensor member {member} is not valid safetensors ({e})") from None
        files = {name: _read_member(z, name, path) for name in manifest["files"]}
    return Bundle(config, str(manifest["model_id"]), str(manifest["created"]), tensors, files,
                  dict(manifest.get("meta", {})))


def _check_manifest(manifest: Any, path: Path) -> None:
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{path}: {MANIFEST} is not a Distill bundle manifest")
    version = manifest.get("version")
    if version == 1:
        raise BundleError(f"{path}: a format version 1 model from an older Distill; "
                          f"retrain it with `distill train` to get version {BUNDLE_VERSION}")
    if not isinstance(version, int) or version > BUNDLE_VERSION:
        raise BundleError(f"{path}: format version {version!r} is newer than this Distill reads "
                          f"({BUNDLE_VERSION}); update Distill")
    if version != BUNDLE_VERSION:
        raise BundleError(f"{path}: unknown format version {version!r}")
    for key, kind in (("model_id", str), ("created", str), ("config", dict), ("tensors", dict), ("files", list)):
        if not isinstance(manifest.get(key), kind):
            raise BundleError(f"{path}: manifest field '{key}' is missing or not a {kind.__name__}")


def _read_member(z: zipfile.ZipFile, name: str, path: Path) -> bytes:
    try:
        return z.read(name)
    except KeyError:
        raise BundleError(f"{path}: member {name} named in the manifest is missing") from None
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
        raise BundleError(f"{path}: member {name} is damaged or truncated ({e})") from None


def _read_json(z: zipfile.ZipFile, name: str, path: Path) -> Any:
    try:
        return json.loads(_read_member(z, name, path))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BundleError(f"{path}: {name} is not valid JSON ({e})") from None

