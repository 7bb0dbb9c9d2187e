"""Tempo: bars and beats <-> seconds at a BPM, and Ableton Link through the optional `aalink`.

`Tempo(bpm, beats_per_bar)` converts musical positions; a position is (bars, beats) counted from 0.
`LinkClock` follows a DAW's tempo and phase over Ableton Link when the `aalink` package is
installed (`pip install aalink`); without it, `LinkClock.available()` is False and `start()` raises
an InputError that says to install it. aalink needs a running asyncio loop, so the clock runs one
in a daemon thread; tempo, beat and phase can be read from any thread.
"""
from __future__ import annotations

import asyncio
import importlib.util
import threading
import time
from dataclasses import dataclass

from engine.errors import InputError

LINK_MISSING = "Ableton Link needs the optional 'aalink' package: pip install aalink"


@dataclass(frozen=True)
class Tempo:
    """A tempo in beats per minute and a meter (beats per bar; a beat is a quarter note by default)."""

    bpm: float = 120.0
    beats_per_bar: int = 4

    def __post_init__(self) -> None:
        if not 20.0 <= float(self.bpm) <= 999.0:
            raise InputError(f"bpm {self.bpm}: expected 20-999")
        if not isinstance(self.beats_per_bar, int) or not 1 <= self.beats_per_bar <= 32:
            raise InputError(f"beats_per_bar {self.beats_per_bar!r}: expected an integer 1-32")

    @property
    def beat_s(self) -> float:
        return 60.0 / float(self.bpm)

    @property
    def bar_s(self) -> float:
        return self.beat_s * self.beats_per_bar

    def seconds(self, bars: float = 0.0, beats: float = 0.0) -> float:
        """Seconds from the start to `bars` bars plus `beats` beats."""
        return (float(bars) * self.beats_per_bar + float(beats)) * self.beat_s

    def bars_beats(self, seconds: float) -> tuple[int, float]:
        """(whole bars, beats into the bar) at `seconds`."""
        total_beats = float(seconds) / self.beat_s
        bars = int(total_beats // self.beats_per_bar)
        return bars, total_beats - bars * self.beats_per_bar

    def frames(self, bars: float = 0.0, beats: float = 0.0, sample_rate: int = 48000) -> int:
        """The same position in sample frames, rounded to the nearest frame."""
        return round(self.seconds(bars, beats) * sample_rate)


class LinkClock:
    """Ableton Link session member: tempo, beat and phase shared with DAWs on the network."""

    def __init__(self, bpm: float = 120.0, quantum: float = 4.0, start_stop: bool = False,
                 on_start_stop=None) -> None:
        """`start_stop`: share play/stop with the session (Link's start/stop sync); `on_start_stop(playing)`
        is then called on Link's thread whenever the session's playing state changes (ours included)."""
        self.bpm = float(bpm)
        self.quantum = float(quantum)
        self.start_stop = bool(start_stop)
        self.on_start_stop = on_start_stop
        self._link = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @staticmethod
    def available() -> bool:
        return importlib.util.find_spec("aalink") is not None

    def start(self) -> "LinkClock":
        if not self.available():
            raise InputError(LINK_MISSING)
        ready = threading.Event()
        failure: list = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)

            async def make() -> None:
                import aalink
                try:
                    link = aalink.Link(self.bpm)  # binds to this running loop
                    link.quantum = self.quantum
                    link.start_stop_sync_enabled = self.start_stop
                    if self.start_stop and self.on_start_stop is not None:
                        callback = self.on_start_stop
                        link.set_start_stop_callback(lambda playing: callback(bool(playing)))
                    link.enabled = True
                    self._link = link
                except Exception as e:
                    failure.append(e)
                ready.set()

            loop.run_until_complete(make())
            if not failure:
                loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="distill-link", daemon=True)
        self._thread.start()
        ready.wait(5.0)
        if failure or self._link is None:
            raise InputError(f"Ableton Link could not start: {failure[0] if failure else 'timeout'}")
        return self

    def stop(self) -> None:
        if self._link is not None:
            self._link.enabled = False
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self._link = None

    def status(self) -> dict:
        """{"enabled", "tempo_bpm", "beat", "phase", "peers"}; enabled False when not started."""
        link = self._link
        if link is None:
            return {"enabled": False, "tempo_bpm": self.bpm, "beat": 0.0, "phase": 0.0, "peers": 0}
        return {"enabled": True, "tempo_bpm": float(link.tempo), "beat": float(link.beat),
                "phase": float(link.phase), "peers": int(link.num_peers), "playing": bool(link.playing),
                "start_stop": self.start_stop}

    def seconds_to_next_bar(self) -> float:
        """Seconds until the session's next bar line (phase 0 of the quantum); 0 when not started."""
        status = self.status()
        if not status["enabled"]:
            return 0.0
        beats_left = (self.quantum - status["phase"]) % self.quantum
        return beats_left * 60.0 / status["tempo_bpm"]

    def next_bar(self, min_ahead_s: float = 0.0) -> tuple[float, int, float] | None:
        """(Unix time, bar number, bar length s) of the first session bar line at least `min_ahead_s`
        from now; None when not started. Bar numbers count quanta on our Link beat timeline, so two
        calls that name the same bar line give the same number."""
        link = self._link
        if link is None:
            return None
        now_s = time.time()
        beat, phase, tempo = float(link.beat), float(link.phase), float(link.tempo)
        beat_s = 60.0 / tempo
        beats_left = (self.quantum - phase) % self.quantum
        while beats_left * beat_s < min_ahead_s:
            beats_left += self.quantum
        return now_s + beats_left * beat_s, round((beat + beats_left) / self.quantum), self.quantum * beat_s

    def set_playing(self, playing: bool) -> None:
        """Tells the session we started or stopped (with start/stop sync on); any thread."""
        link, loop = self._link, self._loop
        if link is not None and loop is not None and self.start_stop:
            loop.call_soon_threadsafe(setattr, link, "playing", bool(playing))

    def set_tempo(self, bpm: float) -> None:
        Tempo(bpm)  # validates
        self.bpm = float(bpm)
        if self._link is not None:
            self._link.tempo = float(bpm)

    def tempo(self) -> Tempo:
        return Tempo(round(self.status()["tempo_bpm"], 6))
