"""Perceptual labels for every code of a model: what each code *sounds like in context*.

A code alone means nothing (its vector is added to the other levels' vectors), so each code is
measured in context: real windows of the training data are encoded, the code is held at its level
over the middle of each window (the other levels keep their real codes), the window is decoded and
the descriptors of `engine.edit.descriptors` are measured on the held span, then averaged over windows.

Codes are named by rank within their level (z-scores across the level's codes): "bright"/"dark"
(centroid), "noisy" (flatness), "tonal" (pitch salience), "punchy" (onset strength), "soft"
(level). The strongest trait names the code and picks its colour family; a code without a clear
trait is "plain". The labels are JSON stored in the bundle (`meta["labels"]`) by `label_bundle`,
which `distill export` calls.

Labels JSON:
    {"version": 1, "model_id", "descriptors": [...], "families": [{"index", "name", "colour"}],
     "context": {"windows": [C][Q][W] code windows, "hold_frames", "pad_frames"},
     "levels": [{"level", "descriptors": {name: [K floats]}, "names": [K], "traits": [K lists],
                 "families": [K ints]}]}
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from engine.bundle import Bundle
from engine.codes import Codes
from engine.edit.descriptors import DESCRIPTORS, batch_region_descriptors
from engine.errors import InputError
from engine.signal.audio import Audio

LABELS_VERSION = 1
TRAIT_Z = 0.5  # a trait needs a code this many standard deviations from its level's mean
# (word, descriptor, sign): a code is `word` when sign * z(descriptor) is large
TRAITS = (("bright", "centroid_hz", 1), ("dark", "centroid_hz", -1), ("noisy", "flatness", 1),
          ("tonal", "pitch_salience", 1), ("punchy", "onset_strength", 1), ("soft", "rms_db", -1))
FAMILIES = (("plain", "#c8c8c8"), ("bright", "#f2c230"), ("dark", "#3461c1"), ("noisy", "#8a8f98"),
            ("tonal", "#3fae5a"), ("punchy", "#e0483e"), ("soft", "#a27fd6"))
FAMILY_INDEX = {name: i for i, (name, _) in enumerate(FAMILIES)}
DECODE_BATCH = 128  # windows per decoder call: bounded memory, still batched


def decode_windows(model: Any, windows: np.ndarray) -> np.ndarray:
    """Decodes a batch of code windows with the model's codec. # [B, Q, W] -> mel [B, M, W * stride]"""
    out = []
    with torch.no_grad():
        for i in range(0, len(windows), DECODE_BATCH):
            batch = torch.from_numpy(np.ascontiguousarray(windows[i:i + DECODE_BATCH], dtype=np.int64))
            out.append(model.codec.decode_codes(batch).clamp_min(0).numpy())
    return np.concatenate(out).astype(np.float32)


def pad_frames(model: Any) -> int:
    """Code frames of real context either side of a held span: the decoder's receptive field."""
    return int(model.codec.decoder_receptive_field_frames)


def context_windows(model: Any, grids: Sequence[np.ndarray], n_windows: int, hold_frames: int,
                    seed: int = 0) -> np.ndarray:
    """Representative windows of real codes: `n_windows` of `hold + 2 * pad` frames whose middle is
    among the loudest half of all candidate windows (silence says nothing about a code).
    # -> [n, Q, hold + 2 * pad]"""
    pad = pad_frames(model)
    width = hold_frames + 2 * pad
    q = model.config.codec.levels
    rng = np.random.default_rng(seed)
    candidates = []
    for grid in grids:
        grid = np.asarray(grid, dtype=np.int64)
        if grid.shape[1] < width:  # short clips: repeat the edge frame (what padding would do)
            grid = np.pad(grid, ((0, 0), (0, width - grid.shape[1])), mode="edge")
        for start in range(0, grid.shape[1] - width + 1, max(1, hold_frames)):
            candidates.append(grid[:, start:start + width])
    if not candidates:
        raise InputError("no code frames to take label contexts from")
    candidates = np.stack(candidates)  # [N, Q, W]
    if len(candidates) > 4 * n_windows:
        candidates = candidates[rng.choice(len(candidates), 4 * n_windows, replace=False)]
    mels = decode_windows(model, candidates)
    stride = model.config.codec.time_stride
    loudness = mels[:, :, pad * stride:(pad + hold_frames) * stride].mean(axis=(1, 2))
    order = np.argsort(-loudness)[: max(1, len(candidates) // 2)]
    chosen = rng.choice(order, min(n_windows, len(order)), replace=False)
    assert candidates.shape[1] == q
    return candidates[np.sort(chosen)]


def measure_codes(model: Any, windows: np.ndarray, hold_frames: int) -> np.ndarray:
    """Descriptors of every (level, code) held in every window, averaged over windows.
    # windows [C, Q, W] -> [Q, K, len(DESCRIPTORS)]"""
    cfg = model.config
    q_levels, k = cfg.codec.levels, cfg.codec.codebook_size
    pad, stride = pad_frames(model), cfg.codec.time_stride
    c = len(windows)
    batch = np.repeat(windows[None, None], q_levels, axis=0).repeat(k, axis=1).copy()  # [Q, K, C, Q, W]
    for q in range(q_levels):
        batch[q, :, :, q, pad:pad + hold_frames] = np.arange(k)[:, None, None]
    mels = decode_windows(model, batch.reshape(-1, q_levels, windows.shape[-1]))  # [Q*K*C, M, W*stride]
    start, end = pad * stride, (pad + hold_frames) * stride
    found = batch_region_descriptors(mels, cfg.audio, start, end)
    values = np.stack([found[d] for d in DESCRIPTORS], axis=1)  # [Q*K*C, D]
    return values.reshape(q_levels, k, c, len(DESCRIPTORS)).mean(axis=2)


def name_codes(values: np.ndarray) -> tuple[list[str], list[list[str]], list[int]]:
    """Names, traits and families of one level's codes by rank within the level. # [K, D]"""
    std = values.std(axis=0)
    z = (values - values.mean(axis=0)) / np.where(std > 1e-12, std, 1.0)  # [K, D]
    names, traits, families = [], [], []
    for row in z:
        scored = sorted(((sign * row[DESCRIPTORS.index(d)], word) for word, d, sign in TRAITS), reverse=True)
        words = [word for score, word in scored if score >= TRAIT_Z][:3]
        name = words[0] if words else "plain"
        names.append(name)
        traits.append(words)
        families.append(FAMILY_INDEX[name])
    return names, traits, families


def compute_labels(model: Any, audios: Sequence[Audio] | None = None, codes: Sequence[Codes] | None = None,
                   mels: Sequence[np.ndarray] | None = None, windows: np.ndarray | None = None,
                   n_windows: int = 8, hold_frames: int = 4, seed: int = 0) -> dict:
    """Labels (module docstring) for every level and code of `model`, measured in context windows
    taken from `codes` (grids of this model), `mels` (training mels [M, F], e.g. `TrainResult.mels`),
    or `audios` (encoded here), or given directly as `windows` [C, Q, W] (what the labels store, so
    `distill export` can recompute them without the training data)."""
    if windows is None:
        grids = context_grids(model, audios, codes, mels)
        windows = context_windows(model, grids, n_windows, hold_frames, seed)
    windows = np.asarray(windows, dtype=np.int64)
    pad = pad_frames(model)
    if windows.ndim != 3 or windows.shape[1] != model.config.codec.levels or windows.shape[2] <= 2 * pad:
        raise InputError(f"label context windows must be [C, {model.config.codec.levels}, > {2 * pad}], "
                         f"got {list(windows.shape)}")
    hold_frames = windows.shape[2] - 2 * pad
    values = measure_codes(model, windows, hold_frames)  # [Q, K, D]
    levels = []
    for q, level_values in enumerate(values):
        names, traits, families = name_codes(level_values)
        levels.append({
            "level": q,
            "descriptors": {d: [round(float(v), 6) for v in level_values[:, i]] for i, d in enumerate(DESCRIPTORS)},
            "names": names, "traits": traits, "families": families,
        })
    return {
        "version": LABELS_VERSION, "model_id": model.model_id, "descriptors": list(DESCRIPTORS),
        "families": [{"index": i, "name": n, "colour": c} for i, (n, c) in enumerate(FAMILIES)],
        "context": {"windows": windows.tolist(), "hold_frames": hold_frames, "pad_frames": pad},
        "levels": levels,
    }


def context_grids(model: Any, audios: Sequence[Audio] | None, codes: Sequence[Codes] | None,
                  mels: Sequence[np.ndarray] | None) -> list[np.ndarray]:
    """Code grids to take contexts from, from whichever source is given. # -> [Q, F] each"""
    from engine.signal.mel import Mel

    if codes is not None:
        for c in codes:
            model.check_codes(c)
        grids = [c.indices for c in codes]
    elif mels is not None:
        rate = model.config.audio.frame_rate_hz
        grids = [model.encode_mel(Mel(np.asarray(m, dtype=np.float32), rate)).indices for m in mels]
    elif audios is not None:
        grids = [model.encode(a).indices for a in audios]
    else:
        raise InputError("labels need the training sounds (or their codes or mels) for context")
    if not grids:
        raise InputError("labels need at least one sound for context")
    return grids


def label_bundle(model: Any, audios: Sequence[Audio] | None = None, codes: Sequence[Codes] | None = None,
                 mels: Sequence[np.ndarray] | None = None, **options: Any) -> Bundle:
    """The model's bundle with fresh labels in `meta["labels"]` (what `distill train` and
    `distill export` save). With no sounds given, the context windows stored with the model's
    current labels are measured again (so export works without the training data); with none
    stored either, it raises InputError."""
    if audios is None and codes is None and mels is None and "windows" not in options:
        stored = model.bundle.meta.get("labels")
        windows = stored.get("context", {}).get("windows") if isinstance(stored, dict) else None
        if windows is None:
            raise InputError("this model has no stored label contexts: give the training sounds "
                             "(e.g. `distill export MODEL --data DATA_DIR`)")
        options["windows"] = np.asarray(windows, dtype=np.int64)
    return model.bundle.with_meta(labels=compute_labels(model, audios, codes, mels, **options))


def model_labels(model: Any) -> dict | None:
    """The labels stored in the model's bundle, or None when absent or made for other weights."""
    labels = model.bundle.meta.get("labels")
    if not isinstance(labels, dict) or labels.get("version") != LABELS_VERSION:
        return None
    if labels.get("model_id") != model.model_id:
        return None
    return labels


def descriptor_table(labels: dict) -> np.ndarray:
    """Per level and code descriptor values from labels JSON; NaN for a descriptor the labels lack
    (labels made before it existed). # -> [Q, K, len(DESCRIPTORS)]"""
    rows = []
    for level in labels["levels"]:
        k = len(level["names"])
        rows.append([level["descriptors"].get(d, [float("nan")] * k) for d in DESCRIPTORS])
    return np.array(rows, dtype=np.float64).transpose(0, 2, 1)


def code_label(labels: dict, level: int, code: int) -> dict:
    """One code's label: name, traits, family index and name, colour, descriptor values."""
    levels = labels["levels"]
    if not 0 <= level < len(levels) or not 0 <= code < len(levels[level]["names"]):
        raise InputError(f"no label for level {level}, code {code}")
    entry = levels[level]
    family = entry["families"][code]
    return {"level": level, "code": code, "name": entry["names"][code], "traits": entry["traits"][code],
            "family": family, "family_name": labels["families"][family]["name"],
            "colour": labels["families"][family]["colour"],
            "descriptors": {d: entry["descriptors"][d][code] for d in DESCRIPTORS}}
