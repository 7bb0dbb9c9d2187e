"""The RVQ-VAE: a 1-D conv encoder over log-mel frames, residual VQ, and a conv decoder.

mel [B, M, F] --encoder--> z [B, D, F / stride] --RVQ--> codes [B, Q, F / stride]
codes --gather + project_out--> z_q [B, D, F / stride] --decoder--> mel [B, M, F]

The decoder is non-causal with a small, known receptive field (`decoder_receptive_field_frames`,
in code frames each side) so the live path can re-decode only the frames an edit touches.
With `bypass_quantizer` the same network runs continuously: the A/B baseline that measures what
quantizing costs.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.codec.quantizer import RVQ
from engine.config import AudioConfig, CodecConfig

ENCODER_DILATIONS = (1, 3, 9)
DECODER_CODE_DILATIONS = (1, 3)  # at the code frame rate
DECODER_MEL_DILATIONS = (1, 3)  # after upsampling, at the mel frame rate


class ResBlock(nn.Module):
    """Dilated conv residual block; 'same' padding keeps frame counts exact."""

    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 3, padding=dilation, dilation=dilation)
        self.mix = nn.Conv1d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:  # [B, C, F] -> [B, C, F]
        return x + self.mix(F.gelu(self.conv(F.gelu(x))))


@dataclass
class CodecOutput:
    mel: Tensor  # [B, M, F] reconstruction
    codes: Tensor | None  # [B, Q, F'] int64 (-1 where dropout skipped a level); None when bypassed
    commit_loss: Tensor  # [Q] (zeros when bypassed)
    latent: Tensor  # [B, F', D] pre-quantization latent


class Codec(nn.Module):
    def __init__(self, audio: AudioConfig, cfg: CodecConfig):
        super().__init__()
        self.cfg = cfg
        h, stride = cfg.hidden_channels, cfg.time_stride
        self.encoder = nn.Sequential(
            nn.Conv1d(audio.n_mels, h, 3, padding=1),
            *[ResBlock(h, d) for d in ENCODER_DILATIONS],
            nn.Conv1d(h, h, 2 * stride, stride=stride, padding=stride // 2) if stride > 1 else nn.Identity(),
            ResBlock(h, 1),
            nn.GELU(),
            nn.Conv1d(h, cfg.latent_dim, 1),
        )
        self.quantizer = RVQ(cfg)
        hd = cfg.decoder_channels or h
        self.decoder_codes = nn.Sequential(
            nn.Conv1d(cfg.latent_dim, hd, 3, padding=1),
            *[ResBlock(hd, d) for d in DECODER_CODE_DILATIONS],
        )
        self.decoder_mel = nn.Sequential(
            nn.Conv1d(hd, hd, 3, padding=1),
            *[ResBlock(hd, d) for d in DECODER_MEL_DILATIONS],
            nn.GELU(),
            nn.Conv1d(hd, audio.n_mels, 1),
        )

    @property
    def decoder_receptive_field_frames(self) -> int:
        """Code frames either side of a frame that can change its decoded mel (rounded up)."""
        code_side = 1 + sum(DECODER_CODE_DILATIONS)
        mel_side = 1 + sum(DECODER_MEL_DILATIONS)
        return code_side + -(-mel_side // self.cfg.time_stride)

    def pad_frames(self, mel: Tensor) -> Tensor:
        """Right-pads mel [B, M, F] with the floor (0) to a multiple of time_stride."""
        extra = (-mel.shape[-1]) % self.cfg.time_stride
        return F.pad(mel, (0, extra)) if extra else mel

    def encode_latent(self, mel: Tensor) -> Tensor:
        """mel [B, M, F] (F a multiple of time_stride) -> z [B, F / stride, D]."""
        return self.encoder(mel).transpose(1, 2)

    def decode_latent(self, z: Tensor) -> Tensor:
        """z [B, F', D] -> mel [B, M, F' * stride]."""
        x = self.decoder_codes(z.transpose(1, 2))
        x = torch.repeat_interleave(x, self.cfg.time_stride, dim=-1)  # nearest upsampling: ONNX-friendly
        return self.decoder_mel(x)

    def decode_codes(self, codes: Tensor) -> Tensor:
        """codes [B, Q, F'] int64 -> mel [B, M, F' * stride]."""
        return self.decode_latent(self.quantizer.codes_to_latent(codes))

    def forward(self, mel: Tensor) -> CodecOutput:
        z = self.encode_latent(mel)
        if self.cfg.bypass_quantizer:
            return CodecOutput(self.decode_latent(z), None, z.new_zeros(self.cfg.levels), z)
        q = self.quantizer(z)
        return CodecOutput(self.decode_latent(q.latent), q.codes, q.commit_loss, z)

    @torch.no_grad()
    def encode_codes(self, mel: Tensor) -> Tensor:
        """mel [B, M, F] -> codes [B, Q, ceil(F / stride)], deterministic (eval-mode lookup)."""
        return self.quantizer.latent_to_codes(self.encode_latent(self.pad_frames(mel)))
