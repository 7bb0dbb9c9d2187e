"""The torch-free live decoder: no torch in its process, whole-grid and batched rendering,
incremental edits equal to full decoding, click-free splices, the sentence for a missing graph."""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from engine.bundle import save_bundle
from engine.codes import Codes, CodesError
from engine.live.decoder import LiveDecoder, LiveDecoderError
from engine.signal.mel import Mel, magnitude_to_mel
from engine.signal.stft import n_samples_for, stft
from engine.signal.stream import pghi_samples

ROOT = Path(__file__).resolve().parents[2]
TINY = ["codec.hidden_channels=32", "codec.levels=2", "codec.codebook_size=8", "codec.latent_dim=8",
        "codec.codebook_dim=4", "codec.kmeans_init=false", "audio.n_mels=32"]
TOLERANCE = 1e-4  # samples, full scale 1


BLOCK_SIZES = [1, 64, 65, 512, 8193]  # the style guide's sweep: 1, odd, and one past a power of two


@pytest.fixture(scope="module")
def exported():
    """A tiny untrained codec whose output layer is scaled so its mel is audible and varies
    (an untrained decoder outputs near-silence, where any phase method looks perfect)."""
    from engine.bundle import Bundle
    from engine.codec.model import new_model_id
    from engine.live.export import export_bundle
    from tests.live.test_export import tiny_bundle
    bundle = tiny_bundle(TINY)
    tensors = dict(bundle.tensors["codec"])
    n_mels = tensors["decoder_mel.4.bias"].shape[0]
    tensors["decoder_mel.4.weight"] = tensors["decoder_mel.4.weight"] * 3.0
    tensors["decoder_mel.4.bias"] = (0.45 + 0.1 * np.cos(np.linspace(0, 9, n_mels))).astype(np.float32)
    return export_bundle(Bundle(bundle.config, new_model_id(tensors), bundle.created, {"codec": tensors}))


@pytest.fixture(scope="module")
def decoder(exported) -> LiveDecoder:
    return LiveDecoder(exported)


def _codes(decoder: LiveDecoder, n_frames: int, seed: int = 0) -> Codes:
    rng = np.random.default_rng(seed)
    spec = decoder.spec
    # Runs of repeated codes, like real grids (sustained sounds), not white noise.
    runs = rng.integers(0, spec.codebook_size, (spec.levels, n_frames // 4 + 1)).repeat(4, axis=1)[:, :n_frames]
    return Codes(runs.astype(np.int64), spec.codebook_size, spec.code_frame_rate_hz, spec.model_id)


def test_live_process_never_imports_torch(exported, tmp_path: Path) -> None:
    path = save_bundle(tmp_path / "m.distill", exported)
    script = f"""
import json, sys
import numpy as np
from engine.codes import Codes
from engine.live.decoder import LiveDecoder
d = LiveDecoder({str(path)!r})
codes = Codes(np.zeros((d.spec.levels, 20), np.int64), d.spec.codebook_size, d.spec.code_frame_rate_hz, d.spec.model_id)
loop = d.loop(codes)
edited = np.array(codes.indices); edited[:, 5] = 1
loop.edit(codes.with_indices(edited))
d.render_voices([codes, codes])
print(json.dumps({{"torch": "torch" in sys.modules, "samples": len(d.render(codes))}}))
"""
    run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result == {"torch": False, "samples": n_samples_for(40, 512)}


def test_render_is_the_torch_decode_through_pghi(exported, decoder) -> None:
    from engine.codec.model import Model
    codes = _codes(decoder, 50)
    torch_mel = Model(exported).decode(codes).values
    np.testing.assert_allclose(decoder.decode_mel(codes.indices[None])[0], torch_mel, atol=1e-4)
    expected = pghi_samples(torch_mel, exported.config.audio)
    np.testing.assert_allclose(decoder.render(codes), expected, atol=1e-3)


def test_voices_batched_equal_each_voice_alone(decoder) -> None:
    voices = [_codes(decoder, 40, seed) for seed in range(3)] + [_codes(decoder, 25, 9)]
    together = decoder.render_voices(voices)
    for codes, samples in zip(voices, together):
        np.testing.assert_allclose(samples, decoder.render(codes), atol=TOLERANCE)


@pytest.mark.parametrize("edit_frames", [[0], [37], [79], [20, 21, 22], [10, 60]])
def test_incremental_edit_equals_full_decode(decoder, edit_frames: list[int]) -> None:
    cfg = decoder.spec.audio
    before = _codes(decoder, 80, seed=1)
    loop = decoder.loop(before)
    old = loop.samples.copy()
    indices = np.array(before.indices)
    indices[:, edit_frames] = (indices[:, edit_frames] + 3) % decoder.spec.codebook_size
    after = before.with_indices(indices)
    splice = loop.edit(after)
    full = decoder.loop(after)
    assert splice is not None
    # Outside the splice nothing moved; the splice is where the audio changed.
    np.testing.assert_array_equal(loop.samples[: splice.start], old[: splice.start])
    np.testing.assert_array_equal(loop.samples[splice.stop:], old[splice.stop:])
    np.testing.assert_array_equal(loop.samples[splice.start: splice.stop], splice.samples)
    # The mel and everything up to where the old phase takes over again equals a full decode.
    np.testing.assert_allclose(loop.mel, full.mel, atol=1e-5)
    hop, field, stride = cfg.hop_length, decoder.spec.receptive_field_frames, decoder.spec.time_stride
    last_changed_mel = min((max(edit_frames) + 1 + field) * stride, loop.n_frames)
    exact_until = max((last_changed_mel + 1) * hop - cfg.n_fft, 0)  # before old-phase frames overlap
    np.testing.assert_allclose(loop.samples[:exact_until], full.samples[:exact_until], atol=TOLERANCE)
    # After it only each partial's phase offset differs: the spectra agree.
    n_frames = loop.n_frames
    got = magnitude_to_mel(np.abs(stft(loop.samples, n_frames, cfg)), cfg)
    want = magnitude_to_mel(np.abs(stft(full.samples, n_frames, cfg)), cfg)
    loud = want > 0.3
    assert np.abs(got - want)[loud].mean() < 0.02, np.abs(got - want)[loud].mean()
    _assert_splice_click_free(loop.samples, full.samples, splice)


def _assert_splice_click_free(samples: np.ndarray, reference: np.ndarray, splice) -> None:
    """No sample step at either end of the splice larger than the largest step the signal makes
    itself within 256 samples (measured on the full decode, which has no splice)."""
    steps, own = np.abs(np.diff(samples)), np.abs(np.diff(reference))
    for join in (splice.start, splice.stop):
        if 0 < join < len(steps):
            lo, hi = max(join - 256, 0), min(join + 256, len(own))
            assert steps[join - 1] <= max(own[lo:hi].max(), np.abs(np.diff(samples[lo:hi])).max()) + TOLERANCE


def test_edit_that_changes_nothing_returns_none(decoder) -> None:
    codes = _codes(decoder, 30)
    loop = decoder.loop(codes)
    assert loop.edit(codes) is None


def test_edit_refuses_another_shape_and_foreign_codes(decoder) -> None:
    codes = _codes(decoder, 30)
    loop = decoder.loop(codes)
    with pytest.raises(CodesError, match="shape"):
        loop.edit(_codes(decoder, 31))
    with pytest.raises(CodesError, match="not by this model"):
        decoder.render(replace(codes, model_id="someoneelse"))


def test_bundle_without_graphs_says_how_to_fix_it(exported, tmp_path: Path) -> None:
    bare = replace(exported, files={}, meta={})
    path = save_bundle(tmp_path / "bare.distill", bare)
    with pytest.raises(LiveDecoderError, match=r"run `distill export .*bare.distill`"):
        LiveDecoder(path)
    stale = replace(exported, model_id="0" * 16)
    with pytest.raises(LiveDecoderError, match="other weights.*distill export"):
        LiveDecoder(stale)


@pytest.mark.parametrize("block_size", BLOCK_SIZES)
def test_streamed_blocks_from_codes_equal_the_whole_render(decoder, block_size: int) -> None:
    codes = _codes(decoder, 45, seed=4)
    whole = decoder.render(codes)
    reader = decoder.block_reader(codes, chunk_frames=7)
    blocks = []
    while not reader.exhausted:
        blocks.append(reader.read(block_size))
    streamed = np.concatenate(blocks)
    np.testing.assert_allclose(streamed[: len(whole)], whole, atol=TOLERANCE)
    assert not np.any(streamed[len(whole):])


@pytest.mark.parametrize("n_frames", [0, 1, 2])
def test_tiny_grids(decoder, n_frames: int) -> None:
    codes = _codes(decoder, n_frames) if n_frames else Codes(
        np.zeros((decoder.spec.levels, 0), np.int64), decoder.spec.codebook_size, decoder.spec.code_frame_rate_hz)
    expected = n_samples_for(n_frames * decoder.spec.time_stride, decoder.spec.audio.hop_length)
    assert len(decoder.render(codes)) == expected
    assert [len(v) for v in decoder.render_voices([codes, codes])] == [expected, expected]
