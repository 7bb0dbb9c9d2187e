"""The prior network: causality, KV cache equals full recomputation, spec round trip, bundle checks."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.bundle import Bundle
from engine.config import Config, CodecConfig
from engine.errors import InputError
from engine.prior.generate import _State
from engine.prior.network import Prior, PriorNet, PriorSpec

Q, K = 3, 8


def tiny_prior(window: int = 64, seed: int = 0) -> Prior:
    torch.manual_seed(seed)
    net = PriorNet(PriorSpec(levels=Q, codebook_size=K, dim=32, layers=2, heads=2, context_frames=window))
    # Random init has near-uniform logits; scale up so any leak of the future would show clearly.
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(3.0)
    return Prior(net)


def random_codes(frames: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, K, (Q, frames))


def full_logits(prior: Prior, codes: np.ndarray) -> torch.Tensor:
    with torch.inference_mode():
        return prior.net(torch.from_numpy(codes)[None])[0]  # [F, Q, K]


def test_changing_future_frames_leaves_earlier_logits_unchanged():
    prior, codes = tiny_prior(), random_codes(20)
    before = full_logits(prior, codes)
    changed = codes.copy()
    changed[:, 12:] = (changed[:, 12:] + 1) % K
    after = full_logits(prior, changed)
    torch.testing.assert_close(after[:12], before[:12])
    torch.testing.assert_close(after[12, 0], before[12, 0])  # frame 12's coarsest level sees only the past
    assert (after[13:] - before[13:]).abs().max() > 1e-3  # and the change is visible later: the check has teeth


def test_finer_levels_see_coarser_levels_of_the_same_frame_only():
    prior, codes = tiny_prior(), random_codes(10)
    before = full_logits(prior, codes)
    changed = codes.copy()
    changed[1, 5] = (changed[1, 5] + 3) % K
    after = full_logits(prior, changed)
    torch.testing.assert_close(after[:5], before[:5])
    torch.testing.assert_close(after[5, :2], before[5, :2])  # levels 0 and 1 of frame 5 do not see level 1
    assert (after[5, 2] - before[5, 2]).abs().max() > 1e-3  # level 2 does


def cached_logits(prior: Prior, codes: np.ndarray) -> torch.Tensor:
    """Teacher-forced logits through the KV-cache path that generation uses. -> # [F, Q, K]"""
    state = _State(prior, batch=1)
    state.prefill(None)
    out = []
    with torch.inference_mode():
        for t in range(codes.shape[1]):
            base, frame = state.hidden, []
            for q in range(prior.levels):
                frame.append(prior.net.level_logits(base, q)[0])
                base = prior.net.add_level(base, q, torch.tensor([codes[q, t]]))
            out.append(torch.stack(frame))
            state.step(np.ascontiguousarray(codes[None, :, t]))
    return torch.stack(out)


def test_cached_logits_equal_uncached_within_the_window():
    prior, codes = tiny_prior(window=64), random_codes(40)
    torch.testing.assert_close(cached_logits(prior, codes), full_logits(prior, codes), atol=5e-4, rtol=1e-4)  # logits of size ~10 after scaling


def test_sliding_cache_equals_uncached_sliding_window_attention():
    """Past the window the ring buffer overwrites the oldest keys; that must equal the uncached
    forward pass with a banded (sliding-window) causal mask over the whole sequence."""
    prior, codes = tiny_prior(window=8), random_codes(40)
    cached, full = cached_logits(prior, codes), full_logits(prior, codes)
    torch.testing.assert_close(cached, full, atol=5e-4, rtol=1e-4)  # logits of size ~10 after scaling
    wide = Prior.from_tensors({**prior.tensors(), "spec": PriorSpec(Q, K, 32, 2, 2, 64).to_array()})
    assert (full_logits(wide, codes)[8:] - full[8:]).abs().max() > 1e-2  # the window really cuts context


def test_tensors_round_trip_rebuild_the_same_network():
    prior, codes = tiny_prior(), random_codes(12)
    again = Prior.from_tensors(prior.tensors())
    assert again.spec == PriorSpec(Q, K, 32, 2, 2, 64, dropout=0.0)
    torch.testing.assert_close(full_logits(again, codes), full_logits(prior, codes), atol=0, rtol=0)


def tiny_bundle(with_prior: bool) -> Bundle:
    config = Config(codec=CodecConfig(levels=Q, codebook_size=K))
    bundle = Bundle(config, "abc123", "2026-01-01T00:00:00Z", tensors={"codec": {"w": np.zeros(1, np.float32)}})
    return bundle.with_tensors("prior", tiny_prior().tensors()) if with_prior else bundle


def test_bundle_without_prior_is_refused_in_one_sentence():
    with pytest.raises(InputError) as e:
        Prior.from_bundle(tiny_bundle(with_prior=False))
    message = str(e.value)
    assert "no prior" in message and "--no-prior" in message and "\n" not in message


def test_bundle_with_prior_loads_and_checks_it_matches_the_codec():
    assert Prior.from_bundle(tiny_bundle(with_prior=True)).levels == Q
    other = tiny_bundle(with_prior=True)
    from dataclasses import replace
    other = replace(other, config=Config(codec=CodecConfig(levels=Q + 1, codebook_size=K)))
    with pytest.raises(InputError, match="prior expects 3 levels"):
        Prior.from_bundle(other)


def test_spec_rejects_bad_shapes():
    with pytest.raises(InputError, match="heads"):
        PriorSpec(levels=2, codebook_size=8, dim=30, heads=4)
    with pytest.raises(InputError, match="spec version"):
        PriorSpec.from_array(np.array([99, 1, 2, 3, 4, 5, 6, 7]))
