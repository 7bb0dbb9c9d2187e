"""Path confinement for paths that arrive over OSC or the WebSocket.

A client names a model, a render target or an audio file; it may only reach inside the configured
roots (models folder, clips folder, one input folder). Refused: `..` anywhere, absolute paths
outside the root, NUL bytes, and symlinks whose target lies outside the root (checked on the
fully resolved path, so a link anywhere in the chain counts).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

from engine.errors import InputError


MAX_NAME_BYTES = 255  # one file or folder name (NAME_MAX on Linux and macOS, NTFS's limit too)


class PathRefused(InputError):
    """A path outside the roots the server may touch."""


@dataclass(frozen=True)
class Roots:
    """The folders OSC clients may reach: models (read and write), clips (write), input (read)."""

    models: Path
    clips: Path
    inputs: Path

    @classmethod
    def make(cls, models: str | os.PathLike, clips: str | os.PathLike, inputs: str | os.PathLike) -> "Roots":
        return cls(*(Path(p).expanduser().resolve() for p in (models, clips, inputs)))


def confine(root: Path, name: str, what: str = "path", suffix: str = "") -> Path:
    """Resolves `name` inside `root` (relative to it, or absolute but inside it) or raises
    PathRefused. `suffix` is appended when the name has no suffix (e.g. ".distill")."""
    if not isinstance(name, str) or not name.strip():
        raise PathRefused(f"{what} is empty")
    if "\x00" in name:
        raise PathRefused(f"{what} contains a NUL character")
    parts = set(PurePosixPath(name).parts) | set(PureWindowsPath(name).parts)
    if ".." in parts:
        raise PathRefused(f"{what} {name!r} contains '..'; name a file inside {root}")
    root = root.resolve()
    candidate = Path(name).expanduser()
    if not candidate.is_absolute():
        candidate = root / candidate
    if suffix and not candidate.suffix:
        candidate = candidate.with_name(candidate.name + suffix)
    longest = max((len(part.encode("utf-8")) for part in candidate.parts), default=0)
    if longest > MAX_NAME_BYTES:  # the kernel would answer ENAMETOOLONG at the first stat
        shown = repr(name[:40]) + ("..." if len(name) > 40 else "")
        raise PathRefused(f"{what} {shown} has a name of {longest} bytes; file systems take at most {MAX_NAME_BYTES}")
    try:
        resolved = candidate.resolve()  # follows every symlink in the chain
    except (RuntimeError, OSError):  # Python 3.11 raises RuntimeError for a loop
        raise PathRefused(f"{what} {name!r} is a symlink loop (the link points back to itself)") from None
    if resolved != root and not resolved.is_relative_to(root):
        reason = "a symlink that leads" if candidate.absolute().is_relative_to(root) else "a path"
        raise PathRefused(f"{what} {name!r} is {reason} outside {root}")
    return resolved
