"""Perceptual moves on a region: brighter, darker, louder, softer, noisier, tonal (more tonal),
punchier, smoother.

Each move names one descriptor and a direction (`MOVES`). It changes one level only, so the other
levels keep their structure: candidate grids step every frame's code of a level some ranks along the
level's descriptor ordering (the code labels, `engine.edit.labels`), for each editable level and a few
step sizes. With `verify` (the default) every candidate region is decoded (a window of the region
plus the decoder's receptive field: milliseconds) and its descriptor measured; the move keeps the
candidate whose change in the named direction is nearest `amount` times the largest one found, so
`amount=1` is the strongest move the codes allow and a move never goes the wrong way when any
candidate goes the right one. Without `verify` the move trusts the labels alone (the ablation
`evaluate_moves(..., verify=False)` reports).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from engine import facts
from engine.codes import Codes
from engine.edit.descriptors import DESCRIPTORS, batch_region_descriptors, region_descriptors
from engine.edit.labels import compute_labels, decode_windows, descriptor_table, model_labels, pad_frames
from engine.edit.ops import EditError, check_region, code_vectors, editable_levels, requantize
from engine.errors import InputError
from engine.signal.audio import Audio

# move name -> (descriptor, direction), from the one list of moves (engine/facts.py says why each)
MOVES = {name: (descriptor, direction) for name, (descriptor, direction, _) in facts.MOVES.items()}
# The smallest change that counts as a move (and as a success in evaluation), absolute plus a share
# of the value before: below it a "change" is float noise of the decoder, not something anyone could
# hear or measure twice. Ratios (flatness, flux) span decades between sounds, so theirs is relative.
MIN_CHANGE = {"centroid_hz": (1.0, 0.0), "rms_db": (0.05, 0.0), "bandwidth_hz": (1.0, 0.0),
              "flatness": (1e-8, 0.01), "onset_strength": (1e-7, 0.01), "pitch_salience": (1e-4, 0.0),
              "spectral_flux": (1e-7, 0.01)}


def min_change(descriptor: str, before: float) -> float:
    absolute, relative = MIN_CHANGE[descriptor]
    return absolute + relative * abs(before)
STEP_SHARES = (0.125, 0.25, 0.5, 1.0)  # rank steps tried, as shares of the codebook size
SMOOTH_WIDTHS = (3, 5, 9)  # frames of the box filters "smoother" tries
ORDERING_PROXY = {"spectral_flux": "onset_strength"}  # for labels made before spectral_flux existed
# Evaluation skips regions more than SILENT_BELOW_PEAK_DB under their clip's loudest frame (or
# under SILENT_DB): a move on silence means nothing.
SILENT_BELOW_PEAK_DB = 40.0
SILENT_DB = -90.0


@dataclass(frozen=True)
class MoveResult:
    codes: Codes  # the new grid (the input grid when nothing moved the right way)
    move: str
    level: int | None  # the level changed, None when unchanged
    before: float  # the named descriptor over the region, before and after (decoded)
    after: float
    moved: bool  # True when the descriptor changed in the named direction


def check_move(name: str) -> tuple[str, int]:
    if name not in MOVES:
        raise InputError(f"unknown move {name!r}; moves are {', '.join(MOVES)}")
    return MOVES[name]


def candidates(codes: Codes, table: np.ndarray, descriptor: str, direction: int, start: int, end: int,
               levels: Sequence[int], shares: Sequence[float] = STEP_SHARES) -> list[tuple[int, np.ndarray]]:
    """Candidate grids: per level and step, each region frame's code moved `step` ranks along the
    level's ordering by `direction * descriptor`. -> [(level, indices [Q, F])]"""
    d = DESCRIPTORS.index(descriptor)
    if np.isnan(table[..., d]).any():  # labels older than this descriptor: order by its nearest kin
        d = DESCRIPTORS.index(ORDERING_PROXY.get(descriptor, descriptor))
    k = codes.codebook_size
    out = []
    for q in levels:
        order = np.argsort(direction * table[q, :, d], kind="stable")  # rank -> code, ascending
        rank = np.empty(k, dtype=np.int64)
        rank[order] = np.arange(k)  # code -> rank
        seen = set()
        for share in shares:
            step = max(1, int(round(share * k)))
            if step in seen:
                continue
            seen.add(step)
            grid = np.array(codes.indices)
            grid[q, start:end] = order[np.minimum(rank[codes.indices[q, start:end]] + step, k - 1)]
            if not np.array_equal(grid, codes.indices):
                out.append((q, grid))
    return out


def smoothing_candidates(codes: Codes, codebooks: np.ndarray, start: int, end: int, levels: Sequence[int],
                         widths: Sequence[int] = SMOOTH_WIDTHS) -> list[tuple[int, np.ndarray]]:
    """Candidates that even out a level over time (what "smoother" needs: less frame-to-frame
    change, which no per-code ordering gives): the level's code vectors box-filtered along time
    (neighbours outside the region count, so the way in is eased too) and re-quantized with the
    other levels fixed, and the level held at the code just before the region. -> [(level, [Q, F])]"""
    books = np.asarray(codebooks, dtype=np.float64)
    grid = codes.indices
    total = code_vectors(grid, books)  # [F, d]
    out = []
    for q in levels:
        own = books[q][grid[q]]  # [F, d]
        fixed = {j: grid[j, start:end] for j in range(codes.levels) if j != q}
        for width in widths:
            half = width // 2
            lo, hi = max(0, start - half), min(codes.n_frames, end + half)
            padded = own[lo:hi]
            kernel = np.ones(width) / width
            smooth = np.stack([np.convolve(np.pad(padded[:, i], half, mode="edge"), kernel, "valid")
                               for i in range(padded.shape[1])], axis=1)[start - lo: end - lo]  # [n, d]
            target = total[start:end] - own[start:end] + smooth
            new = np.array(grid)
            new[:, start:end] = requantize(target, books, fixed)
            if not np.array_equal(new, grid):
                out.append((q, new))
        new = np.array(grid)
        new[q, start:end] = grid[q, max(start - 1, 0)]
        if not np.array_equal(new, grid):
            out.append((q, new))
    return out


def bridge_candidates(codes: Codes, codebooks: np.ndarray, start: int, end: int,
                      levels: Sequence[int]) -> list[tuple[int | None, np.ndarray]]:
    """Candidates that change every editable level together: the region's summed vectors replaced by
    a straight line from the frame before it to the frame after it, by that line blended half-way
    with the original, or held at the frame before, then re-quantized with locked levels fixed.
    -> [(None, [Q, F])] (None: several levels)"""
    books = np.asarray(codebooks, dtype=np.float64)
    grid = codes.indices
    total = code_vectors(grid, books)  # [F, d]
    left, right = total[max(start - 1, 0)], total[min(end, codes.n_frames - 1)]
    t = np.linspace(0.0, 1.0, end - start + 2)[1:-1, None]  # [n, 1]
    line = (1 - t) * left + t * right
    fixed = {j: grid[j, start:end] for j in range(codes.levels) if j not in levels}
    out = []
    for target in (line, 0.5 * (line + total[start:end]), np.repeat(left[None], end - start, axis=0)):
        new = np.array(grid)
        new[:, start:end] = requantize(target, books, fixed)
        if not np.array_equal(new, grid):
            out.append((None, new))
    return out


def measure(model: Any, grids: Sequence[np.ndarray], descriptor: str, start: int, end: int) -> np.ndarray:
    """The descriptor over code frames [start, end) of each decoded grid, decoding only the region and
    the decoder's receptive field around it. # grids [N] of [Q, F] -> [N]"""
    pad, stride = pad_frames(model), model.config.codec.time_stride
    lo, hi = max(0, start - pad), min(grids[0].shape[1], end + pad)
    mels = decode_windows(model, np.stack([g[:, lo:hi] for g in grids]))
    a, b = (start - lo) * stride, (end - lo) * stride
    return batch_region_descriptors(mels, model.config.audio, a, b)[descriptor]


def apply_move(model: Any, codes: Codes, move: str, start_frame: int, end_frame: int, amount: float = 1.0,
               levels: Iterable[int] | None = None, locked_levels: Iterable[int] = (),
               labels: dict | None = None, verify: bool = True) -> MoveResult:
    """Applies a perceptual move to code frames [start_frame, end_frame) (module docstring)."""
    descriptor, direction = check_move(move)
    start, end = check_region(codes, start_frame, end_frame)
    if not isinstance(amount, (int, float)) or isinstance(amount, bool) or not 0.0 <= amount <= 1.0:
        raise EditError(f"move amount must be a number in [0, 1], got {amount!r}")
    editable = editable_levels(codes, levels, locked_levels)
    labels = labels or model_labels(model)
    if labels is None:
        raise InputError("this model has no code labels: run `distill export MODEL` (or pass labels)")
    table = descriptor_table(labels)  # [Q, K, D]
    if table.shape[:2] != (codes.levels, codes.codebook_size):
        raise InputError("the labels do not match this grid's levels and codebook size")
    if not editable or amount == 0.0:
        value = float(measure(model, [codes.indices], descriptor, start, end)[0])
        return MoveResult(codes, move, None, value, value, False)
    if not verify:  # labels only: the level with the widest spread, a step sized by amount
        spread = table[list(editable), :, DESCRIPTORS.index(descriptor)].std(axis=1)
        level = editable[int(np.argmax(spread))]
        found = candidates(codes, table, descriptor, direction, start, end, [level], (0.5 * amount,))
        grids = [codes.indices] + [g for _, g in found]
        values = measure(model, grids, descriptor, start, end)
        if not found:
            return MoveResult(codes, move, None, float(values[0]), float(values[0]), False)
        moved = direction * (values[1] - values[0]) > min_change(descriptor, values[0])
        return MoveResult(codes.with_indices(found[0][1]), move, level, float(values[0]), float(values[1]), bool(moved))
    found = candidates(codes, table, descriptor, direction, start, end, editable)
    if descriptor in ("onset_strength", "spectral_flux") and direction < 0:
        books = model.codebook_vectors()
        found += smoothing_candidates(codes, books, start, end, editable)
        found += bridge_candidates(codes, books, start, end, editable)
    values = measure(model, [codes.indices] + [g for _, g in found], descriptor, start, end)
    gains = direction * (values[1:] - values[0])  # [N] change in the named direction
    floor = min_change(descriptor, values[0])
    if not found or gains.max() <= floor:  # the ordering failed in this context: try the other orderings
        found = hold_candidates(codes, start, end, editable)  # and every held code
        for other in DESCRIPTORS:
            for sign in (1, -1):
                if (other, sign) != (descriptor, direction) and not np.isnan(table[..., DESCRIPTORS.index(other)]).any():
                    found += candidates(codes, table, other, sign, start, end, editable)
        values = measure(model, [codes.indices] + [g for _, g in found], descriptor, start, end)
        gains = direction * (values[1:] - values[0])
    if not found or gains.max() <= floor:
        return MoveResult(codes, move, None, float(values[0]), float(values[0]), False)
    good = np.flatnonzero(gains > floor)
    pick = good[np.argmin(np.abs(gains[good] - amount * gains.max()))]
    level, grid = found[pick]
    return MoveResult(codes.with_indices(grid), move, level, float(values[0]), float(values[1 + pick]), True)


def hold_candidates(codes: Codes, start: int, end: int, levels: Sequence[int]) -> list[tuple[int, np.ndarray]]:
    """The fallback: one level holding one code over the region, for every level and code (Q x K
    windows to decode, so only when the ordered candidates all failed). -> [(level, [Q, F])]"""
    out = []
    for q in levels:
        for code in range(codes.codebook_size):
            grid = np.array(codes.indices)
            grid[q, start:end] = code
            if not np.array_equal(grid, codes.indices):
                out.append((q, grid))
    return out


def evaluate_moves(model: Any, audios: Sequence[Audio], n_regions: int = 100, seed: int = 0,
                   region_frames: tuple[int, int] = (4, 16), verify: bool = True,
                   labels: dict | None = None) -> dict:
    """Per move, the share of `n_regions` random non-silent regions of the encoded `audios` where the
    move changed its descriptor the named way (by more than `min_change`), measured on the full
    decode of the result.

    -> {"moves": {name: share}, "mean_change": {name: float}, "regions": n, "verify": bool}
    """
    rng = np.random.default_rng(seed)
    grids = [model.encode(a) for a in audios]
    if labels is None:
        labels = model_labels(model) or compute_labels(model, codes=grids, seed=seed)
    regions = _eval_regions(model, grids, n_regions, region_frames, rng)
    stride = model.config.codec.time_stride
    cfg = model.config.audio
    base_mels = [model.decode(g).values for g in grids]
    shares, changes = {}, {}
    for name, (descriptor, direction) in MOVES.items():
        ok, deltas = 0, []
        for i, start, end in regions:
            result = apply_move(model, grids[i], name, start, end, labels=labels, verify=verify)
            before = region_descriptors(base_mels[i], cfg, start * stride, end * stride)[descriptor]
            after = region_descriptors(model.decode(result.codes).values, cfg, start * stride, end * stride)[descriptor]
            ok += direction * (after - before) > min_change(descriptor, before)
            deltas.append(after - before)
        shares[name] = round(ok / max(len(regions), 1), 4)
        changes[name] = round(float(np.mean(deltas)), 6) if deltas else 0.0
    return {"moves": shares, "mean_change": changes, "regions": len(regions), "verify": verify}


def _eval_regions(model: Any, grids: Sequence[Codes], n: int, region_frames: tuple[int, int],
                  rng: np.random.Generator) -> list[tuple[int, int, int]]:
    """(clip, start, end) triples: random lengths in `region_frames`, not silent (SILENT_*)."""
    from engine.edit.descriptors import frame_descriptors

    stride = model.config.codec.time_stride
    mels = [model.decode(g).values for g in grids]
    floors = [max(SILENT_DB, frame_descriptors(m, model.config.audio)["rms_db"].max() - SILENT_BELOW_PEAK_DB)
              for m in mels]
    out, tries = [], 0
    while len(out) < n and tries < 50 * n:
        tries += 1
        i = int(rng.integers(len(grids)))
        f = grids[i].n_frames
        length = int(rng.integers(region_frames[0], region_frames[1] + 1))
        if f < length:
            continue
        start = int(rng.integers(0, f - length + 1))
        level = region_descriptors(mels[i], model.config.audio, start * stride, (start + length) * stride)["rms_db"]
        if level > floors[i]:
            out.append((i, start, start + length))
    if not out:
        raise InputError("no non-silent regions to evaluate moves on")
    return out
