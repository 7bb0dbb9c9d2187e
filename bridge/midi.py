"""A system MIDI input (mido over python-rtmidi) for `distill serve --midi-in NAME`.

MIDI ports are devices, so they live in the bridge: this module opens one and hands each note and
controller to a `deliver(address, args)` callable as the same `/midi/note NOTE VELOCITY CHANNEL`
and `/midi/cc CONTROLLER VALUE CHANNEL` messages that Max's `notein`/`ctlin` and Pd forward over
OSC, so the engine has one MIDI path (`engine/server/handlers/midi.py`). rtmidi calls back on its
own thread; `deliver` must hand the message to the dispatcher (the server's `post`).

Every MIDI API rtmidi was built with is searched: the system one (ALSA sequencer, CoreMIDI, Windows
MM) and JACK MIDI, so a machine with no ALSA sequencer (a container, this test machine) still gets
ports from a running JACK server. Port names are matched exactly, else by a unique case-insensitive
part ("nanoKEY" finds "nanoKEY2:nanoKEY2 MIDI 1 20:0").
"""
from __future__ import annotations

import contextlib
import os
import sys
from typing import Callable

from engine.errors import InputError

# rtmidi API names in the order they are searched: the platform's own first, JACK last
APIS = ("LINUX_ALSA", "MACOSX_CORE", "WINDOWS_MM", "UNIX_JACK")
MISSING = "MIDI input needs mido and python-rtmidi: pip install mido==1.3.3 python-rtmidi==1.5.8"


@contextlib.contextmanager
def _quiet_stderr():
    """ALSA prints to fd 2 when it has no sequencer; the port list says what was found instead."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _backends() -> list[tuple[str, object]]:
    try:
        import mido
        import rtmidi
    except ImportError:
        raise InputError(MISSING) from None
    compiled = rtmidi.get_compiled_api()
    return [(api, mido.Backend(f"mido.backends.rtmidi/{api}", load=True)) for api in APIS
            if getattr(rtmidi, f"API_{api}", None) in compiled]


def list_ports() -> list[tuple[str, str]]:
    """[(api, port name)] of every MIDI input rtmidi can see now (APIs that fail are skipped)."""
    out = []
    for api, backend in _backends():
        try:
            with _quiet_stderr():
                out += [(api, name) for name in backend.get_input_names()]
        except Exception:  # e.g. "error creating ALSA sequencer client object": no ALSA MIDI here
            continue
    return out


def find_port(name: str, ports: list[tuple[str, str]]) -> tuple[str, str]:
    exact = [p for p in ports if p[1] == name]
    if exact:
        return exact[0]
    part = [p for p in ports if name.lower() in p[1].lower()]
    if len(part) == 1:
        return part[0]
    listing = "; ".join(f"{n} ({api})" for api, n in ports) or "none (connect a device, or start its JACK client)"
    if part:
        raise InputError(f"--midi-in {name!r} matches {len(part)} MIDI inputs, give more of the name: {listing}")
    raise InputError(f"--midi-in {name!r}: no such MIDI input; inputs: {listing}")


def event_message(msg) -> tuple[str, list] | None:
    """A mido message -> the OSC message it stands for (channels counted from 1, as notein does);
    None for messages the engine does not use (clock, sysex, aftertouch...)."""
    if msg.type == "note_on":
        return "/midi/note", [msg.note, msg.velocity, msg.channel + 1]
    if msg.type == "note_off":
        return "/midi/note", [msg.note, 0, msg.channel + 1]
    if msg.type == "control_change":
        return "/midi/cc", [msg.control, msg.value, msg.channel + 1]
    if msg.type == "pitchwheel":  # mido's -8192..8191, the wire's 0..16383
        return "/midi/bend", [msg.pitch + 8192, msg.channel + 1]
    return None


class MidiInput:
    """One open MIDI input port; events go to `deliver(address, args)` on rtmidi's thread."""

    def __init__(self, name: str, deliver: Callable[[str, list], None]) -> None:
        self.api, self.name = find_port(name, list_ports())
        backend = dict(_backends())[self.api]
        self.deliver = deliver
        self.received = 0
        with _quiet_stderr():
            self.port = backend.open_input(self.name, callback=self._on_message)

    def _on_message(self, msg) -> None:
        out = event_message(msg)
        if out is not None:
            self.received += 1
            self.deliver(*out)

    def describe(self) -> str:
        return f"{self.name} ({self.api})"

    def close(self) -> None:
        port, self.port = self.port, None
        if port is not None:
            port.close()


def print_ports(out=sys.stdout) -> int:
    """`distill serve --midi-list`."""
    ports = list_ports()
    if not ports:
        print("no MIDI inputs found (connect a device; on Linux without an ALSA sequencer, MIDI comes "
              "from a running JACK server)", file=out)
    for api, name in ports:
        print(f"{name}\t({api})", file=out)
    return 0
