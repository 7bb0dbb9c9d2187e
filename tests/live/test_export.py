"""ONNX export: parity with torch at several lengths and batch sizes, bundle storage, CLI."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.bundle import Bundle, load_bundle, save_bundle
from engine.codec.model import codec_tensors, new_model_id, utc_now
from engine.codec.network import Codec
from engine.config import Config
from engine.live.export import DECODER_FILE, DecoderGraph, export_bundle, export_decoder, parity, session_for

TINY = ["codec.hidden_channels=32", "codec.levels=2", "codec.codebook_size=8", "codec.latent_dim=8",
        "codec.codebook_dim=4", "codec.kmeans_init=false", "audio.n_mels=16"]


def tiny_bundle(overrides: list[str] = TINY, seed: int = 0) -> Bundle:
    torch.manual_seed(seed)
    config = Config().with_overrides(overrides)
    codec = Codec(config.audio, config.codec).eval()
    tensors = codec_tensors(codec)
    return Bundle(config, new_model_id(tensors), utc_now(), {"codec": tensors})


def test_parity_every_length_and_batch_including_one_frame() -> None:
    bundle = export_bundle(tiny_bundle())
    info = bundle.meta["onnx"]
    assert DECODER_FILE in bundle.files
    tested = {(r["frames"], r["batch"]) for r in info["parity"]}
    assert {(1, 1), (2, 3), (7, 1), (94, 3), (1000, 1)} <= tested
    assert all(r["max_abs_diff"] <= 1e-4 for r in info["parity"]), info["parity"]
    assert info["model_id"] == bundle.model_id
    assert info["decoder_receptive_field_frames"] > 0


def test_graph_has_dynamic_axes_and_matches_the_model_decode() -> None:
    from engine.codec.model import Model

    bundle = tiny_bundle(TINY[:-1] + ["audio.n_mels=16", "codec.time_stride=2"])
    model = Model(bundle)
    session = session_for(export_decoder(model.codec))
    rng = np.random.default_rng(1)
    for batch, frames in [(1, 1), (2, 5), (4, 33)]:
        codes = rng.integers(0, 8, (batch, 2, frames), dtype=np.int64)
        got = session.run(None, {"codes": codes})[0]
        assert got.shape == (batch, 16, frames * 2)
        from engine.codes import Codes
        for b in range(batch):
            expected = model.decode(Codes(codes[b], 8, model.code_frame_rate_hz, model.model_id)).values
            np.testing.assert_allclose(got[b], expected, atol=1e-5)


def test_a_decoder_wider_than_the_encoder_exports_and_reloads(tmp_path) -> None:
    """`codec.decoder_channels` is model-defining: stored in the bundle, rebuilt from it, exported."""
    from engine.codec.model import Model

    bundle = export_bundle(tiny_bundle(TINY + ["codec.decoder_channels=48"]))
    assert all(r["max_abs_diff"] <= 1e-4 for r in bundle.meta["onnx"]["parity"]), bundle.meta["onnx"]["parity"]
    model = Model(load_bundle(save_bundle(tmp_path / "wide.distill", bundle)))
    assert model.config.codec.decoder_channels == 48
    assert model.codec.encoder[0].out_channels == 32 and model.codec.decoder_mel[0].out_channels == 48


def test_parity_detects_a_different_model() -> None:
    """The self-test can fail: a graph from other weights is far off."""
    a, b = tiny_bundle(seed=0), tiny_bundle(seed=1)
    from engine.codec.model import Model
    graph = export_decoder(Model(a).codec)
    rows = parity(Model(b).codec, graph, frames=(7,), batches=(1,))
    assert rows[0]["max_abs_diff"] > 1e-3


def test_export_command_adds_graph_to_the_bundle(tmp_path: Path, capsys) -> None:
    from engine.cli import main
    path = save_bundle(tmp_path / "m.distill", tiny_bundle())
    assert DECODER_FILE not in load_bundle(path).files
    assert main(["export", str(path), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    loaded = load_bundle(path)
    assert DECODER_FILE in loaded.files and loaded.meta["onnx"]["parity_max_abs_diff"] <= 1e-4
    assert printed["parity"] == loaded.meta["onnx"]["parity"]


def test_export_command_on_a_missing_file_says_so(tmp_path: Path, capsys) -> None:
    from engine.cli import main
    assert main(["export", str(tmp_path / "nope.distill")]) == 2
    assert "no such model file" in capsys.readouterr().err


@pytest.mark.slow
def test_the_dynamo_exporter_gives_the_same_graph_behaviour() -> None:
    """The shipped export uses the TorchScript exporter (30x faster); the default dynamo one works
    too, with dynamic axes and weights inside (external_data=False), should it be needed."""
    from engine.codec.model import Model
    codec = Model(tiny_bundle()).codec
    program = torch.onnx.export(DecoderGraph(codec).eval(), (torch.zeros(1, 2, 4, dtype=torch.int64),),
                                dynamo=True, external_data=False, verbose=False,
                                input_names=["codes"], output_names=["mel"],
                                dynamic_shapes={"codes": {0: torch.export.Dim("batch"), 2: torch.export.Dim("frames")}})
    rows = parity(codec, program.model_proto.SerializeToString(), frames=(1, 2, 1000), batches=(1, 2))
    assert all(r["max_abs_diff"] <= 1e-4 for r in rows), rows


def test_export_again_replaces_the_graph_and_keeps_the_rest(tmp_path: Path) -> None:
    bundle = export_bundle(tiny_bundle()).with_meta(report={"kept": True})
    again = export_bundle(bundle)
    assert list(again.files) == [DECODER_FILE] and again.meta["report"] == {"kept": True}
    assert again.meta["onnx"]["model_id"] == bundle.model_id


def test_export_of_a_bundle_without_codec_weights_says_so() -> None:
    from dataclasses import replace
    from engine.bundle import BundleError
    with pytest.raises(BundleError, match="no codec weights"):
        export_bundle(replace(tiny_bundle(), tensors={}))
