"""Where the test audio comes from: synthesis (numpy), freepats rendered by TiMidity, flite speech and
sound files shipped in small Debian packages. Every choice is fixed by a hash of its name, so the same
package versions give byte-identical files on every machine.

Why not a download or committed audio: CI and a fresh clone reach only Debian's and PyPI's registries,
and committed audio would have to be kept in step with the edge cases the tests need.
"""
from __future__ import annotations

import hashlib
import re
import subprocess
import wave
from pathlib import Path

import numpy as np

FREEPATS_CFG = Path("/etc/timidity/freepats.cfg")
FREEPATS_LICENSE = "GPL-2+ with composition exception (freepats)"
SYNTH_LICENSE = "generated"
PACKAGE_LICENSES = {
    "sound-theme-freedesktop": "CC-BY-SA-3.0 / CC-BY-3.0 / GPL-2+ (see the package's copyright file)",
    "yaru-theme-sound": "CC-BY-SA-4.0", "alsa-utils": "GPL-2", "sound-icons": "GPL-2+",
    "abe-data": "GPL-2+", "chromium-bsu-data": "Clarified-Artistic",
}


def key(*parts: object) -> int:
    """A stable 60-bit number for a name: the only source of 'randomness' in the builder."""
    return int(hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:15], 16)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()


def run(cmd: list[str], cwd: Path | None = None) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return proc.stdout


def package_files(package: str, suffixes: set[str]) -> list[Path]:
    """The files a Debian package installed with one of these suffixes, sorted."""
    names = run(["dpkg", "-L", package]).splitlines()
    return sorted(p for p in map(Path, names) if p.suffix.lower() in suffixes and p.is_file())


def package_version(package: str) -> str:
    return run(["dpkg-query", "-W", "-f=${Version}", package]).strip()


# ---------------------------------------------------------------- synthesis: [T] float64 in [-1, 1]
def envelope(rate: int, n: int, attack_s: float, decay_s: float) -> np.ndarray:
    t = np.arange(n) / rate
    return np.minimum(t / attack_s, 1.0) * np.exp(-np.maximum(t - attack_s, 0.0) / decay_s)


def fm_tone(rate: int, duration_s: float, f0_hz: float, ratio: float, index: float, decay_s: float,
            amp: float = 0.6) -> np.ndarray:
    n = int(rate * duration_s)
    t = np.arange(n) / rate
    env = envelope(rate, n, 0.008, decay_s)
    out = amp * env * np.sin(2 * np.pi * f0_hz * t + index * env * np.sin(2 * np.pi * f0_hz * ratio * t))
    fade = min(n, rate // 100)
    out[n - fade:] *= np.linspace(1.0, 0.0, fade)
    return out


def pluck(rate: int, duration_s: float, f0_hz: float, seed: int, amp: float = 0.7) -> np.ndarray:
    """Karplus-Strong: a noise burst through a damped delay line (one period per step, vectorised)."""
    period = max(2, round(rate / f0_hz))
    line = np.random.default_rng(seed).uniform(-1, 1, period)
    periods = []
    for _ in range(int(rate * duration_s) // period + 1):
        periods.append(line)
        line = 0.996 * 0.5 * (line + np.roll(line, -1))
    return amp * np.concatenate(periods)[: int(rate * duration_s)]


def noise_burst(rate: int, duration_s: float, seed: int, decay_s: float, smoothing: float = 1.0,
                highpass: bool = False, amp: float = 0.6) -> np.ndarray:
    n = int(rate * duration_s)
    x = np.random.default_rng(seed).uniform(-1, 1, n)
    if highpass:
        x = np.diff(x, prepend=0.0)
    if smoothing < 1.0:  # one-pole low-pass, y += a (x - y); a plain loop keeps numpy the only need
        y, smoothed = 0.0, np.empty(n)
        for i, v in enumerate(x.tolist()):
            y += smoothing * (v - y)
            smoothed[i] = y
        x = smoothed
    return amp * x * envelope(rate, n, 0.002, decay_s)


def kick(rate: int, duration_s: float = 0.6, amp: float = 0.9) -> np.ndarray:
    n = int(rate * duration_s)
    t = np.arange(n) / rate
    phase = 2 * np.pi * np.cumsum(45 + 110 * np.exp(-t / 0.04)) / rate
    return amp * np.sin(phase) * envelope(rate, n, 0.002, 0.18)


def snare(rate: int, seed: int, duration_s: float = 0.5) -> np.ndarray:
    n = int(rate * duration_s)
    body = 0.4 * np.sin(2 * np.pi * 185 * np.arange(n) / rate) * envelope(rate, n, 0.001, 0.05)
    return noise_burst(rate, duration_s, seed, 0.09, smoothing=0.6, amp=0.5) + body


def sweep(rate: int, duration_s: float = 2.0) -> np.ndarray:
    n = int(rate * duration_s)
    phase = 2 * np.pi * np.cumsum(100 * 40 ** (np.arange(n) / n)) / rate
    ramp = np.minimum(1.0, np.minimum(np.arange(n), n - np.arange(n)) / (0.02 * rate))
    return 0.5 * np.sin(phase) * ramp


def write_wav16(path: Path, rate: int, channels: list[np.ndarray]) -> None:
    """16-bit PCM, clipped to full scale (the 'hard clipped' edge case relies on the clip)."""
    frames = np.stack([np.clip(c, -1, 1) for c in channels], axis=1)  # [T, C]
    with wave.open(str(path), "wb") as out:
        out.setnchannels(len(channels))
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.round(frames * 32767).astype("<i2").tobytes())


# ---------------------------------------------------------------- freepats through TiMidity
def freepats_programs() -> tuple[dict[int, str], dict[int, str]]:
    """({GM program: instrument name}, {drum note: drum name}) from the freepats TiMidity config."""
    tones: dict[int, str] = {}
    drums: dict[int, str] = {}
    section = None
    for line in FREEPATS_CFG.read_text().splitlines():
        words = line.split("#", 1)[0].split()
        if words[:1] == ["bank"]:
            section = tones if words[1] == "0" else None
        elif words[:1] == ["drumset"]:
            section = drums if words[1] == "0" else None
        elif section is not None and len(words) >= 2 and words[0].isdigit():
            section[int(words[0])] = re.sub(r"^\d+_", "", Path(words[1]).stem).lower()
    return tones, drums


def write_midi(path: Path, events: list[tuple[float, bytes]], end_s: float) -> None:
    """A format-0 MIDI file at 120 bpm, 480 ticks per beat (960 ticks per second)."""
    def vlq(value: int) -> bytes:
        out = [value & 0x7F]
        while value > 0x7F:
            value >>= 7
            out.append((value & 0x7F) | 0x80)
        return bytes(reversed(out))
    # note-offs before note-ons at the same tick, so a repeated note re-triggers
    ticks = sorted(((round(s * 960), m) for s, m in events), key=lambda e: (e[0], (e[1][0] & 0xF0) == 0x90))
    track, last = bytearray(vlq(0) + b"\xff\x51\x03" + (500_000).to_bytes(3, "big")), 0
    for tick, message in ticks:
        track += vlq(tick - last) + message
        last = tick
    track += vlq(max(0, round(end_s * 960) - last)) + b"\xff\x2f\x00"
    header = b"MThd" + (6).to_bytes(4, "big") + (0).to_bytes(2, "big") + (1).to_bytes(2, "big") + (480).to_bytes(2, "big")
    path.write_bytes(header + b"MTrk" + len(track).to_bytes(4, "big") + bytes(track))


def render_midi(midi_files: list[Path]) -> list[Path]:
    """Render x.mid -> x.wav (44.1 kHz) with one TiMidity process per folder: each start costs a
    second on a machine without a GM soundfont, and TiMidity resets between files."""
    for folder in sorted({m.parent for m in midi_files}):
        names = [m.name for m in midi_files if m.parent == folder]
        run(["timidity", "-c", str(FREEPATS_CFG), "-Ow", "-s", "44100", *names], cwd=folder)
    return [m.with_suffix(".wav") for m in midi_files]


MAJOR_SCALE = [0, 2, 4, 5, 7, 9, 11]


def note_events(name: str, program: int, root: int, kind: str, duration_s: float, velocity: int):
    """MIDI events for one note, chord, arpeggio or short phrase on channel 0."""
    release_s = max(0.4, duration_s - 0.35)
    triad = [0, 3 if key(name, "minor") % 2 else 4, 7]
    if kind == "note":
        notes = [(0.0, release_s, root)]
    elif kind == "chord":
        notes = [(0.0, release_s, root + step) for step in triad]
    elif kind == "arpeggio":
        steps = triad + [12]
        gap = (release_s - 0.1) / len(steps)
        notes = [(i * gap, release_s, root + step) for i, step in enumerate(steps)]
    else:  # phrase: a short walk on the major scale
        count, degree = 4 + key(name, "n") % 4, 7 + key(name, "d") % 3
        gap = release_s / count
        notes = []
        for i in range(count):
            notes.append((i * gap, (i + 0.9) * gap, root - 12 + 12 * (degree // 7) + MAJOR_SCALE[degree % 7]))
            degree = max(0, degree + (-2, -1, 1, 1, 2)[key(name, "step", i) % 5])
    events = [(0.0, bytes([0xC0, program]))]
    for start, stop, pitch in notes:
        events += [(start, bytes([0x90, pitch, velocity])), (stop, bytes([0x80, pitch, 0]))]
    return events


def flite(path: Path, voice: str, text: str, stretch: float) -> None:
    run(["flite", "-voice", voice, "--setf", f"duration_stretch={stretch:.2f}", "-t", text, "-o", str(path)])


def sox(src: Path, dst: Path, effects: list[str] = (), rate: int | None = None, mono: bool = False,
        encoding: list[str] | None = None) -> None:
    """Convert with sox -R (repeatable dither), 16-bit unless told otherwise; ogg at quality 4."""
    fmt = encoding if encoding is not None else {".wav": ["-b", "16"], ".flac": ["-b", "16"], ".ogg": ["-C", "4"]}.get(dst.suffix, [])
    cmd = ["sox", "-R", str(src), *fmt, str(dst)] + (["remix", "-"] if mono else []) + list(effects)
    run(cmd + (["rate", str(rate)] if rate else []))


def probe(path: Path) -> dict:
    """What sox reads in the file: rate, channels, samples per channel, encoding."""
    rate, channels, samples = (run(["soxi", flag, str(path)]).strip() for flag in ("-r", "-c", "-s"))
    return {"sample_rate": int(float(rate)), "channels": int(channels), "samples": int(samples),
            "duration_s": round(int(samples) / float(rate), 6), "encoding": run(["soxi", "-e", str(path)]).strip()}
