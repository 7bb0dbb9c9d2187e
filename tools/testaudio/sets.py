"""The three test sets, as generator functions: each writes its files into a folder and returns one
record per file (name, source, license, edge case).

- dev-tiny-5: five tonal notes (four freepats instruments, one synthetic pluck) in wav / flac / ogg.
- dev-small-30: thirty percussion one-shots (freepats drum kit, sound-icons, synthetic drums).
- dev-mixed-120: 120 files from ten sources (notes, phrases, drums, desktop sounds, voice, game
  effects and music, speech, synthesis) at 8-96 kHz, plus the edge cases a reader must survive:
  0.2 s, 60 s, stereo 48 kHz, 8-bit, 24-bit, 32-bit float, digital silence, hard clipping.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import sources as src
from .sources import FREEPATS_LICENSE, PACKAGE_LICENSES, SYNTH_LICENSE, key

# One-shot clean-up: trim leading silence, keep at most 3 s, a 2 ms fade-out.
ONESHOT = ["reverse", "silence", "1", "0.005", "-60d", "reverse", "trim", "0", "3", "fade", "t", "0.002"]
HARVARD_3 = [  # IEEE 1969 "Harvard" sentences, list 3 (public domain)
    "Hoist the load to your left shoulder.", "Take the winding path to reach the lake.",
    "Note closely the size of the gas tank.", "Wipe the grease off his dirty face.",
    "Mend the coat before you go out.", "The wrist was badly strained and hung limp.",
    "The stray cat gave birth to kittens.", "The young girl gave no clear response.",
    "The meal was cooked before the bell rang.", "What joy there is in living.",
]


class Batch:
    """MIDI jobs collected while a set is described, rendered by one TiMidity run at the end."""

    def __init__(self, out: Path, work: Path):
        self.out, self.work, self.jobs = out, work, []

    def midi(self, name: str, events, end_s: float, finish) -> None:
        path = self.work / f"{name}.mid"
        src.write_midi(path, events, end_s)
        self.jobs.append((path, finish))

    def render(self) -> list[dict]:
        raws = src.render_midi([m for m, _ in self.jobs])
        return [finish(raw) for raw, (_, finish) in zip(raws, self.jobs)]


def tone_jobs(batch: Batch, count: int, prefix: str, first: int) -> None:
    tones, _ = src.freepats_programs()
    programs = sorted((p for p in tones if p < 112), key=lambda p: (key("program", p), p))
    for k in range(count):
        name = f"{prefix}-tone-{k}"
        program = programs[(key(name, "program") + k) % len(programs)]
        kind = ("note", "chord", "arpeggio", "phrase")[key(name, "kind") % 4]
        duration_s = 1.0 + (key(name, "duration") % 301) / 100
        ext = ("wav", "flac", "ogg", "wav")[k % 4]
        file = f"{first + k:03d}-freepats-{src.slug(tones[program])}-{kind}.{ext}"
        peak_db = -1.0 - (key(name, "peak") % 1500) / 100
        events = src.note_events(name, program, 45 + key(name, "root") % 24, kind, duration_s, 70 + key(name, "vel") % 50)

        def finish(raw, file=file, k=k, duration_s=duration_s, peak_db=peak_db, program=program, kind=kind):
            src.sox(raw, batch.out / file, ["trim", "0", f"{duration_s:.2f}", "fade", "t", "0", f"{duration_s:.2f}",
                                            "0.08", "gain", "-n", f"{peak_db:.2f}"],
                    rate=(None, 22050, None, 32000, None)[k % 5], mono=k % 3 == 1)
            return {"name": file, "license": FREEPATS_LICENSE,
                    "source": {"package": "freepats", "renderer": "timidity", "gm_program": program, "kind": kind}}
        batch.midi(name, events, duration_s + 0.5, finish)


def drum_jobs(batch: Batch, count: int, prefix: str, first: int) -> None:
    _, drums = src.freepats_programs()
    notes = sorted(drums, key=lambda n: (key("drum", prefix, n), n))
    for k in range(count):
        note, name = notes[k % len(notes)], f"{prefix}-drum-{k}"
        ext = ("wav", "flac", "wav", "ogg", "wav")[k % 5]
        file = f"{first + k:03d}-freepats-drum-{src.slug(drums[note])}.{ext}"
        peak_db = -1.0 - (key(name, "peak") % 1500) / 100
        events = [(0.0, bytes([0x99, note, 60 + key(name, "vel") % 68])), (0.1, bytes([0x89, note, 0]))]

        def finish(raw, file=file, k=k, peak_db=peak_db, note=note):
            src.sox(raw, batch.out / file, ["gain", "-n", f"{peak_db:.2f}", *ONESHOT],
                    rate=48000 if k % 4 == 2 else None, mono=k % 2 == 0)
            return {"name": file, "license": FREEPATS_LICENSE,
                    "source": {"package": "freepats", "renderer": "timidity", "drum_note": note}}
        batch.midi(name, events, 1.0, finish)


def copied(out: Path, package: str, suffix: str, count: int, label: str, first: int, pattern: str = "",
           exclude: tuple[str, ...] = ()) -> list[dict]:
    """Files copied as the package ships them (one copy of each distinct sound), picked by hash."""
    import hashlib
    import shutil
    candidates = [p for p in src.package_files(package, {suffix})
                  if pattern in str(p) and not any(x in p.name for x in exclude)]
    candidates.sort(key=lambda p: (key("pick", label, p.name), str(p)))
    seen, picked = set(), []
    for path in candidates:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest not in seen:
            seen.add(digest)
            picked.append(path)
    if len(picked) < count:
        raise RuntimeError(f"{package} ships only {len(picked)} distinct sounds, {count} needed")
    records = []
    for k, path in enumerate(picked[:count]):
        file = f"{first + k:03d}-{label}-{path.name}"
        shutil.copyfile(path, out / file)
        records.append({"name": file, "license": PACKAGE_LICENSES[package], "source": {"package": package, "path": str(path)}})
    return records


def synthetic(out: Path, work: Path, file: str, rate: int, channels: list[np.ndarray], params: dict,
              edge: str | None = None, encoding: list[str] | None = None) -> dict:
    raw = work / f"{file}.raw.wav"
    src.write_wav16(raw, rate, channels)
    src.sox(raw, out / file, encoding=encoding)
    record = {"name": file, "license": SYNTH_LICENSE, "source": {"package": "synthetic (numpy)", **params}}
    if edge:
        record["edge_case"] = edge
    return record


def synth_set(out: Path, work: Path, count: int, prefix: str, first: int, kinds: list[str]) -> list[dict]:
    records = []
    for k in range(count):
        name, kind = f"{prefix}-synth-{k}", kinds[k % len(kinds)]
        rate = (44100, 22050, 16000, 48000)[key(name, "rate") % 4]
        f0_hz = round(110.0 * 2 ** ((key(name, "f0") % 36) / 12), 2)
        seed, frac = key(name, "seed"), (key(name, "duration") % 200) / 100
        signal = {
            "fm": lambda: src.fm_tone(rate, 1.0 + frac, f0_hz, (1.0, 1.4, 2.0, 3.5)[key(name, "ratio") % 4],
                                      1 + key(name, "index") % 6, 0.2 + (key(name, "decay") % 100) / 100),
            "pluck": lambda: src.pluck(rate, 0.8 + frac * 0.75, f0_hz, seed),
            "noise": lambda: src.noise_burst(rate, 0.3 + frac * 0.6, seed, 0.05 + (key(name, "decay") % 40) / 100,
                                             smoothing=(1.0, 0.3, 0.08)[k % 3]),
            "kick": lambda: src.kick(rate),
            "snare": lambda: src.snare(rate, seed),
            "hat": lambda: src.noise_burst(rate, 0.25 + frac * 0.3, seed, 0.03 + (key(name, "decay") % 20) / 100,
                                           highpass=True),
            "sweep": lambda: src.sweep(rate),
        }[kind]()
        file = f"{first + k:03d}-synth-{kind}.{('wav', 'flac', 'ogg')[k % 3]}"
        records.append(synthetic(out, work, file, rate, [signal], {"kind": kind, "f0_hz": f0_hz, "rate": rate}))
    return records


def edge_cases(batch: Batch, first: int) -> list[dict]:
    out, work, n = batch.out, batch.work, first
    records = [synthetic(out, work, f"{n:03d}-edge-short-0.2s.wav", 44100, [src.pluck(44100, 0.2, 440.0, 1)],
                         {"kind": "pluck"}, edge="very short (0.2 s)")]
    # 60 s: piano arpeggios over a bass line, rendered from freepats
    events, t = [(0.0, b"\xc0\x00"), (0.0, b"\xc1\x20")], 0.0
    while t < 59.0:
        root = (57, 53, 48, 55)[int(t // 4) % 4]
        for k, step in enumerate((0, 4, 7, 12, 16, 12, 7, 4)):
            if t + k * 0.5 < 59.0:
                velocity = 70 + key("long", t, k) % 30
                events += [(t + k * 0.5, bytes([0x90, root + step, velocity])), (t + k * 0.5 + 0.45, bytes([0x80, root + step, 0]))]
        events += [(t, bytes([0x91, root - 24, 90])), (t + 3.8, bytes([0x81, root - 24, 0]))]
        t += 4.0
    long_file = f"{n + 1:03d}-edge-long-60s.flac"

    def finish_long(raw):
        src.sox(raw, out / long_file, ["trim", "0", "60", "fade", "t", "0", "60", "1", "gain", "-n", "-3"])
        return {"name": long_file, "license": FREEPATS_LICENSE, "edge_case": "long (60 s)",
                "source": {"package": "freepats", "renderer": "timidity", "gm_program": [0, 32]}}
    batch.midi("long", events, 60.5, finish_long)
    left = src.fm_tone(48000, 4.0, 220.0, 2.0, 3, 1.2, amp=0.5)
    right = src.fm_tone(48000, 4.0, 330.0, 1.4, 2, 0.8, amp=0.35)
    right[12000:] += src.fm_tone(48000, 3.75, 277.2, 3.5, 2, 0.6, amp=0.3)
    records.append(synthetic(out, work, f"{n + 2:03d}-edge-stereo-48k.wav", 48000, [left, right], {"kind": "fm"},
                             edge="stereo 48 kHz, different L/R"))
    melody = np.concatenate([src.pluck(22050, 0.5, f, 10 + i) for i, f in enumerate((261.63, 329.63, 392.0, 523.25))])
    records.append(synthetic(out, work, f"{n + 3:03d}-edge-8bit.wav", 22050, [melody], {"kind": "pluck"},
                             edge="8-bit unsigned PCM WAV", encoding=["-b", "8", "-e", "unsigned-integer"]))
    records.append(synthetic(out, work, f"{n + 4:03d}-edge-24bit.wav", 48000,
                             [src.fm_tone(48000, 2.0, 523.25, 3.5, 4, 0.5, amp=0.5)], {"kind": "fm"},
                             edge="24-bit PCM WAV", encoding=["-b", "24", "-e", "signed-integer"]))
    records.append(synthetic(out, work, f"{n + 5:03d}-edge-float32.wav", 44100,
                             [src.fm_tone(44100, 1.5, 196.0, 1.0, 2, 0.6, amp=0.5)], {"kind": "fm"},
                             edge="32-bit float WAV (WAVE_FORMAT_IEEE_FLOAT)", encoding=["-b", "32", "-e", "floating-point"]))
    records.append(synthetic(out, work, f"{n + 6:03d}-edge-silent.wav", 44100, [np.zeros(88200)], {"kind": "silence"},
                             edge="digital silence (all zeros, 2 s)"))
    t = np.arange(88200) / 44100
    loud = 4.0 * (np.sin(2 * np.pi * 110 * t) + 0.5 * np.sin(2 * np.pi * 330 * t)) * src.envelope(44100, 88200, 0.005, 1.0)
    records.append(synthetic(out, work, f"{n + 7:03d}-edge-clipped.wav", 44100, [loud], {"kind": "clipped"},
                             edge="hard clipped at full scale (~12 dB over)"))
    return records


def game_music(out: Path, count: int, first: int) -> list[dict]:
    """6-15 s excerpts of the abe-data soundtrack."""
    tracks = src.package_files("abe-data", {".ogg"})
    records = []
    for k in range(count):
        track = tracks[k % len(tracks)]
        length_s = 6.0 + (key("abe", k) % 900) / 100
        start_s = (key("abe-start", k) % int((src.probe(track)["duration_s"] - length_s) * 100)) / 100
        file = f"{first + k:03d}-abe-music-{src.slug(track.stem)}-{int(start_s):03d}s.{('ogg', 'flac', 'wav', 'ogg')[k % 4]}"
        src.sox(track, out / file, ["trim", f"{start_s:.2f}", f"{length_s:.2f}", "fade", "t", "0.01", f"{length_s:.2f}", "0.01"])
        records.append({"name": file, "license": PACKAGE_LICENSES["abe-data"],
                        "source": {"package": "abe-data", "path": str(track), "start_s": start_s, "length_s": length_s}})
    return records


def speech(out: Path, work: Path, count: int, first: int) -> list[dict]:
    voices = ["kal", "slt", "awb", "rms", "kal16"]
    records = []
    for k in range(count):
        voice, text = voices[k % len(voices)], HARVARD_3[k % len(HARVARD_3)]
        stretch = 0.85 + (key("flite", k) % 41) / 100
        raw = work / f"flite-{k}.wav"
        src.flite(raw, voice, text, stretch)
        file = f"{first + k:03d}-flite-{voice}.{('wav', 'flac', 'ogg', 'wav', 'wav')[k % 5]}"
        src.sox(raw, out / file, rate=22050 if k % 5 == 2 else None)
        records.append({"name": file, "license": "flite: BSD-style (CMU); text: Harvard sentences, public domain",
                        "source": {"package": "flite", "voice": voice, "duration_stretch": stretch, "text": text}})
    return records


def tiny(out: Path, work: Path) -> list[dict]:
    batch = Batch(out, work)
    tones, _ = src.freepats_programs()
    for k, (program, note, ext, rate, mono, duration_s, peak_db) in enumerate(
            [(0, 60, "wav", None, False, 2.5, -3), (46, 55, "flac", None, True, 2.0, -6),
             (4, 64, "ogg", None, False, 2.2, -2), (24, 57, "wav", 22050, True, 1.8, -9)]):
        file = f"{k + 1:02d}-freepats-{src.slug(tones[program])}.{ext}"

        def finish(raw, file=file, rate=rate, mono=mono, duration_s=duration_s, peak_db=peak_db, program=program, note=note):
            src.sox(raw, out / file, ["trim", "0", f"{duration_s:.2f}", "fade", "t", "0", f"{duration_s:.2f}", "0.08",
                                      "gain", "-n", str(peak_db)], rate=rate, mono=mono)
            return {"name": file, "license": FREEPATS_LICENSE,
                    "source": {"package": "freepats", "renderer": "timidity", "gm_program": program, "note": note}}
        batch.midi(f"tiny-{k}", src.note_events(f"tiny-{k}", program, note, "note", duration_s, 100), duration_s + 0.5, finish)
    return batch.render() + [synthetic(out, work, "05-synth-pluck.wav", 44100, [src.pluck(44100, 1.5, 293.66, 5)],
                                       {"kind": "pluck", "f0_hz": 293.66})]


def small(out: Path, work: Path) -> list[dict]:
    batch = Batch(out, work)
    drum_jobs(batch, 20, "small", 1)
    records = batch.render()
    records += copied(out, "sound-icons", ".wav", 4, "sound_icons", 21, pattern="/percussion-")
    return records + synth_set(out, work, 6, "small", 25, ["kick", "snare", "hat", "noise"])


def mixed(out: Path, work: Path) -> list[dict]:
    batch = Batch(out, work)
    tone_jobs(batch, 20, "mixed", 1)
    drum_jobs(batch, 10, "mixed", 21)
    records: list[dict] = []
    for package, suffix, count, label, exclude in [
            ("sound-theme-freedesktop", ".oga", 14, "freedesktop", ("audio-channel-", "audio-test-signal")),
            ("yaru-theme-sound", ".oga", 6, "yaru", ()), ("alsa-utils", ".wav", 6, "alsa", ()),
            ("sound-icons", ".wav", 12, "sound_icons", ()), ("chromium-bsu-data", ".wav", 5, "chromium_bsu", ()),
            ("abe-data", ".wav", 5, "abe", ())]:
        records += copied(out, package, suffix, count, label, 31 + len(records), exclude=exclude)
    records += game_music(out, 4, 31 + len(records))
    records += speech(out, work, 10, 31 + len(records))
    records += synth_set(out, work, 20, "mixed", 31 + len(records),
                         ["fm", "pluck", "fm", "pluck", "noise", "fm", "pluck", "kick", "hat", "sweep"])
    records += edge_cases(batch, 31 + len(records))
    return records + batch.render()


# name -> (generator, file count, the Debian packages it reads)
BASE = ["sox", "libsox-fmt-base", "timidity", "freepats"]
SETS = {
    "dev-tiny-5": (tiny, 5, BASE),
    "dev-small-30": (small, 30, BASE + ["sound-icons"]),
    "dev-mixed-120": (mixed, 120, BASE + ["flite", "sound-theme-freedesktop", "yaru-theme-sound", "alsa-utils",
                                          "sound-icons", "chromium-bsu-data", "abe-data"]),
}
PACKAGES = sorted({p for _, _, packages in SETS.values() for p in packages})
