"""Codec on a tiny config: shapes, eval-mode determinism, health that ignores dropped levels."""
import numpy as np
import torch

from engine.codec.health import level_health, verdict
from engine.codec.network import Codec
from engine.codec.quantizer import DROPPED


def test_shapes_and_determinism(tiny_config):
    torch.manual_seed(0)
    codec = Codec(tiny_config.audio, tiny_config.codec)
    mel = torch.rand(3, tiny_config.audio.n_mels, 32)
    out = codec(mel)  # train mode: k-means init, EMA, maybe dropout
    q, k = tiny_config.codec.levels, tiny_config.codec.codebook_size
    assert out.mel.shape == mel.shape and out.codes.shape == (3, q, 16) and out.commit_loss.shape == (q,)
    codec.eval()
    first, second = codec.encode_codes(mel), codec.encode_codes(mel)
    assert torch.equal(first, second) and first.min() >= 0 and first.max() < k
    assert torch.equal(codec.decode_codes(first), codec.decode_codes(second))
    assert codec.encode_codes(torch.rand(1, tiny_config.audio.n_mels, 7)).shape == (1, q, 4)  # padded to stride


def test_gather_decode_equals_library_quantized_latent(tiny_config):
    torch.manual_seed(1)
    codec = Codec(tiny_config.audio, tiny_config.codec)
    codec(torch.rand(4, tiny_config.audio.n_mels, 32))
    codec.eval()
    with torch.no_grad():
        z = codec.encode_latent(torch.rand(2, tiny_config.audio.n_mels, 32))
        library = codec.quantizer(z)
        ours = codec.quantizer.codes_to_latent(library.codes)
        assert torch.equal(codec.quantizer.latent_to_codes(z), library.codes)
        torch.testing.assert_close(ours, library.latent, atol=1e-5, rtol=1e-5)


def test_decoder_receptive_field_is_what_it_claims(tiny_config):
    codec = Codec(tiny_config.audio, tiny_config.codec).eval()
    stride, rf = tiny_config.codec.time_stride, codec.decoder_receptive_field_frames
    with torch.no_grad():
        z = torch.zeros(1, 64, tiny_config.codec.latent_dim)
        poked = z.clone()
        poked[0, 32] = 1.0
        changed = (codec.decode_latent(z) - codec.decode_latent(poked)).abs().sum(1)[0] > 0
    frames = torch.nonzero(changed).flatten()
    assert frames.min() >= (32 - rf) * stride and frames.max() < (33 + rf) * stride


def test_health_ignores_dropped_levels():
    codes = np.array([[0, 1, 2, 3, DROPPED, DROPPED], [0, 0, DROPPED, DROPPED, DROPPED, DROPPED]])
    health = level_health(codes, 4)
    assert health[0].utilization == 1.0 and health[0].dead_codes == 0
    assert health[1].utilization == 0.25 and health[1].perplexity == 1.0
    v = verdict(health, 4)
    assert v.verdict == "yellow" and "level 2 uses 1 of 4 codes" in v.message


def test_red_verdict_suggests_fewer_levels():
    codes = np.array([list(range(16)) * 2, [0] * 32])
    v = verdict(level_health(codes, 16), 16)
    assert v.verdict == "red" and "level 2 uses 1 of 16 codes: try 1 level (" in v.message


def test_augmented_chunks_encode_to_different_codes():
    """The design's check: augmentation must change at least 20% of the codes, measured on the
    bundled demo model over its own synthesised sounds."""
    import tempfile
    from pathlib import Path

    from engine.cli.demo_sounds import write_demo_sounds
    from engine.codec.dataset import mel_set
    from engine.codec.model import Model
    from engine.codec.train import augmented_code_change
    from engine.signal.audio import scan_folder

    model = Model.load(Path(__file__).resolve().parents[2] / "models" / "demo.distill")
    with tempfile.TemporaryDirectory() as tmp:
        write_demo_sounds(Path(tmp), seed=2, count_per_kind=1)
        used, _ = scan_folder(tmp, model.config.audio.sample_rate)
    mels = list(mel_set(used, model.config.audio).mels)
    change = augmented_code_change(model.codec, mels)
    assert 0.2 <= change <= 1.0
    assert augmented_code_change(model.codec, mels, seed=1) != change  # it depends on the draw


def test_quantize_dropout_share_sets_how_many_batches_drop_levels(tiny_config):
    from dataclasses import replace
    mel = torch.rand(2, tiny_config.audio.n_mels, 32)
    dropped = {}
    for share in (0.0, 0.5, 1.0):
        torch.manual_seed(2)
        cfg = replace(tiny_config.codec, levels=4, quantize_dropout_share=share)
        codec = Codec(tiny_config.audio, cfg).train()
        dropped[share] = sum(bool((codec(mel).codes == DROPPED).any()) for _ in range(40))
    # Library dropout picks a cut level uniformly, keeping all 4 levels on 1 in 4 of its batches.
    assert dropped[0.0] == 0 and 5 < dropped[0.5] < dropped[1.0] and dropped[1.0] > 20
