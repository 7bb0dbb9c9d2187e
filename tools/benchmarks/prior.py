"""Prior figures: KV cache speed-up, 10 s generated end to end, prior training time per dev set.

- `prior_kv_speedup`: generating 10 s of codes with the ring-buffer KV cache vs recomputing the
  whole prefix every frame (same network, same sampling, same run). The window covers all 10 s so
  both attend to the same frames. Our prior runs over frames (levels come from the depth head), so
  the temporal sequence is the 469 frames of 10 s, i.e. a flattened length of levels x 469 tokens.
  `onnx_cached_s`: the same KV-cached generation through the ONNX prior (`engine/live/prior.py`).
- `generate_10s_s`: prior + decoder + phase reconstruction for 10 s, one thread, default sizes.
  Weights do not change the cost, so an untrained default-size model stands in when no trained one
  is at hand; the prior and render parts are reported too.
- `generate_10s_live_s`: what `distill serve` does: the ONNX prior, the ONNX decoder and PGHI, no torch;
  the median of 3 runs (`runs_s`: each run's wall time).
- `prior_train_s_<set>`: `train_prior` on the codes of a dev set, from a codec trained once and
  cached under $DISTILL_BENCH_CACHE (default /tmp/distill-bench) as <set>.codec.distill (put a
  codec there to reuse it); codes include augmented variants, as in `distill train`. The value is
  `train_prior`'s own time (encoding excluded); the figure also carries the memorisation report.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from tools.testaudio import sets_dir

import numpy as np
import torch

from engine.prior.generate import _State, frames_for_seconds, generate
from engine.prior.network import Prior, PriorNet, PriorSpec
from engine.prior.sampling import Sampling

DEV_SETS = sets_dir()  # the project's own test audio (tools/make_test_audio builds it)
CACHE = Path(os.environ.get("DISTILL_BENCH_CACHE", "/tmp/distill-bench"))
CODE_RATE_HZ = 48_000 / 512 / 2
FRAMES_10S = frames_for_seconds(10.0, CODE_RATE_HZ)
LIVE_RUNS = 3  # generate_10s_live_s: the median of this many


def _default_prior(window: int, levels: int = 4, codebook_size: int = 32) -> Prior:
    torch.manual_seed(0)
    return Prior(PriorNet(PriorSpec(levels=levels, codebook_size=codebook_size, context_frames=window)))


@torch.inference_mode()
def _generate_uncached(prior: Prior, n_frames: int, sampling: Sampling, seed: int) -> np.ndarray:
    """The same sampling loop, but every frame recomputes the temporal Transformer over the whole prefix."""
    rng = np.random.default_rng(seed)
    state = _State(prior, batch=1)
    net, q_levels = prior.net, prior.levels
    frames = np.full((1, n_frames + 1, q_levels), net.bos, dtype=np.int64)  # inputs: BOS then frames
    for t in range(n_frames):
        state.runner.hidden = net.temporal(torch.from_numpy(frames[:, : t + 1]))[:, -1]
        state.runner.cache.pos = 0
        frames[0, t + 1] = state.run(1, sampling, rng)[0, :, 0]
    return frames[0, 1:].T


def prior_kv_speedup() -> dict:
    torch.set_num_threads(1)
    prior = _default_prior(window=FRAMES_10S + 1)
    generate(prior, 16, seed=0)  # warm-up
    started = time.process_time()  # CPU time: both runs are one thread, and a busy machine skews wall time
    generate(prior, FRAMES_10S, Sampling(), seed=0)
    cached_s = time.process_time() - started
    started = time.process_time()
    _generate_uncached(prior, FRAMES_10S, Sampling(), seed=0)
    uncached_s = time.process_time() - started
    from engine.live.prior import LivePrior
    from engine.live.prior_export import export_prior
    live = LivePrior.from_graphs(export_prior(prior), prior.tensors())  # the same network in ONNX Runtime
    generate(live, 16, seed=0)
    started = time.process_time()
    generate(live, FRAMES_10S, Sampling(), seed=0)
    onnx_s = time.process_time() - started
    return {"value": round(uncached_s / cached_s, 2), "unit": "x", "baseline": round(uncached_s, 3),
            "cached_s": round(cached_s, 3), "frames": FRAMES_10S, "ratio": round(uncached_s / cached_s, 2),
            "onnx_cached_s": round(onnx_s, 3), "onnx_vs_torch_cached": round(cached_s / onnx_s, 2),
            "load_1min": os.getloadavg()[0]}


def _model_for_timing():
    """A trained model with a prior if one is cached, else an untrained default-size one."""
    from engine.bundle import Bundle, load_bundle
    from engine.codec.model import Model, codec_tensors, utc_now
    from engine.codec.network import Codec
    from engine.config import Config

    # The 5-50 file size (2 layers x 128) is the one the target is set for; bigger sets have bigger priors.
    for path in [CACHE / "dev-small-30.distill", CACHE / "dev-tiny-5.distill"]:
        bundle = load_bundle(path) if path.exists() else None
        if bundle is not None and "prior" in bundle.tensors:
            return Model(bundle), path.name
    config = Config()
    torch.manual_seed(0)
    bundle = Bundle(config, "bench", utc_now(), {"codec": codec_tensors(Codec(config.audio, config.codec))})
    spec = PriorSpec(config.codec.levels, config.codec.codebook_size, config.prior.dim, config.prior.layers,
                     config.prior.heads, min(config.prior.context_frames, config.prior.crop_frames))
    return Model(bundle.with_tensors("prior", Prior(PriorNet(spec)).tensors())), "untrained default size"


def generate_10s() -> dict:
    from engine.codes import Codes

    torch.set_num_threads(1)
    model, source = _model_for_timing()
    prior = Prior.from_bundle(model.bundle)
    n_frames = frames_for_seconds(10.0, model.code_frame_rate_hz)
    generate(prior, 8, seed=0)
    started, cpu_started = time.perf_counter(), time.process_time()
    indices = generate(prior, n_frames, Sampling(), seed=0)
    prior_s, prior_cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
    audio = model.render(Codes(indices, prior.codebook_size, model.code_frame_rate_hz, model.model_id))
    total_s, total_cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
    live_s, live_cpu_s, live_prior_s, live_runs_s = _generate_10s_live(model, prior, n_frames)
    return {"figures": {
        "generate_10s_live_s": {"value": round(live_s, 3), "unit": "s", "cpu_s": round(live_cpu_s, 3),
                                "prior_s": round(live_prior_s, 3), "runs_s": live_runs_s,
                                "load_1min": os.getloadavg()[0],
                                "note": "ONNX prior + ONNX decoder + PGHI (the live path, torch-free), vs "
                                        "generate_10s_s: torch prior, offline render (PGHI + 8 Griffin-Lim)",
                                "baseline": round(total_s, 3), "ratio": round(total_s / live_s, 2)},
        "generate_10s_s": {"value": round(total_s, 3), "unit": "s", "cpu_s": round(total_cpu_s, 3),
                           "model": source, "audio_s": round(audio.duration_s, 2), "load_1min": os.getloadavg()[0]},
        "generate_10s_prior_s": {"value": round(prior_s, 3), "unit": "s", "cpu_s": round(prior_cpu_s, 3)},
        "generate_10s_render_s": {"value": round(total_s - prior_s, 3), "unit": "s",
                                  "cpu_s": round(total_cpu_s - prior_cpu_s, 3)},
    }}


def _generate_10s_live(model, prior, n_frames: int, runs: int = LIVE_RUNS) -> tuple[float, float, float, list]:
    """10 s end to end as `distill serve` makes it: the ONNX prior (`engine.live.prior`), the ONNX
    decoder and PGHI; the run of median wall time of `runs` (seeds 0, 1, ...: this machine's speed
    varies ~25% from one second to the next). -> (wall s, CPU s, prior wall s, every run's wall s)"""
    from engine.codes import Codes
    from engine.live.decoder import LiveDecoder
    from engine.live.export import export_bundle
    from engine.live.prior import LivePrior

    bundle = export_bundle(model.bundle)  # this code's graphs, not those a cached bundle was exported with
    decoder, live = LiveDecoder(bundle), LivePrior.from_bundle(bundle)
    decoder.render(Codes(generate(live, 8, seed=1), prior.codebook_size, model.code_frame_rate_hz, model.model_id))
    rows = []
    for seed in range(runs):
        started, cpu_started = time.perf_counter(), time.process_time()
        indices = generate(live, n_frames, Sampling(), seed=seed)
        prior_s = time.perf_counter() - started
        decoder.render(Codes(indices, prior.codebook_size, model.code_frame_rate_hz, model.model_id))
        rows.append((time.perf_counter() - started, time.process_time() - cpu_started, prior_s))
    wall_s, cpu_s, prior_s = sorted(rows)[len(rows) // 2]
    return wall_s, cpu_s, prior_s, [round(r[0], 3) for r in rows]


def _codec_inputs(set_name: str):
    """A codec-only bundle for a dev set (trained once with default settings and cached) and the
    whole-file mels of its training and validation files (the codec's split)."""
    from engine.bundle import load_bundle, save_bundle
    from engine.cli.common import load_usable
    from engine.codec.dataset import mel_set, split_by_file
    from engine.codec.train import train_codec, with_resolved_defaults
    from engine.config import Config

    cached = CACHE / f"{set_name}.codec.distill"
    probe = Config()
    used, skipped = load_usable(str(DEV_SETS / set_name), probe.audio.sample_rate, probe.audio.min_duration_s,
                                quiet=True)
    if cached.exists():
        bundle = load_bundle(cached)
    else:
        bundle = train_codec(used, skipped, with_resolved_defaults(Config(), len(used), [])).bundle
        CACHE.mkdir(parents=True, exist_ok=True)
        save_bundle(cached, bundle)
    cfg = bundle.config
    mels = mel_set(used, cfg.audio)
    train_idx, val_idx = split_by_file(mels.names, cfg.train.val_share, cfg.train.seed)
    return bundle, [mels.mels[i] for i in train_idx], [mels.mels[i] for i in val_idx]


def prior_train_s(set_name: str) -> dict:
    from engine.bundle import save_bundle
    from engine.prior.train import add_prior

    from dataclasses import replace

    from engine.config import adaptive_defaults

    bundle, train_mels, val_mels = _codec_inputs(set_name)
    # The prior settings of this code (a cached codec may carry older ones), sized by file count.
    prior_cfg = adaptive_defaults(len(train_mels) + len(val_mels)).prior
    bundle = replace(bundle, config=replace(bundle.config, prior=prior_cfg))
    bundle = add_prior(bundle, train_mels, val_mels, max_seconds=600)
    save_bundle(CACHE / f"{set_name}.distill", bundle)
    report = bundle.meta["report"]
    stats = report["prior_training"]
    return {"value": stats["train_s"], "unit": "s", "cpu_s": stats["cpu_s"], "load_1min": os.getloadavg()[0],
            "steps": stats["steps"], "best_step": stats["best_step"],
            "stopped_by": stats["stopped_by"], "prior": report["prior"]}


FIGURES = {
    "prior_kv_speedup": prior_kv_speedup,
    "generate_10s_s": generate_10s,
    "prior_train_s_dev-tiny-5": lambda: prior_train_s("dev-tiny-5"),
    "prior_train_s_dev-small-30": lambda: prior_train_s("dev-small-30"),
    "prior_train_s_dev-mixed-120": lambda: prior_train_s("dev-mixed-120"),
}
