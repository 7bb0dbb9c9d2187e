"""MIDI routes: `/midi/note`, `/midi/cc`, `/midi/bend` (from Max/Pd `notein`/`ctlin`, the web page, or the system
MIDI port that `distill serve --midi-in` opens), the mapping routes and MIDI learn.

`MidiRouter` turns each event into the commands the session's mapping binds it to
(`engine/edit/midi.py`) and hands them to `Core.handle` as an internal client, so they get the same
checks, undo and replies as any OSC command. It keeps only what a player's hands make transient:
the held notes (last-note priority: releasing the sounding note stops it), the controller
gestures (a sweep is one undo step: while the last step in the history is the sweep's own, the
next value replaces it), one move job per controller in flight (the newest value waits, older
ones are dropped), and the learn target.
"""
from __future__ import annotations

from engine.edit import midi
from engine.errors import InputError
from engine.protocol import ROUTES_BY_ADDRESS
from engine.server.core import Client, Core
from engine.server.wire import Args, HandlerTable, Replies, done

TABLE = HandlerTable()


class MidiRouter:
    def __init__(self, core) -> None:
        self.core = core
        self.held: list[int] = []  # notes holding an audition, oldest first
        self.learning: midi.Binding | None = None  # its number is a placeholder until an event arrives
        self.gesture_version: dict[tuple, int] = {}  # (cc, channel) -> grid version its last step left
        self.in_flight: dict[str, list] = {}  # job address -> [key of the running value, newest waiting or None]
        self.origin: Client | None = None  # whom the commands' /fail replies go to
        self.client = Client(("midi",), self._reply)

    # ------------------------------------------------------------ the mapping in the session
    def mapping(self) -> midi.MidiMap:
        return midi.map_from_session_json(_session(self.core).midi_json)

    def save(self, midi_map: midi.MidiMap | None) -> None:
        from dataclasses import replace
        core = self.core
        text = "" if midi_map is None else midi.map_to_session_json(midi_map)
        core.commit_session(replace(_session(core), midi_json=text))
        core.state.dirty = True  # not a grid change: commit_session leaves the flag alone

    def grid(self) -> midi.Grid:
        session = _session(self.core)
        codes, sel = session.codes, session.present.selection
        if sel is not None:
            levels = sel.levels or tuple(range(codes.levels))
            region = (min(levels), max(levels) + 1, sel.start_frame, sel.end_frame)
        else:
            region = (0, codes.levels, 0, codes.n_frames)
        return midi.Grid(codes.levels, codes.n_frames, codes.codebook_size, region)

    # ------------------------------------------------------------ events
    def event(self, origin: Client, kind: str, number: int, value: int, channel: int) -> None:
        """One note (value = velocity, 0 = off), controller value or pitch bend (0..16383), on the
        dispatcher thread."""
        self.origin = origin
        if self.learning is not None and (kind != "note" or value > 0):
            if self.learning.kind == kind or (self.learning.kind, kind) == ("cc", "bend"):  # a CC target takes either
                self._learn(kind, number, channel)
            return
        binding = self.mapping().find(kind, number, channel)
        if binding is None:
            return  # unmapped: ignored, as a synth ignores keys outside its range
        if kind == "note":
            self._note(binding, value)
        elif kind == "bend":
            self._cc(binding, midi.bend_value(value), (kind, channel))
        else:
            self._cc(binding, value, (number, channel))

    def _note(self, b: midi.Binding, velocity: int) -> None:
        if velocity > 0:
            if b.target != "voice":
                self.held = [n for n in self.held if n != b.number] + [b.number]
            self._dispatch(midi.note_on(b, velocity, self.grid()))
        elif b.target == "voice":
            self._dispatch(midi.note_off(b))
        elif b.number in self.held:
            sounding = self.held[-1] == b.number
            self.held.remove(b.number)
            if sounding:
                self._dispatch(midi.note_off(b))

    def _cc(self, b: midi.Binding, value: float, key: tuple) -> None:
        msgs = midi.cc_messages(b, value, self.grid())
        address = msgs[0][0]
        if ROUTES_BY_ADDRESS[address].job:
            if address in self.in_flight:  # a move is computing: this value waits, replacing older ones
                self.in_flight[address][1] = (key, b.target, msgs)
                return
            self.in_flight[address] = [key, None]
        self._gesture(key, b.target, msgs)

    def _gesture(self, key: tuple, target: str, msgs: list) -> None:
        core = self.core
        if target in midi.UNDOABLE_CC and self.gesture_version.get(key) == core.state.version and core.state.session.n_past:
            self._dispatch([("/undo", [])])  # the sweep's previous value goes: one undo step per sweep
        self._dispatch(msgs)
        if not ROUTES_BY_ADDRESS[msgs[0][0]].job:
            self.gesture_version[key] = core.state.version

    def _dispatch(self, msgs: list) -> None:
        for address, args in msgs:
            self.core.handle(self.client, address, args)

    def _reply(self, address: str, args: list) -> None:
        """Replies to the commands this router sent: failures go to the event's sender; a finished
        move lets the newest waiting controller value run."""
        command = args[0] if args else ""
        if address == "/fail":
            if self.origin is not None:
                self.core.fail(self.origin, command, args[1])
        if command in self.in_flight and address in ("/done", "/fail"):
            running, waiting = self.in_flight.pop(command)
            if address == "/done":
                self.gesture_version[running] = self.core.state.version
            if waiting is not None:
                key, target, msgs = waiting
                self.in_flight[command] = [key, None]
                self._gesture(key, target, msgs)

    # ------------------------------------------------------------ learn
    def learn(self, target: str, params: list) -> None:
        if target == "off":
            self.learning = None
            return
        kind = "note" if target in midi.NOTE_ACTIONS else "cc"
        self.learning = midi.Binding(kind, 0, target, tuple(params))  # validates target and params

    def _learn(self, kind: str, number: int, channel: int) -> None:
        b = self.learning
        self.learning = None
        from dataclasses import replace
        self.save(self.mapping().bind(replace(b, kind=kind, number=number)))
        self.core.notify("/midi/learned", [kind, number, b.target], also=self.origin)


def _session(core):
    return core.state.require_session()


def router(core) -> MidiRouter:
    if core.state.midi is None:
        core.state.midi = MidiRouter(core)
    return core.state.midi


@TABLE.handles("/midi/note")
def midi_note(core: Core, client: Client, args: Args) -> Replies:
    note, velocity, *channel = args
    router(core).event(client, "note", note, velocity, channel[0] if channel else 1)
    return done("/midi/note")


@TABLE.handles("/midi/cc")
def midi_cc(core: Core, client: Client, args: Args) -> Replies:
    controller, value, *channel = args
    router(core).event(client, "cc", controller, value, channel[0] if channel else 1)
    return done("/midi/cc")


@TABLE.handles("/midi/bend")
def midi_bend(core: Core, client: Client, args: Args) -> Replies:
    value, *channel = args
    router(core).event(client, "bend", 0, value, channel[0] if channel else 1)
    return done("/midi/bend")


@TABLE.handles("/midi/map")
def midi_map(core: Core, client: Client, args: Args) -> Replies:
    kind, number, target, *params = args
    r = router(core)
    r.save(r.mapping().bind(midi.Binding(kind, number, target, tuple(params))))
    return done("/midi/map")


@TABLE.handles("/midi/unmap")
def midi_unmap(core: Core, client: Client, args: Args) -> Replies:
    r = router(core)
    r.save(r.mapping().unbind(*args))
    return done("/midi/unmap")


@TABLE.handles("/midi/map/list")
def midi_map_list(core: Core, client: Client, args: Args) -> Replies:
    bindings = router(core).mapping().bindings
    out = [("/midi/binding", [b.kind, b.number, b.target, b.channel, *b.params]) for b in bindings]
    return out + done("/midi/map/list", len(out))


@TABLE.handles("/midi/map/reset")
def midi_map_reset(core: Core, client: Client, args: Args) -> Replies:
    router(core).save(None)
    return done("/midi/map/reset")


@TABLE.handles("/midi/learn")
def midi_learn(core: Core, client: Client, args: Args) -> Replies:
    target, *params = args
    if target != "off" and target not in midi.TARGETS:
        raise InputError(f"/midi/learn target {target!r} is not one of off, {', '.join(midi.TARGETS)}")
    _session(core)
    r = router(core)
    r.origin = client
    r.learn(target, params)
    return done("/midi/learn")
