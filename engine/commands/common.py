"""Helpers shared by commands: JSON printing, a progress line, usable-audio loading."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from engine.audio import Audio, Skipped, scan_folder
from engine.errors import InputError


def print_json(data: dict) -> None:
    print(json.dumps(data, indent=1, default=float))


def load_usable(data_dir: str, sample_rate: int, min_duration_s: float, quiet: bool = False
                ) -> tuple[list[Audio], list[Skipped]]:
    """Scans DATA_DIR; lists skipped files on stderr; stops with one sentence if none is usable."""
    used, skipped = scan_folder(Path(data_dir), sample_rate, min_duration_s)
    if not quiet:
        for s in skipped:
            print(f"skipped {s.path}: {s.reason}", file=sys.stderr)
    if not used:
        raise InputError(f"{data_dir}: no usable audio ({len(skipped)} files skipped; "
                         "Distill reads wav, flac, ogg/oga, aiff and mp3 of 0.1 s or more)")
    return used, skipped


class ProgressLine:
    """A one-line progress bar with ETA and live codebook health, on stderr."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled and sys.stderr.isatty()
        self.plain = enabled and not sys.stderr.isatty()

    def __call__(self, row: dict) -> None:
        if not (self.enabled or self.plain):
            return
        levels = " ".join(f"{h['utilization']:.0%}" for h in row.get("levels", []))
        text = (f"{row.get('phase', '')} epoch {row['epoch'] + 1}/{row['max_epochs']} "
                f"loss {row['train_loss']:.4f} val {row['val_mel_l1']:.4f} "
                f"use [{levels or 'warm-up'}] {row.get('verdict', '')} "
                f"{row['elapsed_s']:.0f}s eta {row['eta_s']:.0f}s")
        if self.enabled:
            print("\r" + text.ljust(100), end="", file=sys.stderr, flush=True)
        elif row["epoch"] % 10 == 0:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.enabled:
            print(file=sys.stderr)
