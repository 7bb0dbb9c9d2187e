"""One typed configuration for Distill, as frozen dataclasses.

The model-defining part (`AudioConfig`, `CodecConfig`, `PriorConfig`) is stored in every bundle and
inference reads it only from there; `TrainConfig` only steers training. Every value can be
overridden with `section.key=value` strings (from `--set` or a TOML file); an unknown key is an
error that names it.
"""
from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from engine.errors import InputError


@dataclass(frozen=True)
class AudioConfig:
    sample_rate: int = 48_000  # model rate; every file is resampled to it
    n_fft: int = 2048
    hop_length: int = 512  # 48 kHz / 512 = 93.75 mel frames per second, the seed design's resolution
    n_mels: int = 128
    f_min_hz: float = 20.0
    f_max_hz: float = 20_000.0
    # Fixed dB reference (not per-clip max) so a chunk's mel equals the same frames of the whole clip.
    ref_amplitude: float = 1.0
    min_db: float = -100.0  # floor; mel values are (dB - min_db) / -min_db, so 0..~1
    min_duration_s: float = 0.1  # shorter files are skipped; longer-but-short files are padded
    chunk_frames: int = 96  # training chunk (about 1 s); long files are cut into chunks of this length
    # Longer files (declared length, at the source rate) are skipped: 20 min is an album side, and its
    # mono samples at 48 kHz (230 MB) still fit beside training. Not model-defining; raise it with --set.
    max_file_duration_s: float = 1200.0

    @property
    def frame_rate_hz(self) -> float:
        return self.sample_rate / self.hop_length


@dataclass(frozen=True)
class CodecConfig:
    hidden_channels: int = 128  # ~0.7 M parameters: a small-data codec is a CPU job
    # The decoder's width (0: hidden_channels). Decoding is far faster than real time, so the decoder
    # can be wider than the encoder without the live path or the code rate changing.
    decoder_channels: int = 0
    latent_dim: int = 64
    time_stride: int = 2  # encoder downsamples frames by this; codes run at frame_rate / time_stride
    levels: int = 4  # RVQ levels (Q)
    codebook_size: int = 32  # K; dataset-adaptive, see `adaptive_defaults`
    # Codebooks in the full latent (no projection). 16-dim lookups kept small codebooks alive, but
    # with k-means from the dataset and dead-code revival 64 stays healthy (>= 90% use) and lowered
    # RVQ / continuous mel L1 (with quantize_dropout_share 0.5) from 1.25 to 1.12 on dev-small-30,
    # 1.16 to 1.07 on 30 tonal files and 1.49 to 1.29 on dev-tiny-5 (docs/quality.md).
    codebook_dim: int = 64
    commitment_weight: float = 0.25
    decay: float = 0.9  # EMA decay; low on small data so codebooks follow the encoder
    kmeans_init: bool = True  # initialised from the whole (small) dataset, not one batch
    kmeans_iters: int = 10
    threshold_ema_dead_code: float = 2.0  # revive codes whose EMA count falls below this
    quantize_dropout: bool = True  # trains coarse levels to stand alone
    # Share of training batches on which quantize dropout drops the finer levels (1.0: every batch,
    # the library's behaviour, so all levels train together on only 1 / levels of the batches).
    # Training only: a bundle without it loads as before.
    quantize_dropout_share: float = 0.5
    bypass_quantizer: bool = False  # the continuous A/B baseline: same network, no RVQ


@dataclass(frozen=True)
class PriorConfig:
    layers: int = 2
    dim: int = 128
    heads: int = 4
    dropout: float = 0.4
    token_corruption: float = 0.08  # share of input tokens replaced at random while training
    context_frames: int = 256  # sliding window for generation, in code frames
    # Training crop (2.7 s): the generation window is min(context_frames, crop_frames), because attention
    # distances past the crop are never trained. 8 x 128 frames a step keeps 30 files within 30 s of CPU.
    crop_frames: int = 128
    batch_size: int = 8
    learning_rate: float = 2e-3
    eval_every_steps: int = 20  # validation perplexity is checked this often
    # Early stopping: steps without a better validation perplexity. 80 (was 100) kept the same best
    # checkpoint on dev-tiny-5 (its longest gap, 100 -> 180) and dev-small-30 (40), 20 steps sooner.
    patience_steps: int = 80
    max_steps: int = 3000
    label_smoothing: float = 0.1  # keeps the prior from becoming certain of training codes (lower val NLL on dev-small-30)


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int = 16
    learning_rate: float = 2e-3
    max_epochs: int = 400
    max_minutes: float = 10.0  # the codec's wall-clock budget; `adaptive_defaults` sizes it to the set
    patience_epochs: int = 30  # early stopping on validation mel L1
    lr_decay_epochs: int = 8  # halve the learning rate after this many epochs without improvement
    healthy_utilization: float = 0.8  # the kept checkpoint is the best one whose levels all reach this, if any
    val_share: float = 0.2  # validation split by file
    grad_clip: float = 1.0
    spectral_weight: float = 0.5  # multi-resolution spectral term next to mel L1
    augment: bool = True
    min_crops_per_epoch: int = 64  # so that an epoch of a tiny set is still several steps
    seed: int = 0
    # One thread: on the shared 2-core CPU (load ~8) 2 threads trained the dev-small-30 codec at
    # 35 s an epoch against 0.7 s with 1 (threads wait on each other); the prior found the same.
    threads: int = 1
    # A checkpoint at the first epoch end after this many seconds: a run killed outright (kill -9,
    # power loss) resumes from it with --resume, losing at most this much training.
    checkpoint_every_s: float = 60.0
    # `distill train` writes a first playable model (final codec, this early prior) once the prior has
    # trained this many steps, and replaces it when training ends. 0: as soon as the codec is done.
    # 20 is the prior's first evaluation: the musician plays the final codec ~10 s sooner than at 60
    # (dev-tiny-5 here: 84.9 s instead of 92.3 s); generation from so young a prior is rough (loss
    # 2.4 against 1.6 at 60 steps, 1.3 final) until the finished model replaces it ~50 s later.
    early_bundle_prior_steps: int = 20
    # A still earlier one where the codec trains longer than this: its best healthy weights so far
    # and a prior of `early_bundle_prior_steps` steps, written while the codec goes on (dev-mixed-120:
    # playable after ~2 min instead of ~5). Shorter runs (dev-tiny-5: ~60-75 s) never pay for it.
    early_bundle_codec_s: float = 90.0


@dataclass(frozen=True)
class Config:
    audio: AudioConfig = field(default_factory=AudioConfig)
    codec: CodecConfig = field(default_factory=CodecConfig)
    prior: PriorConfig = field(default_factory=PriorConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Config":
        """Builds a config from nested dicts; unknown sections or keys raise ValueError."""
        sections = {f.name: f.type for f in fields(cls)}
        built = {}
        for name, values in data.items():
            if name not in sections:
                raise InputError(f"unknown config section '{name}' (known: {', '.join(sections)})")
            if not isinstance(values, dict):
                raise InputError(f"config section '{name}' is not a table of values")
            section_cls = _SECTION_TYPES[name]
            known = {f.name for f in fields(section_cls)}
            for key in values:
                if key not in known:
                    raise InputError(f"unknown config key '{name}.{key}'")
            built[name] = section_cls(**{k: _checked_type(f"{name}.{k}", v, getattr(section_cls, k))
                                         for k, v in values.items()})
        return cls(**built).validated()

    def validated(self) -> "Config":
        """Returns self, or raises InputError naming the first value out of RANGES (or inconsistent)."""
        for key, (lo, hi) in RANGES.items():
            section, name = key.split(".")
            value = getattr(getattr(self, section), name)
            if not lo <= value <= hi:  # also refuses NaN
                raise InputError(f"config value {key}={value!r} is out of range ({lo:g} to {hi:g})")
        a, p = self.audio, self.prior
        if a.hop_length > a.n_fft:
            raise InputError(f"config value audio.hop_length={a.hop_length} is larger than audio.n_fft={a.n_fft}")
        if a.f_min_hz >= a.f_max_hz:
            raise InputError(f"config value audio.f_min_hz={a.f_min_hz:g} is not below audio.f_max_hz={a.f_max_hz:g}")
        if p.dim % p.heads:
            raise InputError(f"config value prior.dim={p.dim} is not a multiple of prior.heads={p.heads}")
        return self

    def with_overrides(self, overrides: list[str]) -> "Config":
        """Applies `section.key=value` strings; values are parsed to the field's type."""
        config = self
        for item in overrides:
            if "=" not in item or "." not in item.split("=", 1)[0]:
                raise InputError(f"override '{item}' is not of the form section.key=value")
            path, raw = item.split("=", 1)
            section_name, key = path.strip().split(".", 1)
            if section_name not in _SECTION_TYPES:
                raise InputError(f"unknown config section '{section_name}' in '{item}'")
            section = getattr(config, section_name)
            types = {f.name: f.type for f in fields(section)}
            if key not in types:
                raise InputError(f"unknown config key '{section_name}.{key}'")
            value = _parse(raw.strip(), getattr(section, key), item)
            config = replace(config, **{section_name: replace(section, **{key: value})})
        return config.validated()


_SECTION_TYPES = {"audio": AudioConfig, "codec": CodecConfig, "prior": PriorConfig, "train": TrainConfig}

# The range of every numeric value, as data: a bundle, a TOML file or `--set` outside them is refused
# in one sentence before a tensor is built. Wide on purpose: they stop nonsense (levels 0, hop -1,
# a 10^9-wide layer), not experiments.
RANGES: dict[str, tuple[float, float]] = {
    "audio.sample_rate": (8_000, 192_000), "audio.n_fft": (16, 16_384), "audio.hop_length": (1, 16_384),
    "audio.n_mels": (1, 512), "audio.f_min_hz": (0, 96_000), "audio.f_max_hz": (1, 96_000),
    "audio.ref_amplitude": (1e-9, 1e9), "audio.min_db": (-300, -1), "audio.min_duration_s": (0, 3600),
    "audio.chunk_frames": (1, 100_000), "audio.max_file_duration_s": (1, 86_400),
    "codec.hidden_channels": (1, 4096), "codec.decoder_channels": (0, 4096), "codec.latent_dim": (1, 4096),
    "codec.time_stride": (1, 64),
    "codec.levels": (1, 64), "codec.codebook_size": (2, 65_536), "codec.codebook_dim": (1, 4096),
    "codec.commitment_weight": (0, 1000), "codec.decay": (0, 1), "codec.kmeans_iters": (0, 10_000),
    "codec.threshold_ema_dead_code": (0, 1e9), "codec.quantize_dropout_share": (0, 1),
    "prior.layers": (1, 64), "prior.dim": (1, 8192), "prior.heads": (1, 256), "prior.dropout": (0, 1),
    "prior.token_corruption": (0, 1), "prior.context_frames": (2, 16_384), "prior.crop_frames": (1, 16_384),
    "prior.batch_size": (1, 65_536), "prior.learning_rate": (0, 10), "prior.eval_every_steps": (1, 1e9),
    "prior.patience_steps": (0, 1e9), "prior.max_steps": (0, 1e9), "prior.label_smoothing": (0, 1),
    "train.batch_size": (1, 65_536), "train.learning_rate": (0, 10), "train.max_epochs": (0, 1e9),
    "train.max_minutes": (0, 1e7), "train.min_crops_per_epoch": (1, 1e6), "train.patience_epochs": (0, 1e9),
    "train.lr_decay_epochs": (0, 1e9),
    "train.healthy_utilization": (0, 1), "train.val_share": (0, 0.9), "train.grad_clip": (0, 1e9),
    "train.spectral_weight": (0, 1000), "train.seed": (0, 2**32 - 1), "train.threads": (1, 1024),
    "train.checkpoint_every_s": (0, 1e9), "train.early_bundle_prior_steps": (0, 1e9),
    "train.early_bundle_codec_s": (0, 1e9),
}


# The sizes a prior's stored spec may have (engine/prior/network.py PriorSpec, engine/live/prior.py): they size
# the weights and the KV cache, so a spec read from a file is held to the same ranges.
PRIOR_SPEC_RANGES: dict[str, tuple[float, float]] = {
    "levels": RANGES["codec.levels"], "codebook_size": RANGES["codec.codebook_size"], "dim": RANGES["prior.dim"],
    "layers": RANGES["prior.layers"], "heads": RANGES["prior.heads"], "context_frames": RANGES["prior.context_frames"],
    "mlp_ratio": (1, 16),
}


def _checked_type(key: str, value: Any, default: Any) -> Any:
    """`value` as the type of the field's default (an int is a fine float; a bool is not a number)."""
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        raise InputError(f"config value {key}={value!r} is not true or false")
    if isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise InputError(f"config value {key}={value!r} is not a whole number")
    if isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise InputError(f"config value {key}={value!r} is not a number")
    return value


def _parse(raw: str, current: Any, item: str) -> Any:
    try:
        if isinstance(current, bool):
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if isinstance(current, int):
            return int(raw)
        if isinstance(current, float):
            return float(raw)
    except ValueError:
        raise InputError(f"override '{item}': '{raw}' is not a {type(current).__name__}") from None
    return raw


def load_toml(path: Path) -> Config:
    with open(path, "rb") as f:
        return Config.from_dict(tomllib.load(f))


def adaptive_defaults(usable_files: int, base: Config | None = None) -> Config:
    """Sizes the codec and prior to the dataset (measured on small real sets: 5-50 drum and tonal files).

    Small sets collapse big codebooks at once, so K grows with the file count, not the chunk count
    (`min(64, chunks // 4)` gives K = 1 for 5 files). Lower EMA decay and commitment keep tiny
    codebooks following the encoder.

    The codec's wall-clock budget grows with the set too (the prior's CPU budget is half of it, at
    least a minute; engine/prior/train.py), so that `distill train` reaches a finished model in about
    90 s for 5 files, 4 min for 50 and 8 min for 120 on a 2-core CPU (issue 12; docs/quality.md).
    On a quiet machine the small tiers stop by patience before their budget (dev-tiny-5 after ~62 s,
    dev-small-30 after ~110 s); dev-mixed-120 reaches it (its codec still improved at the old 10 min).
    """
    base = base or Config()
    if usable_files < 20:
        codec = dict(codebook_size=16, levels=4, commitment_weight=0.1, decay=0.8)
        prior = dict(layers=2, dim=128, heads=4, dropout=0.45)
        train = dict(batch_size=8, max_minutes=1.25)
    elif usable_files < 100:
        codec = dict(codebook_size=32, levels=4, commitment_weight=0.2, decay=0.9)
        prior = dict(layers=2, dim=128, heads=4, dropout=0.4)
        train = dict(batch_size=16, max_minutes=2.5)
    elif usable_files < 400:
        codec = dict(codebook_size=64, levels=4, commitment_weight=0.25, decay=0.95)
        # 4 x 128 with dropout 0.4 in 135 CPU s beat 4 x 256 (dropout 0.3) in 260 s on dev-mixed-120 at
        # every level's validation perplexity, with 8-gram overlap still below the held-out files'.
        prior = dict(layers=4, dim=128, heads=4, dropout=0.4)
        train = dict(batch_size=32, max_minutes=4.5)
    else:
        codec = dict(codebook_size=64, levels=4, commitment_weight=0.25, decay=0.95)
        prior = dict(layers=6, dim=512, heads=8, dropout=0.3)
        train = dict(batch_size=32, max_minutes=10.0)
    return replace(
        base,
        codec=replace(base.codec, **codec),
        prior=replace(base.prior, **prior),
        train=replace(base.train, **train),
    )
