"""Where VST3 plugins may load from: the platform's standard VST3 folders and the folders named
with `distill serve --plugins-dir DIR`. Nothing else.

Loading a VST3 runs its native code inside the engine, and `/fx/add PATH` arrives over
unauthenticated OSC, so the path a peer names must lie inside a folder the musician installed
plugins into (or named). The check is on the fully resolved path (`..` and every symlink followed,
the folders resolved too), and the plugin is then loaded from that resolved path. The same rule
holds wherever a chain is built: `/fx/add`, a chain rebuilt from a saved session or a file, undo,
the render copy (`EffectsChain` asks this module every time it loads an instance).

pedalboard (JUCE underneath) loads VST3s only on the thread that loaded the first one ("must be
reloaded on the main thread"), while the server loads them on its worker (`/fx/add`) and on its
dispatcher (undo, a session's chain): so every load goes through one loader thread (`load_vst3`).
Processing and parameters work from any thread.
"""
from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from engine.errors import InputError


def standard_folders(platform: str = sys.platform) -> tuple[Path, ...]:
    """The VST3 folders of the platform (Steinberg's VST 3 SDK "plug-in locations")."""
    home = Path.home()
    if platform == "darwin":
        return (home / "Library/Audio/Plug-Ins/VST3", Path("/Library/Audio/Plug-Ins/VST3"))
    if platform.startswith("win"):
        return (Path(os.environ.get("CommonProgramFiles", r"C:\Program Files\Common Files")) / "VST3",)
    return (home / ".vst3", Path("/usr/lib/vst3"), Path("/usr/local/lib/vst3"))


@dataclass(frozen=True)
class PluginFolders:
    """The folders VST3 bundles may load from, as given (for messages) and resolved (for checks)."""

    folders: tuple[Path, ...]

    @classmethod
    def make(cls, extra: Iterable[str | os.PathLike] = ()) -> "PluginFolders":
        """The standard folders plus `extra` (`--plugins-dir`); an extra one must be a folder."""
        named = []
        for folder in extra:
            path = Path(folder).expanduser()
            if not path.is_dir():
                raise InputError(f"--plugins-dir {folder}: not a folder")
            named.append(path.absolute())
        return cls((*standard_folders(), *named))

    def describe(self) -> str:
        return ", ".join(str(f) for f in self.folders)

    def check(self, plugin: str) -> Path:
        """The resolved path of the VST3 bundle `plugin`, or InputError when it lies outside every
        plugin folder (after resolving `..` and symlinks) or does not exist."""
        resolved = Path(os.path.realpath(plugin))
        if not any(resolved.is_relative_to(os.path.realpath(f)) for f in self.folders):
            how = "leads" if Path(os.path.abspath(plugin)) != resolved else "is"
            raise InputError(f"effect {plugin} {how} outside the plugin folders ({self.describe()}): "
                             f"install it there, or start distill serve with --plugins-dir FOLDER")
        try:
            found = resolved.exists()
        except OSError:  # a name too long for the file system, say
            found = False
        if not found:
            raise InputError(f"effect {plugin}: no such VST3 plugin")
        return resolved


_loader: ThreadPoolExecutor | None = None
_loader_lock = threading.Lock()


def load_vst3(path: Path):
    """`pedalboard.load_plugin(path)` on the one plugin-loading thread; waits for it (exceptions pass)."""
    global _loader
    import pedalboard
    with _loader_lock:
        if _loader is None:  # made on first use, not at import: most processes never load a VST3
            _loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="distill-vst3-loader")
    return _loader.submit(pedalboard.load_plugin, str(path)).result()
