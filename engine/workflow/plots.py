"""Training pictures as PNG files, drawn only from a model's training report.

`distill train` writes them next to the model and `distill info MODEL --plots DIR` redraws them
from any bundle, so everything a picture needs is in the report (`bundle.meta["report"]`):
- `history`: the codec's epochs (train_loss, val_mel_l1, per-level utilization) -> loss.png, code_usage.png;
- `prior_training.history`: the prior's evaluations (step, train_loss, val_perplexity) -> loss.png;
- `plots.spectrogram`: a validation clip's mel and its reconstruction, 8-bit -> spectrogram.png.

matplotlib through its object API and the Agg canvas only: no pyplot, no display, no global state.
"""
from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np

from engine.atomic import atomic_path

SPECTROGRAM_SECONDS = 4.0  # of the validation clip kept in the report
SPECTROGRAM_ROWS = 64  # mel rows kept (pairs of the model's mels averaged): ~25 KB per picture
WARN_SHARE, BAD_SHARE = 0.5, 0.25  # the health bands the web page draws too (engine/codec/health.py)


def spectrogram_record(model: Any, mel: np.ndarray, name: str) -> dict:
    """The report entry for spectrogram.png: the start of `mel` [M, F] (normalised log-mel, 0..1)
    and the model's reconstruction of it (mel -> codes -> mel), each as 8-bit base64."""
    from engine.signal.mel import Mel
    rate = model.config.audio.frame_rate_hz
    mel = np.ascontiguousarray(mel[:, : int(SPECTROGRAM_SECONDS * rate)], dtype=np.float32)
    recon = model.decode(model.encode_mel(Mel(mel, rate))).values[:, : mel.shape[1]]
    return {"file": str(name), "frame_rate_hz": float(rate), "mel_bins": int(mel.shape[0]),
            "original": _pack(mel), "reconstruction": _pack(recon)}


def _pack(mel: np.ndarray) -> dict:
    m, f = mel.shape
    factor = max(1, m // SPECTROGRAM_ROWS)
    rows = m // factor
    pooled = mel[: rows * factor].reshape(rows, factor, f).mean(axis=1)  # [rows, F]
    u8 = np.round(np.clip(pooled, 0.0, 1.0) * 255).astype(np.uint8)
    return {"shape": list(u8.shape), "u8_base64": base64.b64encode(u8.tobytes()).decode("ascii")}


def _unpack(packed: dict) -> np.ndarray:
    shape = tuple(int(x) for x in packed["shape"])
    return np.frombuffer(base64.b64decode(packed["u8_base64"]), np.uint8).reshape(shape) / 255.0


def write_plots(report: dict, folder: str | Path) -> tuple[list[Path], list[str]]:
    """Writes loss.png, code_usage.png and spectrogram.png into `folder`; returns the files written
    and, for each picture the report lacks the data for, a sentence saying so."""
    folder = Path(folder)
    written, missing = [], []
    for name, draw in (("loss.png", _loss), ("code_usage.png", _code_usage), ("spectrogram.png", _spectrogram)):
        figure = draw(report)
        if isinstance(figure, str):
            missing.append(f"{name}: {figure}")
            continue
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=110)
        with atomic_path(folder / name) as tmp:
            tmp.write_bytes(buffer.getvalue())
        written.append(folder / name)
    return written, missing


def _figure(rows: int = 1, height: float = 3.4):
    from matplotlib.figure import Figure
    figure = Figure(figsize=(8, height * rows), layout="constrained")
    return figure, [figure.add_subplot(rows, 1, i + 1) for i in range(rows)]


def _loss(report: dict):
    history = report.get("history") or []
    if not history:
        return "the report has no per-epoch history (a model trained before the history was kept)"
    prior = (report.get("prior_training") or {}).get("history") or []
    figure, axes = _figure(2 if prior else 1)
    ax = axes[0]
    epochs = [r["epoch"] + 1 for r in history]
    ax.plot(epochs, [r["train_loss"] for r in history], "o-", label="training loss")
    ax.plot(epochs, [r["val_mel_l1"] for r in history], "s-", label="validation mel L1")
    warm = [e for e, r in zip(epochs, history) if r.get("warmup")]
    if warm:
        ax.axvspan(min(warm) - 0.5, max(warm) + 0.5, color="0.9", label="warm-up (no quantizer)")
    best = (report.get("codec") or {}).get("best_epoch")
    if isinstance(best, int) and best >= 0:
        ax.axvline(best + 1, color="tab:green", linestyle="--", label=f"kept: epoch {best + 1}")
    ax.set(title="Codec training", xlabel="epoch", ylabel="loss")
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.3)
    if prior:
        ax = axes[1]
        steps = [r["step"] for r in prior]
        ax.plot(steps, [r["train_loss"] for r in prior], "o-", label="training loss (cross-entropy)")
        ax.set(title="Prior training", xlabel="step", ylabel="loss")
        ppl = [(r["step"], np.atleast_1d(r["val_perplexity"])) for r in prior if r.get("val_perplexity") is not None]
        if ppl:  # one value per level
            twin = ax.twinx()
            for q in range(len(ppl[-1][1])):
                twin.plot([s for s, _ in ppl], [v[q] if q < len(v) else np.nan for _, v in ppl], "s--",
                          color=f"C{q + 1}", label=f"validation perplexity, level {q + 1}")
            twin.set_ylabel("perplexity")
            twin.legend(loc="upper center", fontsize=8)
        ax.legend(loc="upper right", fontsize=8)
        ax.grid(alpha=0.3)
    return figure


def _code_usage(report: dict):
    history = [r for r in report.get("history") or [] if r.get("levels")]
    if not history:
        return "the report has no per-level code usage per epoch"
    figure, (ax,) = _figure()
    epochs = [r["epoch"] + 1 for r in history]
    ax.axhspan(0, BAD_SHARE, color="tab:red", alpha=0.10)
    ax.axhspan(BAD_SHARE, WARN_SHARE, color="gold", alpha=0.12)
    for q in range(len(history[-1]["levels"])):
        ax.plot(epochs, [r["levels"][q]["utilization"] if q < len(r["levels"]) else np.nan for r in history],
                "o-", label=f"level {q + 1}")
    ax.set(title="Codes in use per level (share of the codebook)", xlabel="epoch", ylabel="share in use",
           ylim=(0, 1.02))
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    return figure


def _spectrogram(report: dict):
    record = (report.get("plots") or {}).get("spectrogram")
    if not record:
        return "the report holds no validation clip (train again to draw it)"
    rate = float(record["frame_rate_hz"])
    figure, axes = _figure(2, height=2.6)
    for ax, key, title in ((axes[0], "original", "original"), (axes[1], "reconstruction", "reconstruction (through the codes)")):
        mel = _unpack(record[key])
        ax.imshow(mel, origin="lower", aspect="auto", cmap="magma", vmin=0, vmax=1,
                  extent=(0, mel.shape[1] / rate, 0, record.get("mel_bins", mel.shape[0])))
        ax.set(title=f"{Path(record['file']).name}: {title}", xlabel="seconds", ylabel="mel bin")
    return figure
