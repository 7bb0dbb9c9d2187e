"""Edit invariants: shape, code range, untouched regions and locked levels identical; bad edits raise
before building anything."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.codes import Codes
from engine.edit import ops as edits
from engine.edit.ops import EditError
from engine.errors import InputError

K = 8


def grid(levels: int = 3, frames: int = 20, seed: int = 0, k: int = K) -> Codes:
    rng = np.random.default_rng(seed)
    return Codes(rng.integers(0, k, (levels, frames)), k, 46.875, "m1")


@st.composite
def grids_and_regions(draw):
    q = draw(st.integers(1, 4))
    f = draw(st.integers(2, 40))
    seed = draw(st.integers(0, 2**16))
    start = draw(st.integers(0, f - 1))
    end = draw(st.integers(start + 1, f))
    locked = tuple(sorted(draw(st.sets(st.integers(0, q - 1), max_size=q))))
    return grid(q, f, seed), start, end, locked


def assert_invariants(before: Codes, after: Codes, start: int, end: int, locked=()) -> None:
    assert after.indices.shape == before.indices.shape
    assert after.indices.dtype == np.int64
    assert after.indices.min() >= 0 and after.indices.max() < before.codebook_size
    assert after.model_id == before.model_id and after.codebook_size == before.codebook_size
    np.testing.assert_array_equal(after.indices[:, :start], before.indices[:, :start])
    np.testing.assert_array_equal(after.indices[:, end:], before.indices[:, end:])
    for q in locked:
        np.testing.assert_array_equal(after.indices[q], before.indices[q])


def test_set_code_changes_one_cell_only():
    c = grid()
    new_code = (int(c.indices[1, 5]) + 1) % K
    out = edits.set_code(c, 1, 5, new_code)
    assert out.indices[1, 5] == new_code
    changed = np.argwhere(out.indices != c.indices)
    assert changed.tolist() == [[1, 5]]
    assert c.indices[1, 5] != new_code  # the input grid never changes


@pytest.mark.parametrize("args, word", [
    ((3, 0, 0), "level 3"), ((-1, 0, 0), "level -1"), ((0, 20, 0), "frame 20"),
    ((0, -1, 0), "frame -1"), ((0, 0, K), f"code {K}"), ((0, 0, -1), "code -1"), ((0, 0, 1.5), "code 1.5"),
])
def test_set_code_out_of_range_raises_input_error(args, word):
    c = grid()
    before = c.indices.copy()
    with pytest.raises(InputError, match=word):
        edits.set_code(c, *args)
    np.testing.assert_array_equal(c.indices, before)


def test_set_code_on_locked_level_is_refused():
    with pytest.raises(EditError, match="level 2 is locked"):
        edits.set_code(grid(), 2, 0, 1, locked_levels=(2,))


@given(grids_and_regions(), st.integers(0, K - 1), st.integers(0, K - 1))
@settings(max_examples=60, deadline=None)
def test_swap_codes(case, a, b):
    c, start, end, locked = case
    out = edits.swap_codes(c, a, b, start, end, locked_levels=locked)
    assert_invariants(c, out, start, end, locked)
    for q in set(range(c.levels)) - set(locked):
        region, new = c.indices[q, start:end], out.indices[q, start:end]
        np.testing.assert_array_equal(new[region == a], b)
        np.testing.assert_array_equal(new[region == b], a)
        other = (region != a) & (region != b)
        np.testing.assert_array_equal(new[other], region[other])
    # swapping twice is the identity
    np.testing.assert_array_equal(edits.swap_codes(out, a, b, start, end, locked_levels=locked).indices, c.indices)


@given(grids_and_regions())
@settings(max_examples=60, deadline=None)
def test_reverse_region(case):
    c, start, end, locked = case
    out = edits.reverse_region(c, start, end, locked_levels=locked)
    assert_invariants(c, out, start, end, locked)
    for q in set(range(c.levels)) - set(locked):
        np.testing.assert_array_equal(out.indices[q, start:end], c.indices[q, start:end][::-1])
    np.testing.assert_array_equal(edits.reverse_region(out, start, end, locked_levels=locked).indices, c.indices)


@given(grids_and_regions(), st.integers(-50, 50))
@settings(max_examples=60, deadline=None)
def test_shift_region_rotates_inside_the_region(case, offset):
    c, start, end, locked = case
    out = edits.shift_region(c, start, end, offset, locked_levels=locked)
    assert_invariants(c, out, start, end, locked)
    back = edits.shift_region(out, start, end, -offset, locked_levels=locked)
    np.testing.assert_array_equal(back.indices, c.indices)
    for q in set(range(c.levels)) - set(locked):
        assert sorted(out.indices[q, start:end]) == sorted(c.indices[q, start:end])


@given(grids_and_regions(), st.data())
@settings(max_examples=60, deadline=None)
def test_copy_paste(case, data):
    c, start, end, locked = case
    clip = edits.copy_region(c, start, end)
    assert clip.shape == (c.levels, end - start)
    at = data.draw(st.integers(0, c.n_frames - 1))
    out = edits.paste(c, clip, at, locked_levels=locked)
    n = min(end - start, c.n_frames - at)
    assert_invariants(c, out, at, at + n, locked)
    for q in set(range(c.levels)) - set(locked):
        np.testing.assert_array_equal(out.indices[q, at:at + n], clip[q, :n])


@given(grids_and_regions())
@settings(max_examples=60, deadline=None)
def test_duplicate_region(case):
    c, start, end, locked = case
    if end == c.n_frames:
        with pytest.raises(EditError, match="grid's end"):
            edits.duplicate_region(c, start, end, locked_levels=locked)
        return
    out = edits.duplicate_region(c, start, end, locked_levels=locked)
    n = min(end - start, c.n_frames - end)
    assert_invariants(c, out, end, end + n, locked)
    for q in set(range(c.levels)) - set(locked):
        np.testing.assert_array_equal(out.indices[q, end:end + n], c.indices[q, start:start + n])


def test_copy_paste_of_some_levels_at_another_level():
    c = grid(3, 12)
    clip = edits.copy_region(c, 2, 6, levels=(0, 1))
    assert clip.shape == (2, 4)
    out = edits.paste(c, clip, 8, at_level=1)  # rows 0, 1 -> levels 1, 2; frames 8..11
    np.testing.assert_array_equal(out.indices[0], c.indices[0])
    np.testing.assert_array_equal(out.indices[1:, 8:12], c.indices[0:2, 2:6])
    out = edits.paste(c, clip, 10, at_level=2)  # cut at the last level and the last frame
    np.testing.assert_array_equal(out.indices[2, 10:12], c.indices[0, 2:4])
    np.testing.assert_array_equal(out.indices[:2], c.indices[:2])
    with pytest.raises(EditError, match="contiguous"):
        edits.copy_region(c, 0, 3, levels=(0, 2))


def test_level_selection_limits_region_edits():
    c = grid(3, 12)
    out = edits.reverse_region(c, 2, 9, levels=(1,))
    np.testing.assert_array_equal(out.indices[[0, 2]], c.indices[[0, 2]])
    np.testing.assert_array_equal(out.indices[1, 2:9], c.indices[1, 2:9][::-1])


@given(grids_and_regions(), st.integers(0, K - 1), st.data())
@settings(max_examples=60, deadline=None)
def test_fill_sets_every_editable_cell_of_the_region(case, code, data):
    c, start, end, locked = case
    levels = tuple(sorted(data.draw(st.sets(st.integers(0, c.levels - 1), min_size=1))))
    out = edits.fill(c, code, start, end, levels, locked)
    assert_invariants(c, out, start, end, locked)
    for q in range(c.levels):
        if q in levels and q not in locked:
            assert (out.indices[q, start:end] == code).all()
        else:  # unselected or locked: untouched
            np.testing.assert_array_equal(out.indices[q], c.indices[q])


def test_fill_is_one_value_and_keeps_the_input():
    c = grid(3, 12)
    before = c.indices.copy()
    out = edits.fill(c, 5, 2, 6, locked_levels=(1,))
    assert (out.indices[[0, 2], 2:6] == 5).all()
    np.testing.assert_array_equal(out.indices[1], before[1])
    np.testing.assert_array_equal(c.indices, before)  # pure: the input grid never changes


@pytest.mark.parametrize("call", [
    lambda c: edits.reverse_region(c, 5, 5),
    lambda c: edits.reverse_region(c, -1, 3),
    lambda c: edits.reverse_region(c, 0, 21),
    lambda c: edits.swap_codes(c, 0, K, 0, 4),
    lambda c: edits.shift_region(c, 0, 4, 1.5),
    lambda c: edits.paste(c, np.zeros((4, 3), np.int64), 0),
    lambda c: edits.paste(c, np.zeros((1, 3), np.int64), 0, at_level=3),
    lambda c: edits.paste(c, np.full((3, 3), K), 0),
    lambda c: edits.paste(c, np.zeros((3, 3), np.int64), 20),
    lambda c: edits.reverse_region(c, 0, 4, locked_levels=(3,)),
    lambda c: edits.fill_region(c, 0, 1, 0, 4, locked_levels=(0,)),
    lambda c: edits.fill(c, K, 0, 4),
    lambda c: edits.fill(c, -1, 0, 4),
    lambda c: edits.fill(c, 1, 4, 4),
    lambda c: edits.fill(c, 1, 0, 21),
    lambda c: edits.fill(c, 1, 0, 4, levels=(3,)),
])
def test_invalid_region_edits_raise(call):
    c = grid()
    before = c.indices.copy()
    with pytest.raises(InputError):
        call(c)
    np.testing.assert_array_equal(c.indices, before)


# ---------------------------------------------------------------- code vectors

def codebooks(levels: int = 3, k: int = K, d: int = 4, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(levels, k, d)) / np.arange(1, levels + 1)[:, None, None]  # finer levels smaller


def test_requantize_of_exact_code_vectors_is_identity():
    c = grid()
    separated = codebooks() / np.array([1.0, 10.0, 100.0])[:, None, None]  # greedy is exact here
    np.testing.assert_array_equal(edits.requantize(edits.code_vectors(c.indices, separated), separated), c.indices)
    books = codebooks()  # overlapping levels: greedy alone is not exact, a candidate grid makes it so
    vectors = edits.code_vectors(c.indices, books)
    assert (edits.requantize(vectors, books) != c.indices).any()
    np.testing.assert_array_equal(edits.requantize(vectors, books, candidates=[c.indices]), c.indices)


def test_requantize_is_residual_nearest_neighbour():
    books = codebooks()
    rng = np.random.default_rng(3)
    v = rng.normal(size=(10, 4))
    out = edits.requantize(v, books)
    residual = v.copy()
    for q in range(3):
        expected = np.linalg.norm(residual[:, None] - books[q][None], axis=-1).argmin(axis=1)
        np.testing.assert_array_equal(out[q], expected)
        residual -= books[q][expected]


def test_requantize_keeps_fixed_levels():
    books = codebooks()
    rng = np.random.default_rng(4)
    fixed = rng.integers(0, K, 10)
    out = edits.requantize(rng.normal(size=(10, 4)), books, fixed={1: fixed})
    np.testing.assert_array_equal(out[1], fixed)


@given(grids_and_regions(), st.floats(0.0, 1.0, allow_subnormal=False), st.integers(0, 2**16))
@settings(max_examples=40, deadline=None)
def test_blend_invariants_and_endpoints(case, weight, seed):
    c, start, end, locked = case
    books = codebooks(c.levels)
    other = grid(c.levels, 7, seed)
    out = edits.blend(c, other, weight, books, start, end, locked_levels=locked)
    assert_invariants(c, out, start, end, locked)
    if not locked:
        # weight 0 re-quantizes the region's own vectors: the same codes
        np.testing.assert_array_equal(edits.blend(c, other, 0.0, books, start, end).indices, c.indices)
        # weight 1 takes the other clip (stretched to the region)
        full = edits.blend(c, other, 1.0, books, start, end).indices[:, start:end]
        np.testing.assert_array_equal(full, edits._stretch(other.indices, end - start))


def test_blend_halfway_lands_between():
    books = codebooks(1, 16, 1)  # one level, scalar codebook: 'between' is plain arithmetic
    books = np.sort(books, axis=1)
    a = Codes(np.zeros((1, 4), np.int64), 16, 46.875, "m1")
    b = Codes(np.full((1, 4), 15, np.int64), 16, 46.875, "m1")
    mid = edits.blend(a, b, 0.5, books).indices
    target = (books[0, 0, 0] + books[0, 15, 0]) / 2
    nearest = int(np.abs(books[0, :, 0] - target).argmin())
    np.testing.assert_array_equal(mid, nearest)


def test_morph_moves_from_one_clip_to_the_other():
    books = codebooks()
    a, b = grid(3, 30, 1), grid(3, 30, 2)
    out = edits.morph(a, b, books)
    assert_invariants(a, out, 0, 30)
    np.testing.assert_array_equal(out.indices[:, 0], a.indices[:, 0])
    np.testing.assert_array_equal(out.indices[:, -1], b.indices[:, -1])
    # along time, the result gets closer to b in code-vector space
    va, vb, vo = (edits.code_vectors(x.indices, books) for x in (a, b, out))
    to_b = np.linalg.norm(vo - vb, axis=1) - np.linalg.norm(vo - va, axis=1)
    assert to_b[:10].mean() > 0 > to_b[-10:].mean()


def test_blend_rejects_mismatched_inputs():
    c = grid()
    with pytest.raises(EditError, match="codebooks"):
        edits.blend(c, grid(), 0.5, codebooks(2))
    with pytest.raises(EditError, match="levels"):
        edits.blend(c, grid(2), 0.5, codebooks())
    with pytest.raises(EditError, match="weight"):
        edits.blend(c, grid(), 1.5, codebooks())
