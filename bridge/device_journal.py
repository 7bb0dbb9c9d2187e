"""What a restarted device process is told so that it plays on: the newest value of every call that
sets the device side's state (bridge/device_process.py `DeviceProcess` restarts a child that died).

A child dies when a VST3 plugin crashes it (or the kernel kills it); the engine's process, its
session and its grid are unharmed. The journal keeps, in the engine's process, the device and stream
choice, each voice's audio (its own copy, with every splice applied, so a restart plays the grid
as edited), the voices' gains, the loop region, the master gain and whether it was playing. It does
not keep the effects chain: a plugin in it is the likely cause of the crash, and loading it again
would crash the new child too. The position starts again at the loop's start.

Memory: one more copy of the voices' audio (a 8 s loop at 48 kHz: 1.5 MB).
"""
from __future__ import annotations

import numpy as np

RESTART_NOTE = "the audio device process stopped and was started again without its effects chain"


class DeviceJournal:
    """Records the state-setting calls made through a DeviceProcess; `replay()` lists the calls a
    new child needs, in order. Record a call only after the child accepted it."""

    def __init__(self) -> None:
        self.calls: dict[str, tuple[tuple, dict]] = {}  # find_device, open_stream, set_loop_frames, set_gain_db
        self.voices: list[list] = []  # [samples float32 (own copy), sample_rate, gain_db]
        self.playing = False

    def record(self, name: str, args: tuple, kwargs: dict) -> None:
        if name in ("find_device", "open_stream", "set_loop_frames", "set_gain_db"):
            self.calls[name] = (args, kwargs)
        elif name in ("play", "stop"):
            self.playing = name == "play"
        elif name == "set_audio":
            self._set_audio(*args, **kwargs)
        elif name == "apply_splice":
            self._apply_splice(*args, **kwargs)
        elif name == "set_voices":
            self.voices = [[np.array(v[0], np.float32), int(v[1]), float(v[2]) if len(v) > 2 else 0.0]
                           for v in args[0]]
        elif name == "set_voice_gain":
            voice, gain_db = args
            self.voices[voice][2] = float(gain_db)

    def _set_audio(self, samples, sample_rate: int, changed=None, voice: int = 0, gain_db=None) -> None:
        old_gain = self.voices[voice][2] if voice < len(self.voices) else 0.0
        entry = [np.array(samples, np.float32), int(sample_rate), old_gain if gain_db is None else float(gain_db)]
        self.voices[voice:voice + 1] = [entry]

    def _apply_splice(self, start: int, samples, voice: int = 0) -> None:
        piece = np.asarray(samples, np.float32)
        self.voices[voice][0][int(start):int(start) + len(piece)] = piece

    def replay(self) -> list[tuple[str, tuple, dict]]:
        """The calls that bring a new child to the recorded state: device, voices, loop and gain
        before the stream opens (its first blocks are then already the right audio), then play."""
        out = []
        if "find_device" in self.calls:
            out.append(("find_device", *self.calls["find_device"]))
        if self.voices:
            out.append(("set_voices", ([(s, rate, gain) for s, rate, gain in self.voices],), {}))
        for name in ("set_loop_frames", "set_gain_db", "open_stream"):
            if name in self.calls:
                out.append((name, *self.calls[name]))
        if self.playing:
            out.append(("play", (), {}))
        return out
