"""Generation with the prior: new codes, continuation of a clip, regeneration of a time range.

Every path runs the same loop: frame by frame, the temporal Transformer advances one step on a
ring-buffer KV cache (a sliding window of `prior.context_frames` frames, so there are no seams
where one window would end and the next begin: the window slides by one frame every step, and the
cost per frame is constant, so the total cost is linear in duration), then the depth head picks the
frame's codes coarse to fine.

`progress(done_frames, total_frames)` is called every few frames and at the end; `cancel` (a
callable returning True, or anything with `is_set()`, e.g. `threading.Event`) stops the loop with
`GenerationCancelled` within one frame.
"""
from __future__ import annotations

from typing import Any, Callable, Protocol

import numpy as np

from engine.errors import InputError
from engine.prior.sampling import Sampling, choose


class AnyPrior(Protocol):
    """What the loop reads of a prior: the torch `engine.prior.network.Prior` and the ONNX
    `engine.live.prior.LivePrior` both have it. Neither is imported here: the ONNX one keeps torch
    out, and it sits a layer above this one."""

    levels: int
    codebook_size: int
    context_frames: int
    bos: int

    def runner(self, batch: int) -> Any: ...


MAX_DURATION_S = 60.0
PROGRESS_EVERY_FRAMES = 8
REGION_CANDIDATES = 4  # region regeneration samples this many and keeps the one that joins best
JOIN_SCORE_FRAMES = 16  # frames after a region used to score how well a candidate joins them

Progress = Callable[[int, int], None]


class GenerationCancelled(Exception):
    """Raised when `cancel` fired; nothing partial is returned."""


def frames_for_seconds(duration_s: float, frame_rate_hz: float) -> int:
    """Code frames for a duration in (0, 60] seconds, or InputError naming the value."""
    if isinstance(duration_s, bool) or not isinstance(duration_s, (int, float)) or not np.isfinite(duration_s):
        raise InputError(f"seconds must be a number, got {duration_s!r}")
    if duration_s <= 0:
        raise InputError(f"seconds must be above 0, got {duration_s:g}")
    if duration_s > MAX_DURATION_S:
        raise InputError(f"seconds must be at most {MAX_DURATION_S:g}, got {duration_s:g}")
    return max(1, int(np.ceil(duration_s * frame_rate_hz - 1e-9)))  # at least the asked duration


def generate(prior: "AnyPrior", n_frames: int, sampling: Sampling = Sampling(), seed: int = 0,
             progress: Progress | None = None, cancel: Any = None) -> np.ndarray:
    """New codes from nothing (BOS). -> # [Q, n_frames] int64"""
    _check_frames(n_frames)
    state = _State(prior, batch=1)
    state.prefill(None)
    out = state.run(n_frames, sampling, np.random.default_rng(seed), progress=progress, cancel=cancel)
    return out[0]


def continue_codes(prior: "AnyPrior", codes: np.ndarray, n_frames: int, sampling: Sampling = Sampling(),
                   seed: int = 0, progress: Progress | None = None, cancel: Any = None) -> np.ndarray:
    """The given clip followed by `n_frames` new frames that continue it. codes # [Q, F] -> # [Q, F + n_frames]"""
    codes = _check_codes(prior, codes)
    _check_frames(n_frames)
    state = _State(prior, batch=1)
    state.prefill(codes)
    new = state.run(n_frames, sampling, np.random.default_rng(seed), progress=progress, cancel=cancel)[0]
    return np.concatenate([codes, new], axis=1)


def regenerate_region(prior: "AnyPrior", codes: np.ndarray, start_frame: int, end_frame: int,
                      sampling: Sampling = Sampling(), seed: int = 0, locked_levels: tuple[int, ...] = (),
                      progress: Progress | None = None, cancel: Any = None,
                      candidates: int = REGION_CANDIDATES) -> np.ndarray:
    """New codes for frames [start_frame, end_frame), continuing the codes before the region and
    chosen (among `candidates` samples) to lead best into the codes after it. Frames outside the
    region and the `locked_levels` inside it are returned unchanged. codes # [Q, F] -> # [Q, F]"""
    codes = _check_codes(prior, codes)
    n_total = codes.shape[1]
    if not (isinstance(start_frame, (int, np.integer)) and isinstance(end_frame, (int, np.integer))
            and 0 <= start_frame < end_frame <= n_total):
        raise InputError(f"region [{start_frame}, {end_frame}) must satisfy 0 <= start < end <= {n_total} frames")
    locked = sorted(set(int(q) for q in locked_levels))
    if any(q < 0 or q >= prior.levels for q in locked):
        raise InputError(f"locked levels {locked} must lie in [0, {prior.levels})")
    if candidates < 1:
        raise InputError(f"candidates must be at least 1, got {candidates}")
    out = codes.copy()
    if len(locked) == prior.levels:
        return out
    n = end_frame - start_frame
    forced = np.full((prior.levels, n), -1, dtype=np.int64)
    forced[locked] = codes[locked, start_frame:end_frame]
    state = _State(prior, batch=1)
    state.prefill(codes[:, :start_frame] if start_frame else None)
    state.fork(candidates)
    rng = np.random.default_rng(seed)
    region = state.run(n, sampling, rng, forced=forced, progress=progress, cancel=cancel)  # [C, Q, n]
    after = codes[:, end_frame:end_frame + JOIN_SCORE_FRAMES]
    best = int(np.argmin(state.score(after))) if after.shape[1] and candidates > 1 else 0
    out[:, start_frame:end_frame] = region[best]
    return out


def _check_frames(n_frames: int) -> None:
    if isinstance(n_frames, bool) or not isinstance(n_frames, (int, np.integer)) or n_frames < 1:
        raise InputError(f"frames to generate must be a whole number of at least 1, got {n_frames!r}")


def _check_codes(prior: "AnyPrior", codes: np.ndarray) -> np.ndarray:
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.shape[0] != prior.levels or not np.issubdtype(codes.dtype, np.integer):
        raise InputError(f"codes must be an integer grid [{prior.levels}, F], got {codes.dtype} {codes.shape}")
    if codes.size and (codes.min() < 0 or codes.max() >= prior.codebook_size):
        raise InputError(f"codes must lie in [0, {prior.codebook_size})")
    return codes.astype(np.int64)


def _cancelled(cancel: Any) -> bool:
    if cancel is None:
        return False
    if hasattr(cancel, "is_set"):
        return bool(cancel.is_set())
    return bool(cancel())


class _State:
    """One generation in progress: a prior's runner (its KV cache plus the hidden state that predicts
    the next frame), torch (`engine.prior.network.Prior`) or ONNX (`engine.live.prior.LivePrior`) alike."""

    def __init__(self, prior: Any, batch: int) -> None:
        self.prior, self.batch = prior, batch
        self.runner = prior.runner(batch)
        self.prev: np.ndarray | None = None  # the last frame read or chosen # [B, Q]; None after BOS

    @property
    def hidden(self):
        """The state that predicts the next frame # [B, D] (the runner's own array type)."""
        return self.runner.hidden

    def prefill(self, context: np.ndarray | None) -> None:
        """Reads a context clip (or nothing: BOS) into the cache. A context that fits the window is
        read from its start (BOS first, as a clip); a longer one by its last `window` frames."""
        window, q, bos = self.prior.context_frames, self.prior.levels, self.prior.bos
        if context is None or context.shape[1] == 0:
            inputs = np.full((1, 1, q), bos, dtype=np.int64)
        elif context.shape[1] < window:
            inputs = np.concatenate([np.full((q, 1), bos, dtype=np.int64), context], axis=1).T[None]
        else:
            inputs = context[:, -window:].T[None]
        self.runner.prefill(np.ascontiguousarray(np.repeat(inputs, self.batch, axis=0), dtype=np.int64))
        has_codes = context is not None and context.shape[1] > 0
        self.prev = np.repeat(context[None, :, -1], self.batch, axis=0).astype(np.int64) if has_codes else None

    def fork(self, batch: int) -> None:
        """Repeats a batch-1 state `batch` times: candidates that share one context."""
        self.runner.fork(batch)
        if self.prev is not None:
            self.prev = np.repeat(self.prev[:1], batch, axis=0)
        self.batch = batch

    def step(self, frame: np.ndarray) -> None:
        """Feeds one chosen frame # [B, Q] and advances the hidden state."""
        self.runner.step(np.ascontiguousarray(frame, dtype=np.int64))

    def run(self, n_frames: int, sampling: Sampling, rng: np.random.Generator, forced: np.ndarray | None = None,
            progress: Progress | None = None, cancel: Any = None) -> np.ndarray:
        """Samples `n_frames` frames; `forced` # [Q, n] holds codes to keep (-1 = sample). -> # [B, Q, n]"""
        runner, q_levels = self.runner, self.prior.levels
        out = np.zeros((self.batch, q_levels, n_frames), dtype=np.int64)
        temps = [sampling.temperature_for(q) for q in range(q_levels)]
        untempered = [t == 1.0 and sampling.top_k == 0 and sampling.top_p == 1.0 for t in temps]
        prev = self.prev
        for t in range(n_frames):
            if _cancelled(cancel):
                raise GenerationCancelled(f"generation cancelled after {t} of {n_frames} frames")
            base = runner.hidden
            for q in range(q_levels):
                if forced is not None and forced[q, t] >= 0:
                    chosen = np.full(self.batch, forced[q, t], dtype=np.int64)
                else:
                    held = prev[:, q] if sampling.calibrated_holds and prev is not None and not untempered[q] else None
                    chosen = choose(runner.level_logits(base, q), temps[q], sampling.top_k, sampling.top_p, held, rng)
                out[:, q, t] = chosen
                if q + 1 < q_levels:
                    base = runner.add_level(base, q, chosen)
            prev = out[:, :, t]
            if t + 1 < n_frames:
                self.step(out[:, :, t])
            if progress is not None and ((t + 1) % PROGRESS_EVERY_FRAMES == 0 or t + 1 == n_frames):
                progress(t + 1, n_frames)
        self.last = self.prev = out[:, :, -1]
        return out

    def score(self, following: np.ndarray) -> np.ndarray:
        """NLL (nats) of given frames # [Q, m] after what was generated, per batch row. -> # [B]"""
        runner = self.runner
        self.step(self.last)
        nll = np.zeros(self.batch)
        for t in range(following.shape[1]):
            base = runner.hidden
            for q in range(self.prior.levels):
                code = int(following[q, t])
                logits = runner.level_logits(base, q).astype(np.float64)  # [B, K]
                top = logits.max(axis=-1)
                nll -= logits[:, code] - top - np.log(np.exp(logits - top[:, None]).sum(axis=-1))
                base = runner.add_level(base, q, np.full(self.batch, code, dtype=np.int64))
            if t + 1 < following.shape[1]:
                self.step(np.repeat(following[None, :, t], self.batch, axis=0))
        return nll
