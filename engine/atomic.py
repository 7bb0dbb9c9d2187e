"""Atomic saves: write a temp file beside the target, then rename over it.

A crash or an error while writing never leaves a half-written model, session, codes or audio file
where a good one was; the temp file is removed on failure, and the saved file gets the usual
permissions (mkstemp makes 0600).
"""
from __future__ import annotations

import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yields a temp path in `path`'s folder (same suffix, so format-by-suffix writers work);
    on a clean exit it replaces `path`, on an exception it is deleted."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    try:
        yield Path(tmp)
        _hold_for_tests()
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def _hold_for_tests() -> None:
    """With DISTILL_TEST_HOLD_SAVE_S set, waits that long with the temp file written and the target
    untouched: the worst moment to be killed, held still so a kill -9 test lands on it every time."""
    try:
        hold_s = float(os.environ.get("DISTILL_TEST_HOLD_SAVE_S", "") or 0)
    except ValueError:
        return
    if hold_s > 0:
        time.sleep(hold_s)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
