"""Session history against a reference model, save/load round trips (history included), and bad
input that must leave the state unchanged."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.codes import Codes
from engine.edit import ops as edits
from engine.edit.session import (Selection, Session, SessionError, default_session_path, load_session,
                            save_session)
from engine.errors import InputError

K = 8


def grid(levels: int = 3, frames: int = 16, seed: int = 0, model_id: str = "model-a") -> Codes:
    return Codes(np.random.default_rng(seed).integers(0, K, (levels, frames)), K, 46.875, model_id)


# One step of a random script: an edit (valid or not), undo, redo, a lock toggle, or a save/load.
steps = st.one_of(
    st.tuples(st.just("set"), st.integers(-1, 3), st.integers(-1, 16), st.integers(-1, K)),
    st.tuples(st.just("reverse"), st.integers(0, 16), st.integers(0, 17)),
    st.tuples(st.just("lock"), st.integers(0, 2)),
    st.tuples(st.just("undo")),
    st.tuples(st.just("redo")),
    st.tuples(st.just("reload")),
)


def apply_step(session: Session, step: tuple, tmp_path) -> Session:
    kind = step[0]
    locked = session.present.locked_levels
    if kind == "set":
        return session.edit(edits.set_code(session.codes, *step[1:], locked_levels=locked), "set")
    if kind == "reverse":
        return session.edit(edits.reverse_region(session.codes, step[1], step[2], locked_levels=locked), "reverse")
    if kind == "lock":
        new = tuple(sorted(set(locked) ^ {step[1]}))
        return session.push(replace(session.present.with_locked_levels(new), op="lock"))
    if kind == "undo":
        return session.undo()
    if kind == "redo":
        return session.redo()
    path = tmp_path / "s.session.json"
    save_session(path, session)
    return load_session(path, model_id=session.model_id)


class Reference:
    """The obvious model of history: a list of (grid, locked) values and a cursor."""

    def __init__(self, codes: Codes):
        self.states = [(codes.indices.copy(), ())]
        self.cursor = 0

    def apply(self, step: tuple) -> bool:
        """Applies `step`; False where it is invalid (the session must raise and change nothing)."""
        grid, locked = self.states[self.cursor]
        kind = step[0]
        if kind == "set":
            q, f, c = step[1:]
            if not (0 <= q < 3 and 0 <= f < 16 and 0 <= c < K) or q in locked:
                return False
            new = grid.copy()
            new[q, f] = c
            self._push((new, locked))
        elif kind == "reverse":
            start, end = step[1:]
            if not 0 <= start < end <= 16:
                return False
            new = grid.copy()
            for q in range(3):
                if q not in locked:
                    new[q, start:end] = grid[q, start:end][::-1]
            self._push((new, locked))
        elif kind == "lock":
            self._push((grid, tuple(sorted(set(locked) ^ {step[1]}))))
        elif kind == "undo":
            if self.cursor == 0:
                return False
            self.cursor -= 1
        elif kind == "redo":
            if self.cursor == len(self.states) - 1:
                return False
            self.cursor += 1
        return True

    def _push(self, state) -> None:
        self.states = self.states[: self.cursor + 1] + [state]
        self.cursor += 1


@given(st.lists(steps, max_size=30))
@settings(max_examples=60, deadline=None)
def test_edit_undo_redo_sequences_match_reference(tmp_path_factory, script):
    tmp_path = tmp_path_factory.mktemp("s")
    session = Session.new(grid())
    ref = Reference(session.codes)
    for step in script:
        if ref.apply(step):
            session = apply_step(session, step, tmp_path)
        else:
            before = session
            with pytest.raises(InputError):
                apply_step(session, step, tmp_path)
            assert session is before  # immutable: a failed step cannot have changed anything
        grid_ref, locked_ref = ref.states[ref.cursor]
        np.testing.assert_array_equal(session.codes.indices, grid_ref)  # bit-identical
        assert session.present.locked_levels == locked_ref
        assert (session.n_past, session.n_future) == (ref.cursor, len(ref.states) - ref.cursor - 1)
        history = session.history()
        assert len(history) == len(ref.states)
        for state, (g, locked) in zip(history, ref.states):
            np.testing.assert_array_equal(state.codes.indices, g)
            assert state.locked_levels == locked


def test_history_shares_unchanged_arrays():
    session = Session.new(grid())
    session = session.push(session.present.with_sampling(temperature=0.7))
    assert session.history()[0].codes is session.history()[1].codes
    # pushing never copies the older history: the stack below is the very same object
    older = session.past
    session = session.edit(edits.set_code(session.codes, 0, 0, 3), "set")
    assert session.past.below is older


def test_undo_redo_many_steps_is_cheap_and_exact():
    session = Session.new(grid(frames=64))
    grids = [session.codes.indices]
    rng = np.random.default_rng(0)
    for i in range(2000):
        session = session.edit(edits.set_code(session.codes, int(rng.integers(3)), int(rng.integers(64)),
                                              int(rng.integers(K))), "set")
        grids.append(session.codes.indices)
    # history keeps what each step changed, not a grid per step
    node, cells = session.past, 0
    while node is not None:
        assert node.grid is None
        cells, node = cells + len(node.cells), node.below
    assert cells <= 2000
    for i in range(2000, 0, -1):
        np.testing.assert_array_equal(session.codes.indices, grids[i])
        session = session.undo()
    np.testing.assert_array_equal(session.codes.indices, grids[0])
    for i in range(1, 2001):
        session = session.redo()
        assert np.array_equal(session.codes.indices, grids[i])


def full_session() -> Session:
    session = Session.new(grid(), model_path="drums.distill")
    session = session.edit(edits.reverse_region(session.codes, 2, 9), "reverse 2 9")
    session = session.push(session.present.with_effects({"chain": [{"plugin": "ZamCompX2", "ratio": 4.0}]}))
    session = session.push(session.present.with_sampling(temperature=0.8, top_k=5, seed=7))
    session = session.push(replace(session.present.with_locked_levels([1]), op="lock 1"))
    session = session.edit(edits.set_code(session.codes, 0, 3, 7, locked_levels=(1,)), "set 0 3 7")
    session = session.undo()
    session = session.replace_present(loop=(1, 12), selection=Selection(2, 10, (0, 2)))
    return replace_clipboard(session, edits.copy_region(session.codes, 0, 4))


def replace_clipboard(session: Session, clip: np.ndarray) -> Session:
    return replace(session, clipboard=clip)


def test_save_load_round_trip_includes_history(tmp_path):
    session = full_session()
    path = save_session(default_session_path(tmp_path / "drums.distill"), session)
    assert path.name == "drums.distill.session.json"
    loaded = load_session(path, model_id="model-a")
    assert (loaded.n_past, loaded.n_future) == (session.n_past, session.n_future) == (4, 1)
    for a, b in zip(loaded.history(), session.history(), strict=True):
        np.testing.assert_array_equal(a.codes.indices, b.codes.indices)
        assert (a.loop, a.selection, a.locked_levels, a.effects, a.sampling, a.op) == \
            (b.loop, b.selection, b.locked_levels, b.effects, b.sampling, b.op)
    assert loaded.present.loop == (1, 12) and loaded.present.selection == Selection(2, 10, (0, 2))
    assert loaded.present.effects == {"chain": [{"plugin": "ZamCompX2", "ratio": 4.0}]}
    np.testing.assert_array_equal(loaded.clipboard, session.clipboard)
    assert loaded.model_path == "drums.distill"
    # undo and redo keep working after the restart, bit-identically
    np.testing.assert_array_equal(loaded.redo().codes.indices, session.redo().codes.indices)
    back = loaded.undo().undo().undo().undo()
    np.testing.assert_array_equal(back.codes.indices, grid().indices)
    with pytest.raises(SessionError, match="nothing to undo"):
        back.undo()


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "a.session.json"
    save_session(path, full_session())
    save_session(path, Session.new(grid(seed=5)))
    assert [p.name for p in tmp_path.iterdir()] == ["a.session.json"]
    np.testing.assert_array_equal(load_session(path).codes.indices, grid(seed=5).indices)


def test_session_of_another_model_is_refused(tmp_path):
    path = save_session(tmp_path / "s.json", full_session())
    with pytest.raises(SessionError, match="belongs to model 'model-a'.*'model-b'"):
        load_session(path, model_id="model-b")


@pytest.mark.parametrize("corrupt, message", [
    (lambda text: text[: len(text) // 2], "not readable as JSON"),
    (lambda text: "", "not readable as JSON"),
    (lambda text: "\x00\xff garbage", "not readable as JSON"),
    (lambda text: json.dumps({"format": "distill-codes"}), "not a Distill session file"),
    (lambda text: text.replace('"version":1', '"version":99'), "version 99 is not supported"),
    (lambda text: text.replace('"cursor":4', '"cursor":40'), "cursor 40"),
    (lambda text: text.replace('"states":[', '"states":[7,'), "corrupt session file"),
    (lambda text: text.replace('"codebook_size":8', '"codebook_size":2'), "codes must lie in"),
    (lambda text: text.replace('"locked_levels":[1]', '"locked_levels":[9]'), "locked level 9"),
    (lambda text: text.replace('"loop":[1,12]', '"loop":[12,1]'), "loop"),
    (lambda text: text.replace('"temperature":0.8', '"temperature":-1'), "temperature"),
])
def test_corrupt_session_file_is_refused_with_a_clear_error(tmp_path, corrupt, message):
    path = save_session(tmp_path / "s.json", full_session())
    text = path.read_text()
    damaged = corrupt(text)
    assert damaged != text
    path.write_text(damaged)
    with pytest.raises(SessionError, match=message) as info:
        load_session(path)
    assert str(path) in str(info.value)


def test_missing_session_file(tmp_path):
    with pytest.raises(SessionError, match="no such session file"):
        load_session(tmp_path / "nope.json")


def test_codes_of_another_model_cannot_enter_a_session():
    session = Session.new(grid())
    with pytest.raises(SessionError, match="model-b"):
        session.edit(grid(model_id="model-b"), "paste other")


def test_invalid_state_fields_are_refused():
    session = Session.new(grid())
    with pytest.raises(SessionError, match="selection"):
        session.replace_present(selection=Selection(4, 40))
    with pytest.raises(SessionError, match="top_p"):
        session.present.with_sampling(top_p=0.0)
    with pytest.raises(SessionError, match="unknown sampling"):
        session.present.with_sampling(beam=3)
    with pytest.raises(SessionError, match="JSON"):
        session.present.with_effects({"x": float("nan")})
