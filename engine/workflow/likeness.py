"""How far generated sound is from the musician's real sound, in a stated embedding.

Embedding: half-second windows (non-overlapping; a file shorter than a window is padded with the
mel floor, i.e. the one-shot followed by silence, as it is heard) of the log-mel pooled into
`BANDS` contiguous mel bands; per window the mean and standard deviation over time of each band,
so 2 x `BANDS` numbers per window.

Two figures compare two sets of windows:
- Fréchet distance between Gaussians fitted to each set (as FAD does, on this embedding);
- classifier two-sample test (C2ST): cross-validated accuracy of a ridge classifier telling the two
  sets apart (classes balanced by subsampling; 0.5 = indistinguishable, 1.0 = always told apart).

Each generated-vs-held-out figure stands next to the same figure for training vs held-out files:
real files of the same kind already differ from each other, and that is the reference. Generated
and training windows are compared at the same count, since both figures depend on sample size.
Generated sound is rendered to audio (offline render) and analysed again, like the real files.
"""
from __future__ import annotations

import numpy as np

from engine.config import AudioConfig
from engine.errors import InputError
from engine.signal.audio import Audio
from engine.signal.mel import mel_spectrogram

WINDOW_S = 0.5
BANDS = 16
CREATIVITY = (0.5, 0.9, 1.2)  # 0.9 is the default Creativity
MAX_WINDOWS = 120  # generated windows per setting (and training windows compared), a CPU bound
MIN_WINDOWS = 8
RIDGE_ALPHAS = (0.1, 1.0, 10.0, 100.0)
FOLDS = 5
EMBEDDING = (f"log-mel in {BANDS} bands, mean and std over time per {WINDOW_S} s window "
             f"({2 * BANDS} dims); FD of fitted Gaussians; C2ST = {FOLDS}-fold ridge-classifier accuracy")


def window_embedding(mel: np.ndarray, cfg: AudioConfig) -> np.ndarray:
    """Half-second windows of one file. # mel [M, F] -> [N, 2 * BANDS]"""
    size = max(1, int(round(WINDOW_S * cfg.frame_rate_hz)))
    n = max(1, mel.shape[1] // size)
    mel = np.pad(mel, ((0, 0), (0, max(0, n * size - mel.shape[1]))))[:, : n * size]
    bands = np.stack([b.mean(axis=0) for b in np.array_split(mel, BANDS, axis=0)])  # [BANDS, F]
    windows = bands.reshape(BANDS, n, size)  # [BANDS, N, size]
    return np.concatenate([windows.mean(-1), windows.std(-1)], axis=0).T.astype(np.float64)


def embed(audios: list[Audio], cfg: AudioConfig) -> np.ndarray:
    """Windows of every file. # -> [N, 2 * BANDS]"""
    if not audios:
        return np.zeros((0, 2 * BANDS))
    return np.concatenate([window_embedding(mel_spectrogram(a, cfg).values, cfg) for a in audios])


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^1/2), by eigendecompositions (stable when
    either covariance is singular, as it is with fewer windows than dimensions). # [N, D], [N', D]"""
    mu = a.mean(0) - b.mean(0)
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(sa)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root_a @ sb @ root_a), 0, None)).sum()
    return float(mu @ mu + np.trace(sa) + np.trace(sb) - 2 * cross)


def c2st_accuracy(a: np.ndarray, b: np.ndarray, seed: int = 0) -> float | None:
    """Cross-validated accuracy of a ridge classifier telling `a` from `b` (balanced by
    subsampling the larger set; alpha chosen per fold by leave-one-out on the fold's training
    part, as scikit-learn's RidgeClassifierCV does). None with fewer than 2 windows a side."""
    rng = np.random.default_rng(seed)
    n = min(len(a), len(b))
    if n < 2:
        return None
    x = np.concatenate([a[rng.permutation(len(a))[:n]], b[rng.permutation(len(b))[:n]]])
    y = np.concatenate([np.ones(n), -np.ones(n)])
    folds = min(FOLDS, n)
    fold_of = np.concatenate([rng.permutation(np.arange(n) % folds), rng.permutation(np.arange(n) % folds)])
    correct = 0
    for k in range(folds):
        train, test = fold_of != k, fold_of == k
        mean, std = x[train].mean(0), x[train].std(0) + 1e-9
        xt, xv = (x[train] - mean) / std, (x[test] - mean) / std
        weights, bias = _ridge_loo(xt, y[train])
        correct += int((np.sign(xv @ weights + bias) == y[test]).sum())
    return correct / len(y)


def _ridge_loo(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Ridge regression on +-1 labels with the alpha of least leave-one-out error. # [N, D], [N]"""
    xm, ym = x.mean(0), y.mean()
    xc, yc = x - xm, y - ym
    u, s, vt = np.linalg.svd(xc, full_matrices=False)
    best = None
    for alpha in RIDGE_ALPHAS:
        shrink = s ** 2 / (s ** 2 + alpha)
        hat_diag = (u ** 2 * shrink).sum(1) + 1 / len(y)  # leverage, the intercept included
        fitted = u @ (shrink * (u.T @ yc)) + ym
        loo = ((y - fitted) / np.clip(1 - hat_diag, 1e-9, None)) ** 2
        if best is None or loo.mean() < best[0]:
            best = (loo.mean(), alpha)
    shrink = s / (s ** 2 + best[1])
    weights = vt.T @ (shrink * (u.T @ yc))
    return weights, float(ym - xm @ weights)


def _subsample(x: np.ndarray, n: int, seed: int) -> np.ndarray:
    return x if len(x) <= n else x[np.random.default_rng(seed).permutation(len(x))[:n]]


def evaluate_generation(model, train: list[Audio], heldout: list[Audio], creativities=CREATIVITY,
                        seed: int = 0, progress=None) -> dict:
    """`generation` {embedding, windows, creativity: {setting: {fd_gen_heldout, fd_train_heldout,
    c2st_gen_heldout, c2st_train_heldout}}}. Generated material: sequences as long as the median
    training file (0.5-4 s, from BOS, as a file starts), enough for as many windows as the
    training files give (at most MAX_WINDOWS), each its own seed."""
    from engine.codes import Codes
    from engine.prior.generate import frames_for_seconds, generate
    from engine.prior.network import Prior
    from engine.prior.sampling import Sampling
    prior = Prior.from_bundle(model.bundle)
    if not train:
        raise InputError("--generation needs training files of the model in DATA_DIR (none of its files is there)")
    cfg = model.config.audio
    train_w, held_w = embed(train, cfg), embed(heldout, cfg)
    n = int(np.clip(len(train_w), MIN_WINDOWS, MAX_WINDOWS))
    seq_s = float(np.clip(np.median([a.duration_s for a in train]), WINDOW_S, 4.0))
    seq_s = WINDOW_S * max(1, round(seq_s / WINDOW_S))
    per_seq = int(round(seq_s / WINDOW_S))
    train_n = _subsample(train_w, n, seed)
    out = {"embedding": EMBEDDING, "sequence_s": seq_s,
           "windows": {"train": int(len(train_n)), "heldout": int(len(held_w)), "generated": n},
           "creativity": {}}
    reference = {"fd_train_heldout": frechet_distance(train_n, held_w) if len(held_w) > 1 else None,
                 "c2st_train_heldout": c2st_accuracy(train_n, held_w, seed)}
    for creativity in creativities:
        if progress:
            progress(f"generation at Creativity {creativity}")
        sampling = Sampling.from_plain_words(creativity, None, None)
        windows = []
        for i in range(-(-n // per_seq)):
            codes = generate(prior, frames_for_seconds(seq_s, model.code_frame_rate_hz), sampling, seed=seed + i)
            audio = model.render(Codes(codes, prior.codebook_size, model.code_frame_rate_hz, model.model_id))
            windows.append(embed([Audio(audio.samples[: int(seq_s * cfg.sample_rate)], cfg.sample_rate)], cfg))
        gen = np.concatenate(windows)[:n]
        out["creativity"][f"{creativity:g}"] = {
            "fd_gen_heldout": frechet_distance(gen, held_w) if len(held_w) > 1 else None,
            "c2st_gen_heldout": c2st_accuracy(gen, held_w, seed), **reference}
    return out
