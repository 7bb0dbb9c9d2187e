"""Facts several parts of Distill state, declared once as data: the perceptual moves, the sampling
knobs (plain word, default, range), the `/status` keys, the built-in effects and the render bit depths (clip names:
`engine/signal/clips.py`). The route table (`engine/protocol.py`), the manifest and docs it generates, the moves, the
sampler, the session, the server and the bridge read them from here; the drift tests
(tests/engine/test_facts.py) compare the web page and the patches with them.

Plain Python (no numpy, no torch): every module may import it.
"""
from __future__ import annotations

from dataclasses import dataclass

from engine.errors import InputError

# ------------------------------------------------------------ perceptual moves
# name -> (descriptor it moves, direction, what it makes the region, for docs). "smoother" lowers
# spectral flux (all frame-to-frame change) rather than onset strength: a decaying region has no
# onsets left to remove, but it can still change less.
MOVES: dict[str, tuple[str, int, str]] = {
    "brighter": ("centroid_hz", 1, "brighter"), "darker": ("centroid_hz", -1, "darker"),
    "louder": ("rms_db", 1, "louder"), "softer": ("rms_db", -1, "softer"),
    "noisier": ("flatness", 1, "noisier"), "tonal": ("pitch_salience", 1, "more tonal"),
    "punchier": ("onset_strength", 1, "punchier"), "smoother": ("spectral_flux", -1, "smoother"),
}
MOVE_NAMES = tuple(MOVES)


# ------------------------------------------------------------ sampling
@dataclass(frozen=True)
class Knob:
    """One sampling setting: its key in the sampler and the session, the plain word the UIs show,
    its default and the range OSC and the UIs accept."""

    key: str
    word: str
    type: str  # "f" or "i"
    default: float
    minimum: float
    maximum: float
    doc: str


SAMPLING_KNOBS = (
    Knob("temperature", "creativity", "f", 0.9, 0.05, 2.0,
         "temperature: low repeats the training sounds, high surprises"),
    Knob("top_k", "focus", "i", 0, 0, 4096, "top-k: only the K likeliest codes; 0 = off"),
    Knob("top_p", "diversity", "f", 0.95, 0.01, 1.0, "top-p: the smallest set of codes holding this much probability"),
)
KNOBS = {k.key: k for k in SAMPLING_KNOBS}
# what a new session starts with (the seed is the session's, for reproducible regeneration)
DEFAULT_SAMPLING = {**{k.key: k.default for k in SAMPLING_KNOBS}, "seed": 0}


# ------------------------------------------------------------ /status
# key -> (OSC type, meaning), in the order `/status` sends them
STATUS_KEYS: dict[str, tuple[str, str]] = {
    "model": ("s", "the loaded model's name, or 'none'"),
    "transport": ("s", "stopped or playing"),
    "cpu": ("f", "share of one core this process used in the last second"),
    "underruns": ("i", "audio blocks the device played as silence"),
    "jobs": ("i", "jobs running and queued"),
    "model_id": ("s", "the loaded model's weights id"),
    "levels": ("i", "levels of the grid"),
    "frames": ("i", "code frames of the grid"),
    "codebook_size": ("i", "codes per level"),
    "version": ("i", "grid version, bumped by every change"),
    "can_undo": ("i", "1 when /undo has a step"),
    "can_redo": ("i", "1 when /redo has a step"),
    "position_s": ("f", "play position"),
    "gain_db": ("f", "output gain"),
    "latency_ms": ("f", "device output latency"),
    "audio": ("s", "the device's name, or 'none'"),
    "fails_dropped": ("i", "/fail replies not sent because of the rate limit"),
    "internal_errors": ("i", "handler bugs caught; 0 in a healthy engine"),
    "late_bundles": ("i", "time-tagged bundles too late to be applied at their time (applied at once)"),
    "tempo_bpm": ("f", "the transport's tempo"),
    "link": ("i", "1 while Ableton Link is on"),
    "host_underflows": ("i", "the host's own xrun flags, e.g. when JACK's graph changes"),
    "idle_underruns": ("i", "an empty ring during silence: not heard (underruns counts only blocks missed "
                            "while audio was expected)"),
    "edit_rewinds": ("i", "edits heard from the next device block, the blocks already queued rewritten "
                          "(with effects in the chain an edit waits for the queued blocks instead)"),
    "device_restarts": ("i", "audio device processes that died (a plugin crash) and were started again, "
                             "playing on without the effects chain"),
}


# ------------------------------------------------------------ effects
# pedalboard's built-ins the chain offers (besides VST3 bundles from the plugin folders): they stream
# exactly (reset=False equals offline) and their parameters are plain numbers with units in their
# names (gain_db, cutoff_frequency_hz, delay_seconds), which `/fx/list` reports per slot.
EFFECT_KINDS = ("Gain", "Compressor", "Reverb", "Delay", "Chorus", "LowpassFilter", "HighpassFilter",
                "Distortion", "Limiter", "Phaser", "Bitcrush", "Clipping", "NoiseGate", "HighShelfFilter",
                "LowShelfFilter", "PeakFilter", "Invert")


# ------------------------------------------------------------ render files
BIT_DEPTHS = {16: "16-bit integer", 24: "24-bit integer", 32: "32-bit float"}  # 32 always means float
RENDER_FORMATS = ("wav", "flac", "aiff")
FLOAT_FORMATS = ("wav",)  # pedalboard writes 32-bit float to wav only (flac and aiff refuse it)


def check_bit_depth(bit_depth: int | str, format: str) -> int:
    """The bit depth as 16, 24 or 32 ("float", the bridge's older name, is 32), checked against
    the file format; InputError naming what to use instead."""
    bits = 32 if bit_depth == "float" else bit_depth
    if bits not in BIT_DEPTHS or isinstance(bits, bool):
        raise InputError(f"bit_depth must be one of {', '.join(f'{b} ({n})' for b, n in BIT_DEPTHS.items())}, "
                         f"got {bit_depth!r}")
    if bits == 32 and format not in FLOAT_FORMATS:
        raise InputError(f"{format} cannot hold 32-bit float; use {' or '.join(FLOAT_FORMATS)}, or 16/24 bits")
    return int(bits)


def bytes_per_sample(bit_depth: int) -> int:
    """Bytes one sample takes in a render file of `bit_depth` (16, 24 or 32 = float)."""
    if bit_depth not in BIT_DEPTHS:
        raise ValueError(f"bit depth must be one of {', '.join(map(str, BIT_DEPTHS))}, got {bit_depth!r}")
    return bit_depth // 8
