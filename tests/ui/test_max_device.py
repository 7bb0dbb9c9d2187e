"""The Max for Live devices as generated JSON, checked against the route table: the instrument
receives the track's MIDI and forwards it as /midi/note and /midi/cc; both follow Live's tempo and
transport through live.observer; continuous controls are automatable, modulatable and in
live.banks banks, momentary buttons are hidden from automation; a finished render goes to the
clip-slot JS (and buffer~); every message box sends a route with an argument count the route takes.
The checks run on planted faults too, so they can fail."""
from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest

from test_addresses import read_amxd
from ui_peers import ROOT

from engine.protocol import ROUTES_BY_ADDRESS

MAX = ROOT / "plugin_ui" / "max"
DEVICES = {"distill.amxd": b"aaaa", "distill-instrument.amxd": b"iiii"}
CONTINUOUS = {"Seconds", "Creativity", "Focus", "Diversity", "Gain", "Move Amount", "Blend", "Voice 1", "Voice 2"}


def load(name: str) -> dict:
    kind, patch = read_amxd((MAX / name).read_bytes())
    assert kind == DEVICES[name] and patch["patcher"]["project"]["amxdtype"] == int.from_bytes(kind, "big")
    return patch["patcher"]


class Graph:
    def __init__(self, patcher: dict) -> None:
        self.patcher = patcher
        self.boxes = {b["box"]["id"]: b["box"] for b in patcher["boxes"]}
        self.out: dict[str, list[tuple[int, str, int]]] = {}
        for line in patcher["lines"]:
            (src, outlet), (dst, inlet) = line["patchline"]["source"], line["patchline"]["destination"]
            self.out.setdefault(src, []).append((outlet, dst, inlet))

    def text(self, box_id: str) -> str:
        return str(self.boxes[box_id].get("text", ""))

    def find(self, pattern: str) -> list[str]:
        return [i for i, b in self.boxes.items() if re.fullmatch(pattern, str(b.get("text", "")))]

    def reaches(self, start: str, goal: str, outlet: int | None = None) -> bool:
        seen, todo = set(), [(start, outlet)]
        while todo:
            node, only = todo.pop()
            for o, dst, _ in self.out.get(node, []):
                if (only is None or o == only) and dst not in seen:
                    if re.fullmatch(goal, self.text(dst)):
                        return True
                    seen.add(dst)
                    todo.append((dst, None))
        return False


def problems(patcher: dict, instrument: bool) -> list[str]:
    g, out = Graph(patcher), []
    send = g.find(r"udpsend 127\.0\.0\.1 9000")
    if not send:
        return ["no udpsend to the engine"]
    to_engine = lambda box, o=None: g.reaches(box, r"udpsend 127\.0\.0\.1 9000", o)  # noqa: E731
    # MIDI from the track
    for obj, address in (("notein", "/midi/note"), ("ctlin", "/midi/cc"), ("xbendin", "/midi/bend")):
        boxes = g.find(obj)
        if instrument and not (boxes and all(g.reaches(b, rf"{address} .*") for b in boxes) and to_engine(boxes[0])):
            out.append(f"{obj} does not reach {address} and the engine")
        if not instrument and boxes:
            out.append(f"the audio effect has {obj}")
    if instrument == bool(g.find(r"plugin~")):
        out.append("an instrument has no audio input; the audio effect needs plugin~")
    # Live's tempo and transport
    for prop, goal in (("tempo", r"prepend /tempo"), ("is_playing", r"sel 1 0")):
        observers = g.find(rf"live\.observer {prop}")
        if not observers or not g.reaches(observers[0], goal) or not to_engine(observers[0]):
            out.append(f"live.observer {prop} does not reach the engine")
        elif not any(re.fullmatch(r"live\.path", g.text(src)) and dst == observers[0] and inlet == 1
                     for src, edges in g.out.items() for _, dst, inlet in edges):
            out.append(f"live.observer {prop} gets no live.path id")
    sel = g.find(r"sel 1 0")
    if sel and not (g.reaches(sel[0], r"/seek 0, /play", 0) and g.reaches(sel[0], r"/stop", 1)):
        out.append("Live's play/stop does not map to /seek 0, /play and /stop")
    # parameters: banks, automation, modulation
    params = patcher.get("parameters", {})
    banked = {n for bank in params.get("parameterbanks", {}).values() for n in bank["parameters"] if n != "-"}
    if not g.find(r"live\.banks"):
        out.append("no live.banks object")
    for box_id, box in g.boxes.items():
        value = box.get("saved_attribute_attributes", {}).get("valueof", {})
        name = value.get("parameter_longname")
        if name is None:
            continue
        if box_id not in params:
            out.append(f"{name} is not in the patcher's parameter list")
        if box["maxclass"] == "live.dial":
            if name not in CONTINUOUS or value.get("parameter_invisible") != 0 or not value.get("parameter_modmode"):
                out.append(f"dial {name}: not automatable and modulatable")
            if name not in banked:
                out.append(f"dial {name}: in no live.banks bank")
        elif value.get("parameter_invisible") != 2:
            out.append(f"{box['maxclass']} {name}: a momentary control that automation can see")
    if banked != CONTINUOUS:
        out.append("the banks do not hold exactly the continuous controls")
    # renders into the set
    js = g.find(r"js distill_clip\.js")
    if not js or not any(g.reaches(r, r"js distill_clip\.js") for r in g.find(r"route /render")):
        out.append("/done /render does not reach distill_clip.js")
    elif not g.reaches(js[0], r"buffer~ distill-render", 1) or not g.find(r"play~ distill-render 2"):
        out.append("the render is not auditioned through buffer~ / play~")
    # every message box: a route, with an argument count it takes
    for box in g.boxes.values():
        if box["maxclass"] != "message":
            continue
        for part in str(box.get("text", "")).split(","):
            words = part.split()
            if words and words[0].startswith("/"):
                route = ROUTES_BY_ADDRESS.get(words[0])
                if route is None:
                    out.append(f"{part.strip()}: no such route")
                elif not route.min_args <= len(words) - 1 <= len(route.args):
                    out.append(f"{part.strip()}: {words[0]} takes {route.min_args}..{len(route.args)} arguments")
    return out


@pytest.mark.parametrize("name", DEVICES)
def test_device_follows_live_and_the_route_table(name):
    assert problems(load(name), name == "distill-instrument.amxd") == []


def test_the_clip_script_places_renders_in_an_empty_slot_of_live_12_0_5():
    js = (MAX / "distill_clip.js").read_text()
    for needed in ('"create_audio_clip"', "highlighted_clip_slot", "has_clip", "has_audio_input",
                   "var MIN_VERSION = [12, 0, 5]", '"replace"'):
        assert needed in js, needed
    assert re.search(r"needs 12\.0\.5\): drag", js), "no clear message for older Live versions"


@pytest.mark.parametrize("fault", ["unbank", "automate button", "cut midi", "bad arity", "no observer"])
def test_planted_faults_are_caught(fault):
    patcher = copy.deepcopy(load("distill-instrument.amxd"))
    g = Graph(patcher)
    if fault == "unbank":
        patcher["parameters"]["parameterbanks"]["1"]["parameters"][0] = "-"
    elif fault == "automate button":
        box = next(b for b in g.boxes.values() if b["maxclass"] == "live.text")
        box["saved_attribute_attributes"]["valueof"]["parameter_invisible"] = 0
    elif fault == "cut midi":
        notein = g.find("notein")[0]
        patcher["lines"] = [ln for ln in patcher["lines"] if ln["patchline"]["source"][0] != notein]
    elif fault == "bad arity":
        g.boxes[g.find(r"/midi/note .*")[0]]["text"] = "/midi/note $1"
    else:
        g.boxes[g.find(r"live\.observer tempo")[0]]["text"] = "live.object"
    assert problems(patcher, True), f"the fault {fault!r} went unnoticed"


def test_both_devices_are_written_by_the_generator():
    import subprocess
    import sys
    check = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_max_device"), "--check"],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert {p.name for p in MAX.glob("*.amxd")} == set(DEVICES)
    assert Path(MAX / "distill_clip.js").is_file()
