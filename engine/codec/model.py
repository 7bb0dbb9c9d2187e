"""Torch inference over a bundle: encode audio to codes, decode codes to mel and audio.

Inference reads the model-defining config only from the bundle. The live path does not use this
module (it runs the ONNX graphs in `engine/live/decoder.py` without torch); this is for training,
evaluation, encoding, export and scripts.
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone

import numpy as np
import torch

from engine.bundle import Bundle, BundleError, BundleModel
from engine.codec.network import Codec
from engine.codes import Codes, CodesError
from engine.config import Config
from engine.signal.audio import Audio
from engine.signal.mel import Mel, mel_spectrogram


def codec_tensors(codec: Codec) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy().copy() for k, v in codec.state_dict().items()}


def codec_from_tensors(codec: Codec, tensors: dict[str, np.ndarray]) -> Codec:
    state = {k: torch.from_numpy(np.array(v)) for k, v in tensors.items()}
    try:
        missing, unexpected = codec.load_state_dict(state, strict=False)
    except RuntimeError as e:  # a shape that disagrees with the config
        raise BundleError(f"codec weights do not match the config ({str(e).splitlines()[-1].strip()[:200]})") from None
    if missing or unexpected:
        raise BundleError(f"codec weights do not match the config (missing {missing[:3]}, unexpected {unexpected[:3]})")
    return codec


def new_model_id(tensors: dict[str, np.ndarray]) -> str:
    """A content hash of the codec weights: codes carry it, so codes of another model are refused."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(tensors[name]).tobytes())
    return digest.hexdigest()[:16]


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Model(BundleModel):
    """A loaded bundle with its torch codec in eval mode (`load`, `model_id`, `code_frame_rate_hz`
    from `engine.bundle.BundleModel`)."""

    def __init__(self, bundle: Bundle):
        if "codec" not in bundle.tensors:
            raise BundleError("the model file has no codec weights")
        super().__init__(bundle)
        self.config: Config = bundle.config
        self.codec = codec_from_tensors(Codec(self.config.audio, self.config.codec), bundle.tensors["codec"]).eval()

    @torch.no_grad()
    def encode_mel(self, mel: Mel) -> Codes:
        codes = self.codec.encode_codes(torch.from_numpy(mel.values)[None])[0].numpy()  # [Q, F']
        return Codes(codes.astype(np.int64), self.config.codec.codebook_size, self.code_frame_rate_hz, self.model_id)

    def encode(self, audio: Audio) -> Codes:
        """Audio at the model rate -> codes [Q, ceil(F_mel / stride)]."""
        return self.encode_mel(mel_spectrogram(audio, self.config.audio))

    def check_codes(self, codes: Codes) -> None:
        if codes.model_id and codes.model_id != self.model_id:
            raise CodesError(f"these codes were made by model {codes.model_id}, not by this model "
                             f"({self.model_id}); encode the audio with this model instead")
        cfg = self.config.codec
        if codes.levels != cfg.levels or codes.codebook_size != cfg.codebook_size:
            raise CodesError(f"codes have {codes.levels} levels x {codes.codebook_size} codes; this model has "
                             f"{cfg.levels} x {cfg.codebook_size}")

    @torch.no_grad()
    def decode(self, codes: Codes) -> Mel:
        """Codes [Q, F'] -> mel [M, F' * stride]."""
        self.check_codes(codes)
        mel = self.codec.decode_codes(torch.from_numpy(np.array(codes.indices))[None])[0]
        return Mel(mel.clamp_min(0).numpy().astype(np.float32), self.config.audio.frame_rate_hz)

    def render(self, codes: Codes, n_iter: int = 8) -> Audio:
        """Codes -> audio through the offline phase reconstruction: PGHI refined by a few fast
        Griffin-Lim iterations (the quality of Griffin-Lim 32 at a third of its cost, measured in
        docs/decode.md)."""
        from engine.signal.pghi import pghi_griffin_lim
        return pghi_griffin_lim(self.decode(codes), self.config.audio, n_iter=n_iter)

    def reconstruct(self, audio: Audio, n_iter: int = 8) -> Audio:
        """Audio -> codes -> audio, trimmed to the input length."""
        out = self.render(self.encode(audio), n_iter=n_iter)
        return Audio(out.samples[: len(audio.samples)].copy(), out.sample_rate, audio.source)

    @torch.no_grad()
    def codebook_vectors(self) -> np.ndarray:
        """Per-level codebooks in codebook space. # [Q, K, d]"""
        return self.codec.quantizer.codebook_vectors().numpy().copy()
