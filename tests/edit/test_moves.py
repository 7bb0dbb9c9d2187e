"""Perceptual moves, regeneration and audition on a tiny real model: invariants (shape, range,
untouched frames, locked and unselected levels) and the named descriptor moving the named way."""
from __future__ import annotations

import numpy as np
import pytest
from tests.edit.test_edits_fixtures import trained_tiny

from engine.codec.model import Model
from engine.config import PriorConfig
from engine.edit import ops as edits
from engine.edit.descriptors import region_descriptors
from engine.edit.labels import compute_labels
from engine.edit.moves import MOVES, apply_move, evaluate_moves
from engine.errors import InputError



@pytest.fixture(scope="module")
def tiny(dev_sets):
    """A tiny codec trained for a second on every third file of dev-small-30 (drums: a spread of
    brightness and level), its sounds, their codes, labels, and regions with room for each move."""
    model, used = trained_tiny(str(dev_sets / "dev-small-30"), every=3)
    grids = [model.encode(a) for a in used]
    loud, attacks = top_regions(model, grids, "rms_db"), top_regions(model, grids, "spectral_flux")
    regions = {move: attacks if move == "smoother" else loud for move in MOVES}
    return model, used, grids, compute_labels(model, codes=grids), regions


def measured(model: Model, codes, descriptor: str, start: int, end: int) -> float:
    stride = model.config.codec.time_stride
    return region_descriptors(model.decode(codes).values, model.config.audio, start * stride, end * stride)[descriptor]


def top_regions(model, grids, key: str, length: int = 6, count: int = 5) -> list:
    """The `count` regions (of different clips where possible) with the highest mean frame `key`:
    loud ones for most moves, attacks for "smoother" (a steady region cannot get smoother, a silent
    one cannot get softer)."""
    from engine.edit.descriptors import frame_descriptors

    stride = model.config.codec.time_stride
    scored = []
    for i, codes in enumerate(grids):
        per_frame = frame_descriptors(model.decode(codes).values, model.config.audio)[key]
        best = max(range(codes.n_frames - length + 1),
                   key=lambda s: per_frame[s * stride:(s + length) * stride].mean())
        scored.append((per_frame[best * stride:(best + length) * stride].mean(), i, best))
    return [(grids[i], s, s + length) for _, i, s in sorted(scored, reverse=True)[:count]]


@pytest.mark.parametrize("move", list(MOVES))
def test_each_move_goes_its_way_and_keeps_invariants(tiny, move):
    model, _, grids, labels, regions = tiny
    descriptor, direction = MOVES[move]
    moved = 0
    for codes, start, end in regions[move]:
        result = apply_move(model, codes, move, start, end, labels=labels)
        new = result.codes
        assert new.indices.shape == codes.indices.shape and new.model_id == codes.model_id
        assert new.indices.min() >= 0 and new.indices.max() < codes.codebook_size
        np.testing.assert_array_equal(new.indices[:, :start], codes.indices[:, :start])
        np.testing.assert_array_equal(new.indices[:, end:], codes.indices[:, end:])
        if not result.moved:  # this region is already as far as the codes go: nothing may change
            assert new is codes
            continue
        before, after = measured(model, codes, descriptor, start, end), measured(model, new, descriptor, start, end)
        assert direction * (after - before) > 0, f"{move}: {descriptor} {before} -> {after}"
        assert result.after == pytest.approx(after, rel=1e-3, abs=1e-6)  # the window decode equals the full one
        if result.level is not None:  # one level moved, the others keep their structure
            others = [q for q in range(codes.levels) if q != result.level]
            np.testing.assert_array_equal(new.indices[others], codes.indices[others])
        moved += 1
    assert moved >= 3, f"{move} moved only {moved} of {len(regions[move])} regions"


def test_moves_leave_locked_and_unselected_levels_alone(tiny):
    model, _, grids, labels, _ = tiny
    codes, start, end = tiny[4]["louder"][0]
    for move in ("brighter", "smoother"):
        locked = apply_move(model, codes, move, start, end, locked_levels=(0,), labels=labels)
        np.testing.assert_array_equal(locked.codes.indices[0], codes.indices[0])
        chosen = apply_move(model, codes, move, start, end, levels=(0,), labels=labels)
        np.testing.assert_array_equal(chosen.codes.indices[1], codes.indices[1])
    everything = apply_move(model, codes, "louder", start, end, locked_levels=(0, 1), labels=labels)
    assert not everything.moved and everything.codes is codes


def test_amount_scales_the_move(tiny):
    model, _, grids, labels, regions = tiny
    codes, start, end = regions["brighter"][0]
    none = apply_move(model, codes, "brighter", start, end, amount=0.0, labels=labels)
    assert none.codes is codes and not none.moved
    # the first loud region where brighter can move at all: a second of training on a loaded machine
    # can leave a region without a brighter code, and then no amount moves it
    for codes, start, end in regions["brighter"]:
        full = apply_move(model, codes, "brighter", start, end, amount=1.0, labels=labels)
        if full.moved:
            break
    else:
        pytest.fail("brighter moved none of the loud regions at full amount")
    small = apply_move(model, codes, "brighter", start, end, amount=0.2, labels=labels)
    assert small.moved and 0 < small.after - small.before <= full.after - full.before


def test_bad_moves_raise(tiny):
    model, _, grids, labels, _ = tiny
    codes = grids[0]
    with pytest.raises(InputError, match="unknown move"):
        apply_move(model, codes, "wetter", 0, 2, labels=labels)
    with pytest.raises(InputError, match="amount"):
        apply_move(model, codes, "brighter", 0, 2, amount=1.5, labels=labels)
    with pytest.raises(InputError, match="region"):
        apply_move(model, codes, "brighter", 3, 3, labels=labels)
    with pytest.raises(InputError, match="no code labels"):
        apply_move(model, codes, "brighter", 0, 2)


def test_evaluate_moves_reports_every_move(tiny):
    model, sounds, _, labels, _ = tiny
    report = evaluate_moves(model, sounds, n_regions=8, seed=1, labels=labels)
    assert set(report["moves"]) == set(MOVES) and report["regions"] == 8
    assert all(0.0 <= share <= 1.0 for share in report["moves"].values())
    # even a tiny codec moves its descriptors the right way most of the time
    assert np.mean(list(report["moves"].values())) >= 0.75, report


# ---------------------------------------------------------------- model-backed edits

def test_blend_and_morph_with_the_models_codebooks(tiny):
    model, _, grids, _, _ = tiny
    a, b = grids[0], grids[1]
    books = model.codebook_vectors()
    n = min(a.n_frames, 8)
    same = edits.blend(a, b, 0.0, books, 0, n)
    np.testing.assert_array_equal(same.indices, a.indices)
    taken = edits.blend(a, b, 1.0, books, 0, n, locked_levels=(1,))
    np.testing.assert_array_equal(taken.indices[1], a.indices[1])
    morphed = edits.morph(a, b, books, 0, n)
    np.testing.assert_array_equal(morphed.indices[:, 0], a.indices[:, 0])
    np.testing.assert_array_equal(morphed.indices[:, n:], a.indices[:, n:])


def test_audition_renders_the_region_and_held_codes(tiny):
    model, _, grids, _, _ = tiny
    codes = grids[0]
    hop = model.config.codec.time_stride * model.config.audio.hop_length
    region = edits.render_region(model, codes, 2, 7, n_iter=4)
    assert len(region.samples) == 5 * hop and region.sample_rate == model.config.audio.sample_rate
    held = edits.held_code(codes, 1, 3, 12, at_frame=2)
    assert held.indices.shape == (2, 12)
    np.testing.assert_array_equal(held.indices[1], 3)
    np.testing.assert_array_equal(held.indices[0], codes.indices[0, 2])
    assert np.isfinite(edits.render_region(model, held, n_iter=4).samples).all()
    with pytest.raises(InputError):
        edits.held_code(codes, 2, 0, 12)


def test_encode_audio_into_the_grid(tiny, dev_sets):
    model, _, _, _, _ = tiny
    path = sorted((dev_sets / "dev-tiny-5").iterdir())[0]
    codes = edits.encode_audio(model, str(path))
    assert codes.model_id == model.model_id and codes.levels == 2


def test_regenerate_keeps_outside_and_locked_levels(tiny):
    from engine.prior.network import Prior
    from engine.prior.train import train_prior

    model, _, grids, _, _ = tiny
    cfg = PriorConfig(layers=1, dim=32, heads=2, context_frames=32, crop_frames=32, batch_size=8, max_steps=20)
    result = train_prior([np.array(g.indices) for g in grids], [], 8, cfg, seed=0, max_seconds=20)
    prior = Prior.from_tensors(result.tensors)
    codes = max(grids, key=lambda g: g.n_frames)
    new = edits.regenerate(codes, prior, 4, 14, seed=3, locked_levels=(1,))
    np.testing.assert_array_equal(new.indices[:, :4], codes.indices[:, :4])
    np.testing.assert_array_equal(new.indices[:, 14:], codes.indices[:, 14:])
    np.testing.assert_array_equal(new.indices[1], codes.indices[1])
    # one seed may happen to redraw the same codes; five in a row do not
    assert any(not np.array_equal(edits.regenerate(codes, prior, 4, 14, seed=s, locked_levels=(1,)).indices[0, 4:14],
                                  codes.indices[0, 4:14]) for s in range(3, 8))
    again = edits.regenerate(codes, prior, 4, 14, seed=3, locked_levels=(1,))
    np.testing.assert_array_equal(again.indices, new.indices)  # a seed reproduces
    with pytest.raises(InputError):
        edits.regenerate(codes, prior, 4, codes.n_frames + 1)


def test_audition_goes_through_the_live_decoder_once_exported(tiny):
    from engine.live.export import export_bundle

    model, _, grids, _, _ = tiny
    assert edits.live_decoder(model) is None  # no ONNX graph yet: the torch fallback is used
    exported = Model(export_bundle(model.bundle))
    decoder = edits.live_decoder(exported)
    assert decoder is not None and edits.live_decoder(exported) is decoder  # cached
    codes = grids[0]
    hop = model.config.codec.time_stride * model.config.audio.hop_length
    audio = edits.render_region(exported, codes, 2, 7)
    assert len(audio.samples) == 5 * hop and np.isfinite(audio.samples).all()
    whole = edits.render_region(exported, codes)
    assert len(whole.samples) == codes.n_frames * hop and np.abs(whole.samples).max() > 0
