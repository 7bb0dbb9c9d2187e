"""Pure edits of a code grid: every function takes `Codes` and returns new `Codes`, so undo is
keeping the previous value (engine/edit/session.py).

Invariants every edit keeps (and tests check): the grid shape `[Q, F]`, codes in `[0, K)`, every
frame outside the edited region and every locked level bit-identical to the input. A bad argument
(level, frame or code out of range) raises `EditError` (an `InputError`) before anything is built,
so the caller's state never changes.

Regions are half-open frame ranges `[start_frame, end_frame)` in code frames. `levels` picks the
levels an edit may touch (default: all); `locked_levels` are never touched, whatever `levels` says.

Blend and morph work on *code vectors*: the per-level codebooks `[Q, K, d]` from
`Model.codebook_vectors()`. A frame's vector is the sum of its levels' code vectors (residual VQ);
re-quantizing is residual nearest-neighbour: nearest code of level 0, subtract its vector, nearest
code of level 1 to the rest, and so on, where a fixed (locked or unselected) level keeps its code
and only its vector is subtracted.
"""
from __future__ import annotations

import weakref
from typing import Any, Iterable, Sequence

import numpy as np

from engine.codes import Codes
from engine.errors import InputError


class EditError(InputError):
    """An edit that cannot be applied; the message names the argument and the valid range."""


# ---------------------------------------------------------------- argument checks

def check_level(codes: Codes, level: int, name: str = "level") -> int:
    if not _is_int(level) or not 0 <= level < codes.levels:
        raise EditError(f"{name} {level!r} is out of range: this grid has levels 0..{codes.levels - 1}")
    return int(level)


def check_frame(codes: Codes, frame: int, name: str = "frame") -> int:
    if not _is_int(frame) or not 0 <= frame < codes.n_frames:
        raise EditError(f"{name} {frame!r} is out of range: this grid has frames 0..{codes.n_frames - 1}")
    return int(frame)


def check_code(codes: Codes, code: int, name: str = "code") -> int:
    if not _is_int(code) or not 0 <= code < codes.codebook_size:
        raise EditError(f"{name} {code!r} is out of range: codes are 0..{codes.codebook_size - 1}")
    return int(code)


def check_region(codes: Codes, start_frame: int, end_frame: int) -> tuple[int, int]:
    """Validates a half-open region `[start_frame, end_frame)` holding at least one frame."""
    if not _is_int(start_frame) or not _is_int(end_frame):
        raise EditError(f"region frames must be integers, got {start_frame!r}..{end_frame!r}")
    if not 0 <= start_frame < end_frame <= codes.n_frames:
        raise EditError(f"region [{start_frame}, {end_frame}) is out of range: need "
                        f"0 <= start_frame < end_frame <= {codes.n_frames}")
    return int(start_frame), int(end_frame)


def check_levels(codes: Codes, levels: Iterable[int] | None, name: str = "levels") -> tuple[int, ...]:
    if levels is None:
        return tuple(range(codes.levels))
    return tuple(sorted({check_level(codes, q, name) for q in levels}))


def editable_levels(codes: Codes, levels: Iterable[int] | None, locked_levels: Iterable[int]) -> tuple[int, ...]:
    """The levels an edit may change: the chosen ones minus the locked ones."""
    locked = set(check_levels(codes, locked_levels, "locked level"))
    return tuple(q for q in check_levels(codes, levels) if q not in locked)


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _writable(codes: Codes) -> np.ndarray:
    return codes.indices.copy()  # [Q, F]


# ---------------------------------------------------------------- grid edits

def set_code(codes: Codes, level: int, frame: int, code: int, locked_levels: Iterable[int] = ()) -> Codes:
    """One cell `[level, frame]` becomes `code`. Editing a locked level is an error."""
    level, frame, code = check_level(codes, level), check_frame(codes, frame), check_code(codes, code)
    if level in check_levels(codes, locked_levels, "locked level"):
        raise EditError(f"level {level} is locked: unlock it before editing it")
    out = _writable(codes)
    out[level, frame] = code
    return codes.with_indices(out)


def swap_codes(codes: Codes, code_a: int, code_b: int, start_frame: int, end_frame: int,
               levels: Iterable[int] | None = None, locked_levels: Iterable[int] = ()) -> Codes:
    """Within the region, every `code_a` becomes `code_b` and every `code_b` becomes `code_a`."""
    code_a, code_b = check_code(codes, code_a, "code_a"), check_code(codes, code_b, "code_b")
    start, end = check_region(codes, start_frame, end_frame)
    out = _writable(codes)
    for q in editable_levels(codes, levels, locked_levels):
        row = codes.indices[q, start:end]
        out[q, start:end] = np.where(row == code_a, code_b, np.where(row == code_b, code_a, row))
    return codes.with_indices(out)


def copy_region(codes: Codes, start_frame: int, end_frame: int, levels: Iterable[int] | None = None) -> np.ndarray:
    """The region's codes (all levels, or the given contiguous ones) as a new array: a clipboard.
    # [len(levels), end - start]"""
    start, end = check_region(codes, start_frame, end_frame)
    chosen = check_levels(codes, levels)
    if list(chosen) != list(range(chosen[0], chosen[-1] + 1)):
        raise EditError(f"copied levels must be contiguous, got {list(chosen)}")
    clip = codes.indices[chosen[0]:chosen[-1] + 1, start:end].copy()
    clip.setflags(write=False)
    return clip


def paste(codes: Codes, clip: np.ndarray, at_frame: int, at_level: int = 0, levels: Iterable[int] | None = None,
          locked_levels: Iterable[int] = ()) -> Codes:
    """Overwrites the grid from `[at_level, at_frame]` with `clip [L, n]`; rows and frames that run
    past the grid's last level or frame are cut."""
    at = check_frame(codes, at_frame, "at_frame")
    top = check_level(codes, at_level, "at_level")
    clip = np.asarray(clip)
    if clip.ndim != 2 or not 1 <= clip.shape[0] <= codes.levels or clip.shape[1] == 0:
        raise EditError(f"clip must have shape [1..{codes.levels} levels, n >= 1 frames], got {list(clip.shape)}")
    if not np.issubdtype(clip.dtype, np.integer) or clip.min() < 0 or clip.max() >= codes.codebook_size:
        raise EditError(f"clip codes must be integers in 0..{codes.codebook_size - 1}")
    n = min(clip.shape[1], codes.n_frames - at)
    out = _writable(codes)
    for q in editable_levels(codes, levels, locked_levels):
        if top <= q < top + clip.shape[0]:
            out[q, at:at + n] = clip[q - top, :n]
    return codes.with_indices(out)


def duplicate_region(codes: Codes, start_frame: int, end_frame: int, levels: Iterable[int] | None = None,
                     locked_levels: Iterable[int] = ()) -> Codes:
    """Copies the region right after itself, overwriting (the grid keeps its length). A region that
    ends at the last frame has no room after it and is an error."""
    start, end = check_region(codes, start_frame, end_frame)
    if end >= codes.n_frames:
        raise EditError(f"region [{start}, {end}) ends at the grid's end: nothing after it to duplicate into")
    return paste(codes, codes.indices[:, start:end], end, 0, levels, locked_levels)


def reverse_region(codes: Codes, start_frame: int, end_frame: int, levels: Iterable[int] | None = None,
                   locked_levels: Iterable[int] = ()) -> Codes:
    """Plays the region backwards (frame order reversed)."""
    start, end = check_region(codes, start_frame, end_frame)
    out = _writable(codes)
    for q in editable_levels(codes, levels, locked_levels):
        out[q, start:end] = codes.indices[q, start:end][::-1]
    return codes.with_indices(out)


def shift_region(codes: Codes, start_frame: int, end_frame: int, offset_frames: int,
                 levels: Iterable[int] | None = None, locked_levels: Iterable[int] = ()) -> Codes:
    """Rotates the region's frames by `offset_frames` (positive: later; what leaves one end comes in
    at the other), so nothing outside the region moves."""
    start, end = check_region(codes, start_frame, end_frame)
    if not _is_int(offset_frames):
        raise EditError(f"offset_frames must be an integer, got {offset_frames!r}")
    out = _writable(codes)
    for q in editable_levels(codes, levels, locked_levels):
        out[q, start:end] = np.roll(codes.indices[q, start:end], int(offset_frames))
    return codes.with_indices(out)


def fill_region(codes: Codes, level: int, code: int, start_frame: int, end_frame: int,
                locked_levels: Iterable[int] = ()) -> Codes:
    """Holds one code at one level over the region (the basis of auditioning a single code)."""
    level, code = check_level(codes, level), check_code(codes, code)
    start, end = check_region(codes, start_frame, end_frame)
    if level in check_levels(codes, locked_levels, "locked level"):
        raise EditError(f"level {level} is locked: unlock it before editing it")
    out = _writable(codes)
    out[level, start:end] = code
    return codes.with_indices(out)


def fill(codes: Codes, code: int, start_frame: int, end_frame: int, levels: Iterable[int] | None = None,
         locked_levels: Iterable[int] = ()) -> Codes:
    """Every cell of the region (the chosen levels, default all) becomes `code`; locked levels keep
    theirs, so unlike `fill_region` a region that spans a locked level is not an error."""
    code = check_code(codes, code)
    start, end = check_region(codes, start_frame, end_frame)
    out = _writable(codes)
    for q in editable_levels(codes, levels, locked_levels):
        out[q, start:end] = code
    return codes.with_indices(out)


# ---------------------------------------------------------------- code vectors

def check_codebooks(codes: Codes, codebooks: np.ndarray) -> np.ndarray:
    """Validates per-level codebooks against the grid. # [Q, K, d] float"""
    books = np.asarray(codebooks)
    if books.ndim != 3 or books.shape[:2] != (codes.levels, codes.codebook_size):
        raise EditError(f"codebooks must have shape [{codes.levels}, {codes.codebook_size}, d], "
                        f"got {list(books.shape)}")
    return books.astype(np.float64)


def code_vectors(indices: np.ndarray, codebooks: np.ndarray) -> np.ndarray:
    """Summed code vectors per frame. # indices [Q, F], codebooks [Q, K, d] -> [F, d]"""
    level = np.arange(indices.shape[0])[:, None]  # [Q, 1]
    return codebooks[level, indices].sum(axis=0)  # [Q, F, d] -> [F, d]


def requantize(vectors: np.ndarray, codebooks: np.ndarray, fixed: dict[int, np.ndarray] | None = None,
               candidates: Sequence[np.ndarray] = ()) -> np.ndarray:
    """Residual nearest-neighbour quantization in codebook space.

    vectors [F, d], codebooks [Q, K, d] -> codes [Q, F] int64. `fixed` maps a level to its codes
    [F]: that level keeps them (its vectors are still subtracted, so later levels quantize the
    right residual). Greedy residual search is not exact (a trained RVQ's level 0 need not be the
    nearest level-0 code of the summed vector), so each frame then takes whichever of the greedy
    codes and the `candidates` grids [Q, F] (e.g. the blended inputs, with fixed levels put back)
    lies nearest to its vector: blending with weight 0 or 1 gives back exactly the input codes.
    """
    greedy = _greedy_requantize(vectors, codebooks, fixed or {})
    best = greedy
    best_err = _error(vectors, greedy, codebooks)  # [F]
    for cand in candidates:
        cand = np.array(cand, dtype=np.int64)
        for q, codes_q in (fixed or {}).items():
            cand[q] = codes_q
        err = _error(vectors, cand, codebooks)
        better = err < best_err - 1e-12
        best = np.where(better[None, :], cand, best)
        best_err = np.where(better, err, best_err)
    return best


def _error(vectors: np.ndarray, codes: np.ndarray, codebooks: np.ndarray) -> np.ndarray:
    return np.linalg.norm(vectors - code_vectors(codes, codebooks), axis=1)  # [F]


def _greedy_requantize(vectors: np.ndarray, codebooks: np.ndarray, fixed: dict[int, np.ndarray]) -> np.ndarray:
    residual = np.asarray(vectors, dtype=np.float64).copy()  # [F, d]
    out = np.empty((codebooks.shape[0], residual.shape[0]), dtype=np.int64)
    for q, book in enumerate(codebooks):  # book [K, d]
        if q in fixed:
            idx = np.asarray(fixed[q], dtype=np.int64)
        else:
            # |r - c|^2 = |r|^2 - 2 r.c + |c|^2; |r|^2 is the same for every c
            dist = (book ** 2).sum(axis=1)[None, :] - 2.0 * residual @ book.T  # [F, K]
            idx = dist.argmin(axis=1)
        out[q] = idx
        residual -= book[idx]
    return out


def _stretch(indices: np.ndarray, n_frames: int) -> np.ndarray:
    """Nearest-frame time stretch of a grid to `n_frames`. # [Q, F] -> [Q, n_frames]"""
    src = np.minimum((np.arange(n_frames) * indices.shape[1]) // n_frames, indices.shape[1] - 1)
    return indices[:, src]


def _blend_into(codes: Codes, other: Codes | np.ndarray, weights_other: np.ndarray, codebooks: np.ndarray,
                start: int, end: int, levels: Iterable[int] | None, locked_levels: Iterable[int]) -> Codes:
    if not isinstance(other, Codes):  # a clipboard [Q, n]
        other = Codes(np.asarray(other, dtype=np.int64), codes.codebook_size, codes.frame_rate_hz, codes.model_id)
    if other.levels != codes.levels or other.codebook_size != codes.codebook_size:
        raise EditError(f"the other clip has {other.levels} levels of {other.codebook_size} codes; "
                        f"this grid has {codes.levels} of {codes.codebook_size}")
    books = check_codebooks(codes, codebooks)
    own = codes.indices[:, start:end]  # [Q, n]
    theirs = _stretch(other.indices, end - start)  # [Q, n]
    w = weights_other[:, None]  # [n, 1]
    mixed = (1.0 - w) * code_vectors(own, books) + w * code_vectors(theirs, books)  # [n, d]
    editable = set(editable_levels(codes, levels, locked_levels))
    fixed = {q: own[q] for q in range(codes.levels) if q not in editable}
    out = _writable(codes)
    out[:, start:end] = requantize(mixed, books, fixed, candidates=(own, theirs))
    return codes.with_indices(out)


def blend(codes: Codes, other: Codes | np.ndarray, weight_other: float, codebooks: np.ndarray,
          start_frame: int = 0, end_frame: int | None = None, levels: Iterable[int] | None = None,
          locked_levels: Iterable[int] = ()) -> Codes:
    """Weighted average of code vectors, re-quantized level by level, over a region.

    `other` is stretched (nearest frame) to the region's length; `weight_other` in [0, 1] is its
    share (0 keeps the region as it is, 1 takes the other clip, re-quantized around fixed levels).
    """
    end_frame = codes.n_frames if end_frame is None else end_frame
    start, end = check_region(codes, start_frame, end_frame)
    if not isinstance(weight_other, (int, float, np.floating)) or not 0.0 <= float(weight_other) <= 1.0:
        raise EditError(f"blend weight must be a number in [0, 1], got {weight_other!r}")
    weights = np.full(end - start, float(weight_other))
    return _blend_into(codes, other, weights, codebooks, start, end, levels, locked_levels)


def morph(codes: Codes, other: Codes | np.ndarray, codebooks: np.ndarray, start_frame: int = 0,
          end_frame: int | None = None, levels: Iterable[int] | None = None,
          locked_levels: Iterable[int] = ()) -> Codes:
    """Morphs from this grid to `other` across the region: the other clip's share rises linearly
    from 0 at `start_frame` to 1 at `end_frame - 1` (code vectors interpolated, re-quantized)."""
    end_frame = codes.n_frames if end_frame is None else end_frame
    start, end = check_region(codes, start_frame, end_frame)
    weights = np.linspace(0.0, 1.0, end - start) if end - start > 1 else np.ones(1)
    return _blend_into(codes, other, weights, codebooks, start, end, levels, locked_levels)


# ---------------------------------------------------------------- model-backed edits

def regenerate(codes: Codes, prior: Any, start_frame: int, end_frame: int, sampling: Any = None,
               seed: int = 0, locked_levels: Sequence[int] = ()) -> Codes:
    """Re-samples the region with the prior (`engine.prior.network.Prior`), continuing the codes before it
    and joining the codes after it; locked levels stay. `sampling` is an `engine.prior.sampling.Sampling`
    (default settings when None).

    Delegates to `engine.prior.generate.regenerate_region` (the prior's owner implements sampling) and
    re-imposes the invariants here: shape, untouched frames and locked levels.
    """
    from engine.prior.generate import regenerate_region  # torch and the prior load only when used
    from engine.prior.sampling import Sampling

    start, end = check_region(codes, start_frame, end_frame)
    locked = check_levels(codes, locked_levels, "locked level")
    new = np.asarray(regenerate_region(prior, np.array(codes.indices), start, end,
                                       sampling=sampling if sampling is not None else Sampling(),
                                       seed=int(seed), locked_levels=locked), dtype=np.int64)
    if new.shape != codes.indices.shape:
        raise EditError(f"the prior returned a grid of shape {list(new.shape)} for {list(codes.indices.shape)}")
    out = _writable(codes)
    editable = [q for q in range(codes.levels) if q not in locked]
    out[editable, start:end] = new[editable, start:end]  # nothing else may change
    return codes.with_indices(out)


def encode_audio(model: Any, path: str) -> Codes:
    """A user's audio file as a code grid of `model` (read at the model's sample rate)."""
    from engine.signal.audio import load_audio

    cfg = model.config.audio
    return model.encode(load_audio(path, cfg.sample_rate, cfg.min_duration_s, cfg.max_file_duration_s))


# ---------------------------------------------------------------- audition

def held_code(codes: Codes, level: int, code: int, n_frames: int, at_frame: int = 0) -> Codes:
    """A grid that holds one code for `n_frames`, in context: every frame is the grid's column at
    `at_frame` with `level` set to `code` (a code alone, without the other levels, is not a sound
    the model ever made). # -> [Q, n_frames]"""
    level, code, at = check_level(codes, level), check_code(codes, code), check_frame(codes, at_frame, "at_frame")
    if not _is_int(n_frames) or not 1 <= n_frames <= MAX_AUDITION_FRAMES:
        raise EditError(f"frames to hold must be 1..{MAX_AUDITION_FRAMES}, got {n_frames!r}")
    column = np.array(codes.indices[:, at])
    column[level] = code
    return codes.with_indices(np.repeat(column[:, None], int(n_frames), axis=1))


def render_region(model: Any, codes: Codes, start_frame: int | None = None, end_frame: int | None = None,
                  n_iter: int = 32) -> Any:
    """Audio of code frames [start_frame, end_frame) (default: the whole grid) for preview. The
    region is decoded with the decoder's receptive field of real context around it, then cut, so it
    sounds as it does inside the grid. Renders through the live decoder (`engine.live.decoder`, ONNX +
    PGHI) when the model has its ONNX graph, else through `Model.render` (Griffin-Lim, `n_iter`).
    -> Audio"""
    from engine.signal.audio import Audio

    start, end = check_region(codes, 0 if start_frame is None else start_frame,
                              codes.n_frames if end_frame is None else end_frame)
    pad = int(model.codec.decoder_receptive_field_frames)
    lo, hi = max(0, start - pad), min(codes.n_frames, end + pad)
    window = codes.with_indices(codes.indices[:, lo:hi])
    decoder = live_decoder(model)
    samples = decoder.render(window) if decoder is not None else model.render(window, n_iter=n_iter).samples
    samples_per_frame = model.config.codec.time_stride * model.config.audio.hop_length
    cut = np.zeros((end - start) * samples_per_frame, dtype=np.float32)  # the render may be a hop short
    part = samples[(start - lo) * samples_per_frame:(end - lo) * samples_per_frame]
    cut[:len(part)] = part
    return Audio(cut, model.config.audio.sample_rate, "audition")


_LIVE_DECODERS: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()


def live_decoder(model: Any) -> Any:
    """The model's torch-free live decoder (cached per model), or None when the model has no ONNX
    graph (then audition falls back to the torch decoder)."""
    if model not in _LIVE_DECODERS:
        try:
            from engine.live.decoder import LiveDecoder, LiveDecoderError
        except ImportError:  # the live path is optional for editing
            return None
        try:
            _LIVE_DECODERS[model] = LiveDecoder(model.bundle)
        except LiveDecoderError:
            _LIVE_DECODERS[model] = None
    return _LIVE_DECODERS[model]


MAX_AUDITION_FRAMES = 4096
