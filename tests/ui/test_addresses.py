"""One source of addresses: every OSC address in the shipped Max patch, Max for Live device, Pd
patch and page JavaScript must be in the engine's table (engine/protocol.py). Addresses a client
*sends* must be routes; addresses it *listens for* (route objects, handlers) may also be replies or
notifications. The extractors are tested on planted bad addresses, so this test can fail."""
from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from ui_peers import ROOT

from engine.protocol import FAIL, NOTIFICATIONS, ROUTES

UI = ROOT / "plugin_ui"
ADDRESS = re.compile(r"/[a-z][a-z0-9_]*(?:/[a-z][a-z0-9_]*)*")
SENT_BY_ROUTE = {r.address for r in ROUTES}
HEARD = SENT_BY_ROUTE | {m.address for r in ROUTES for m in r.replies} | {m.address for m in NOTIFICATIONS} | {FAIL.address}


# ---------------------------------------------------------------- extractors: file -> (sent, heard)
def max_addresses(patcher: dict) -> tuple[set[str], set[str]]:
    """Message boxes (and prepend) that start with an address are sent; route/select args are heard."""
    sent, heard = set(), set()
    for entry in patcher["patcher"]["boxes"]:
        box = entry["box"]
        if "patcher" in box:  # subpatchers
            s, h = max_addresses({"patcher": box["patcher"]})
            sent |= s
            heard |= h
        text = str(box.get("text", ""))
        for part in text.split(","):  # "a, b" in a message box is two messages
            words = part.replace(";", " ").split()
            if not words:
                continue
            if box["maxclass"] == "message" and ADDRESS.fullmatch(words[0]):
                sent.add(words[0])
            elif box["maxclass"] == "newobj" and words[0] in ("prepend", "append") and len(words) > 1 \
                    and ADDRESS.fullmatch(words[1]):
                sent.add(words[1])
            elif box["maxclass"] == "newobj" and words[0] in ("route", "routepass", "select", "sel", "osc-route"):
                heard |= {w for w in words[1:] if ADDRESS.fullmatch(w)}
            else:
                heard |= {w for w in words if ADDRESS.fullmatch(w)}
    return sent, heard


def read_amxd(data: bytes) -> tuple[bytes, dict]:
    """(device type, patcher) from the ampf/meta/ptch chunks of an unfrozen .amxd."""
    chunks, pos = {}, 0
    while pos + 8 <= len(data):
        size = struct.unpack_from("<I", data, pos + 4)[0]
        chunks[data[pos:pos + 4]] = data[pos + 8:pos + 8 + size]
        pos += 8 + size
    assert b"ampf" in chunks and b"ptch" in chunks, "not an .amxd (no ampf / ptch chunk)"
    return chunks[b"ampf"], json.loads(chunks[b"ptch"].rstrip(b"\x00"))


def pd_addresses(text: str) -> tuple[set[str], set[str]]:
    """[oscformat a b] sends /a/b; Pd's [oscparse] splits addresses, so what Pd hears has no slashes."""
    sent = set()
    for record in text.split(";\n"):
        words = record.split()
        if len(words) > 4 and words[:2] == ["#X", "obj"] and words[4] == "oscformat":
            args = [w for w in words[5:] if not w.startswith("-")]
            sent.add("/" + "/".join(args))
        if len(words) > 2 and words[:2] == ["#X", "msg"]:
            sent |= {w for w in words[4:5] if ADDRESS.fullmatch(w)}
    return sent, set()


def js_addresses(text: str) -> tuple[set[str], set[str]]:
    """Every quoted string literal that looks like an address; values of the A and MOVES maps are sent."""
    literals = re.findall(r"""(["'`])(/[^"'`\s]*)\1""", text)
    heard = {lit for _, lit in literals if ADDRESS.fullmatch(lit)}
    sent = set()
    for block in re.findall(r"const (?:A|MOVES) = \{(.*?)\};", text, re.S):
        sent |= {lit for _, lit in re.findall(r"""(["'])(/[^"']*)\1""", block)}
    return sent, heard


def shipped() -> dict[str, tuple[set[str], set[str]]]:
    found = {}
    for path in sorted((UI / "web").glob("*.js")):
        found[str(path.relative_to(ROOT))] = js_addresses(path.read_text())
    maxpat = UI / "max" / "distill.maxpat"
    found[str(maxpat.relative_to(ROOT))] = max_addresses(json.loads(maxpat.read_text()))
    for amxd in sorted((UI / "max").glob("*.amxd")):
        found[str(amxd.relative_to(ROOT))] = max_addresses(read_amxd(amxd.read_bytes())[1])
    pd = UI / "pd" / "distill.pd"
    found[str(pd.relative_to(ROOT))] = pd_addresses(pd.read_text())
    return found


# ---------------------------------------------------------------- the checks
def test_every_shipped_address_is_in_the_table():
    problems = []
    for name, (sent, heard) in shipped().items():
        problems += [f"{name}: sends {a}, which is not a route" for a in sorted(sent - SENT_BY_ROUTE)]
        problems += [f"{name}: uses {a}, which the table does not have" for a in sorted(heard - HEARD)]
    assert not problems, "\n".join(problems)


def test_each_client_actually_uses_the_table():
    """The extractors find what each client is known to send (so an empty extraction cannot pass)."""
    found = shipped()
    must = {"plugin_ui/web/app.js": {"/edit/set", "/undo", "/redo", "/generate", "/render", "/move/brighter"},
            "plugin_ui/max/distill.maxpat": {"/play", "/stop", "/generate", "/sampling/creativity", "/notify"},
            "plugin_ui/max/distill.amxd": {"/play", "/stop", "/generate", "/move/smoother", "/status"},
            "plugin_ui/max/distill-instrument.amxd": {"/midi/note", "/midi/cc", "/midi/bend", "/tempo", "/midi/learn",
                                                      "/link"},
            "plugin_ui/pd/distill.pd": {"/ping", "/play", "/stop", "/generate", "/sampling/creativity",
                                        "/audition/code", "/status", "/notify", "/midi/note", "/midi/cc"}}
    for name, addresses in must.items():
        assert addresses <= found[name][0], f"{name}: expected to send {sorted(addresses - found[name][0])}"


@pytest.mark.parametrize("kind, planted", [
    ("js", 'const A = { x: "/edit/bogus" };'),
    ("js", 'send("/no/such/thing");'),
    ("max", {"patcher": {"boxes": [{"box": {"maxclass": "message", "text": "/edit/bogus 1 2"}}]}}),
    ("max", {"patcher": {"boxes": [{"box": {"maxclass": "newobj", "text": "route /status /nope"}}]}}),
    ("pd", "#X obj 10 10 oscformat edit bogus;\n"),
])
def test_a_planted_unknown_address_is_caught(kind, planted):
    sent, heard = {"js": js_addresses, "max": max_addresses, "pd": pd_addresses}[kind](planted)
    assert (sent - SENT_BY_ROUTE) | (heard - HEARD), f"the {kind} extractor missed a bad address"


def test_max_device_is_reproducible_and_well_formed():
    """tools/gen_max_device writes exactly the shipped files; the .amxd is an audio effect whose
    patcher matches the container type and passes audio through."""
    check = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_max_device"), "--check"],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    kind, patcher = read_amxd((UI / "max" / "distill.amxd").read_bytes())
    assert kind == b"aaaa"
    assert patcher["patcher"]["project"]["amxdtype"] == int.from_bytes(kind, "big")
    classes = {b["box"]["text"].split()[0] if b["box"]["maxclass"] == "newobj" else b["box"]["maxclass"]
               for b in patcher["patcher"]["boxes"]}
    assert {"plugin~", "plugout~", "udpsend", "udpreceive", "jweb", "live.dial", "live.menu", "live.text"} <= classes
    for name in ("distill.maxpat", "distill.amxd"):
        data = (UI / "max" / name).read_bytes()
        boxes = {b["box"]["id"]: b["box"] for b in (read_amxd(data)[1] if name.endswith(".amxd") else json.loads(data))
                 ["patcher"]["boxes"]}
        for line in (read_amxd(data)[1] if name.endswith(".amxd") else json.loads(data))["patcher"]["lines"]:
            (src, outlet), (dst, inlet) = line["patchline"]["source"], line["patchline"]["destination"]
            assert src in boxes and dst in boxes, f"{name}: a cord to a missing box: {line}"
            assert outlet < boxes[src]["numoutlets"], f"{name}: {boxes[src].get('text')} has no outlet {outlet}"
            assert inlet < boxes[dst]["numinlets"], f"{name}: {boxes[dst].get('text')} has no inlet {inlet}"
