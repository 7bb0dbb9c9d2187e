"""Bounded JSON for the files Distill reads (bundle manifests, sessions, codes files).

A file is read only when it is a regular file (a FIFO would block, a device never ends) under a
size cap; it is parsed without holding the GIL for long (a big manifest must not stall the
server's dispatcher) and refused past a nesting depth. Each refusal is a `JsonLimitError` whose
`reason` completes the caller's sentence: "PATH: corrupt session file (REASON)".
"""
from __future__ import annotations

import json
import json.scanner
import os
import stat
from pathlib import Path
from typing import Any

from engine.errors import InputError

MAX_JSON_DEPTH = 32  # nesting (a training report nests 7 deep, a session 5)
GIL_FRIENDLY_BYTES = 256 * 2**10  # larger texts are parsed so that other threads keep running


class JsonLimitError(InputError):
    """JSON that is too big, too deep or not JSON; `reason` is a phrase ("nested deeper than 32 levels")."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def loads_bounded(data: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parses `data`, refusing invalid UTF-8 or JSON and nesting deeper than `max_depth`."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        value = json.loads(text) if len(text) <= GIL_FRIENDLY_BYTES else _yielding_loads(text)
    except RecursionError:
        raise JsonLimitError(f"nested deeper than {max_depth} levels") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise JsonLimitError(f"not valid JSON ({e})") from None
    if json_depth(value, max_depth) > max_depth:
        raise JsonLimitError(f"nested deeper than {max_depth} levels")
    return value


def read_json_file(path: str | os.PathLike, max_bytes: int, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Reads and parses a JSON file of at most `max_bytes`. FileNotFoundError passes through (callers
    say "no such file" in their words); everything else is a JsonLimitError."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise
    except OSError as e:
        raise JsonLimitError(f"cannot be read ({e.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise JsonLimitError("not a regular file (a folder, pipe or device)")
    if st.st_size > max_bytes:
        raise JsonLimitError(f"{_mb(st.st_size)}, over the {_mb(max_bytes)} limit")
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)  # bounded even if the file grows meanwhile
    except OSError as e:
        raise JsonLimitError(f"cannot be read ({e.strerror})") from None
    if len(data) > max_bytes:
        raise JsonLimitError(f"over the {_mb(max_bytes)} limit")
    return loads_bounded(data, max_depth)


def json_depth(value: Any, cap: int = MAX_JSON_DEPTH) -> int:
    """How deep lists and objects nest (a scalar is 0), without recursion; stops counting past `cap`."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        if depth <= cap:  # past the cap the answer is already "too deep"
            stack.extend((child, depth + 1) for child in children)
    return deepest


def _yielding_loads(text: str) -> Any:
    """json.loads with the pure-Python scanner: about 5x slower, but it lets other threads run every
    few ms, where the C scanner holds the GIL for the whole parse (a 16 MB manifest: 0.3-1 s in
    which the server's dispatcher could not answer /ping)."""
    decoder = json.JSONDecoder()
    decoder.scan_once = json.scanner.py_make_scanner(decoder)
    return decoder.decode(text)


def _mb(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:.0f} MB" if n_bytes >= 2**20 else f"{n_bytes} bytes"
