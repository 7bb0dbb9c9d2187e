"""Quality measured like a listener would: ViSQOL MOS-LQO (audio mode, 48 kHz) of Distill's
reconstructions, side by side in one run with what bounds and rivals them.

Variants, each scored against the original clip:
- `distill`: codes -> torch decoder -> PGHI + fast Griffin-Lim (the offline render, `Model.reconstruct`);
- `distill_live`: codes -> ONNX decoder -> PGHI (what `distill serve` plays);
- `oracle_mel`: the clip's true mel through the same offline phase method: the design's ceiling;
- `continuous`: the continuous baseline (the same network without the quantizer) through the same
  phase method: what the network can reach before quantizing;
- `opus6`, `opus12`: Opus at 6 and 12 kbps (`opusenc` / `opusdec` of Debian's opus-tools).

Clips: the files of a split concatenated in order (one-shots are far shorter than a clip; each
file contributes at most one clip's length from its start), cut at `clip_seconds`, and up to
`max_clips` of them taken evenly over the split. ViSQOL needs about a second of audio: shorter
clips are padded with silence to `MIN_CLIP_S`. Models below 48 kHz are resampled to 48 kHz for
ViSQOL (reference and degraded alike); their ceiling is then their own band limit.
"""
from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from engine.codec.model import Model
from engine.errors import InputError
from engine.signal.audio import Audio, load_audio, save_audio
from engine.signal.mel import Mel, mel_spectrogram
from engine.signal.pghi import pghi_griffin_lim

VISQOL_RATE = 48_000  # ViSQOL's audio mode is defined at 48 kHz
OPUS_KBPS = {"opus6": 6, "opus12": 12}
CLIP_SECONDS = 6.0
MAX_CLIPS = 6
MIN_CLIP_S = 1.5  # ViSQOL's audio mode needs ~45 spectral frames (about 1 s); a margin above it
VARIANTS = ("distill", "distill_live", "oracle_mel", "continuous", "opus6", "opus12")

Render = Callable[[Audio], np.ndarray]


def distill_bitrate_kbps(model: Model) -> float:
    """Distill's code bitrate: levels x log2(K) bits per code frame x code frames per second."""
    codec = model.config.codec
    return codec.levels * math.log2(codec.codebook_size) * model.code_frame_rate_hz / 1000


def clips_of(audios: list[Audio], clip_seconds: float = CLIP_SECONDS, max_clips: int = MAX_CLIPS) -> list[Audio]:
    """Clips of `clip_seconds` made of the files in order, up to `max_clips` spread over them."""
    if not audios:
        return []
    rate = audios[0].sample_rate
    size = int(round(clip_seconds * rate))
    clips, buffer, names = [], [], []
    for audio in audios:
        buffer.append(audio.samples[:size])
        names.append(Path(audio.source).name)
        if sum(len(b) for b in buffer) >= size:
            clips.append(Audio(np.concatenate(buffer)[:size].copy(), rate, "+".join(names)))
            buffer, names = [], []
    if buffer:  # the rest, padded with silence to what ViSQOL can score
        tail = np.concatenate(buffer)
        tail = np.pad(tail, (0, max(0, int(MIN_CLIP_S * rate) - len(tail))))
        clips.append(Audio(tail.astype(np.float32), rate, "+".join(names)))
    if len(clips) > max_clips:
        clips = [clips[i] for i in np.linspace(0, len(clips) - 1, max_clips).round().astype(int)]
    return clips


class Visqol:
    """ViSQOL v3 audio mode (the `visqol-python` port), one instance reused for every pair."""

    def __init__(self) -> None:
        try:
            from visqol import VisqolApi
        except ImportError:
            raise InputError("--quality needs the visqol-python package (pip install visqol-python==3.8.0)") from None
        self.api = VisqolApi()
        self.api.create(mode="audio")

    def mos(self, reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> float:
        """MOS-LQO (1-5) of `degraded` against `reference`, both [T] at `sample_rate`."""
        ref, deg = (to_rate(x, sample_rate, VISQOL_RATE).astype(np.float64) for x in (reference, degraded))
        return float(self.api.measure_from_arrays(ref, deg, VISQOL_RATE).moslqo)


def to_rate(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    if rate == target:
        return samples
    from scipy.signal import resample_poly  # scipy comes with visqol-python
    g = math.gcd(rate, target)
    return resample_poly(samples, target // g, rate // g)


def fit(samples: np.ndarray, n: int) -> np.ndarray:
    """Trimmed or zero-padded to n samples (renders end at the last full frame)."""
    return np.pad(samples[:n], (0, max(0, n - len(samples)))).astype(np.float32)


def opus_roundtrip(audio: Audio, kbps: int, work: Path) -> np.ndarray:
    """The clip through opusenc at `kbps` (VBR target) and opusdec, at the clip's rate. # [T]"""
    src, enc, dec = work / "in.wav", work / f"{kbps}.opus", work / f"{kbps}.wav"
    save_audio(src, audio, bit_depth=24)
    for cmd in (["opusenc", "--quiet", "--bitrate", str(kbps), str(src), str(enc)],
                ["opusdec", "--quiet", "--rate", "48000", str(enc), str(dec)]):
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise InputError(f"{cmd[0]} failed on {audio.source or 'a clip'}: {done.stderr.strip()[:200]}")
    return load_audio(dec, audio.sample_rate, 0.0).samples


def check_opus_tools() -> None:
    missing = [t for t in ("opusenc", "opusdec") if shutil.which(t) is None]
    if missing:
        raise InputError(f"--quality needs {' and '.join(missing)} (Debian package opus-tools) on the PATH")


def offline_render(values: np.ndarray, cfg) -> np.ndarray:
    """A mel through the offline phase method (PGHI + fast Griffin-Lim). # [M, F] -> [T]"""
    return pghi_griffin_lim(Mel(values.astype(np.float32), cfg.frame_rate_hz), cfg).samples


@torch.no_grad()
def continuous_render(baseline: Model, clip: Audio) -> np.ndarray:
    """The continuous baseline's reconstruction (no quantizer) through the offline phase method."""
    cfg = baseline.config.audio
    mel = mel_spectrogram(clip, cfg).values
    codec = baseline.codec.eval()
    x = codec.pad_frames(torch.from_numpy(mel)[None])
    return offline_render(codec.decode_latent(codec.encode_latent(x))[0, :, : mel.shape[1]].clamp_min(0).numpy(), cfg)


def renderers(model: Model, baseline: Model | None) -> dict[str, Render]:
    """Each variant as clip -> samples at the model rate (not yet trimmed)."""
    from engine.live.decoder import LiveDecoder
    cfg = model.config.audio
    live = LiveDecoder(_with_onnx(model), pin_blas=False)
    out: dict[str, Render] = {
        "distill": lambda clip: model.reconstruct(clip).samples,
        "distill_live": lambda clip: live.render(model.encode(clip)),
        "oracle_mel": lambda clip: offline_render(mel_spectrogram(clip, cfg).values, cfg),
    }
    if baseline is not None:
        out["continuous"] = lambda clip: continuous_render(baseline, clip)
    return out


def _with_onnx(model: Model):
    """The bundle with its ONNX decoder graph (exported here when the model has none, e.g. a
    codec-only model from tools/eval)."""
    from engine.live.decoder import DECODER_FILE
    from engine.live.export import export_bundle
    info = model.bundle.meta.get("onnx")
    if DECODER_FILE in model.bundle.files and isinstance(info, dict) and info.get("model_id") == model.model_id:
        return model.bundle
    return export_bundle(model.bundle)


def evaluate_quality(model: Model, splits: dict[str, list[Audio]], baseline: Model | None = None,
                     clip_seconds: float = CLIP_SECONDS, max_clips: int = MAX_CLIPS,
                     progress: Callable[[str], None] | None = None) -> dict:
    """`quality` {split: {variant: mean MOS-LQO, bitrate_kbps: {variant: kbps}, clips, seconds}}.

    `splits` maps a split name ("train", "heldout") to its files at the model rate; an empty
    split gives None. Without `baseline`, `continuous` is None."""
    check_opus_tools()
    visqol = Visqol()
    render = renderers(model, baseline)
    rate = model.config.audio.sample_rate
    bitrate = {"distill": distill_bitrate_kbps(model), "distill_live": distill_bitrate_kbps(model),
               "oracle_mel": None, "continuous": None, **{k: float(v) for k, v in OPUS_KBPS.items()}}
    report: dict = {}
    with tempfile.TemporaryDirectory(prefix="distill-quality-") as tmp:
        for split, audios in splits.items():
            clips = clips_of(audios, clip_seconds, max_clips)
            if not clips:
                report[split] = None
                continue
            scores: dict[str, list[float]] = {v: [] for v in VARIANTS}
            for i, clip in enumerate(clips):
                if progress:
                    progress(f"quality {split} clip {i + 1}/{len(clips)}")
                for name, fn in render.items():
                    scores[name].append(visqol.mos(clip.samples, fit(fn(clip), len(clip.samples)), rate))
                for name, kbps in OPUS_KBPS.items():
                    decoded = fit(opus_roundtrip(clip, kbps, Path(tmp)), len(clip.samples))
                    scores[name].append(visqol.mos(clip.samples, decoded, rate))
            report[split] = {**{v: (float(np.mean(s)) if s else None) for v, s in scores.items()},
                             "bitrate_kbps": dict(bitrate), "clips": len(clips),
                             "seconds": float(sum(c.duration_s for c in clips)), "files": len(audios)}
    return report
