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
Sizes, counts, names and JSON depth are capped (MAX_* below) and checked against the zip directory
and by bounded reads before anything is unpacked; config values are checked before a tensor is built.
"""
from __future__ import annotations

import json
import os
import stat
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import InputError
from engine.jsonfile import JsonLimitError, loads_bounded
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from engine.atomic import atomic_path
from engine.config import Config

BUNDLE_FORMAT = "distill-bundle"
BUNDLE_VERSION = 2
BUNDLE_SUFFIX = ".distill"
MANIFEST = "manifest.json"
# Caps, each far above what `distill train` writes (the demo model: 224 KB manifest, 3 MB largest
# member, 2 components, 1 file, JSON depth 7), so only a damaged or hostile file meets them.
MAX_BUNDLE_BYTES = 2 * 2**30  # the whole file: the largest adaptive model (6 x 512 prior) is ~100 MB
MAX_UNPACKED_BYTES = 2 * 2**30  # all members together, as the zip directory declares them
MAX_MEMBER_BYTES = 2**30  # one tensor component or graph, after decompression
MAX_MANIFEST_BYTES = 16 * 2**20  # labels of a few thousand files fit in a few MB
MAX_MEMBERS = 256  # zip entries
MAX_COMPONENTS = 16  # tensor components (a checkpoint has codec, optimizer, best)
MAX_FILES = 64  # extra members (ONNX graphs)
MAX_NAME_CHARS = 128  # model_id, created, component and member names
MAX_JSON_DEPTH = 32  # nesting of the manifest (a training report nests 7 deep)


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
    with _open_zip(path) as z:
        manifest = _manifest_of(z, path)
        config = _config_of(manifest, path)
        tensors = {}
        for component, member in manifest["tensors"].items():
            try:
                tensors[component] = st_load(_read_member(z, member, path))
            except BundleError:
                raise
            except Exception as e:
                raise BundleError(f"{path}: tensor member {member} is not valid safetensors ({_short(e)})") from None
        files = {name: _read_member(z, name, path) for name in manifest["files"]}
    return Bundle(config, manifest["model_id"], manifest["created"], tensors, files, dict(manifest.get("meta", {})))


def read_manifest(path: str | os.PathLike) -> dict[str, Any]:
    """The checked manifest alone (no tensors read): for listing a models folder quickly."""
    path = Path(path)
    with _open_zip(path) as z:
        manifest = _manifest_of(z, path)
    _config_of(manifest, path)
    return manifest


class BundleModel:
    """A loaded bundle: its config, model id and code frame rate (shared by `LiveModel` and the
    torch `engine.codec.model.Model`)."""

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self.config = bundle.config

    @classmethod
    def load(cls, path: str | os.PathLike):
        return cls(load_bundle(path))

    @property
    def model_id(self) -> str:
        return self.bundle.model_id

    @property
    def code_frame_rate_hz(self) -> float:
        return self.config.audio.frame_rate_hz / self.config.codec.time_stride


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        st = path.stat()
    except OSError:
        raise BundleError(f"{path}: no such model file") from None
    if not stat.S_ISREG(st.st_mode):
        raise BundleError(f"{path}: not a model file (a folder, pipe or device)")
    if st.st_size > MAX_BUNDLE_BYTES:
        raise BundleError(f"{path}: {_mb(st.st_size)}, larger than a Distill model may be ({_mb(MAX_BUNDLE_BYTES)})")
    with open(path, "rb") as f:
        if f.read(2) != b"PK":
            raise BundleError(f"{path}: not a Distill model (not a zip archive; random or foreign bytes)")
    try:
        z = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise BundleError(f"{path}: damaged or truncated Distill model (the zip directory is unreadable)") from None
    infos = z.infolist()
    unpacked = sum(i.file_size for i in infos)
    if len(infos) > MAX_MEMBERS or unpacked > MAX_UNPACKED_BYTES:
        z.close()
        raise BundleError(f"{path}: {len(infos)} members unpacking to {_mb(unpacked)}, more than a Distill model "
                          f"holds ({MAX_MEMBERS} members, {_mb(MAX_UNPACKED_BYTES)})")
    return z


def _manifest_of(z: zipfile.ZipFile, path: Path) -> dict[str, Any]:
    names = set(z.namelist())
    if MANIFEST not in names:
        if any(n.endswith(".pkl") for n in names):
            raise BundleError(f"{path}: a pickled PyTorch file, not a Distill model; "
                              "Distill never unpickles model files")
        raise BundleError(f"{path}: a zip file without {MANIFEST}, not a Distill model")
    manifest = _read_json(z, MANIFEST, path)
    _check_manifest(manifest, path)
    return manifest


def _config_of(manifest: dict[str, Any], path: Path) -> Config:
    try:
        return Config.from_dict(manifest["config"])  # types and ranges checked before any tensor is built
    except (InputError, TypeError, ValueError) as e:
        raise BundleError(f"{path}: model config is invalid ({e})") from None


def _check_manifest(manifest: Any, path: Path) -> None:
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{path}: {MANIFEST} is not a Distill bundle manifest")
    version = manifest.get("version")
    if version == 1 and not isinstance(version, bool):
        raise BundleError(f"{path}: a bundle format 1 model from an older Distill; "
                          f"retrain it with `distill train` to get format {BUNDLE_VERSION}")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise BundleError(f"{path}: the bundle format version {_show(version)} is not a format number "
                          f"(this version of Distill reads format {BUNDLE_VERSION})")
    if version > BUNDLE_VERSION:
        raise BundleError(f"{path} was written by a newer Distill (bundle format {version}); "
                          f"this version reads format {BUNDLE_VERSION}: update Distill to load it")
    for key, kind in (("model_id", str), ("created", str), ("config", dict), ("tensors", dict), ("files", list),
                      ("meta", dict)):
        if key == "meta" and key not in manifest:
            continue
        if not isinstance(manifest.get(key), kind):
            raise BundleError(f"{path}: manifest field '{key}' is missing or not {_KIND_WORDS[kind]}")
    for key in ("model_id", "created"):
        _check_name(manifest[key], f"manifest field '{key}'", path)
    tensors, files = manifest["tensors"], manifest["files"]
    if len(tensors) > MAX_COMPONENTS:
        raise BundleError(f"{path}: {len(tensors)} tensor components, more than a Distill model has ({MAX_COMPONENTS})")
    if len(files) > MAX_FILES:
        raise BundleError(f"{path}: {len(files)} extra files, more than a Distill model has ({MAX_FILES})")
    for component, member in tensors.items():
        _check_name(component, "a tensor component name", path)
        if not isinstance(member, str):
            raise BundleError(f"{path}: manifest field 'tensors' maps {component!r} to {_show(member)}, not a member name")
        _check_name(member, f"the member of tensor component {component!r}", path)
    for name in files:
        if not isinstance(name, str):
            raise BundleError(f"{path}: manifest field 'files' lists {_show(name)}, not a member name")
        _check_name(name, "a file member name", path)
    if len(set(files)) != len(files) or MANIFEST in files:
        raise BundleError(f"{path}: manifest field 'files' names a member twice or names {MANIFEST}")
    report = manifest.get("meta", {}).get("report")
    if report is not None and not isinstance(report, dict):
        raise BundleError(f"{path}: the training report (meta.report) is {_show(report)}, not an object")


def _check_name(name: str, what: str, path: Path) -> None:
    if len(name) > MAX_NAME_CHARS:
        raise BundleError(f"{path}: {what} is {len(name)} characters long, over the {MAX_NAME_CHARS}-character limit")
    if not name.isprintable():
        raise BundleError(f"{path}: {what} contains control characters")


def _read_member(z: zipfile.ZipFile, name: str, path: Path, limit: int = 0) -> bytes:
    """A member's bytes, refused when its declared or its actual size passes `limit`: the read is
    bounded, so a member that inflates past what the zip directory declares cannot take the memory."""
    limit = limit or MAX_MEMBER_BYTES
    try:
        info = z.getinfo(name)
    except KeyError:
        raise BundleError(f"{path}: member {name} named in the manifest is missing") from None
    if info.file_size > limit:
        raise BundleError(f"{path}: member {name} is {_mb(info.file_size)}, over the {_mb(limit)} limit for it")
    try:
        with z.open(info) as f:
            data = f.read(limit + 1)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError, RuntimeError) as e:
        raise BundleError(f"{path}: member {name} is damaged or truncated ({_short(e)})") from None
    if len(data) > limit:  # zipfile stops at the declared size; this holds whatever it does
        raise BundleError(f"{path}: member {name} is larger than the {_mb(limit)} limit for it")
    return data


def _read_json(z: zipfile.ZipFile, name: str, path: Path) -> Any:
    try:
        return loads_bounded(_read_member(z, name, path, MAX_MANIFEST_BYTES), MAX_JSON_DEPTH)
    except JsonLimitError as e:
        raise BundleError(f"{path}: {name} is {e.reason}") from None


_KIND_WORDS = {str: "a string", dict: "an object", list: "a list"}


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _mb(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:.0f} MB" if n_bytes >= 2**20 else f"{n_bytes} bytes"


def _short(error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text[:160]
