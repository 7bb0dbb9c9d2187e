"""MIDI as data: the mapping from notes and controllers to engine commands, and the translation of
one MIDI event into the OSC messages (address, args) of `engine/protocol.py` that it stands for.

The mapping is a value (`MidiMap`, a tuple of `Binding`s) stored in the session file, edited over
OSC (`/midi/map`, `/midi/unmap`, `/midi/learn`) or by hand in the JSON. What each target does is
declared once, in `NOTE_ACTIONS` and `CC_TARGETS` (the route table's `/midi/map` choices and
docs/ui.md's table come from them). A MIDI event becomes ordinary commands, so it gets the same
argument checks, undo and replies as any OSC client, whether it came from a system MIDI port
(`distill serve --midi-in`), from Max's `notein`/`ctlin` or Pd's forwarded as `/midi/note`, or
from the web page. Nothing here knows about ports or threads.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

from engine.errors import InputError
from engine.facts import MOVE_NAMES as MOVES, SAMPLING_KNOBS

OFF_DB = -96.0  # a released voice; the bottom of /voice/gain's range

# target -> (its integer parameters, what it does). Notes: note-on starts it at the velocity's
# gain, note-off releases it (a 5 ms ramp in the bridge).
NOTE_ACTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "slice": (("slice", "slices"), "play slice SLICE of SLICES equal slices of the grid, every level, looped while held"),
    "region": (("level_start", "level_stop", "frame_start", "frame_stop"),
               "play a region of the grid (half-open levels and frames), looped while held"),
    "code": (("level", "code", "frames"), "audition one code held in context for FRAMES frames"),
    "voice": (("voice",), "unmute layered voice VOICE (from 1) at the velocity's gain; note-off mutes it"),
}
# CCs: value 0..127 scaled to the target's range. Moves and blend act on the selection (the whole
# grid when nothing is selected); a sweep of one controller is one undo step.
CC_TARGETS: dict[str, tuple[tuple[str, ...], str]] = {
    **{m: ((), f"amount 0..1 of the move '{m}' on the selection") for m in MOVES},
    "blend": ((), "blend amount 0..1 of the clipboard into the selection"),
    "creativity": ((), "Creativity (temperature), over its range (engine/facts.py)"),
    "focus": ((), "Focus (top-k) from 0 (off) to the codebook size"),
    "diversity": ((), "Diversity (top-p), over its range (engine/facts.py)"),
    "voice_gain": (("voice",), "gain of layered voice VOICE (MIDI volume curve, 0 = off)"),
    "gain": ((), "output gain (MIDI volume curve: 127 = 0 dB, 0 = off)"),
}
TARGETS = (*NOTE_ACTIONS, *CC_TARGETS)
# Pitch bend (14 bits, 0..16383, 8192 at rest) drives the same targets as a CC, at its finer
# resolution; a bend binding's number is always 0 (a channel has one wheel).
KIND_TARGETS = {"note": NOTE_ACTIONS, "cc": CC_TARGETS, "bend": CC_TARGETS}
BEND_MAX = 16383
UNDOABLE_CC = (*MOVES, "blend", "creativity", "focus", "diversity")  # these push history steps


@dataclass(frozen=True)
class Binding:
    """One mapping: a note or a controller number (0..127) on `channel` (1..16, 0 = any) to a target."""

    kind: str  # "note" | "cc" | "bend"
    number: int
    target: str
    params: tuple[int, ...] = ()
    channel: int = 0

    def __post_init__(self) -> None:
        table = KIND_TARGETS.get(self.kind)
        if table is None:
            raise InputError(f"MIDI binding kind {self.kind!r}: expected note, cc or bend")
        if self.target not in table:
            other = "a note" if self.kind != "note" else "a controller"
            hint = f" ({self.target} is for {other})" if self.target in TARGETS else ""
            raise InputError(f"MIDI {self.kind} {self.number}: target {self.target!r} is not one of "
                             f"{', '.join(table)}{hint}")
        if not _is_int(self.number) or not 0 <= self.number <= (0 if self.kind == "bend" else 127):
            raise InputError(f"MIDI {self.kind} number {self.number!r}: expected "
                             f"{'0 (a channel has one pitch bend)' if self.kind == 'bend' else '0..127'}")
        if not _is_int(self.channel) or not 0 <= self.channel <= 16:
            raise InputError(f"MIDI channel {self.channel!r}: expected 1..16, or 0 for any")
        names = table[self.target][0]
        wanted = len(names) - (1 if self.target == "code" else 0)  # code's frames is optional
        if not wanted <= len(self.params) <= len(names) or not all(_is_int(p) and p >= 0 for p in self.params):
            raise InputError(f"MIDI {self.kind} {self.number} -> {self.target} takes {', '.join(names) or 'nothing'} "
                             f"(whole numbers >= 0), got {list(self.params)}")

    def to_json(self) -> dict:
        out = {"kind": self.kind, "number": self.number, "target": self.target, "params": list(self.params)}
        return {**out, "channel": self.channel} if self.channel else out


@dataclass(frozen=True)
class MidiMap:
    bindings: tuple[Binding, ...] = ()

    def find(self, kind: str, number: int, channel: int) -> Binding | None:
        """The binding for this event: one on its channel wins over one on any channel."""
        best = None
        for b in self.bindings:
            if b.kind == kind and b.number == number and b.channel in (0, channel):
                if b.channel == channel:
                    return b
                best = best or b
        return best

    def bind(self, binding: Binding) -> "MidiMap":
        """Adds `binding`, replacing the one of the same kind, number and channel."""
        keep = tuple(b for b in self.bindings
                     if (b.kind, b.number, b.channel) != (binding.kind, binding.number, binding.channel))
        return MidiMap(tuple(sorted((*keep, binding), key=lambda b: (b.kind, b.number, b.channel))))

    def unbind(self, kind: str, number: int) -> "MidiMap":
        if not any(b.kind == kind and b.number == number for b in self.bindings):
            raise InputError(f"no MIDI {kind} {number} in the mapping (see /midi/map/list)")
        return MidiMap(tuple(b for b in self.bindings if not (b.kind == kind and b.number == number)))

    def to_json(self) -> dict:
        return {"format": "distill-midi-map", "version": 1, "bindings": [b.to_json() for b in self.bindings]}

    @classmethod
    def from_json(cls, data, source: str = "MIDI mapping") -> "MidiMap":
        if not isinstance(data, dict) or data.get("format") != "distill-midi-map" or data.get("version") != 1:
            raise InputError(f"{source}: not a version 1 distill-midi-map")
        try:
            return cls(tuple(Binding(str(b["kind"]), b["number"], str(b["target"]), tuple(b.get("params", ())),
                                     b.get("channel", 0)) for b in data["bindings"]))
        except InputError as e:
            raise InputError(f"{source}: {e}") from None
        except (KeyError, TypeError, AttributeError) as e:
            raise InputError(f"{source}: malformed binding ({type(e).__name__}: {e})") from None


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def default_map() -> MidiMap:
    """What a fresh session plays: C3..G3 (MIDI 48..55) the grid in 8 slices, C4..D#4 (60..63)
    layered voices 1..4; CC 1 (mod wheel) blend, CC 7 (volume) gain, CC 71/73/72 Creativity,
    Focus, Diversity, CC 74 (brightness) the move 'brighter', CC 20..23 voice gains 1..4; the pitch
    bend wheel Creativity (at rest, mid-range)."""
    m = MidiMap()
    for i in range(8):
        m = m.bind(Binding("note", 48 + i, "slice", (i, 8)))
    for v in range(1, 5):
        m = m.bind(Binding("note", 59 + v, "voice", (v,)))
        m = m.bind(Binding("cc", 19 + v, "voice_gain", (v,)))
    for cc, target in ((1, "blend"), (7, "gain"), (71, "creativity"), (73, "focus"), (72, "diversity"),
                       (74, "brighter")):
        m = m.bind(Binding("cc", cc, target))
    return m.bind(Binding("bend", 0, "creativity"))


DEFAULT_MAP = default_map()


def map_from_session_json(text: str) -> MidiMap:
    """The session's stored mapping ("" = never edited: the default)."""
    return DEFAULT_MAP if not text else MidiMap.from_json(json.loads(text), "session MIDI mapping")


def map_to_session_json(midi_map: MidiMap) -> str:
    return json.dumps(midi_map.to_json(), sort_keys=True, separators=(",", ":"))


# ---------------------------------------------------------------- event -> commands
def bend_value(bend: int) -> float:
    """A pitch bend 0..16383 on the controllers' 0..127 scale (16383 -> 127, 8192 -> 63.5)."""
    return min(max(bend, 0), BEND_MAX) * 127.0 / BEND_MAX


def velocity_gain_db(velocity: float) -> float:
    """MIDI volume curve (General MIDI's 40 log10(v / 127)): 127 -> 0 dB, 64 -> -11.9 dB, 0 -> off."""
    return OFF_DB if velocity <= 0 else max(OFF_DB, 40.0 * math.log10(velocity / 127.0))


@dataclass(frozen=True)
class Grid:
    """What the translation needs to know about the session: grid size and the selection."""

    levels: int
    frames: int
    codebook_size: int
    region: tuple[int, int, int, int]  # the selection (or the whole grid): l0, l1, f0, f1


def note_on(b: Binding, velocity: int, grid: Grid) -> list[tuple[str, list]]:
    gain_db = round(velocity_gain_db(velocity), 3)
    if b.target == "voice":
        return [("/voice/gain", [b.params[0], gain_db])]
    if b.target == "code":
        level, code, *frames = b.params
        return [("/audition/code", [level, code, frames[0] if frames else 24, gain_db])]
    if b.target == "slice":
        i, n = b.params
        if not 0 <= i < n:
            raise InputError(f"MIDI note {b.number}: slice {i} of {n} does not exist (slices count from 0)")
        f0, f1 = i * grid.frames // n, max((i + 1) * grid.frames // n, i * grid.frames // n + 1)
        return [("/audition/region", [0, grid.levels, f0, min(f1, grid.frames), gain_db])]
    return [("/audition/region", [*b.params, gain_db])]


def note_off(b: Binding) -> list[tuple[str, list]]:
    """Releases what note_on started: a voice is muted, an audition stops (5 ms ramp)."""
    return [("/voice/gain", [b.params[0], OFF_DB])] if b.target == "voice" else [("/stop", [])]


def cc_messages(b: Binding, value: float, grid: Grid) -> list[tuple[str, list]]:
    """The command one controller value (0..127; a bend's 0..16383 scaled to it, fractions kept)
    stands for, without the gesture's undo (see MidiRouter)."""
    x = min(max(value, 0), 127) / 127.0
    if b.target in MOVES:
        return [(f"/move/{b.target}", [*grid.region, round(x, 4)])]
    if b.target == "blend":
        return [("/edit/blend", [*grid.region, round(x, 4)])]
    if b.target in ("creativity", "diversity"):
        knob = next(k for k in SAMPLING_KNOBS if k.word == b.target)
        return [(f"/sampling/{b.target}", [round(knob.minimum + (knob.maximum - knob.minimum) * x, 4)])]
    if b.target == "focus":
        return [("/sampling/focus", [round(x * grid.codebook_size)])]
    gain_db = round(velocity_gain_db(x * 127.0), 3)
    return [("/voice/gain", [b.params[0], gain_db])] if b.target == "voice_gain" else [("/gain", [gain_db])]
