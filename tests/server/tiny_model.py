"""A tiny untrained model (codec + prior, random weights) for server tests: the server's job is
plumbing, so the weights need not be trained, only real (the same classes the engine loads)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def make_tiny_model(path: Path, seed: int = 0, labels: bool = True, onnx: bool = False) -> Path:
    import torch

    from engine.bundle import Bundle, save_bundle
    from engine.codec.model import codec_tensors, new_model_id, utc_now
    from engine.codec.network import Codec
    from engine.config import AudioConfig, CodecConfig, Config, PriorConfig
    from engine.prior.network import Prior, PriorNet, PriorSpec
    torch.manual_seed(seed)
    config = Config(audio=AudioConfig(sample_rate=16000, n_fft=512, hop_length=256, n_mels=32, f_max_hz=7000.0),
                    codec=CodecConfig(hidden_channels=16, latent_dim=8, levels=2, codebook_size=8, codebook_dim=4,
                                      kmeans_init=False),
                    prior=PriorConfig(layers=1, dim=16, heads=2, context_frames=32))
    codec = Codec(config.audio, config.codec).eval()
    tensors = codec_tensors(codec)
    prior = Prior(PriorNet(PriorSpec(levels=2, codebook_size=8, dim=16, layers=1, heads=2, context_frames=32)))
    report = {"files": {"used": 5, "skipped": []}, "health": {"verdict": "green", "message": "tiny test model"}}
    bundle = Bundle(config, new_model_id(tensors), utc_now(), {"codec": tensors, "prior": prior.tensors()}, {},
                    {"report": report})
    if labels:  # code labels measured in the context of random grids (what moves and /labels/get read)
        from engine.codec.model import Model
        from engine.codes import Codes
        from engine.edit.labels import label_bundle
        model = Model(bundle)
        rng = np.random.default_rng(seed)
        grids = [Codes(rng.integers(0, 8, (2, 64)).astype(np.int64), 8, model.code_frame_rate_hz, model.model_id)
                 for _ in range(3)]
        bundle = label_bundle(model, codes=grids)
    if onnx:  # the ONNX decoder graph the torch-free live path needs (a few seconds)
        from engine.live.export import export_bundle
        bundle = export_bundle(bundle)
    return save_bundle(path, bundle)


if __name__ == "__main__":
    print(make_tiny_model(Path(sys.argv[1])))
