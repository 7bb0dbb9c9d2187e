"""An editing session: the current code grid of one model, loop region, selection, locked levels,
effect chain, sampling settings, a clipboard, and an undo/redo history of immutable states.

States are frozen values; an edit builds a new state (sharing every unchanged array with the old
one) and pushes the old one onto a persistent linked stack *as the cells where it differs* from
the new one, so history is unbounded, each step keeps only what it changed (plus one grid compare),
and undo/redo rebuild bit-identical grids. Selection and loop
changes replace the present state without a history step (like any sound editor); everything
that changes the sound (codes, locks, effects, sampling) is undoable.

A session saves to one JSON file next to the model (`default_session_path`), written atomically
(temp file + rename). The file holds format, version and the model_id; history is stored as the
first grid in full plus per-step cell changes, so load restores undo/redo after a restart. A
corrupt file or a session of another model raises `SessionError` and nothing changes.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from engine import facts
from engine.atomic import write_text_atomic
from engine.codes import Codes
from engine.errors import InputError
from engine.jsonfile import JsonLimitError, read_json_file

SESSION_FORMAT = "distill-session"
SESSION_VERSION = 1
SESSION_SUFFIX = ".session.json"
MAX_SESSION_BYTES = 64 * 2**20  # an hour-long grid with a long undo history is a few MB
DEFAULT_SAMPLING = facts.DEFAULT_SAMPLING  # a new session's Creativity, Focus, Diversity and seed


class SessionError(InputError):
    """A session (file or operation) that cannot be used; the message says which and why."""


def default_session_path(model_path: str | os.PathLike) -> Path:
    """`drums.distill` -> `drums.distill.session.json`, next to the model."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.name + SESSION_SUFFIX)


@dataclass(frozen=True)
class Selection:
    """A half-open frame range `[start_frame, end_frame)` and the levels it covers."""

    start_frame: int
    end_frame: int
    levels: tuple[int, ...] = ()  # empty: all levels

    def to_json(self) -> dict:
        return {"start_frame": self.start_frame, "end_frame": self.end_frame, "levels": list(self.levels)}


@dataclass(frozen=True)
class SessionState:
    """One point of history. `effects_json` and `sampling_json` are canonical JSON so the state
    stays immutable; read them through `effects` and `sampling`."""

    codes: Codes
    loop: tuple[int, int] | None = None  # [start_frame, end_frame)
    selection: Selection | None = None
    locked_levels: tuple[int, ...] = ()
    effects_json: str = "{}"  # the bridge's effect chain, opaque here
    sampling_json: str = json.dumps(DEFAULT_SAMPLING, sort_keys=True)
    op: str = "new"  # what made this state, for history lists

    def __post_init__(self) -> None:
        q, f = self.codes.levels, self.codes.n_frames
        if self.loop is not None:
            _check_range("loop", self.loop[0], self.loop[1], f)
        if self.selection is not None:
            s = self.selection
            _check_range("selection", s.start_frame, s.end_frame, f)
            _check_levels("selection level", s.levels, q)
        _check_levels("locked level", self.locked_levels, q)
        if tuple(sorted(set(self.locked_levels))) != tuple(self.locked_levels):
            raise SessionError(f"locked levels must be sorted and unique, got {list(self.locked_levels)}")

    @property
    def effects(self) -> dict:
        return json.loads(self.effects_json)

    @property
    def sampling(self) -> dict:
        return json.loads(self.sampling_json)

    def with_effects(self, effects: dict) -> "SessionState":
        if not isinstance(effects, dict):
            raise SessionError(f"effects must be a JSON object, got {type(effects).__name__}")
        try:
            return replace(self, effects_json=json.dumps(effects, sort_keys=True, allow_nan=False))
        except (TypeError, ValueError) as e:
            raise SessionError(f"effects are not JSON-safe ({e})") from None

    def with_locked_levels(self, levels: Any) -> "SessionState":
        return replace(self, locked_levels=tuple(sorted(set(levels))))

    def with_sampling(self, **settings: Any) -> "SessionState":
        return replace(self, sampling_json=json.dumps(check_sampling({**self.sampling, **settings}), sort_keys=True))

    def region(self, start_frame: int | None = None, end_frame: int | None = None) -> tuple[int, int]:
        """The explicit region, else the selection, else the whole grid."""
        if start_frame is not None or end_frame is not None:
            if start_frame is None or end_frame is None:
                raise SessionError("give both start_frame and end_frame, or neither")
            return int(start_frame), int(end_frame)
        if self.selection is not None:
            return self.selection.start_frame, self.selection.end_frame
        return 0, self.codes.n_frames

    def selected_levels(self) -> tuple[int, ...] | None:
        return self.selection.levels if self.selection is not None and self.selection.levels else None


def check_sampling(settings: dict) -> dict:
    """Validates sampling settings: temperature > 0, top_k >= 0 (0: off), 0 < top_p <= 1, int seed."""
    unknown = set(settings) - set(DEFAULT_SAMPLING)
    if unknown:
        raise SessionError(f"unknown sampling setting(s) {sorted(unknown)}; known: {sorted(DEFAULT_SAMPLING)}")
    out = dict(settings)
    try:
        out["temperature"] = float(out["temperature"])
        out["top_k"] = int(out["top_k"])
        out["top_p"] = float(out["top_p"])
        out["seed"] = int(out["seed"])
    except (KeyError, TypeError, ValueError) as e:
        raise SessionError(f"sampling settings are malformed ({e})") from None
    if not (math.isfinite(out["temperature"]) and out["temperature"] > 0):
        raise SessionError(f"sampling temperature must be > 0, got {out['temperature']}")
    if out["top_k"] < 0:
        raise SessionError(f"sampling top_k must be >= 0 (0 turns it off), got {out['top_k']}")
    if not 0.0 < out["top_p"] <= 1.0:
        raise SessionError(f"sampling top_p must be in (0, 1], got {out['top_p']}")
    return out


def _check_range(name: str, start: Any, end: Any, n_frames: int) -> None:
    ok = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (start, end))
    if not ok or not 0 <= start < end <= n_frames:
        raise SessionError(f"{name} [{start}, {end}) is out of range: need 0 <= start < end <= {n_frames}")


def _check_levels(name: str, levels: tuple, n_levels: int) -> None:
    for q in levels:
        if not isinstance(q, (int, np.integer)) or isinstance(q, bool) or not 0 <= q < n_levels:
            raise SessionError(f"{name} {q!r} is out of range: levels are 0..{n_levels - 1}")


@dataclass(frozen=True)
class _Node:
    """A persistent stack cell holding one state as a *difference*: its fields, and the cells where
    its grid differs from the grid of the state above it (nearer the present). Pushing shares the
    whole rest of the stack; a step costs memory for the cells it changed, not a grid."""

    meta: tuple  # (loop, selection, locked_levels, effects_json, sampling_json, op)
    cells: np.ndarray  # [n, 3] (level, frame, code): this grid where it differs from the one above
    grid: Codes | None  # the whole grid instead, when it cannot be a difference (other shape)
    below: "_Node | None"


_META = ("loop", "selection", "locked_levels", "effects_json", "sampling_json", "op")
_NO_CELLS = np.zeros((0, 3), dtype=np.int64)
_NO_CELLS.setflags(write=False)


def _pack(state: SessionState, above: Codes, below: _Node | None) -> _Node:
    meta = tuple(getattr(state, name) for name in _META)
    codes = state.codes
    if codes is above:
        return _Node(meta, _NO_CELLS, None, below)
    same = (codes.indices.shape == above.indices.shape and codes.codebook_size == above.codebook_size
            and codes.frame_rate_hz == above.frame_rate_hz and codes.model_id == above.model_id)
    if not same:
        return _Node(meta, _NO_CELLS, codes, below)
    q, f = np.nonzero(codes.indices != above.indices)
    cells = np.stack([q, f, codes.indices[q, f]], axis=1).astype(np.int64)  # [n, 3]
    cells.setflags(write=False)
    return _Node(meta, cells, None, below)


def _unpack(node: _Node, above: Codes) -> SessionState:
    if node.grid is not None:
        codes = node.grid
    elif len(node.cells) == 0:
        codes = above  # the same grid: the same object, shared
    else:
        grid = np.array(above.indices)
        grid[node.cells[:, 0], node.cells[:, 1]] = node.cells[:, 2]
        codes = above.with_indices(grid)
    return SessionState(codes, **dict(zip(_META, node.meta)))


def _unwind(node: _Node | None, above: Codes) -> list[SessionState]:
    """The states of a stack, top (nearest the present) first."""
    out = []
    while node is not None:
        state = _unpack(node, above)
        out.append(state)
        above, node = state.codes, node.below
    return out


@dataclass(frozen=True)
class Session:
    model_id: str
    present: SessionState
    past: _Node | None = None  # most recent first
    future: _Node | None = None  # next redo first
    n_past: int = 0
    n_future: int = 0
    clipboard: np.ndarray | None = field(default=None, compare=False)  # [Q, n], not part of history
    model_path: str = ""  # where the model was when the session was made (relative to the file)
    midi_json: str = ""  # the MIDI mapping (engine/edit/midi.py), canonical JSON; "" = the default. Not history.

    def __post_init__(self) -> None:
        if self.present.codes.model_id and self.model_id and self.present.codes.model_id != self.model_id:
            raise SessionError(f"codes of model {self.present.codes.model_id!r} in a session of "
                               f"model {self.model_id!r}")

    @classmethod
    def new(cls, codes: Codes, model_path: str = "") -> "Session":
        return cls(codes.model_id, SessionState(codes), model_path=str(model_path))

    @property
    def codes(self) -> Codes:
        return self.present.codes

    def push(self, state: SessionState) -> "Session":
        """Makes `state` the present; the old present becomes undoable and the redo list is dropped."""
        if state.codes.indices.shape[0] != self.codes.levels or state.codes.codebook_size != self.codes.codebook_size:
            raise SessionError("an edit may not change the number of levels or the codebook size")
        if state.codes.model_id != self.codes.model_id:
            raise SessionError(f"codes of model {state.codes.model_id!r} cannot enter a session of "
                               f"model {self.codes.model_id!r}")
        return replace(self, present=state, past=_pack(self.present, state.codes, self.past),
                       n_past=self.n_past + 1, future=None, n_future=0)

    def edit(self, codes: Codes, op: str) -> "Session":
        """A new grid as an undoable step; selection and loop are clipped to a shorter grid."""
        state = self.present
        f = codes.n_frames
        loop = state.loop if state.loop is None or state.loop[1] <= f else None
        selection = state.selection if state.selection is None or state.selection.end_frame <= f else None
        return self.push(replace(state, codes=codes, op=op, loop=loop, selection=selection))

    def replace_present(self, **fields: Any) -> "Session":
        """Changes the present state without a history step (selection, loop)."""
        return replace(self, present=replace(self.present, **fields))

    def undo(self) -> "Session":
        if self.past is None:
            raise SessionError("nothing to undo")
        older = _unpack(self.past, self.codes)
        return replace(self, present=older, past=self.past.below, n_past=self.n_past - 1,
                       future=_pack(self.present, older.codes, self.future), n_future=self.n_future + 1)

    def redo(self) -> "Session":
        if self.future is None:
            raise SessionError("nothing to redo")
        newer = _unpack(self.future, self.codes)
        return replace(self, present=newer, future=self.future.below, n_future=self.n_future - 1,
                       past=_pack(self.present, newer.codes, self.past), n_past=self.n_past + 1)

    def history(self) -> list[SessionState]:
        """Every state, oldest first; the present is at index `n_past`."""
        return [*reversed(_unwind(self.past, self.codes)), self.present, *_unwind(self.future, self.codes)]

    def summary(self) -> dict:
        s = self.present
        return {
            "model_id": self.model_id, "levels": s.codes.levels, "frames": s.codes.n_frames,
            "codebook_size": s.codes.codebook_size, "duration_s": round(s.codes.duration_s, 4),
            "op": s.op, "undo": self.n_past, "redo": self.n_future,
            "loop": list(s.loop) if s.loop else None,
            "selection": s.selection.to_json() if s.selection else None,
            "locked_levels": list(s.locked_levels), "sampling": s.sampling, "effects": s.effects,
            "clipboard_frames": None if self.clipboard is None else int(self.clipboard.shape[1]),
        }


# ---------------------------------------------------------------- file format

def session_to_json(session: Session) -> dict:
    states = session.history()
    entries, previous = [], None
    for state in states:
        entry = {"op": state.op, "loop": list(state.loop) if state.loop else None,
                 "selection": state.selection.to_json() if state.selection else None,
                 "locked_levels": list(state.locked_levels), "effects": state.effects,
                 "sampling": state.sampling}
        grid = state.codes.indices
        if previous is not None and previous.shape == grid.shape:
            q, f = np.nonzero(previous != grid)
            entry["changes"] = np.stack([q, f, grid[q, f]], axis=1).tolist()  # [[level, frame, code]...]
        else:
            entry["codes"] = grid.tolist()
        entries.append(entry)
        previous = grid
    c = session.codes
    return {"format": SESSION_FORMAT, "version": SESSION_VERSION, "model_id": session.model_id,
            "model_path": session.model_path, "codebook_size": c.codebook_size,
            "frame_rate_hz": c.frame_rate_hz, "levels": c.levels, "cursor": session.n_past,
            "clipboard": None if session.clipboard is None else session.clipboard.tolist(),
            "midi": json.loads(session.midi_json) if session.midi_json else None,
            "states": entries}


def session_from_json(data: Any, source: str = "session", model_id: str | None = None) -> Session:
    """Rebuilds a session, or raises SessionError naming `source`. With `model_id`, a session made
    for another model is refused."""
    if not isinstance(data, dict) or data.get("format") != SESSION_FORMAT:
        raise SessionError(f"{source}: not a Distill session file (missing \"format\": \"{SESSION_FORMAT}\")")
    if data.get("version") != SESSION_VERSION:
        raise SessionError(f"{source}: session version {data.get('version')!r} is not supported "
                           f"(this Distill reads version {SESSION_VERSION})")
    if model_id is not None and data.get("model_id") != model_id:
        raise SessionError(f"{source}: this session belongs to model {data.get('model_id')!r}, "
                           f"not to the loaded model {model_id!r}")
    try:
        k, rate, own_id = int(data["codebook_size"]), float(data["frame_rate_hz"]), str(data["model_id"])
        entries = data["states"]
        if not isinstance(entries, list) or not entries:
            raise SessionError("no states")
        states, grid = [], None
        for i, entry in enumerate(entries):
            grid = _entry_grid(entry, grid, i)
            selection = entry.get("selection")
            state = SessionState(
                Codes(grid, k, rate, own_id),
                loop=tuple(entry["loop"]) if entry.get("loop") is not None else None,
                selection=Selection(int(selection["start_frame"]), int(selection["end_frame"]),
                                    tuple(int(q) for q in selection["levels"])) if selection else None,
                locked_levels=tuple(entry["locked_levels"]), op=str(entry["op"]),
            ).with_effects(entry["effects"]).with_sampling(**entry["sampling"])
            states.append(state)
            grid.setflags(write=False)
        cursor = data["cursor"]
        if not isinstance(cursor, int) or not 0 <= cursor < len(states):
            raise SessionError(f"cursor {cursor!r} is outside the {len(states)} states")
        if any(s.codes.levels != states[0].codes.levels for s in states):
            raise SessionError("states disagree on the number of levels")
        past = future = None
        for i in range(cursor):  # bottom (oldest) first; each relative to the state after it
            past = _pack(states[i], states[i + 1].codes, past)
        for i in range(len(states) - 1, cursor, -1):  # bottom (newest) first; relative to the one before
            future = _pack(states[i], states[i - 1].codes, future)
        clipboard = data.get("clipboard")
        if clipboard is not None:
            clipboard = np.asarray(clipboard, dtype=np.int64)
            if clipboard.ndim != 2 or clipboard.shape[0] != states[0].codes.levels or \
                    clipboard.min() < 0 or clipboard.max() >= k:
                raise SessionError("clipboard does not fit the grid")
        midi = data.get("midi")
        if midi is not None:
            from engine.edit.midi import MidiMap, map_to_session_json
            midi = map_to_session_json(MidiMap.from_json(midi, "MIDI mapping"))
        return Session(own_id, states[cursor], past, future, cursor, len(states) - cursor - 1, clipboard,
                       str(data.get("model_path", "")), midi or "")
    except SessionError as e:
        raise SessionError(f"{source}: {e}") from None
    except InputError as e:
        raise SessionError(f"{source}: {e}") from None
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
        raise SessionError(f"{source}: corrupt session file ({type(e).__name__}: {e})") from None


def _entry_grid(entry: dict, previous: np.ndarray | None, i: int) -> np.ndarray:
    if "codes" in entry:
        grid = np.asarray(entry["codes"], dtype=np.int64)
        if grid.ndim != 2:
            raise SessionError(f"state {i}: codes are not a [Q, F] grid")
        return grid
    if previous is None:
        raise SessionError(f"state {i}: changes without a grid to apply them to")
    grid = previous.copy()
    changes = np.asarray(entry["changes"], dtype=np.int64).reshape(-1, 3)
    q, f, c = changes.T
    if changes.size and (q.min() < 0 or q.max() >= grid.shape[0] or f.min() < 0 or f.max() >= grid.shape[1]):
        raise SessionError(f"state {i}: a change lies outside the grid")
    grid[q, f] = c
    return grid


def save_session(path: str | os.PathLike, session: Session) -> Path:
    """Writes the session atomically (temp file in the same folder, then rename)."""
    return write_text_atomic(path, json.dumps(session_to_json(session), separators=(",", ":")))


def load_session(path: str | os.PathLike, model_id: str | None = None) -> Session:
    """Reads a session file; raises SessionError for a missing, corrupt or foreign-model file."""
    path = Path(path)
    try:
        data = read_json_file(path, MAX_SESSION_BYTES)
    except FileNotFoundError:
        raise SessionError(f"{path}: no such session file") from None
    except JsonLimitError as e:
        raise SessionError(f"{path}: corrupt session file, not readable as JSON ({e.reason})") from None
    return session_from_json(data, str(path), model_id)
