"""Training the prior on the codes of a few files, without letting it memorise them.

On 5-50 files the prior sees a few thousand frames and memorises them within a few hundred steps,
so everything here leans against that: dropout 0.3-0.5, 5-10% of input tokens replaced at random,
random crops of a stream of files in random order (drawn from augmented encodings when the caller
passes them), validation split by file, early stopping on validation perplexity with the best
checkpoint kept, and a memorisation report (see `engine/prior/memorisation.py`) that compares samples
with held-out real files.
"""
from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from engine.config import PriorConfig
from engine.errors import InputError
from engine.prior.memorisation import overlap_report
from engine.prior.network import Prior, PriorNet, PriorSpec, perplexity, sequence_nll

MEMORISED_PERPLEXITY = 1.5  # below this on training data the prior replays files (measured)
SAMPLE_COUNT = 4  # sequences sampled for the overlap figure
CLIP_START_SHARE = 0.5  # share of training crops that begin at a file start with BOS


@dataclass(frozen=True)
class PriorResult:
    tensors: dict[str, np.ndarray]  # bundle component "prior"
    report: dict  # val_perplexity, train_perplexity, ngram8_*, heldout_ngram8_*, warnings
    stats: dict = field(default_factory=dict)  # steps, best_step, train_s, stopped_by, parameters


Variants = np.ndarray | Sequence[np.ndarray]


@dataclass
class Early:
    """A once-only hand-over of the prior's best weights so far (its tensors, as `Prior.tensors()`),
    at the first evaluation at or after `steps` training steps."""

    steps: int
    receive: Callable[[dict[str, np.ndarray], int], None]  # (tensors, step)
    done: bool = False

    def offer(self, spec: PriorSpec, state: dict, step: int) -> None:
        if self.done:
            return
        self.done = True
        with torch.random.fork_rng(devices=[]):  # building a net draws from torch's RNG: training must not see it
            net = PriorNet(spec)
            net.load_state_dict(state)
            self.receive(Prior(net).tensors(), step)


def train_prior(train_codes: Sequence[Variants], val_codes: Sequence[np.ndarray], codebook_size: int,
                cfg: PriorConfig, *, seed: int = 0, max_seconds: float = 60.0,
                progress: Callable[[dict], None] | None = None, early: Early | None = None) -> PriorResult:
    """Trains a prior on code grids and returns its tensors and memorisation report.

    `train_codes`: one entry per training file, either its codes # [Q, F] or a list of encodings of
    the file, clean first and augmented variants after (crops draw from all; the n-gram reference
    uses the clean one). `val_codes`: codes # [Q, F] of validation files (split by file). With no
    validation files, a fifth of the training files is held out for early stopping. `max_seconds`
    is a budget of CPU seconds of this process (the same model at any machine load). `early`, when
    given, receives the best weights so far once, at the first evaluation after `early.steps` steps
    (or at the end, if training stops before): what a first playable bundle ships while training goes on.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 0.5 M model: on a busy 2-core CPU, 2 threads were up to 7x slower
    try:
        return _train_prior(train_codes, val_codes, codebook_size, cfg, seed, max_seconds, progress, early)
    finally:
        torch.set_num_threads(threads)


def _train_prior(train_codes, val_codes, codebook_size, cfg, seed, max_seconds, progress, early) -> PriorResult:
    started, cpu_started = time.perf_counter(), time.process_time()
    files = [_variants(v, i) for i, v in enumerate(train_codes)]
    if not files:
        raise InputError("the prior needs codes of at least one training file")
    levels = files[0][0].shape[0]
    val = [_grid(v, f"validation file {i}") for i, v in enumerate(val_codes)]
    for grid in [g for f in files for g in f] + val:
        if grid.shape[0] != levels or grid.min(initial=0) < 0 or grid.max(initial=0) >= codebook_size:
            raise InputError(f"all codes must have {levels} levels and lie in [0, {codebook_size})")
    warnings: list[str] = []
    rng = np.random.default_rng(seed)
    if not val and len(files) >= 2:
        order = rng.permutation(len(files))
        n_val = max(1, len(files) // 5)
        val = [files[i][0] for i in order[:n_val]]
        files = [files[i] for i in order[n_val:]]
        warnings.append(f"no validation files were given; held out {n_val} training files for early stopping")
    elif not val:
        warnings.append("one file and no validation files: the prior could not be checked for memorisation")

    torch.manual_seed(seed)
    # The generation window never exceeds the training crop: attention distances past it were never seen.
    crop = min(cfg.context_frames, cfg.crop_frames)
    spec = PriorSpec(levels=levels, codebook_size=codebook_size, dim=cfg.dim, layers=cfg.layers, heads=cfg.heads,
                     context_frames=crop, dropout=cfg.dropout)
    net = PriorNet(spec)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.learning_rate, betas=(0.9, 0.95), weight_decay=0.05)
    best = (math.inf, 0, copy.deepcopy(net.state_dict()))
    step, stopped_by, val_ppl = 0, "max_steps", None
    while step < cfg.max_steps:
        net.train()
        inputs, targets = _batch(rng, files, cfg.batch_size, crop, net.bos)
        inputs = _corrupt(inputs, cfg.token_corruption, codebook_size, net.bos, rng)
        # The depth head's view of the coarser codes of the same frame is corrupted the same way.
        coarser = _corrupt(targets, cfg.token_corruption, codebook_size, net.bos, rng)
        logits = net.depth_logits(net.temporal(inputs), coarser)  # [B, L, Q, K]
        loss = F.cross_entropy(logits.reshape(-1, codebook_size), targets.reshape(-1),
                               label_smoothing=cfg.label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        step += 1
        elapsed = time.perf_counter() - started
        # The budget counts this process's CPU seconds, not wall seconds: on the shared CPU (load ~10)
        # a wall budget stopped the dev-small-30 prior at 169 of the ~350 steps it needs, and its
        # generations were far from real (FD 0.63 against 0.37 trained to the end, table in docs/prior.md).
        over_budget = time.process_time() - cpu_started > max_seconds
        if step % cfg.eval_every_steps == 0 or over_budget:
            if val:
                net.eval()
                with torch.inference_mode():
                    nll, frames = sequence_nll(val, net)
                total = float(nll.sum()) / max(frames, 1)
                val_ppl = perplexity(nll, frames)
                if total < best[0]:
                    best = (total, step, copy.deepcopy(net.state_dict()))
            else:
                best = (math.nan, step, copy.deepcopy(net.state_dict()))
            if progress is not None:
                progress({"stage": "prior", "step": step, "train_loss": round(loss.item(), 4),
                          "val_perplexity": val_ppl, "best_step": best[1], "elapsed_s": round(elapsed, 2)})
            if early is not None and step >= early.steps and not early.done:
                handed = time.process_time()
                early.offer(spec, best[2], step)
                cpu_started += time.process_time() - handed  # writing that bundle is not the prior's budget
            if over_budget:
                stopped_by = "time"
                break
            if val and step - best[1] >= cfg.patience_steps:
                stopped_by = "early_stopping"
                break

    if early is not None:  # training ended before `early.steps`: the first bundle gets the final weights
        early.offer(spec, best[2], step)
    net.load_state_dict(best[2])
    prior = Prior(net)
    report = memorisation_report(prior, [f[0] for f in files], val, seed=seed)
    report["warnings"] = warnings + report["warnings"]
    stats = {"steps": step, "best_step": best[1], "train_s": round(time.perf_counter() - started, 3),
             "cpu_s": round(time.process_time() - cpu_started, 3),  # what a quiet machine would take
             "stopped_by": stopped_by, "parameters": prior.parameter_count()}
    return PriorResult(prior.tensors(), report, stats)


def memorisation_report(prior: Prior, train: Sequence[np.ndarray], heldout: Sequence[np.ndarray],
                        seed: int = 0, sample_frames: int | None = None, sampling=None) -> dict:
    """Per level perplexities, n-gram overlaps of samples vs held-out files, and warnings.

    Samples are drawn from the model's own distribution (temperature 1, no top-k/top-p) unless
    `sampling` says otherwise: truncated sampling favours frequent n-grams and would inflate the
    overlap of a model that copies nothing."""
    from engine.prior.generate import _State  # generation imports the prior; keep the import one-way at load
    from engine.prior.sampling import Sampling

    sampling = sampling or Sampling(temperature=1.0, top_k=0, top_p=1.0)

    with torch.inference_mode():
        train_nll, train_frames = sequence_nll(train, prior.net)
        val_nll, val_frames = sequence_nll(heldout, prior.net) if heldout else (None, 0)
    train_ppl = [round(v, 4) for v in perplexity(train_nll, train_frames)]
    val_ppl = [round(v, 4) for v in perplexity(val_nll, val_frames)] if heldout else None
    # Samples about as long as the training material (at least 2 s each), from BOS like a new sound.
    frames = sample_frames or int(np.clip(sum(t.shape[1] for t in train) / SAMPLE_COUNT, 94, 4 * prior.context_frames))
    state = _State(prior, batch=1)
    state.prefill(None)
    state.fork(SAMPLE_COUNT)
    samples = state.run(frames, sampling, np.random.default_rng(seed + 1))  # [S, Q, F]
    overlap = overlap_report([s[0] for s in samples], [t[0] for t in train], [h[0] for h in heldout])
    warnings = []
    if val_ppl and min(val_ppl) < MEMORISED_PERPLEXITY:
        warnings.append(f"validation perplexity {min(val_ppl):.2f} is below {MEMORISED_PERPLEXITY}: "
                        "the validation files may repeat the training files")
    if min(train_ppl) < MEMORISED_PERPLEXITY:
        warnings.append(f"train perplexity {min(train_ppl):.2f} at the kept checkpoint is below "
                        f"{MEMORISED_PERPLEXITY}: the prior has memorised its training files")
    sample_ov, ref_ov = overlap["ngram8_overlap_nontrivial"], overlap["heldout_ngram8_overlap_nontrivial"]
    if sample_ov is not None and ref_ov is not None and sample_ov > ref_ov:
        warnings.append(f"samples share {sample_ov:.0%} of their non-trivial 8-grams with the training files, "
                        f"more than held-out real files do ({ref_ov:.0%}): generation may copy training material")
    return {"val_perplexity": val_ppl, "train_perplexity": train_ppl, **overlap, "warnings": warnings}


def _grid(value: np.ndarray, name: str) -> np.ndarray:
    grid = np.asarray(value)
    if grid.ndim != 2 or grid.shape[1] < 1 or not np.issubdtype(grid.dtype, np.integer):
        raise InputError(f"{name}: codes must be an integer grid [Q, F] with F >= 1, got {grid.dtype} {grid.shape}")
    return np.ascontiguousarray(grid, dtype=np.int64)


def _variants(value: Variants, index: int) -> list[np.ndarray]:
    if isinstance(value, np.ndarray) and value.ndim == 2:
        return [_grid(value, f"training file {index}")]
    grids = [_grid(v, f"training file {index} variant {j}") for j, v in enumerate(value)]
    if not grids:
        raise InputError(f"training file {index} has no encodings")
    return grids


def _batch(rng: np.random.Generator, files: list[list[np.ndarray]], batch: int, crop: int, bos: int):
    """Random crops of a stream of files in random order. -> inputs, targets # [B, crop, Q] long"""
    levels = files[0][0].shape[0]
    seqs = np.empty((batch, levels, crop + 1), dtype=np.int64)
    for b in range(batch):
        first = files[rng.integers(len(files))]
        grid = first[rng.integers(len(first))]
        if rng.random() < CLIP_START_SHARE:
            parts = [np.full((levels, 1), bos, dtype=np.int64), grid]
        else:
            parts = [grid[:, rng.integers(grid.shape[1]):]]
        have = sum(p.shape[1] for p in parts)
        while have < crop + 1:
            nxt = files[rng.integers(len(files))]
            parts.append(nxt[rng.integers(len(nxt))])
            have += parts[-1].shape[1]
        seqs[b] = np.concatenate(parts, axis=1)[:, :crop + 1]
    seqs_t = torch.from_numpy(seqs).transpose(1, 2)  # [B, crop + 1, Q]
    return seqs_t[:, :-1].contiguous(), seqs_t[:, 1:].contiguous()


def _corrupt(inputs: torch.Tensor, share: float, codebook_size: int, bos: int, rng: np.random.Generator):
    """Replaces `share` of the (non-BOS) input codes with random codes: noise the model must see through."""
    if share <= 0:
        return inputs
    noise = torch.from_numpy(rng.random(tuple(inputs.shape)) < share) & (inputs != bos)
    random_codes = torch.from_numpy(rng.integers(0, codebook_size, tuple(inputs.shape)))
    return torch.where(noise, random_codes, inputs)


def augmented_variants(n_files: int) -> int:
    """Augmented encodings per file next to the clean one. More variants lowered validation
    perplexity on the small dev sets (dev-tiny-5: 6 -> 12; dev-small-30: 3 -> 8); 6 served 120 files."""
    return 12 if n_files < 20 else 8 if n_files < 100 else 6


def encode_for_prior(model, mels: Sequence[np.ndarray], augment_seed: int | None = None,
                     variants: int = 6) -> list[list[np.ndarray]]:
    """Codes of whole-file mels # [M, F] through a trained codec: per file the clean encoding,
    then `variants` encodings of spectrally augmented copies (none when augment_seed is None)."""
    from engine.signal.augment import augment_mel
    from engine.signal.mel import Mel

    rate = model.config.audio.frame_rate_hz
    rng = np.random.default_rng(augment_seed)
    out = []
    for mel in mels:
        grids = [model.encode_mel(Mel(np.ascontiguousarray(mel, dtype=np.float32), rate)).indices]
        if augment_seed is not None:
            grids += [model.encode_mel(Mel(augment_mel(mel, rng), rate)).indices for _ in range(variants)]
        out.append([np.array(g, dtype=np.int64) for g in grids])
    return out


def add_prior(bundle, train_mels: Sequence[np.ndarray], val_mels: Sequence[np.ndarray], *,
              max_seconds: float = 120.0, progress: Callable[[dict], None] | None = None,
              early: Early | None = None):
    """Trains the prior on the codes of a codec-only bundle and returns the bundle with component
    "prior" and report["prior"]. Mels are whole files # [M, F], split by file by the caller."""
    from engine.codec.model import Model

    model = Model(bundle)
    config = bundle.config
    seed = config.train.seed
    train_codes = encode_for_prior(model, train_mels, augment_seed=seed if config.train.augment else None,
                                   variants=augmented_variants(len(train_mels) + len(val_mels)))
    val_codes = [v[0] for v in encode_for_prior(model, val_mels)]
    result = train_prior(train_codes, val_codes, config.codec.codebook_size, config.prior, seed=seed,
                         max_seconds=max_seconds, progress=progress, early=early)
    report = dict(bundle.meta.get("report", {}))
    report["prior"] = result.report
    report["timings"] = {**report.get("timings", {}), "prior_train_s": result.stats["train_s"]}
    report["prior_training"] = result.stats
    return bundle.with_tensors("prior", result.tensors).with_meta(report=report)


def prior_finishing_step(bundle, result, config, progress: Callable[[dict], None] | None = None,
                         early: Early | None = None):
    """`distill train`'s step after the codec: `result` is the codec's TrainResult (mels + split)."""
    train_mels = [result.mels.mels[i] for i in result.train_idx]
    val_mels = [result.mels.mels[i] for i in result.val_idx]
    # Half the codec's budget, at least a minute: 30 files need ~30 s of CPU, 120 files several minutes.
    return add_prior(bundle, train_mels, val_mels, max_seconds=max(60.0, config.train.max_minutes * 60 / 2),
                     progress=progress, early=early)
