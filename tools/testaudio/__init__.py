"""The project's own test audio: three sets of real files built from Debian packages and synthesis,
deterministically, into a cache folder (default `build/test-audio/` in the repository; the
`DISTILL_DEV_SETS` environment variable names another).

    from tools.testaudio import ensure_sets
    root = ensure_sets()          # builds what is missing or stale, returns the folder

Each set is `ROOT/<set>/` (audio only) with `ROOT/<set>.manifest.json` beside it: per file its
name, sha256, bytes, format, sample rate, channels, samples, duration, source, license and edge case.
A set is rebuilt when the recipe (these modules), a package version or a file's hash changed.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DIR = REPO / "build" / "test-audio"


def sets_dir() -> Path:
    """Where the sets live: $DISTILL_DEV_SETS, else build/test-audio/ in the repository."""
    return Path(os.environ.get("DISTILL_DEV_SETS") or DEFAULT_DIR)


def _recipe() -> str:
    here = Path(__file__).parent
    digest = hashlib.sha256()
    for name in ("__init__.py", "sets.py", "sources.py"):
        digest.update((here / name).read_bytes())
    return digest.hexdigest()[:16]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def missing_packages() -> list[str]:
    from .sets import PACKAGES
    missing = []
    for package in PACKAGES:
        status = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Status}", package], capture_output=True, text=True)
        if status.stdout.strip() != "installed":
            missing.append(package)
    return missing


def _up_to_date(root: Path, name: str, stamp: dict) -> dict | None:
    try:
        manifest = json.loads((root / f"{name}.manifest.json").read_text())
        if manifest.get("stamp") != stamp:
            return None
        files = manifest["files"]
        if sorted(p.name for p in (root / name).iterdir()) != sorted(f["name"] for f in files):
            return None
        if any(_sha256(root / name / f["name"]) != f["sha256"] for f in files):
            return None
        return manifest
    except (OSError, ValueError, KeyError):
        return None


def _manifest(root: Path, name: str, records: list[dict], stamp: dict) -> dict:
    from .sources import probe
    files = []
    for record in sorted(records, key=lambda r: r["name"]):
        path = root / name / record["name"]
        files.append({"name": record["name"], "sha256": _sha256(path), "bytes": path.stat().st_size,
                      "format": path.suffix.lstrip(".").lower(), **probe(path), **record})
    durations = sorted(f["duration_s"] for f in files)
    return {"set": name, "stamp": stamp, "file_count": len(files), "total_duration_s": round(sum(durations), 3),
            "duration_s": {"min": durations[0], "median": durations[len(durations) // 2], "max": durations[-1]},
            "edge_cases": {f["name"]: f["edge_case"] for f in files if "edge_case" in f}, "files": files}


def build_set(root: Path, name: str, force: bool = False) -> tuple[dict, str]:
    """Build one set unless it is up to date; returns (manifest, 'kept' | 'built')."""
    from .sets import SETS
    from .sources import package_version
    generate, count, packages = SETS[name]
    stamp = {"recipe": _recipe(), "packages": {p: package_version(p) for p in sorted(packages)}}
    manifest = None if force else _up_to_date(root, name, stamp)
    if manifest is not None:
        return manifest, "kept"
    tmp, work = root / f".build-{name}", root / f".work-{name}"
    for folder in (tmp, work):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    records = generate(tmp, work)
    names = {r["name"] for r in records}
    if len(records) != count or len(names) != count or names != {p.name for p in tmp.iterdir()}:
        raise RuntimeError(f"{name}: made {len(records)} records / {len(list(tmp.iterdir()))} files, expected {count}")
    shutil.rmtree(work)
    (root / f"{name}.manifest.json").unlink(missing_ok=True)  # a half-replaced set must not look whole
    shutil.rmtree(root / name, ignore_errors=True)
    tmp.rename(root / name)
    manifest = _manifest(root, name, records, stamp)
    staged = root / f"{name}.manifest.json.tmp"
    staged.write_text(json.dumps(manifest, indent=1) + "\n")
    staged.replace(root / f"{name}.manifest.json")
    return manifest, "built"


def ensure_sets(root: Path | None = None, force: bool = False, log=print) -> Path:
    """Build every set that is missing or stale into `root` (one builder at a time per folder)."""
    from .sets import SETS
    root = Path(root or sets_dir())
    missing = missing_packages()
    if missing:
        raise RuntimeError(f"test audio needs Debian packages {' '.join(missing)}: run tools/make_test_audio "
                           "(it installs them) or apt-get install them")
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for name in SETS:
            start = time.monotonic()
            manifest, status = build_set(root, name, force)
            log(f"  {name:14s} {manifest['file_count']:4d} files {manifest['total_duration_s']:7.1f} s of audio  "
                f"{time.monotonic() - start:5.1f} s  {status}")
    return root
