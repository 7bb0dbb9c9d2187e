"""How the prior picks codes: temperature, top-k, top-p, per-level temperature, in plain words.

Plain-word controls (CLI flags, UI knobs, OSC arguments) map one to one onto the sampling settings
(their defaults and the ranges OSC and the UIs accept are declared once, `engine.facts.SAMPLING_KNOBS`):

| plain word  | setting      | what it does to the sound                                         |
|-------------|--------------|-------------------------------------------------------------------|
| Creativity  | temperature  | low: safe, close to the training sounds; high: wilder, noisier    |
| Focus       | top_k        | keep only the K likeliest codes at each step (0: off); small K = conservative |
| Diversity   | top_p        | keep the likeliest codes that make up this share of probability   |

Sampling draws from a `numpy.random.Generator` (one uniform per code), so a seed reproduces a result exactly.

Held codes keep the model's own timing (`calibrated_holds`, on by default). Codes of real sounds come
in runs (a held note, a decay, silence are one code repeated frame after frame), so the choice at
each step is mostly "hold or change". Tempering that choice distorts durations exponentially: a hold
probability of 0.95 (runs of ~20 frames) becomes 0.997 at temperature 0.5 (runs of ~300), and a
low Creativity gave one long drone or one hit and silence. So the probability of holding the
previous frame's code at a level is taken from the model untempered, and Creativity, Focus and
Diversity choose among the other codes (Focus counts the held code among its K, so Focus 1 stays
greedy; when Focus drops the held code, it wins).
"""
from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from itertools import accumulate

import numpy as np

from engine.errors import InputError
from engine.facts import KNOBS

_exp, _INF = math.exp, math.inf


@dataclass(frozen=True)
class Sampling:
    """Validated sampling settings. `level_temperatures`, when given, replaces `temperature` per
    RVQ level (coarse first); a tuple shorter than the level count leaves the rest at `temperature`."""

    temperature: float = KNOBS["temperature"].default
    top_k: int = KNOBS["top_k"].default  # 0 = off
    top_p: float = KNOBS["top_p"].default
    level_temperatures: tuple[float, ...] | None = None
    calibrated_holds: bool = True  # hold the previous code with the model's untempered probability

    def __post_init__(self) -> None:
        _check_temperature("temperature", self.temperature)
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, (int, np.integer)) or self.top_k < 0:
            raise InputError(f"top_k (focus) must be 0 (off) or a positive whole number, got {self.top_k!r}")
        if not isinstance(self.top_p, (int, float)) or not (0.0 < self.top_p <= 1.0) or math.isnan(self.top_p):
            raise InputError(f"top_p (diversity) must lie in (0, 1], got {self.top_p!r}")
        if self.level_temperatures is not None:
            object.__setattr__(self, "level_temperatures", tuple(float(t) for t in self.level_temperatures))
            for i, t in enumerate(self.level_temperatures):
                _check_temperature(f"level_temperatures[{i}]", t)

    @classmethod
    def from_plain_words(cls, creativity: float | None = None, focus: int | None = None,
                         diversity: float | None = None) -> "Sampling":
        """Creativity -> temperature, Focus -> top_k (0 off), Diversity -> top_p; None keeps the default."""
        base = cls()
        return cls(temperature=base.temperature if creativity is None else creativity,
                   top_k=base.top_k if focus is None else focus,
                   top_p=base.top_p if diversity is None else diversity)

    def temperature_for(self, level: int) -> float:
        if self.level_temperatures is not None and level < len(self.level_temperatures):
            return self.level_temperatures[level]
        return self.temperature


def _check_temperature(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not value > 0 \
            or not math.isfinite(value):
        raise InputError(f"{name} (creativity) must be a number above 0, got {value!r}")


def filtered_probs(logits: np.ndarray, temperature: float, top_k: int, top_p: float) -> np.ndarray:
    """Temperature, then top-k, then top-p, renormalised. logits # [B, K] -> probs # [B, K] float64"""
    return np.array([_filtered_row(row, temperature, top_k, top_p) for row in _rows(logits)], dtype=np.float64)


def hold_calibrated_probs(logits: np.ndarray, temperature: float, top_k: int, top_p: float,
                          held: np.ndarray) -> np.ndarray:
    """Probabilities that hold the previous code `held` with the model's untempered probability;
    the change goes to the other codes, tempered and filtered (Focus counts the held code among
    its K; Diversity applies to the other codes). Rows whose Focus drops the held code are plain
    `filtered_probs`. logits # [B, K], held # [B] int -> probs # [B, K] float64"""
    return np.array([_held_row(row, temperature, top_k, top_p, int(h)) for row, h in zip(_rows(logits), held)],
                    dtype=np.float64)


def sample(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw per row. probs # [B, K] -> codes # [B] int64"""
    return np.array([_draw(row, rng.random()) for row in _rows(probs)], dtype=np.int64)


def choose(logits: np.ndarray, temperature: float, top_k: int, top_p: float, held: np.ndarray | None,
           rng: np.random.Generator) -> np.ndarray:
    """The generation step: one code per row, `hold_calibrated_probs` where a previous code is `held`
    (else `filtered_probs`), drawn as `sample` draws (the same random stream, the same codes).
    logits # [B, K], held # [B] or None -> codes # [B] int64"""
    out = np.empty(len(logits), dtype=np.int64)
    for b, row in enumerate(_rows(logits)):
        probs = (_filtered_row(row, temperature, top_k, top_p) if held is None
                 else _held_row(row, temperature, top_k, top_p, int(held[b])))
        out[b] = _draw(probs, rng.random())
    return out


# One row at a time, in plain Python floats (float64, as numpy's float64): a generation step samples
# one row (one code of one level) of K values, K = 32 by default, where numpy's cost is the number of
# calls, not their size. These kernels run 2.5-3x faster than the fewest-numpy-calls form they
# replaced, with the same settings' meaning; every public function above is built on them, so
# `choose` draws exactly what `sample(hold_calibrated_probs(...))` draws.

def _rows(x: np.ndarray) -> list[list[float]]:
    return np.asarray(x, dtype=np.float64).tolist()


def _filtered_row(z: list[float], temperature: float, top_k: int, top_p: float, total: float = 1.0) -> list[float]:
    """logits # [K] -> probs # [K] summing to `total` (-inf logits get 0)."""
    k = len(z)
    if 0 < top_k < k:
        kth = sorted(z)[k - top_k]
        z = [v if v >= kth else -_INF for v in z]
    top, inverse = max(z), 1.0 / temperature
    p = [_exp((v - top) * inverse) for v in z]
    if top_p < 1.0:
        ranked = sorted(p, reverse=True)
        # keep the likeliest codes until they hold `top_p` (the likeliest always stays): the codes
        # whose likelier codes' mass is below top_p; ties at the threshold stay too
        n_keep = min(1 + bisect_left(list(accumulate(ranked)), top_p * sum(p)), k)
        cut = ranked[n_keep - 1]
        p = [v if v >= cut else 0.0 for v in p]
    scale = total / sum(p)
    return [v * scale for v in p]


def _held_row(z: list[float], temperature: float, top_k: int, top_p: float, held: int) -> list[float]:
    """logits # [K] -> probs # [K] that hold code `held` with its untempered probability."""
    k, z_held = len(z), z[held]
    if 0 < top_k < k and sum(v > z_held for v in z) >= top_k:  # Focus drops the held code: it wins
        return _filtered_row(z, temperature, top_k, top_p)
    if top_k == 1 or k == 1:  # nothing else to change to
        return [1.0 if i == held else 0.0 for i in range(k)]
    top = max(z)
    hold = _exp(z_held - top) / sum([_exp(v - top) for v in z])  # untempered
    others = list(z)
    others[held] = -_INF
    out = _filtered_row(others, temperature, top_k - 1 if top_k > 0 else 0, top_p, total=1.0 - hold)
    out[held] = hold
    return out


def _draw(probs: list[float], uniform: float) -> int:
    """probs # [K] -> a code, by the inverse CDF of one uniform draw in [0, 1)."""
    cdf = list(accumulate(probs))
    return min(bisect_right(cdf, uniform * cdf[-1]), len(cdf) - 1)
