"""Helpers shared by commands: JSON printing, progress bars, usable-audio loading."""
from __future__ import annotations

import json
import os
import sys
import time

from engine.signal.audio import MAX_FILE_DURATION_S, Audio, Skipped


def print_json(data: dict) -> None:
    print(json.dumps(data, indent=1, default=float))


def load_usable(data_dir: str, sample_rate: int, min_duration_s: float, quiet: bool = False,
                max_duration_s: float = MAX_FILE_DURATION_S) -> tuple[list[Audio], list[Skipped]]:
    """Scans DATA_DIR; lists skipped files on stderr; stops with one sentence if none is usable."""
    from engine.workflow.pipeline import usable_audio
    return usable_audio(data_dir, sample_rate, min_duration_s, None if quiet else _stderr, max_duration_s)


def _stderr(text: str) -> None:
    print(text, file=sys.stderr)


class ProgressLine:
    """A one-line progress bar with ETA and live codebook health, on stderr."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled and sys.stderr.isatty()
        self.plain = enabled and not sys.stderr.isatty()
        self.health = ("", "")  # the last measured (use per level, verdict)

    def __call__(self, row: dict) -> None:
        if not (self.enabled or self.plain):
            return
        if "levels" in row:  # measured every few epochs (engine/codec/train.py): the last one stands
            self.health = (" ".join(f"{h['utilization']:.0%}" for h in row["levels"]), row.get("verdict", ""))
        levels, verdict = ("warm-up", "") if row.get("warmup") else self.health
        text = (f"{row.get('phase', '')} epoch {row['epoch'] + 1}/{row['max_epochs']} "
                f"loss {row['train_loss']:.4f} val {row['val_mel_l1']:.4f} "
                f"use [{levels}] {verdict} "
                f"{row['elapsed_s']:.0f}s eta {row['eta_s']:.0f}s")
        if self.enabled:
            print("\r" + text.ljust(100), end="", file=sys.stderr, flush=True)
        elif row["epoch"] % 10 == 0:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        """Ends the line; later calls (and rows) print nothing."""
        if self.enabled:
            print(file=sys.stderr)
        self.enabled = self.plain = False


PROGRESS_DELAY_ENV = "DISTILL_PROGRESS_DELAY_S"  # seconds before a bar appears (default 1; 0: at once)


class Progress:
    """A progress bar on stderr for a command's steps: nothing for the first second (a quick
    command stays quiet, as tqdm's `delay`), then `label [#####-----] 50% 2/4 message 3s eta 3s`,
    redrawn in place on a terminal; printed as a line per tenth (and every 10 s) to a file or pipe.
    `quiet` (the commands' `--json`) turns it off entirely.

        bar = Progress("demo", total=8, quiet=args.json)
        for ...: bar.advance(1, "bell-1")
        bar.close()
    """

    WIDTH = 24

    def __init__(self, label: str, total: float, quiet: bool = False, stream=None):
        self.label, self.total, self.done, self.message = label, max(float(total), 1e-9), 0.0, ""
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        try:
            self.delay_s = float(os.environ.get(PROGRESS_DELAY_ENV, "1"))
        except ValueError:
            self.delay_s = 1.0
        self.started = time.monotonic()
        self._shown = False
        self._last_draw = 0.0
        self._last_tenth = -1

    def update(self, done: float, message: str | None = None) -> None:
        """Sets how much is done (0..total) and what is happening now."""
        self.done = min(max(float(done), 0.0), self.total)
        if message is not None:
            self.message = message
        self._draw()

    def advance(self, n: float = 1, message: str | None = None) -> None:
        self.update(self.done + n, message)

    def note(self, message: str) -> None:
        """A new message without progress (a long step's own news)."""
        self.update(self.done, message)

    def close(self) -> None:
        """Draws the bar full if it was shown; later calls do nothing."""
        if self.quiet:
            return
        self.quiet = True  # closed: nothing more is drawn
        self.done = self.total
        if self._shown:
            self.quiet = False
            self._draw(final=True)
            self.quiet = True
            if self.tty:
                print(file=self.stream, flush=True)

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _draw(self, final: bool = False) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        elapsed = now - self.started
        if elapsed < self.delay_s and not (final and self._shown):
            return
        fraction = self.done / self.total
        tenth = int(fraction * 10)
        if final and not self.tty and self._last_tenth == 10:
            return  # a log already has the full bar
        if self.tty and not final and now - self._last_draw < 0.1:
            return  # at most ten redraws a second
        if not self.tty and not final and tenth == self._last_tenth and self._shown and now - self._last_draw < 10:
            return  # a log file gets a line per tenth, and one every 10 s through a long step
        self._shown, self._last_draw, self._last_tenth = True, now, tenth
        filled = int(round(fraction * self.WIDTH))
        eta = elapsed * (1 - fraction) / fraction if fraction > 0 else 0.0
        count = f" {self.done:g}/{self.total:g}" if float(self.total).is_integer() else ""
        text = (f"{self.label} [{'#' * filled}{'-' * (self.WIDTH - filled)}] {fraction:4.0%}{count}"
                f" {self.message}".rstrip() + f"  {elapsed:.0f}s" + ("" if final or fraction >= 1 else f" eta {eta:.0f}s"))
        if self.tty:
            print("\r" + text.ljust(100), end="", file=self.stream, flush=True)
        else:
            print(text, file=self.stream, flush=True)
