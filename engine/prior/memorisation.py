"""Does the prior copy its training files? n-gram overlap of level-1 code sequences.

The overlap of a set of sequences with the training sequences is the share of their n-grams
(counted with repetition) that also occur somewhere in a training sequence. "Non-trivial" leaves
out n-grams of one repeated code (mostly silence), which any model reproduces. The reference is
the overlap of held-out real files: real sounds of the same kind already share many n-grams with
the training set, so samples are judged against that figure, not against zero.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

NGRAM = 8


def ngrams(sequence: np.ndarray, n: int = NGRAM) -> list[tuple[int, ...]]:
    """All n-grams of a 1-D code sequence, in order. # [F] -> F - n + 1 tuples"""
    seq = np.asarray(sequence).ravel().tolist()
    return [tuple(seq[i:i + n]) for i in range(len(seq) - n + 1)]


def is_trivial(gram: tuple[int, ...]) -> bool:
    """One repeated code (silence or a held note)."""
    return len(set(gram)) == 1


def ngram_set(sequences: Iterable[np.ndarray], n: int = NGRAM) -> set[tuple[int, ...]]:
    out: set[tuple[int, ...]] = set()
    for seq in sequences:
        out.update(ngrams(seq, n))
    return out


def ngram_overlap(sequences: Sequence[np.ndarray], reference: set[tuple[int, ...]] | Sequence[np.ndarray],
                  n: int = NGRAM, nontrivial: bool = False) -> float | None:
    """Share of the n-grams of `sequences` found in `reference` (a set, or sequences to build it from).
    None when `sequences` hold no (non-trivial) n-gram at all."""
    ref = reference if isinstance(reference, set) else ngram_set(reference, n)
    grams = [g for seq in sequences for g in ngrams(seq, n) if not (nontrivial and is_trivial(g))]
    if not grams:
        return None
    return sum(g in ref for g in grams) / len(grams)


def overlap_report(samples: Sequence[np.ndarray], train: Sequence[np.ndarray], heldout: Sequence[np.ndarray],
                   n: int = NGRAM) -> dict[str, float | None]:
    """The three report figures for level-1 sequences (# [F] each)."""
    ref = ngram_set(train, n)
    return {
        f"ngram{n}_overlap": _round(ngram_overlap(samples, ref, n)),
        f"ngram{n}_overlap_nontrivial": _round(ngram_overlap(samples, ref, n, nontrivial=True)),
        f"heldout_ngram{n}_overlap_nontrivial": _round(ngram_overlap(heldout, ref, n, nontrivial=True)),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


def describe(prior_report: dict) -> list[str]:
    """Plain lines for `distill info` from report["prior"]."""
    def levels(values):
        return " / ".join(f"{v:.1f}" for v in values) if values else "n/a"

    def share(value):
        return "n/a" if value is None else f"{value:.0%}"

    lines = [f"prior: validation perplexity {levels(prior_report.get('val_perplexity'))} per level, "
             f"train {levels(prior_report.get('train_perplexity'))}",
             f"  samples share {share(prior_report.get('ngram8_overlap_nontrivial'))} of their non-trivial 8-grams "
             f"with the training files ({share(prior_report.get('ngram8_overlap'))} with silence); held-out real "
             f"files share {share(prior_report.get('heldout_ngram8_overlap_nontrivial'))}"]
    lines += [f"  warning: {w}" for w in prior_report.get("warnings", [])]
    return lines
