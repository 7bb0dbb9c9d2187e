"""The one adapter around vector-quantize-pytorch's ResidualVQ.

The library says "indices" for the integers and "codes" for the vectors; everywhere else in Distill
*codes* are the integers `[Q, F]` and *code vectors* their embeddings. This module translates, so
no other file speaks the library's vocabulary or touches its internals.

`codes_to_latent` is a plain gather over the stacked per-level codebooks, summed, then
`project_out`: the library's `get_output_from_indices` exports to ONNX with a frozen time axis.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from vector_quantize_pytorch import ResidualVQ

from engine.config import CodecConfig

DROPPED = -1  # index the library emits for levels skipped by quantize dropout


@dataclass
class QuantizerOutput:
    latent: Tensor  # [B, F, D] quantized latent, straight-through gradients
    codes: Tensor  # [B, Q, F] int64; DROPPED where quantize dropout skipped a level
    commit_loss: Tensor  # [Q] per-level commitment loss


class RVQ(nn.Module):
    def __init__(self, cfg: CodecConfig):
        super().__init__()
        self.levels = cfg.levels
        self.codebook_size = cfg.codebook_size
        self.dropout_share = cfg.quantize_dropout_share if cfg.quantize_dropout and cfg.levels > 1 else 0.0
        self.rvq = ResidualVQ(
            dim=cfg.latent_dim,
            num_quantizers=cfg.levels,
            codebook_size=cfg.codebook_size,
            codebook_dim=cfg.codebook_dim,
            quantize_dropout=cfg.quantize_dropout,
            decay=cfg.decay,
            kmeans_init=cfg.kmeans_init,
            kmeans_iters=cfg.kmeans_iters,
            threshold_ema_dead_code=cfg.threshold_ema_dead_code,
            commitment_weight=cfg.commitment_weight,
        )

    def forward(self, z: Tensor) -> QuantizerOutput:
        """Quantizes z [B, F, D]; in train mode EMA codebooks update and dead codes are revived, and
        on a `quantize_dropout_share` of the batches the finer levels are dropped from a random one
        on (the other batches train all levels together; torch's RNG decides, so seeded runs repeat)."""
        if self.training:
            self.rvq.quantize_dropout = self.dropout_share >= 1.0 or float(torch.rand(())) < self.dropout_share
        latent, indices, losses = self.rvq(z)  # indices [B, F, Q], losses [1, Q] or [Q]
        return QuantizerOutput(latent, indices.transpose(1, 2).contiguous(), losses.reshape(-1))

    @torch.no_grad()
    def initialise(self, z: Tensor) -> None:
        """k-means initialises every level from z [N, F, D], typically the whole small dataset at
        once: a first batch smaller than the codebook would sample duplicate centroids."""
        was_training = self.training
        self.train()
        self.rvq.quantize_dropout = False
        self.rvq(z)
        self.train(was_training)

    def codebook_vectors(self) -> Tensor:
        """Per-level codebooks in the (projected) codebook space. # [Q, K, d]"""
        return torch.stack([layer._codebook.embed[0] for layer in self.rvq.layers])

    @property
    def project_in(self) -> nn.Module:
        return self.rvq.project_in

    @property
    def project_out(self) -> nn.Module:
        return self.rvq.project_out

    def codes_to_vectors(self, codes: Tensor) -> Tensor:
        """Summed code vectors in codebook space, by a plain gather. # [B, Q, F] -> [B, F, d]"""
        books = self.codebook_vectors()  # [Q, K, d]
        level = torch.arange(books.shape[0], device=codes.device)[None, :, None]  # [1, Q, 1]
        return books[level, codes].sum(dim=1)  # [B, Q, F, d] -> [B, F, d]

    def codes_to_latent(self, codes: Tensor) -> Tensor:
        """Codes to the decoder's latent. # [B, Q, F] int64 -> [B, F, D]"""
        return self.project_out(self.codes_to_vectors(codes))

    def latent_to_codes(self, z: Tensor) -> Tensor:
        """Nearest codes for z in eval mode, all levels. # [B, F, D] -> [B, Q, F]"""
        return self.vectors_to_codes(self.project_in(z))

    def vectors_to_codes(self, vectors: Tensor) -> Tensor:
        """Residual nearest-neighbour quantization in codebook space. # [B, F, d] -> [B, Q, F]"""
        residual = vectors
        codes = []
        for book in self.codebook_vectors():  # [K, d]
            idx = torch.cdist(residual, book[None].expand(residual.shape[0], -1, -1)).argmin(-1)  # [B, F]
            residual = residual - book[idx]
            codes.append(idx)
        return torch.stack(codes, dim=1)
