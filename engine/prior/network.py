"""The prior: a small causal Transformer over RVQ code frames, with a per-frame depth head.

Scheme (RQ-Transformer style, because flattening 4 levels into one sequence was much weaker at this
data size): a *temporal* Transformer reads frames 0..t-1 (each frame embedded as the sum of its Q
level embeddings) and gives one hidden state per frame; a *depth head* turns that state into the
codes of frame t level by level, each finer level conditioned on the coarser codes already chosen at
the same frame. Positions are rotary (RoPE), so attention depends only on how far back a frame is:
the model never needs more position slots than its context window, and a sliding window over a
ring-buffer KV cache continues for any duration at a constant cost per frame.

Input frame at position 0 of a sequence that starts a clip is BOS (every level set to the BOS
index); a training crop that starts inside the stream sees the previous real frame there instead,
which is exactly what a sliding window sees once BOS has left it.

The weights and the model's own arguments (`PriorSpec`) travel as bundle component "prior", so the
network is rebuilt exactly from the bundle without reading any config.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.config import PRIOR_SPEC_RANGES
from engine.errors import InputError

SPEC_VERSION = 1


@dataclass(frozen=True)
class PriorSpec:
    """Everything that defines the network's shape; stored next to its weights."""

    levels: int  # Q
    codebook_size: int  # K
    dim: int = 128
    layers: int = 2
    heads: int = 4
    context_frames: int = 256  # attention window (training crop length = generation window)
    mlp_ratio: int = 4
    dropout: float = 0.4  # training only; not stored

    def __post_init__(self) -> None:
        for name in ("levels", "codebook_size", "dim", "layers", "heads", "context_frames", "mlp_ratio"):
            if int(getattr(self, name)) < 1:
                raise InputError(f"prior.{name} must be at least 1, got {getattr(self, name)}")
            high = PRIOR_SPEC_RANGES[name][1]
            if int(getattr(self, name)) > high:  # a spec read from a file sizes the weights and the KV cache
                raise InputError(f"prior.{name} must be at most {high:g}, got {getattr(self, name)}")
        if self.dim % self.heads or (self.dim // self.heads) % 2:
            raise InputError(f"prior.dim ({self.dim}) must split into {self.heads} heads of even size")
        if not 0.0 <= self.dropout < 1.0:
            raise InputError(f"prior.dropout must lie in [0, 1), got {self.dropout}")
        if self.context_frames < 2:
            raise InputError(f"prior.context_frames must be at least 2, got {self.context_frames}")

    def to_array(self) -> np.ndarray:
        return np.array([SPEC_VERSION, self.levels, self.codebook_size, self.dim, self.layers, self.heads,
                         self.context_frames, self.mlp_ratio], dtype=np.int64)

    @classmethod
    def from_array(cls, values: np.ndarray) -> "PriorSpec":
        values = [int(v) for v in np.asarray(values).ravel()]
        if not values or values[0] != SPEC_VERSION or len(values) != 8:
            raise InputError(f"the model's prior has spec version {values[:1]}, this Distill reads {SPEC_VERSION}")
        return cls(*values[1:], dropout=0.0)


def _rope_tables(positions: torch.Tensor, head_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin for rotary positions, computed in float64 so minute-long positions stay exact. # [S, hd/2]"""
    inv_freq = 1.0 / (10_000.0 ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    angles = positions.to(torch.float64)[:, None] * inv_freq[None, :]
    return angles.cos().to(torch.float32), angles.sin().to(torch.float32)


def _layer_norm(x: torch.Tensor, norm: nn.LayerNorm) -> torch.Tensor:
    return F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps)


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Applies RoPE to x # [B, H, S, hd] with cos/sin # [S, hd/2]."""
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).flatten(-2)


class KVCache:
    """Ring buffer of keys/values per layer; `pos` counts frames written so far.

    Keys are stored already rotated at their absolute position; attention scores depend only on
    position differences, so overwriting the oldest slot slides the window without recomputing.
    """

    def __init__(self, layers: int, batch: int, heads: int, window: int, head_dim: int) -> None:
        self.window = window
        self.k = torch.zeros(layers, batch, heads, window, head_dim)
        self.v = torch.zeros(layers, batch, heads, window, head_dim)
        self.pos = 0

    def valid(self) -> int:
        return min(self.pos, self.window)

    def repeat(self, batch: int) -> "KVCache":
        """A copy with the (batch 1) cache repeated `batch` times: candidates sharing one context."""
        out = KVCache.__new__(KVCache)
        out.window, out.pos = self.window, self.pos
        out.k = self.k.expand(-1, batch, -1, -1, -1).clone()
        out.v = self.v.expand(-1, batch, -1, -1, -1).clone()
        return out


class Block(nn.Module):
    def __init__(self, spec: PriorSpec) -> None:
        super().__init__()
        d = spec.dim
        self.heads, self.head_dim = spec.heads, d // spec.heads
        self.norm1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.norm2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, spec.mlp_ratio * d), nn.GELU(), nn.Linear(spec.mlp_ratio * d, d))
        self.drop = nn.Dropout(spec.dropout)
        self.attn_dropout = spec.dropout

    def _qkv(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
        b, s, d = x.shape
        h = _layer_norm(x, self.norm1)
        q, k, v = F.linear(h, self.qkv.weight, self.qkv.bias).view(b, s, 3, self.heads, self.head_dim
                                                                    ).permute(2, 0, 3, 1, 4)
        return _rotate(q, cos, sin), _rotate(k, cos, sin), v  # each [B, H, S, hd]

    # Functional calls instead of module calls: generation runs these per frame, where the
    # module-call overhead was a large share of the time.
    def _mlp(self, x: torch.Tensor) -> torch.Tensor:
        up, down = self.mlp[0], self.mlp[2]
        return F.linear(F.gelu(F.linear(_layer_norm(x, self.norm2), up.weight, up.bias)), down.weight, down.bias)

    def _drop(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(x, self.attn_dropout, True) if self.training and self.attn_dropout > 0 else x

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, window: int,
                cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        """x # [B, S, D]. Without a cache: causal sliding-window self-attention over S. With a cache:
        the S new frames are appended (S == 1, or S <= window into an empty cache) and attend to it.
        Both give the same numbers: the ring buffer holds exactly the last `window` keys per layer."""
        b, s, d = x.shape
        q, k, v = self._qkv(x, cos, sin)
        if cache is None or cache.pos == 0:
            p = self.attn_dropout if self.training else 0.0
            if s > window:  # sliding-window attention: each frame sees the last `window` frames
                i = torch.arange(s)
                band = (i[None, :] <= i[:, None]) & (i[:, None] - i[None, :] < window)  # [S, S]
                y = F.scaled_dot_product_attention(q, k, v, attn_mask=band, dropout_p=p)
            else:
                y = F.scaled_dot_product_attention(q, k, v, is_causal=s > 1, dropout_p=p)
            if cache is not None:  # prefill an empty cache
                if s > cache.window:
                    raise ValueError("prefill longer than the cache window")
                cache.k[layer, :, :, :s] = k
                cache.v[layer, :, :, :s] = v
        else:
            if s != 1:
                raise ValueError("a filled KV cache takes one frame at a time")
            slot = cache.pos % cache.window
            cache.k[layer, :, :, slot] = k[:, :, 0]
            cache.v[layer, :, :, slot] = v[:, :, 0]
            n = min(cache.pos + 1, cache.window)
            y = F.scaled_dot_product_attention(q, cache.k[layer, :, :, :n], cache.v[layer, :, :, :n])
        x = x + self._drop(F.linear(y.transpose(1, 2).reshape(b, s, d), self.proj.weight, self.proj.bias))
        return x + self._drop(self._mlp(x))


class PriorNet(nn.Module):
    """Temporal Transformer + depth head. See the module docstring for the scheme."""

    def __init__(self, spec: PriorSpec) -> None:
        super().__init__()
        self.spec = spec
        q, k, d = spec.levels, spec.codebook_size, spec.dim
        self.bos = q * k
        self.in_embed = nn.Embedding(q * k + 1, d)  # level-offset codes of the previous frame; last row BOS
        self.in_drop = nn.Dropout(spec.dropout)
        self.blocks = nn.ModuleList(Block(spec) for _ in range(spec.layers))
        self.norm = nn.LayerNorm(d)
        self.depth_embed = nn.Embedding(q * k, d)  # coarser codes of the same frame
        self.level_embed = nn.Parameter(torch.zeros(q, d))
        self.depth_mlp = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))
        self.head_norm = nn.LayerNorm(d)
        self.head_weight = nn.Parameter(torch.randn(q, d, k) * d ** -0.5)
        self.head_bias = nn.Parameter(torch.zeros(q, k))
        self.register_buffer("offsets", torch.arange(q) * k, persistent=False)  # [Q]
        nn.init.normal_(self.in_embed.weight, std=0.02)
        nn.init.normal_(self.depth_embed.weight, std=0.02)

    # --- temporal part -------------------------------------------------------------------------
    def _rope(self, start_pos: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """cos/sin rows for positions start..start+count-1 from a table grown by doubling. # [S, hd/2]"""
        end = start_pos + count
        table = getattr(self, "_rope_table", None)
        if table is None or table[0].shape[0] < end:
            size = max(1024, 1 << (end - 1).bit_length())
            table = _rope_tables(torch.arange(size), self.spec.dim // self.spec.heads)
            self._rope_table = table
        return table[0][start_pos:end], table[1][start_pos:end]

    def embed_inputs(self, inputs: torch.Tensor) -> torch.Tensor:
        """inputs # [B, S, Q] codes (or BOS index in every level) -> # [B, S, D]"""
        is_bos = inputs == self.bos
        idx = torch.where(is_bos, inputs, inputs + self.offsets)
        return self.in_embed(idx).sum(dim=2)

    def temporal(self, inputs: torch.Tensor, start_pos: int = 0, cache: KVCache | None = None) -> torch.Tensor:
        """Hidden state per position. inputs # [B, S, Q] -> # [B, S, D]"""
        s = inputs.shape[1]
        cos, sin = self._rope(start_pos, s)
        x = self.in_drop(self.embed_inputs(inputs))
        for i, block in enumerate(self.blocks):
            x = block(x, cos, sin, self.spec.context_frames, cache, i)
        if cache is not None:
            cache.pos += s
        return self.norm(x)

    # --- depth head ----------------------------------------------------------------------------
    def depth_logits(self, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits of all levels. hidden # [B, S, D], targets # [B, S, Q] -> # [B, S, Q, K]"""
        emb = self.depth_embed(targets + self.offsets)  # [B, S, Q, D]
        coarser = emb.cumsum(dim=2) - emb  # exclusive: level q sees levels < q
        return self._head(hidden[:, :, None, :] + coarser + self.level_embed)

    def _head(self, u: torch.Tensor) -> torch.Tensor:
        """u # [..., Q, D] -> logits # [..., Q, K]"""
        z = self.head_norm(u + self.depth_mlp(u))
        return torch.einsum("...qd,qdk->...qk", z, self.head_weight) + self.head_bias

    def level_logits(self, base: torch.Tensor, level: int) -> torch.Tensor:
        """One level's logits during sampling. base # [B, D] = hidden + embeddings of the coarser
        codes already chosen at this frame -> # [B, K]"""
        u = base + self.level_embed[level]
        z = _layer_norm(u + self._depth_mlp(u), self.head_norm)
        return torch.addmm(self.head_bias[level], z, self.head_weight[level])

    def _depth_mlp(self, u: torch.Tensor) -> torch.Tensor:
        norm, up, down = self.depth_mlp[0], self.depth_mlp[1], self.depth_mlp[3]
        return F.linear(F.gelu(F.linear(_layer_norm(u, norm), up.weight, up.bias)), down.weight, down.bias)

    def add_level(self, base: torch.Tensor, level: int, codes: torch.Tensor) -> torch.Tensor:
        """base # [B, D] plus the embedding of the chosen codes # [B] at `level`."""
        return base + self.depth_embed.weight[codes + level * self.spec.codebook_size]

    def forward(self, codes: torch.Tensor, starts_clip: bool = True) -> torch.Tensor:
        """Teacher-forced logits for a whole code sequence. codes # [B, Q, F] -> # [B, F, Q, K].

        With `starts_clip` the input of frame 0 is BOS; otherwise frame 0 is context only and the
        logits cover frames 1..F-1 (# [B, F-1, Q, K])."""
        frames = codes.transpose(1, 2)  # [B, F, Q]
        if starts_clip:
            bos = torch.full_like(frames[:, :1], self.bos)
            inputs, targets = torch.cat([bos, frames[:, :-1]], dim=1), frames
        else:
            inputs, targets = frames[:, :-1], frames[:, 1:]
        return self.depth_logits(self.temporal(inputs), targets)


class Prior:
    """A trained prior in inference mode, rebuilt from bundle tensors."""

    COMPONENT = "prior"

    def __init__(self, net: PriorNet) -> None:
        self.net = net.eval()
        self.spec = net.spec

    @property
    def levels(self) -> int:
        return self.spec.levels

    @property
    def codebook_size(self) -> int:
        return self.spec.codebook_size

    @property
    def context_frames(self) -> int:
        return self.spec.context_frames

    @property
    def bos(self) -> int:
        return self.net.bos

    def runner(self, batch: int) -> "TorchPriorRunner":
        """A generation state over a fresh KV cache (`engine.prior.generate` drives it)."""
        return TorchPriorRunner(self, batch)

    def tensors(self) -> dict[str, np.ndarray]:
        """Bundle component "prior": the weights plus the spec that rebuilds them."""
        out = {name: t.detach().cpu().numpy().copy() for name, t in self.net.state_dict().items()}
        out["spec"] = self.spec.to_array()
        return out

    @classmethod
    def from_tensors(cls, tensors: dict[str, np.ndarray], source: str = "model") -> "Prior":
        if "spec" not in tensors:
            raise InputError(f"{source}: the prior component has no spec; retrain the model")
        spec = PriorSpec.from_array(tensors["spec"])
        net = PriorNet(spec)
        state = {k: torch.from_numpy(np.array(v)) for k, v in tensors.items() if k != "spec"}
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as e:
            raise InputError(f"{source}: the prior's weights do not match its spec ({str(e).splitlines()[0]})") from None
        return cls(net)

    @classmethod
    def from_bundle(cls, bundle) -> "Prior":
        """The bundle's prior, or InputError in one sentence when it was trained without one."""
        if cls.COMPONENT not in bundle.tensors:
            raise InputError(f"model {bundle.model_id} has no prior (it was trained with --no-prior); "
                             "retrain it without --no-prior to generate")
        prior = cls.from_tensors(bundle.tensors[cls.COMPONENT], f"model {bundle.model_id}")
        codec = bundle.config.codec
        if (prior.levels, prior.codebook_size) != (codec.levels, codec.codebook_size):
            raise InputError(f"model {bundle.model_id}: its prior expects {prior.levels} levels x "
                             f"{prior.codebook_size} codes but the codec has {codec.levels} x {codec.codebook_size}")
        return prior

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.net.parameters())

    @torch.inference_mode()
    def nll(self, codes: np.ndarray) -> np.ndarray:
        """Mean negative log-likelihood per level of a clip (BOS at its start), in nats (lower: the
        prior finds the clip likelier). codes # [Q, F] -> # [Q]"""
        total, n_frames = sequence_nll([codes], self.net)
        return total / max(n_frames, 1)


class TorchPriorRunner:
    """One generation's KV cache and hidden state, numpy in and out (the interface
    `engine.live.prior.OnnxPriorRunner` shares): `prefill`, `step`, `fork`, `level_logits`, `add_level`."""

    def __init__(self, prior: Prior, batch: int) -> None:
        spec = prior.spec
        self.net, self.batch = prior.net, batch
        self.cache = KVCache(spec.layers, batch, spec.heads, spec.context_frames, spec.dim // spec.heads)
        self.hidden: torch.Tensor | None = None  # [B, D]

    @property
    def pos(self) -> int:
        return self.cache.pos

    @torch.inference_mode()
    def prefill(self, inputs: np.ndarray) -> torch.Tensor:
        """Context frames # [B, S, Q] into the empty cache; -> hidden of the last # [B, D]"""
        self.hidden = self.net.temporal(torch.from_numpy(np.ascontiguousarray(inputs)), 0, self.cache)[:, -1]
        return self.hidden

    @torch.inference_mode()
    def step(self, frame: np.ndarray) -> torch.Tensor:
        """One chosen frame # [B, Q]; -> the new hidden state # [B, D]"""
        inputs = torch.from_numpy(np.ascontiguousarray(frame))[:, None, :]
        self.hidden = self.net.temporal(inputs, self.cache.pos, self.cache)[:, 0]
        return self.hidden

    def fork(self, batch: int) -> None:
        self.cache = self.cache.repeat(batch)
        self.hidden = self.hidden.expand(batch, -1).clone()
        self.batch = batch

    @torch.inference_mode()
    def level_logits(self, base: torch.Tensor, level: int) -> np.ndarray:
        return self.net.level_logits(base, level).numpy()

    @torch.inference_mode()
    def add_level(self, base: torch.Tensor, level: int, codes: np.ndarray) -> torch.Tensor:
        return self.net.add_level(base, level, torch.from_numpy(np.asarray(codes, dtype=np.int64)))


def sequence_nll(sequences: list[np.ndarray], net: PriorNet, max_frames: int = 1024) -> tuple[np.ndarray, int]:
    """Summed NLL per level over clips, each scored from BOS (clips longer than `max_frames` in
    pieces, a later piece with the previous frame as context). -> (# [Q] nats, frames scored)"""
    total = torch.zeros(net.spec.levels, dtype=torch.float64)
    count = 0
    for seq in sequences:
        codes = torch.from_numpy(np.ascontiguousarray(seq, dtype=np.int64))
        start = 0
        while start < codes.shape[1]:
            if start == 0:
                chunk, starts_clip = codes[:, :max_frames], True
            else:
                chunk, starts_clip = codes[:, start - 1: start + max_frames], False
            logits = net(chunk[None], starts_clip=starts_clip)[0]  # [S, Q, K]
            targets = chunk.T if starts_clip else chunk[:, 1:].T  # [S, Q]
            nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none")
            total += nll.view(-1, net.spec.levels).sum(0).double()
            count += targets.shape[0]
            start += targets.shape[0]
    return total.numpy(), count


def perplexity(nll_sum: np.ndarray, frames: int) -> list[float]:
    """Per level perplexity from summed NLL. # [Q] -> list of Q floats"""
    return [float(math.exp(v / max(frames, 1))) for v in nll_sum]


def spec_dict(spec: PriorSpec) -> dict:
    return asdict(spec)
