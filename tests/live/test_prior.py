"""The prior in ONNX Runtime: parity with torch (logits past the window, dynamic axes), the same
codes and sampling distribution from the same seed, bundle storage, stale and missing graphs."""
from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.bundle import save_bundle
from engine.live.decoder import session_for
from engine.live.export import export_bundle
from engine.live.prior import DEPTH_FILE, STEP_FILE, LivePrior, LivePriorError, generation_prior
from engine.live.prior_export import PriorStepGraph, export_prior, prior_parity
from engine.prior.generate import continue_codes, generate, regenerate_region
from engine.prior.network import Prior, PriorNet, PriorSpec
from engine.prior.sampling import Sampling, filtered_probs
from tests.live.test_export import tiny_bundle

ROOT = Path(__file__).resolve().parents[2]
Q, K, WINDOW = 2, 8, 8


def peaked_prior(seed: int = 0) -> Prior:
    """An untrained prior whose output matrices are scaled so its distributions are far from uniform
    (an untrained head gives near-uniform logits, where any two samplers look alike)."""
    torch.manual_seed(seed)
    net = PriorNet(PriorSpec(levels=Q, codebook_size=K, dim=16, layers=2, heads=2, context_frames=WINDOW))
    with torch.no_grad():
        net.head_weight.mul_(6.0)
        net.in_embed.weight.mul_(40.0)
    return Prior(net)


@pytest.fixture(scope="module")
def pair() -> tuple[Prior, LivePrior]:
    prior = peaked_prior()
    return prior, LivePrior.from_graphs(export_prior(prior), prior.tensors())


@pytest.fixture(scope="module")
def bundle():
    """A tiny codec + prior bundle, exported (decoder and prior graphs)."""
    base = tiny_bundle()
    return export_bundle(base.with_tensors("prior", peaked_prior().tensors()))


def test_step_logits_match_torch_past_the_window(pair) -> None:
    prior, live = pair
    rows = prior_parity(prior, export_prior(prior), frames=(1, 2, 5, 3 * WINDOW + 1), batches=(1, 4))
    assert max(r["max_abs_diff"] for r in rows) <= 1e-4, rows


def test_parity_detects_another_prior(pair) -> None:
    """The self-test can fail: graphs of other weights are far off."""
    prior, _ = pair
    rows = prior_parity(peaked_prior(seed=1), export_prior(prior), frames=(5,), batches=(1,))
    assert rows[0]["max_abs_diff"] > 1e-2


@pytest.mark.parametrize("batch, frames, past", [(1, 1, 1), (3, 1, 5), (2, 4, 11), (1, 6, 0)])
def test_step_graph_axes_are_dynamic(pair, batch: int, frames: int, past: int) -> None:
    """Batch, new frames and past frames other than the export example's (2, 3, 5), against the
    torch graph module on the same inputs."""
    prior, live = pair
    spec = prior.spec
    hd = spec.dim // spec.heads
    rng = np.random.default_rng(batch * 100 + frames * 10 + past)
    feeds = {"inputs": rng.integers(0, K, (batch, frames, Q)).astype(np.int64)}
    feeds["cos"], feeds["sin"] = live.rope(np.arange(past, past + frames))
    feeds["past_k"] = rng.standard_normal((spec.layers, batch, spec.heads, past, hd)).astype(np.float32)
    feeds["past_v"] = rng.standard_normal((spec.layers, batch, spec.heads, past, hd)).astype(np.float32)
    feeds["past_valid"] = rng.random(past) < 0.7
    got = session_for(export_prior(prior)[STEP_FILE]).run(None, feeds)
    with torch.no_grad():
        expected = PriorStepGraph(prior.net).eval()(*(torch.from_numpy(feeds[n]) for n in
                                                      ("inputs", "cos", "sin", "past_k", "past_v", "past_valid")))
    for g, e in zip(got, expected):
        assert g.shape == tuple(e.shape)
        np.testing.assert_allclose(g, e.numpy(), atol=1e-5)


def test_step_graph_keys_and_values_are_the_torch_priors(pair) -> None:
    """The graph folds RoPE's lane swap into its input weights; what it stores in the cache is still
    each layer's keys rotated as `engine.prior.network` rotates them, and its values."""
    prior, live = pair
    spec, net = prior.spec, prior.net
    inputs = np.random.default_rng(7).integers(0, K, (2, 3, Q)).astype(np.int64)
    cos, sin = live.rope(np.arange(4, 7))
    empty = np.zeros((spec.layers, 2, spec.heads, 0, spec.dim // spec.heads), np.float32)
    _, new_k, new_v = live.step_session.run(None, {"inputs": inputs, "cos": cos, "sin": sin, "past_k": empty,
                                                   "past_v": empty, "past_valid": np.zeros(0, bool)})
    with torch.no_grad():
        x = net.embed_inputs(torch.from_numpy(inputs))
        _, k, v = net.blocks[0]._qkv(x, torch.from_numpy(cos), torch.from_numpy(sin))
    np.testing.assert_allclose(new_k[0], k.numpy(), atol=1e-5)
    np.testing.assert_allclose(new_v[0], v.numpy(), atol=1e-5)


def test_rotary_rows_past_the_table_are_computed_alike(pair) -> None:
    from engine.live.prior import ROPE_TABLE_FRAMES
    _, live = pair
    for start in (0, 37, ROPE_TABLE_FRAMES - 3):  # inside the table, and across its end
        got, want = live.rope_rows(start, 6), live.rope(np.arange(start, start + 6))
        assert all(np.array_equal(g, w) for g, w in zip(got, want))


@pytest.mark.parametrize("sampling", [Sampling(), Sampling(temperature=1.3, top_k=3, top_p=1.0),
                                      Sampling(temperature=0.6, top_p=0.7)], ids=["default", "top-k", "top-p"])
def test_same_seed_same_codes_as_torch(pair, sampling: Sampling) -> None:
    prior, live = pair
    n = 3 * WINDOW + 5  # the ring wraps three times
    assert np.array_equal(generate(prior, n, sampling, seed=4), generate(live, n, sampling, seed=4))
    clip = generate(prior, 12, sampling, seed=1)
    assert np.array_equal(continue_codes(prior, clip, 20, sampling, seed=2),
                          continue_codes(live, clip, 20, sampling, seed=2))
    long_clip = generate(prior, 2 * WINDOW, sampling, seed=3)
    for locked in [(), (0,)]:
        assert np.array_equal(regenerate_region(prior, long_clip, 5, 14, sampling, seed=5, locked_levels=locked),
                              regenerate_region(live, long_clip, 5, 14, sampling, seed=5, locked_levels=locked))


def test_sampling_distribution_matches_torch_frame_by_frame(pair) -> None:
    """The probabilities sampled from (temperature, top-k, top-p applied) agree at every level of
    every frame, teacher-forced along one sequence: the same distribution, not only the same draws."""
    prior, live = pair
    codes = generate(prior, 2 * WINDOW + 3, Sampling(), seed=7)  # [Q, F]
    torch_runner, onnx_runner = prior.runner(1), live.runner(1)
    bos = np.full((1, 1, Q), prior.bos, dtype=np.int64)
    torch_runner.prefill(bos)
    onnx_runner.prefill(bos)
    worst = 0.0
    for t in range(codes.shape[1]):
        base_t, base_o = torch_runner.hidden, onnx_runner.hidden
        for q in range(Q):
            p_t = filtered_probs(torch_runner.level_logits(base_t, q), 0.9, 4, 0.9)
            p_o = filtered_probs(onnx_runner.level_logits(base_o, q), 0.9, 4, 0.9)
            worst = max(worst, float(np.abs(p_t - p_o).max()))
            chosen = codes[q, t:t + 1]
            base_t, base_o = torch_runner.add_level(base_t, q, chosen), onnx_runner.add_level(base_o, q, chosen)
        torch_runner.step(codes[None, :, t])
        onnx_runner.step(codes[None, :, t])
    assert worst <= 1e-5


def test_export_stores_the_graphs_and_their_manifest(bundle) -> None:
    info = bundle.meta["onnx"]["prior"]
    assert {STEP_FILE, DEPTH_FILE} <= set(bundle.files)
    assert info["parity_max_abs_diff"] <= info["parity_tolerance"] == 1e-4
    assert any(r["frames"] > info["context_frames"] for r in info["parity"])  # past the window
    live = LivePrior.from_bundle(bundle)
    prior = Prior.from_bundle(bundle)
    assert np.array_equal(generate(prior, 30, seed=9), generate(live, 30, seed=9))


def test_missing_and_stale_graphs_say_to_run_export(bundle) -> None:
    bare = replace(bundle, files={k: v for k, v in bundle.files.items() if k not in (STEP_FILE, DEPTH_FILE)})
    with pytest.raises(LivePriorError, match=r"no ONNX prior graphs.*run `distill export m.distill`"):
        LivePrior.from_bundle(bare, "m.distill")
    other = peaked_prior(seed=3).tensors()
    stale = bundle.with_tensors("prior", other)
    with pytest.raises(LivePriorError, match=r"other prior weights; run `distill export"):
        LivePrior.from_bundle(stale)
    warnings: list[str] = []
    fallback = generation_prior(bare, "m.distill", warn=warnings.append)
    assert isinstance(fallback, Prior) and "distill export m.distill" in warnings[0] and "torch" in warnings[0]


def test_generation_from_a_saved_bundle_never_imports_torch(bundle, tmp_path: Path) -> None:
    path = save_bundle(tmp_path / "m.distill", bundle)
    script = f"""
import json, sys
from engine.bundle import load_bundle
from engine.live.prior import generation_prior
from engine.prior.generate import generate, regenerate_region
prior = generation_prior(load_bundle({str(path)!r}))
codes = generate(prior, 40, seed=1)
regenerate_region(prior, codes, 3, 20, seed=2, locked_levels=(1,))
print(json.dumps({{"torch": "torch" in sys.modules, "shape": list(codes.shape)}}))
"""
    run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == '{"torch": false, "shape": [2, 40]}'
