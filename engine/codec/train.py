"""Codec training: warm-up, k-means from the whole dataset, RVQ training with health per epoch.

Order of events, and why:
1. A few warm-up epochs with the quantizer bypassed, so k-means sees latents that mean something.
2. k-means initialises every level from the latents of the *whole* training set at once.
3. RVQ training with quantize dropout and dead-code revival; after each epoch, validation mel L1
   (files held out by name) and per-level health measured in eval mode over the training data.
4. Early stopping on validation mel L1; the best weights are kept.
A signal (Ctrl-C, SIGTERM) or `stop()` saves a resumable checkpoint at the next step boundary, and
one is saved every `train.checkpoint_every_s` at an epoch end, so even a kill -9 loses little.
Every epoch re-seeds from (seed, epoch), so a resumed run continues exactly where it stopped.
"""
from __future__ import annotations

import signal
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from engine.bundle import Bundle, load_bundle, save_bundle
from engine.codec.dataset import MelSet, all_chunks, epoch_crops, mel_set, split_by_file
from engine.codec.health import level_health, verdict
from engine.codec.model import codec_from_tensors, codec_tensors, new_model_id, utc_now
from engine.codec.network import Codec
from engine.codec.quantizer import DROPPED
from engine.config import Config, adaptive_defaults
from engine.errors import InputError
from engine.signal.audio import Audio, Skipped
from engine.signal.augment import augment_mel

WARMUP_EPOCHS = 3
AUGMENT_PROBABILITY = 0.5
HEALTH_EVERY_EPOCHS = 5  # health of a row that cannot become the kept checkpoint: this often

Progress = Callable[[dict], None]


class TrainingInterrupted(Exception):
    """Training stopped by a signal or `stop()`; a resumable checkpoint was saved."""

    def __init__(self, checkpoint: Path):
        super().__init__(f"training interrupted; checkpoint saved to {checkpoint} (continue with --resume)")
        self.checkpoint = checkpoint


@dataclass
class TrainResult:
    bundle: Bundle
    report: dict
    mels: MelSet
    train_idx: list[int]
    val_idx: list[int]


def multires_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Spectral detail the plain L1 underweights: L1 at coarser time/frequency resolutions
    plus L1 of the frame-to-frame change (onsets). # [B, M, F] -> scalar"""
    loss = F.l1_loss(pred[..., 1:] - pred[..., :-1], target[..., 1:] - target[..., :-1])
    for scale in (2, 4):
        loss = loss + F.l1_loss(F.avg_pool1d(pred, scale), F.avg_pool1d(target, scale))
        loss = loss + F.l1_loss(F.avg_pool1d(pred.transpose(1, 2), scale),
                                F.avg_pool1d(target.transpose(1, 2), scale))
    return loss / 5


@torch.no_grad()
def mel_l1(codec: Codec, mels: list[np.ndarray], quantize: bool = True) -> float:
    """Mean absolute error in normalised log-mel over whole files, eval mode."""
    codec.eval()
    total, count = 0.0, 0
    for mel in mels:
        x = codec.pad_frames(torch.from_numpy(mel)[None])
        z = codec.encode_latent(x)
        y = codec.decode_codes(codec.quantizer.latent_to_codes(z)) if quantize else codec.decode_latent(z)
        y = y[..., : mel.shape[1]]
        total += float((y - torch.from_numpy(mel)[None]).abs().sum())
        count += mel.size
    return total / max(count, 1)


@torch.no_grad()
def augmented_code_change(codec: Codec, mels: list[np.ndarray], seed: int = 0) -> float:
    """Share of code cells that change when each file is augmented once: augmentation that the
    codes do not see is wasted (the design asks for at least 20%)."""
    rng = np.random.default_rng(seed)
    clean = eval_codes(codec, mels)
    augmented = eval_codes(codec, [augment_mel(m, rng) for m in mels])
    return float((clean != augmented).mean())


@torch.no_grad()
def eval_codes(codec: Codec, mels: list[np.ndarray]) -> np.ndarray:
    """All codes of the given files in eval mode, frames concatenated. # [Q, N]"""
    codec.eval()
    return np.concatenate([codec.encode_codes(torch.from_numpy(m)[None])[0].numpy() for m in mels], axis=1)


def train_codec(used: list[Audio], skipped: list[Skipped], config: Config, *,
                checkpoint_path: Path | None = None, resume: bool = False,
                progress: Progress | None = None, stop: Callable[[], bool] | None = None,
                usable: Callable[[TrainResult], None] | None = None) -> TrainResult:
    """Trains the codec on `used` and returns a bundle (codec only) with its training report.

    `usable(result)`, when given, is called once with the best healthy codec so far, at the first
    epoch end after `train.early_bundle_codec_s` seconds (what a first playable model is built from
    while training goes on); the time it takes counts in the budget, and training continues exactly
    as without it (its random draws are forked off, the weights put back)."""
    torch.set_num_threads(config.train.threads)
    mels = mel_set(used, config.audio)
    train_idx, val_idx = split_by_file(mels.names, config.train.val_share, config.train.seed)
    train_set, val_set = mels.subset(train_idx), mels.subset(val_idx or train_idx)
    torch.manual_seed(config.train.seed)
    codec = Codec(config.audio, config.codec)
    optimizer = torch.optim.Adam(codec.parameters(), lr=config.train.learning_rate)
    state = _TrainState()
    if resume and checkpoint_path and checkpoint_path.exists():
        state = _load_checkpoint(checkpoint_path, codec, optimizer)
    started = time.monotonic() - state.elapsed_s
    last_checkpoint = time.monotonic()
    budget_s = config.train.max_minutes * 60
    interrupted = {"flag": False}
    with _signals_set(interrupted):
        for epoch in range(state.epoch, config.train.max_epochs):
            warm = config.codec.bypass_quantizer or epoch < WARMUP_EPOCHS
            selectable = config.codec.bypass_quantizer or epoch >= WARMUP_EPOCHS
            if (epoch == WARMUP_EPOCHS and state.step == 0 and config.codec.kmeans_init
                    and not config.codec.bypass_quantizer):
                _kmeans_from_dataset(codec, train_set, config)
            done = _train_epoch(codec, optimizer, train_set, config, epoch, warm, state,
                                lambda: interrupted["flag"] or bool(stop and stop()))
            if not done:  # interrupted between two steps: resume replays the rest of this epoch exactly
                state.elapsed_s = time.monotonic() - started
                raise TrainingInterrupted(_save_checkpoint(checkpoint_path, codec, optimizer, state, config))
            loss = float(np.mean(state.losses)) if state.losses else 0.0
            state.step, state.losses = 0, []
            row = _epoch_row(codec, epoch, loss, train_set, val_set, config, warm, state)
            row["elapsed_s"] = time.monotonic() - started
            state.history.append(row)
            if selectable and _better(row, state, config):
                state.best_val, state.best_epoch = row["val_mel_l1"], epoch
                state.best_healthy = _healthy(row, config)
                state.best = {k: v.detach().clone() for k, v in codec.state_dict().items()}
            if selectable and epoch - max(state.best_epoch, state.lr_epoch) >= config.train.lr_decay_epochs:
                state.lr_epoch = epoch  # noisy small-data validation settles with a smaller step
                for group in optimizer.param_groups:
                    group["lr"] *= 0.5
            state.epoch = epoch + 1
            elapsed = time.monotonic() - started
            if checkpoint_path and time.monotonic() - last_checkpoint >= config.train.checkpoint_every_s:
                state.elapsed_s = elapsed  # at an epoch end: resume continues exactly from here
                _save_checkpoint(checkpoint_path, codec, optimizer, state, config)
                last_checkpoint = time.monotonic()
            if progress:
                progress(_progress_row(row, epoch, config, elapsed, budget_s))
            if (usable is not None and not state.usable_done and state.best_healthy
                    and elapsed >= config.train.early_bundle_codec_s):
                state.usable_done = True
                _hand_over(codec, state, usable, lambda: _result(codec, config, mels, train_idx, val_idx, skipped,
                                                                 state, elapsed))
            if selectable and epoch - state.best_epoch >= config.train.patience_epochs:
                break
            if elapsed > budget_s:
                break
    if state.best is not None:
        codec.load_state_dict(state.best)
    train_s = time.monotonic() - started
    if checkpoint_path:
        checkpoint_path.unlink(missing_ok=True)
    return _result(codec, config, mels, train_idx, val_idx, skipped, state, train_s)


def _hand_over(codec: Codec, state: "_TrainState", usable: Callable[[TrainResult], None],
               result: Callable[[], TrainResult]) -> None:
    """Gives `usable` the result of the best weights so far, then puts the training weights back."""
    current = {k: v.detach().clone() for k, v in codec.state_dict().items()}
    try:
        with torch.random.fork_rng(devices=[]):
            codec.load_state_dict(state.best)
            usable(result())
    finally:
        codec.load_state_dict(current)


def _healthy(row: dict, config: Config) -> bool:
    """Every level used enough; true for a row without health (bypassed quantizer, or not measured:
    `_epoch_row` skips it only where the row cannot beat the healthy best anyway)."""
    return "levels" not in row or min(h["utilization"] for h in row["levels"]) >= config.train.healthy_utilization


def _better(row: dict, state: "_TrainState", config: Config) -> bool:
    """Lower validation mel L1 wins, except that a healthy checkpoint is never replaced by an
    unhealthy one: health and quality together, not one at the other's expense."""
    healthy = _healthy(row, config)
    if healthy != state.best_healthy:
        return healthy
    return row["val_mel_l1"] < state.best_val


@dataclass
class _TrainState:
    epoch: int = 0
    best_val: float = float("inf")
    best_epoch: int = -1
    best: dict | None = None
    elapsed_s: float = 0.0
    best_healthy: bool = False
    lr_epoch: int = -1  # epoch of the last learning-rate cut
    step: int = 0  # steps done in the current epoch
    losses: list = field(default_factory=list)  # their losses
    history: list = field(default_factory=list)
    usable_done: bool = False  # the early result was handed over (not kept in checkpoints)


def _train_epoch(codec, optimizer, train_set, config, epoch, warm, state, should_stop) -> bool:
    """Runs the epoch's steps from `state.step` on; False if stopped before the end.

    Crops, augmentation and every step's torch seed derive from (seed, epoch, step), so an epoch
    resumed at step n continues exactly as the uninterrupted run would have.
    """
    codec.train()
    rng = np.random.default_rng([config.train.seed, epoch])
    crops = epoch_crops(train_set, _chunk_frames(config), rng, min_crops=config.train.min_crops_per_epoch)
    if config.train.augment:
        crops = np.stack([augment_mel(c, rng) if rng.random() < AUGMENT_PROBABILITY else c for c in crops])
    batch = config.train.batch_size
    for step in range(state.step, -(-len(crops) // batch)):
        if should_stop():
            return False
        torch.manual_seed(hash((config.train.seed, epoch, step)) & 0x7FFF_FFFF)
        x = torch.from_numpy(crops[step * batch:(step + 1) * batch])
        z = codec.encode_latent(x)
        if warm:
            y, commit = codec.decode_latent(z), z.new_zeros(())
        else:
            q = codec.quantizer(z)
            y, commit = codec.decode_latent(q.latent), q.commit_loss.sum()
        loss = F.l1_loss(y, x) + config.train.spectral_weight * multires_loss(y, x) + commit
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(codec.parameters(), config.train.grad_clip)
        optimizer.step()
        state.losses.append(loss.item())
        state.step = step + 1
    return True


def _chunk_frames(config: Config) -> int:
    stride = config.codec.time_stride
    return -(-config.audio.chunk_frames // stride) * stride


@torch.no_grad()
def _kmeans_from_dataset(codec: Codec, train_set: MelSet, config: Config) -> None:
    codec.eval()
    chunks = torch.from_numpy(all_chunks(train_set, _chunk_frames(config)))
    codec.quantizer.initialise(codec.encode_latent(chunks))


def _epoch_row(codec, epoch, loss, train_set, val_set, config, warm, state: "_TrainState") -> dict:
    val = mel_l1(codec, list(val_set.mels), quantize=not warm)
    row = {"epoch": epoch, "train_loss": loss, "val_mel_l1": val, "warmup": warm}
    # Health encodes the whole training set (up to a quarter of an epoch's time): measured when it can
    # decide the kept checkpoint (a better validation L1, or no healthy one kept yet), else every few
    # epochs for the progress line and code_usage.png. A row without it never replaces a healthy best.
    if not warm and (val < state.best_val or not state.best_healthy or epoch % HEALTH_EVERY_EPOCHS == 0):
        health = level_health(eval_codes(codec, list(train_set.mels)), config.codec.codebook_size)
        row["levels"] = [h.to_json() for h in health]
        row["verdict"] = verdict(health, config.codec.codebook_size).verdict
    return row


def _progress_row(row: dict, epoch: int, config: Config, elapsed: float, budget_s: float) -> dict:
    per_epoch = elapsed / (epoch + 1)
    eta = min(per_epoch * (config.train.max_epochs - epoch - 1), max(budget_s - elapsed, 0.0))
    return {"phase": "codec", "max_epochs": config.train.max_epochs, "eta_s": eta, **row}


def _result(codec, config, mels, train_idx, val_idx, skipped, state, train_s) -> TrainResult:
    train_mels = [mels.mels[i] for i in train_idx]
    val_mels = [mels.mels[i] for i in (val_idx or train_idx)]
    health = level_health(eval_codes(codec, train_mels), config.codec.codebook_size)
    v = verdict(health, config.codec.codebook_size)
    report = {
        "files": {"used": len(mels.names), "skipped": [{"path": s.path, "reason": s.reason} for s in skipped],
                  "train": [mels.names[i] for i in train_idx], "validation": [mels.names[i] for i in val_idx]},
        "config": config.to_dict(),
        "codec": {"levels": [h.to_json() for h in health],
                  "augmented_code_change": augmented_code_change(codec, train_mels, config.train.seed),
                  "val_mel_l1": mel_l1(codec, val_mels, quantize=not config.codec.bypass_quantizer),
                  "epochs": state.epoch, "best_epoch": state.best_epoch},
        "health": {"verdict": v.verdict, "message": v.message},
        "timings": {"train_s": train_s},
        "history": state.history,
        "dataset": {"files": len(mels.names), "duration_s": mels.n_frames / config.audio.frame_rate_hz},
    }
    tensors = codec_tensors(codec)
    bundle = Bundle(config, new_model_id(tensors), utc_now(), {"codec": tensors}, {},
                    {"report": report, "dataset": report["dataset"]})
    return TrainResult(bundle, report, mels, train_idx, val_idx)


@contextmanager
def _signals_set(interrupted: dict):
    """Ctrl-C / SIGTERM set a flag that the loop checks at step boundaries (main thread only)."""
    def handler(signum, frame):
        interrupted["flag"] = True
    try:
        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread (server worker): rely on stop()
        yield
        return
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _save_checkpoint(path: Path | None, codec, optimizer, state: _TrainState, config: Config) -> Path:
    if path is None:
        raise RuntimeError("training interrupted and no checkpoint path was given")
    opt = {}
    for i, s in optimizer.state_dict()["state"].items():
        for key, value in s.items():
            opt[f"{i}.{key}"] = value.detach().numpy().copy() if torch.is_tensor(value) else np.asarray(value)
    tensors = {"codec": codec_tensors(codec), "optimizer": opt}
    if state.best is not None:
        tensors["best"] = {k: v.numpy().copy() for k, v in state.best.items()}
    meta = {"checkpoint": {"epoch": state.epoch, "best_val": state.best_val, "best_epoch": state.best_epoch,
                           "elapsed_s": state.elapsed_s, "history": state.history, "step": state.step,
                           "losses": state.losses, "best_healthy": state.best_healthy, "lr_epoch": state.lr_epoch,
                           "learning_rate": optimizer.param_groups[0]["lr"]}}
    return save_bundle(path, Bundle(config, "checkpoint", utc_now(), tensors, {}, meta))


def _load_checkpoint(path: Path, codec, optimizer) -> _TrainState:
    """The saved state, or InputError in one sentence when the checkpoint is of another run or shape."""
    try:
        return _read_checkpoint(path, codec, optimizer)
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as e:
        if isinstance(e, InputError):
            raise
        raise InputError(f"{path}: checkpoint does not fit this run ({type(e).__name__}: {str(e)[:120]}); "
                         "delete it to train from the beginning") from None


def _read_checkpoint(path: Path, codec, optimizer) -> _TrainState:
    ckpt = load_bundle(path)
    codec_from_tensors(codec, ckpt.tensors["codec"])
    template = optimizer.state_dict()
    for key, value in ckpt.tensors.get("optimizer", {}).items():
        i, name = key.split(".", 1)
        template["state"].setdefault(int(i), {})[name] = torch.from_numpy(np.array(value))
    optimizer.load_state_dict(template)
    meta = ckpt.meta["checkpoint"]
    state = _TrainState(meta["epoch"], meta["best_val"], meta["best_epoch"], None, meta["elapsed_s"],
                        meta["best_healthy"], meta["lr_epoch"], meta["step"], list(meta["losses"]),
                        list(meta["history"]))
    for group in optimizer.param_groups:
        group["lr"] = meta["learning_rate"]
    if "best" in ckpt.tensors:
        state.best = {k: torch.from_numpy(np.array(v)) for k, v in ckpt.tensors["best"].items()}
    return state


def with_resolved_defaults(config: Config, usable_files: int, overrides: list[str]) -> Config:
    """Dataset-adaptive defaults, then the user's overrides on top (overrides always win)."""
    adapted = adaptive_defaults(usable_files, config)
    return adapted.with_overrides(overrides)

