"""Live decode figures (issue 4), one core: ONNX Runtime and numpy pinned to one thread.

Model: models/demo.distill when it loads (exported to ONNX here, in memory), else an untrained
codec of the default size. Codes: real audio from the developer sets encoded by that model, cut
to an 8 s loop at 48 kHz.

- ort_vs_torch_decode: codes -> mel, torch eager vs ONNX Runtime (median of runs), for 1 s of
  codes (the size of an edit window or a streamed chunk: the value) and for the whole 8 s loop.
- decode_rt_factor_48k: codes -> 48 kHz audio through `LiveDecoder.render` (phase included),
  seconds of audio per second of work.
- edit_redecode_ms: a 1-frame edit inside the 8 s loop until its audio is ready (`LiveLoop.edit`).
- voices8_core_share: 8 layered 8 s voices rendered in one batched call, as a share of one core
  needed to keep up in real time.
- onnx_torch_parity: max |mel difference| of the export self-test, per tested length.
- phase_pghi_vs_gl32: phase reconstruction alone for 1 s of mel, PGHI vs fast Griffin-Lim 32.
"""
from __future__ import annotations

import functools
import os
import statistics
import time
from pathlib import Path

from tools.testaudio import sets_dir

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "models" / "demo.distill"
DEV_SETS = sets_dir()  # the project's own test audio (tools/make_test_audio builds it)
LOOP_S = 8.0


def _median_s(fn, runs: int, warmup: int = 1, clock=time.perf_counter) -> float:
    """Median wall time (or `clock`, e.g. time.thread_time for CPU time) of `fn`."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        started = clock()
        fn()
        times.append(clock() - started)
    return statistics.median(times)


@functools.lru_cache(maxsize=1)
def _setup():
    import torch

    from engine.bundle import Bundle, load_bundle
    from engine.codec.model import Model, codec_tensors, new_model_id, utc_now
    from engine.codec.network import Codec
    from engine.config import Config
    from engine.live.export import export_bundle
    from engine.signal.stft import single_thread_blas

    torch.set_num_threads(1)
    single_thread_blas()
    try:
        bundle, source = load_bundle(DEMO), str(DEMO.relative_to(ROOT))
    except Exception:
        config = Config().with_overrides(["codec.kmeans_init=false"])
        torch.manual_seed(0)
        tensors = codec_tensors(Codec(config.audio, config.codec).eval())
        bundle, source = Bundle(config, new_model_id(tensors), utc_now(), {"codec": tensors}), "untrained default codec"
    bundle = export_bundle(bundle)
    model = Model(bundle)
    codes = _loop_codes(model)
    return bundle, model, codes, source


def _loop_codes(model):
    """Real sounds encoded by the model, concatenated and cut to an 8 s loop."""
    from engine.codes import Codes
    from engine.signal.audio import Audio, scan_folder

    cfg = model.config.audio
    used, _ = scan_folder(DEV_SETS / "dev-mixed-120", cfg.sample_rate, cfg.min_duration_s)
    samples = np.concatenate([a.samples for a in used[:40]])[: int((LOOP_S + 0.1) * cfg.sample_rate)]
    codes = model.encode(Audio(samples.astype(np.float32), cfg.sample_rate))
    frames = int(round(LOOP_S * model.code_frame_rate_hz))
    return Codes(np.ascontiguousarray(codes.indices[:, :frames]), codes.codebook_size, codes.frame_rate_hz,
                 codes.model_id)


def ort_vs_torch_decode() -> dict:
    import torch

    from engine.live.decoder import LiveDecoder
    from engine.live.export import DecoderGraph

    bundle, model, codes, source = _setup()
    graph = DecoderGraph(model.codec).eval()
    decoder = LiveDecoder(bundle)
    timings = {}
    for name, frames in (("1s", int(round(model.code_frame_rate_hz))), ("loop", codes.n_frames)):
        batch = np.ascontiguousarray(codes.indices[None, :, :frames])
        tensor = torch.from_numpy(np.array(batch))

        def run_torch():
            with torch.no_grad():
                graph(tensor)

        timings[name] = (_median_s(run_torch, 21), _median_s(lambda: decoder.decode_mel(batch), 21), frames)
    torch_s, ort_s, frames = timings["1s"]
    loop_torch_s, loop_ort_s, _ = timings["loop"]
    return {"value": round(torch_s / ort_s, 2), "unit": "x", "baseline": round(torch_s * 1e3, 3),
            "ort_ms": round(ort_s * 1e3, 3), "ratio": round(torch_s / ort_s, 2), "code_frames": frames,
            "loop_8s_torch_ms": round(loop_torch_s * 1e3, 3), "loop_8s_ort_ms": round(loop_ort_s * 1e3, 3),
            "loop_8s_ratio": round(loop_torch_s / loop_ort_s, 2), "model": source}


def decode_rt_factor_48k() -> dict:
    from engine.live.decoder import LiveDecoder
    from engine.signal.stream import pghi_samples

    bundle, _, codes, source = _setup()
    decoder = LiveDecoder(bundle)
    total_s = _median_s(lambda: decoder.render(codes), 7)
    cpu_s = _median_s(lambda: decoder.render(codes), 7, clock=time.thread_time)
    mel = decoder.decode_mel(codes.indices[None])[0]
    decode_s = _median_s(lambda: decoder.decode_mel(codes.indices[None]), 7)
    phase_s = _median_s(lambda: pghi_samples(mel, bundle.config.audio), 7)
    audio_s = len(decoder.render(codes)) / bundle.config.audio.sample_rate
    return {"value": round(audio_s / total_s, 1), "unit": "x real time", "audio_s": round(audio_s, 3),
            "cpu_time_factor": round(audio_s / cpu_s, 1),
            "ms_per_audio_s": round(total_s / audio_s * 1e3, 2),
            "decoder_ms_per_audio_s": round(decode_s / audio_s * 1e3, 2),
            "phase_ms_per_audio_s": round(phase_s / audio_s * 1e3, 2), "model": source}


def edit_redecode_ms() -> dict:
    from engine.live.decoder import LiveDecoder

    bundle, _, codes, source = _setup()
    decoder = LiveDecoder(bundle)
    loop = decoder.loop(codes)
    rng = np.random.default_rng(0)
    current = codes
    times, cpu_times = [], []
    for i in range(105):
        indices = np.array(current.indices)
        frame = int(rng.integers(4, codes.n_frames - 4))  # inside the loop
        indices[:, frame] = (indices[:, frame] + 1 + i % (codes.codebook_size - 1)) % codes.codebook_size
        current = current.with_indices(indices)
        started, cpu_started = time.perf_counter(), time.thread_time()
        splice = loop.edit(current)
        times.append(time.perf_counter() - started)
        cpu_times.append(time.thread_time() - cpu_started)
        assert splice is not None
    times, cpu_times = times[5:], cpu_times[5:]  # first edits warm caches
    return {"value": round(statistics.median(times) * 1e3, 3), "unit": "ms",
            "p95_ms": round(float(np.percentile(times, 95)) * 1e3, 3),
            # CPU time of this thread: what the edit costs without the waits a shared machine adds
            "cpu_median_ms": round(statistics.median(cpu_times) * 1e3, 3),
            "splice_samples": len(splice.samples), "loop_s": LOOP_S, "model": source}


def voices8_core_share() -> dict:
    from engine.live.decoder import LiveDecoder

    bundle, _, codes, source = _setup()
    decoder = LiveDecoder(bundle)
    voices = [codes.with_indices(np.roll(codes.indices, 7 * v, axis=1)) for v in range(8)]
    took_s = _median_s(lambda: decoder.render_voices(voices), 5)
    audio_s = len(decoder.render(codes)) / bundle.config.audio.sample_rate
    return {"value": round(100.0 * took_s / audio_s, 2), "unit": "% of one core",
            "ms_per_audio_s": round(took_s / audio_s * 1e3, 2), "voices": 8, "model": source}


def onnx_torch_parity() -> dict:
    bundle, *_ = _setup()
    info = bundle.meta["onnx"]
    per_length = {}
    for row in info["parity"]:
        key = f"frames_{row['frames']}"
        per_length[key] = max(per_length.get(key, 0.0), row["max_abs_diff"])
    return {"value": info["parity_max_abs_diff"], "unit": "max abs mel difference",
            "tolerance": info["parity_tolerance"], "per_length": per_length}


def phase_pghi_vs_gl32() -> dict:
    from engine.signal.griffin_lim import griffin_lim
    from engine.signal.mel import Mel
    from engine.signal.stream import pghi

    bundle, model, codes, _ = _setup()
    cfg = bundle.config.audio
    mel = model.decode(codes)
    one_s = Mel(mel.values[:, : int(cfg.frame_rate_hz) + 1].copy(), mel.frame_rate_hz)
    pghi_s = _median_s(lambda: pghi(one_s, cfg), 9)
    gl_s = _median_s(lambda: griffin_lim(one_s, cfg, n_iter=32), 3)
    return {"value": round(pghi_s * 1e3, 2), "unit": "ms per s of 48 kHz audio", "baseline": round(gl_s * 1e3, 2),
            "ratio": round(gl_s / pghi_s, 1)}


FIGURES = {
    "ort_vs_torch_decode": ort_vs_torch_decode,
    "decode_rt_factor_48k": decode_rt_factor_48k,
    "edit_redecode_ms": edit_redecode_ms,
    "voices8_core_share": voices8_core_share,
    "onnx_torch_parity": onnx_torch_parity,
    "phase_pghi_vs_gl32": phase_pghi_vs_gl32,
}
