"""The prior without torch: the ONNX graphs of `engine/live/prior_export.py` run by ONNX Runtime, with the
ring-buffer KV cache kept here in numpy.

`LivePrior` has the same generation interface as the torch `engine.prior.network.Prior` (`levels`,
`codebook_size`, `context_frames`, `bos`, `runner(batch)`), so `engine.prior.generate` samples from
either with the same numpy sampling and the same random stream: the same seed gives the same codes
(up to float rounding of the logits, ~1e-6). A process that only generates, regenerates and decodes
never imports torch.

    prior = LivePrior.from_bundle(bundle)          # LivePriorError says to run `distill export`
    codes = engine.prior.generate.generate(prior, n_frames, sampling, seed)
"""
from __future__ import annotations

import hashlib
import sys

import numpy as np

from engine.config import PRIOR_SPEC_RANGES
from engine.errors import InputError

STEP_FILE = "prior_step.onnx"
DEPTH_FILE = "prior_depth.onnx"
PRIOR_COMPONENT = "prior"
ROPE_TABLE_FRAMES = 4096  # rotary tables kept for the first ~87 s of positions: one slice per step


class LivePriorError(InputError):
    """A bundle whose prior cannot run torch-free; the message says how to fix it."""


def prior_digest(tensors: dict[str, np.ndarray]) -> str:
    """A content hash of the prior's weights: graphs exported from other weights are stale
    (retraining only the prior keeps the codec's model id)."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(tensors[name]).tobytes())
    return digest.hexdigest()[:16]


class LivePrior:
    """A trained prior in ONNX Runtime. Shapes and sizes come from the export's manifest entry."""

    def __init__(self, step_graph: bytes, depth_graph: bytes, depth_table: np.ndarray, spec: dict,
                 threads: int = 1) -> None:
        from engine.live.decoder import session_for
        self.levels, self.codebook_size = int(spec["levels"]), int(spec["codebook_size"])
        self.context_frames, self.layers = int(spec["context_frames"]), int(spec["layers"])
        self.heads, self.dim = int(spec["heads"]), int(spec["dim"])
        self.head_dim = self.dim // self.heads
        self.bos = self.levels * self.codebook_size
        table = np.ascontiguousarray(depth_table, dtype=np.float32)  # [Q * K, D]
        self.depth_tables = [table[q * self.codebook_size:(q + 1) * self.codebook_size] for q in range(self.levels)]
        self.step_session = session_for(step_graph, threads)
        self.depth_session = session_for(depth_graph, threads)
        self._levels = [np.array([q], dtype=np.int64) for q in range(self.levels)]
        self._inv_freq = 1.0 / (10_000.0 ** (np.arange(0, self.head_dim, 2, dtype=np.float64) / self.head_dim))
        self._rope_table = self.rope(np.arange(ROPE_TABLE_FRAMES))  # [ROPE_TABLE_FRAMES, hd/2] each

    @classmethod
    def from_graphs(cls, graphs: dict[str, bytes], tensors: dict[str, np.ndarray]) -> "LivePrior":
        """From freshly exported graphs and the prior's bundle tensors (the export's self-test)."""
        return cls(graphs[STEP_FILE], graphs[DEPTH_FILE], tensors["depth_embed.weight"], spec_from_tensors(tensors))

    @classmethod
    def from_bundle(cls, bundle, source: str = "") -> "LivePrior":
        """The bundle's prior graphs, checked against its prior weights; LivePriorError otherwise."""
        where = source or f"model {bundle.model_id}"
        if PRIOR_COMPONENT not in bundle.tensors:
            raise InputError(f"{where} has no prior (it was trained with --no-prior); retrain it without "
                             "--no-prior to generate")
        info = (bundle.meta.get("onnx") or {}).get("prior")
        fix = f"run `distill export {source or 'MODEL'}`"
        if not isinstance(info, dict) or STEP_FILE not in bundle.files or DEPTH_FILE not in bundle.files:
            raise LivePriorError(f"{where} has no ONNX prior graphs for torch-free generation; {fix} to add them")
        tensors = bundle.tensors[PRIOR_COMPONENT]
        if info.get("prior_digest") != prior_digest(tensors):
            raise LivePriorError(f"{where}: its ONNX prior graphs were exported from other prior weights; "
                                 f"{fix} to export them again")
        spec = spec_from_tensors(tensors)
        table = tensors.get("depth_embed.weight")
        codec = bundle.config.codec
        if (any(info.get(k) != spec[k] for k in ("levels", "codebook_size", "dim", "layers", "heads", "context_frames"))
                or (spec["levels"], spec["codebook_size"]) != (codec.levels, codec.codebook_size)
                or table is None or table.shape != (spec["levels"] * spec["codebook_size"], spec["dim"])):
            raise LivePriorError(f"{where}: its ONNX prior record (meta.onnx.prior) does not match the prior's "
                                 f"weights and the codec; {fix} to export them again")
        for name, (low, high) in PRIOR_SPEC_RANGES.items():  # before any graph runs or cache is built
            if not low <= spec[name] <= high:
                raise LivePriorError(f"{where}: its prior's {name} is {spec[name]}, outside {low:g} to {high:g}")
        return cls(bundle.files[STEP_FILE], bundle.files[DEPTH_FILE], table, info)

    def runner(self, batch: int) -> "OnnxPriorRunner":
        return OnnxPriorRunner(self, batch)

    def rope(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """cos/sin of rotary positions, float64 then float32 like the torch prior. # [S, hd/2] each"""
        angles = positions.astype(np.float64)[:, None] * self._inv_freq[None, :]
        return np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)

    def rope_rows(self, start: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        """`rope` of positions start..start+count-1, from the table where it reaches (the same values)."""
        if start + count <= ROPE_TABLE_FRAMES:
            return self._rope_table[0][start:start + count], self._rope_table[1][start:start + count]
        return self.rope(np.arange(start, start + count))

    def level_logits(self, base: np.ndarray, level: int) -> np.ndarray:
        """base # [B, D] -> logits # [B, K] float32"""
        return self.depth_session.run(None, {"base": base, "level": self._levels[level]})[0]

    def add_level(self, base: np.ndarray, level: int, codes: np.ndarray) -> np.ndarray:
        """base # [B, D] plus the depth embedding of the chosen codes # [B] at `level`."""
        return base + self.depth_tables[level][codes]


def spec_from_tensors(tensors: dict[str, np.ndarray]) -> dict:
    """The sizes in the prior component's `spec` array (layout: `engine.prior.network.PriorSpec.to_array`)."""
    values = [int(v) for v in np.asarray(tensors["spec"]).ravel()]
    names = ("version", "levels", "codebook_size", "dim", "layers", "heads", "context_frames", "mlp_ratio")
    if len(values) != len(names):
        raise InputError(f"the prior's spec has {len(values)} values, expected {len(names)}")
    return dict(zip(names, values))


class OnnxPriorRunner:
    """One generation's KV cache ring (numpy) and the hidden state that predicts the next frame.
    Same interface as `engine.prior.network.TorchPriorRunner`."""

    def __init__(self, prior: LivePrior, batch: int) -> None:
        self.prior, self.batch = prior, batch
        shape = (prior.layers, batch, prior.heads, prior.context_frames, prior.head_dim)
        self.k = np.zeros(shape, np.float32)  # [L, B, H, W, hd]
        self.v = np.zeros(shape, np.float32)
        self.slot_pos = np.full(prior.context_frames, -1, np.int64)  # position held by each slot
        self.pos = 0  # frames written so far
        self.hidden: np.ndarray | None = None  # [B, D]

    def _run(self, inputs: np.ndarray) -> np.ndarray:
        """Appends S frames # [B, S, Q]; -> hidden # [B, S, D]"""
        window, s = self.prior.context_frames, inputs.shape[1]
        if s > 1 and self.pos > 0 or s > window:
            raise ValueError("several frames at once only into an empty cache, at most the window")
        cos, sin = self.prior.rope_rows(self.pos, s)
        # A step at position p attends to positions (p - window, p]: the slot p overwrites drops out.
        valid = (self.slot_pos >= 0) & (self.slot_pos > self.pos + s - 1 - window)
        hidden, new_k, new_v = self.prior.step_session.run(None, {
            "inputs": inputs, "cos": cos, "sin": sin, "past_k": self.k, "past_v": self.v, "past_valid": valid})
        if s == 1:  # a generation step: one slot, plain indexing
            slot = self.pos % window
            self.k[:, :, :, slot] = new_k[:, :, :, 0]
            self.v[:, :, :, slot] = new_v[:, :, :, 0]
            self.slot_pos[slot] = self.pos
        else:
            positions = np.arange(self.pos, self.pos + s)
            slots = positions % window
            self.k[:, :, :, slots] = new_k
            self.v[:, :, :, slots] = new_v
            self.slot_pos[slots] = positions
        self.pos += s
        return hidden

    def prefill(self, inputs: np.ndarray) -> np.ndarray:
        """Reads context frames # [B, S, Q] into the empty cache; -> hidden of the last # [B, D]"""
        self.hidden = self._run(np.ascontiguousarray(inputs, dtype=np.int64))[:, -1]
        return self.hidden

    def step(self, frame: np.ndarray) -> np.ndarray:
        """Feeds one chosen frame # [B, Q]; -> the new hidden state # [B, D]"""
        self.hidden = self._run(np.ascontiguousarray(frame, dtype=np.int64)[:, None, :])[:, 0]
        return self.hidden

    def fork(self, batch: int) -> None:
        """Repeats a batch-1 state `batch` times: candidates sharing one context."""
        self.k = np.repeat(self.k, batch, axis=1)
        self.v = np.repeat(self.v, batch, axis=1)
        self.hidden = np.repeat(self.hidden, batch, axis=0)
        self.batch = batch

    def level_logits(self, base: np.ndarray, level: int) -> np.ndarray:
        return self.prior.level_logits(base, level)

    def add_level(self, base: np.ndarray, level: int, codes: np.ndarray) -> np.ndarray:
        return self.prior.add_level(base, level, codes)


def generation_prior(bundle, source: str = "", warn=None):
    """The prior `distill serve` generates with: the ONNX one, or, for a bundle exported before the
    prior had graphs, the torch one with a warning (torch loads: slower start, +~250 MB) that says
    to run `distill export`. InputError when the bundle has no prior at all."""
    try:
        return LivePrior.from_bundle(bundle, source)
    except LivePriorError as e:
        message = f"{e}; generating with torch meanwhile (slower to load, more memory)"
        if warn is not None:
            warn(message)
        else:
            print(f"distill: {message}", file=sys.stderr)
        from engine.prior.network import Prior
        return Prior.from_bundle(bundle)
