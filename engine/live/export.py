"""ONNX export of the live decode path: codes [B, Q, F] int64 -> mel [B, M, F * time_stride].

The graph is a hand-written gather over the stacked per-level codebooks (one flat table, each level
offset by K), a sum over levels, `project_out`, then the conv decoder, clamped at the mel floor like
`Model.decode`. The quantizer library's `get_output_from_indices` is not used: it exports with its
time axis frozen. Batch and frame axes are dynamic.

Every export is self-tested against torch at several lengths and batch sizes before it is stored;
the figures go into the bundle manifest (`meta["onnx"]`) next to what the torch-free runtime needs
(receptive field, levels, codebook size), so `engine/live/decoder.py` never imports torch.
"""
from __future__ import annotations

import io
import warnings

import numpy as np
import onnxruntime as ort
import torch
from torch import Tensor, nn

from engine.bundle import Bundle
from engine.codec.network import Codec
from engine.errors import InputError
from engine.live.decoder import DECODER_FILE, session_for

PARITY_FRAMES = (1, 2, 7, 94, 1000)  # code frames; 1 and 2 catch frozen or off-by-one time axes
PARITY_BATCHES = (1, 3)
PARITY_TOLERANCE = 1e-4  # max abs mel difference, normalised-dB units (0..1)
OPSET = 20  # native Gelu (opset 17 spells it as 5 ops)


class ExportError(InputError):
    """An export whose graph does not match torch; the message gives the worst length."""


class DecoderGraph(nn.Module):
    """What is exported: codes -> mel through a plain gather (no library calls)."""

    def __init__(self, codec: Codec):
        super().__init__()
        books = codec.quantizer.codebook_vectors().detach().clone()  # [Q, K, d]
        levels, size, dim = books.shape
        self.register_buffer("books", books.reshape(levels * size, dim))  # [Q * K, d]
        self.register_buffer("offsets", (torch.arange(levels) * size).reshape(1, levels, 1))  # [1, Q, 1]
        self.project_out = codec.quantizer.project_out
        self.codec = codec

    def forward(self, codes: Tensor) -> Tensor:  # [B, Q, F] int64 -> [B, M, F * stride]
        vectors = nn.functional.embedding(codes + self.offsets, self.books).sum(dim=1)  # [B, F, d]
        return self.codec.decode_latent(self.project_out(vectors)).clamp_min(0.0)


def export_decoder(codec: Codec) -> bytes:
    """Serialises the decoder graph (ONNX bytes, weights inside: no side files)."""
    graph = DecoderGraph(codec).eval()
    example = torch.zeros(1, codec.cfg.levels, 4, dtype=torch.int64)
    buffer = io.BytesIO()
    # The TorchScript exporter: 0.1 s instead of ~3.5 s for the dynamo one, same parity (both tried,
    # see docs/decode.md), and it writes one self-contained file.
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(graph, (example,), buffer, dynamo=False, opset_version=OPSET,
                          input_names=["codes"], output_names=["mel"],
                          dynamic_axes={"codes": {0: "batch", 2: "frames"}, "mel": {0: "batch", 2: "mel_frames"}})
    return buffer.getvalue()


@torch.no_grad()
def parity(codec: Codec, graph: bytes, frames: tuple[int, ...] = PARITY_FRAMES,
           batches: tuple[int, ...] = PARITY_BATCHES, seed: int = 0) -> list[dict]:
    """Max abs difference ONNX vs torch on random codes, per (batch, frames)."""
    session = session_for(graph)
    reference = DecoderGraph(codec).eval()
    rng = np.random.default_rng(seed)
    rows = []
    for n_frames in frames:
        for batch in batches:
            codes = rng.integers(0, codec.cfg.codebook_size, (batch, codec.cfg.levels, n_frames), dtype=np.int64)
            expected = reference(torch.from_numpy(codes)).numpy()
            got = session.run(None, {"codes": codes})[0]
            if got.shape != expected.shape:
                raise ExportError(f"ONNX decoder gives shape {got.shape} for {n_frames} frames, torch {expected.shape}")
            rows.append({"batch": batch, "frames": n_frames, "max_abs_diff": float(np.abs(got - expected).max())})
    return rows


def _worst(rows: list[dict], tolerance: float, what: str) -> dict:
    """The parity row with the largest difference; ExportError naming it when over `tolerance`."""
    worst = max(rows, key=lambda r: r["max_abs_diff"])
    if worst["max_abs_diff"] > tolerance:
        raise ExportError(f"{what} by {worst['max_abs_diff']:.2e} at {worst['frames']} frames "
                          f"(batch {worst['batch']}); tolerance {tolerance}")
    return worst


def export_bundle(bundle: Bundle) -> Bundle:
    """Adds (or replaces) the decoder graph and its parity figures; raises ExportError when the
    graph misses the 1e-4 parity target at any tested length."""
    from engine.codec.model import Model  # torch inference over the bundle's own weights and config

    model = Model(bundle)
    codec = model.codec.eval()
    graph = export_decoder(codec)
    rows = parity(codec, graph)
    worst = _worst(rows, PARITY_TOLERANCE, "ONNX decoder differs from torch")
    info = {
        "decoder": DECODER_FILE,
        "model_id": bundle.model_id,  # a retrained codec makes these graphs stale
        "opset": OPSET,
        "exporter": "torchscript",
        "torch": torch.__version__,
        "onnxruntime": ort.__version__,
        "inputs": {"codes": ["batch", "levels", "frames"]},
        "outputs": {"mel": ["batch", "n_mels", "frames * time_stride"]},
        "levels": codec.cfg.levels,
        "codebook_size": codec.cfg.codebook_size,
        "time_stride": codec.cfg.time_stride,
        "decoder_receptive_field_frames": int(codec.decoder_receptive_field_frames),
        "parity": rows,
        "parity_max_abs_diff": worst["max_abs_diff"],
        "parity_tolerance": PARITY_TOLERANCE,
    }
    bundle = bundle.with_file(DECODER_FILE, graph)
    if "prior" in bundle.tensors:  # generation without torch too
        graphs, info["prior"] = export_prior_graphs(bundle)
        for name, data in graphs.items():
            bundle = bundle.with_file(name, data)
    return bundle.with_meta(onnx=info)


def export_prior_graphs(bundle: Bundle) -> tuple[dict[str, bytes], dict]:
    """The prior's two graphs (`engine/live/prior_export.py`), self-tested like the decoder's, and their
    manifest entry (sizes the torch-free runner needs, the digest of the weights they come from)."""
    from engine.live.prior import prior_digest
    from engine.live.prior_export import DEPTH_FILE, PARITY_TOLERANCE as PRIOR_TOLERANCE, STEP_FILE, export_prior, prior_parity
    from engine.prior.network import Prior

    prior = Prior.from_bundle(bundle)
    graphs = export_prior(prior)
    rows = prior_parity(prior, graphs)
    worst = _worst(rows, PRIOR_TOLERANCE, "ONNX prior differs from torch in its logits")
    spec = prior.spec
    info = {"step": STEP_FILE, "depth": DEPTH_FILE, "prior_digest": prior_digest(bundle.tensors["prior"]),
            "levels": spec.levels, "codebook_size": spec.codebook_size, "dim": spec.dim, "layers": spec.layers,
            "heads": spec.heads, "context_frames": spec.context_frames,
            "inputs": {"inputs": ["batch", "frames", "levels"], "cos": ["frames", "head_dim / 2"],
                       "sin": ["frames", "head_dim / 2"], "past_k": ["layers", "batch", "heads", "past_frames", "head_dim"],
                       "past_v": ["layers", "batch", "heads", "past_frames", "head_dim"], "past_valid": ["past_frames"],
                       "base": ["batch", "dim"], "level": [1]},
            "outputs": {"hidden": ["batch", "frames", "dim"], "new_k": ["layers", "batch", "heads", "frames", "head_dim"],
                        "new_v": ["layers", "batch", "heads", "frames", "head_dim"], "logits": ["batch", "codebook_size"]},
            "parity": rows, "parity_max_abs_diff": worst["max_abs_diff"], "parity_tolerance": PRIOR_TOLERANCE}
    return graphs, info
