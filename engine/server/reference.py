"""Generated artifacts of the route table: the JSON manifest (`plugin_ui/protocol.json`) and the
Markdown reference (`docs/osc.md`). `tools/gen_protocol` writes them; the tests compare them
with what this module renders now, so the table and the files cannot drift apart."""
from __future__ import annotations

import json
from pathlib import Path

from engine import facts, protocol
from engine.protocol import Arg, Message, Route

ROOT = Path(__file__).resolve().parents[2]
MANIFEST_PATH = ROOT / "plugin_ui" / "protocol.json"
REFERENCE_PATH = ROOT / "docs" / "osc.md"


def manifest_text() -> str:
    return json.dumps(manifest(), indent=1) + "\n"


def manifest() -> dict:
    """The JSON manifest (`plugin_ui/protocol.json`): every route and notification as plain data."""
    return {
        "format": "distill-osc-protocol",
        "version": protocol.PROTOCOL_VERSION,
        "conventions": {
            "done": "/done <address> ...", "fail": "/fail <address> <reason>",
            "types": {"i": "int32", "f": "float32", "s": "string", "*": "any"},
            "regions": "half-open [start, stop) in levels and code frames",
            "max_datagram_bytes": protocol.MAX_DATAGRAM_BYTES, "safe_udp_payload_bytes": protocol.SAFE_UDP_PAYLOAD_BYTES,
            "grid_chunk_codes": protocol.GRID_CHUNK_CODES, "max_string_bytes": protocol.MAX_STRING_BYTES,
            "max_name_chars": protocol.MAX_NAME_CHARS, "max_websocket_json_depth": protocol.MAX_WEBSOCKET_JSON_DEPTH,
            "peer_timeout_s": protocol.PEER_TIMEOUT_S, "max_peers": protocol.MAX_PEERS,
            "fail_burst": protocol.FAIL_BURST, "fail_per_s": protocol.FAIL_PER_S,
            "websocket": {"path": protocol.WEBSOCKET_PATH, "message": {"address": "/edit/set", "args": [0, 12, 5]}},
            "sound": dict(protocol.SOUND_HTTP),
        },
        "facts": {"moves": list(facts.MOVE_NAMES), "status_keys": list(facts.STATUS_KEYS),
                  "sampling": [{"key": k.key, "word": k.word, "default": k.default, "minimum": k.minimum,
                                "maximum": k.maximum} for k in facts.SAMPLING_KNOBS],
                  "bit_depths": {str(b): name for b, name in facts.BIT_DEPTHS.items()},
                  "effect_kinds": list(facts.EFFECT_KINDS),
                  "midi": _midi_json()},
        "routes": [_route_json(r) for r in protocol.ROUTES],
        "notifications": [_message_json(m) for m in protocol.NOTIFICATIONS],
        "fail": _message_json(protocol.FAIL),
    }


def _midi_json() -> dict:
    """The MIDI mapping's targets (engine/edit/midi.py) for the page's learn panel: what each kind of
    event can drive, with the names of the target's integer parameters."""
    from engine.edit import midi
    return {kind: [{"target": t, "params": list(params), "doc": doc} for t, (params, doc) in table.items()]
            for kind, table in midi.KIND_TARGETS.items()}


def _arg_json(a: Arg) -> dict:
    out: dict = {"name": a.name, "type": a.type, "doc": a.doc}
    if a.optional:
        out["optional"] = True
    for key in ("default", "minimum", "maximum", "max_chars"):
        if getattr(a, key) is not None:
            out[key] = getattr(a, key)
    if a.choices:
        out["choices"] = list(a.choices)
    return out


def _message_json(m: Message) -> dict:
    out: dict = {"address": m.address, "args": [_arg_json(a) for a in m.args], "doc": m.doc}
    if m.repeated:
        out["repeated"] = True
    if m.pairs:
        out["pairs"] = True
    return out


def _route_json(r: Route) -> dict:
    return {"address": r.address, "group": r.group, "doc": r.doc, "job": r.job,
            "args": [_arg_json(a) for a in r.args], "replies": [_message_json(m) for m in r.replies]}


def _arg_sig(a: Arg) -> str:
    sig = f"{a.name.upper()}:{a.type}"
    return f"[{sig}]" if a.optional else sig


def _msg_sig(m: Message) -> str:
    parts = [m.address, *(_arg_sig(a) for a in m.args)]
    if m.pairs:
        parts.append("KEY VALUE ...")
    if m.address == "/grid/chunk":
        parts.append("CODE:i ...")
    text = " ".join(parts)
    return f"{text} (repeated)" if m.repeated else text


def _arg_lines(args: tuple[Arg, ...]) -> list[str]:
    lines = []
    for a in args:
        extra = []
        if a.minimum is not None or a.maximum is not None:
            extra.append(f"range {'' if a.minimum is None else a.minimum}..{'' if a.maximum is None else a.maximum}")
        if a.default is not None:
            extra.append(f"default {a.default}")
        if a.choices:
            extra.append("one of " + ", ".join(a.choices))
        if a.max_chars is not None:
            extra.append(f"at most {a.max_chars} characters")
        tail = f" ({'; '.join(extra)})" if extra else ""
        lines.append(f"  - `{a.name}` ({a.type}{', optional' if a.optional else ''}): {a.doc}{tail}")
    return lines


def _route_md(r: Route) -> list[str]:
    sig = " ".join([r.address, *(_arg_sig(a) for a in r.args)])
    lines = [f"#### `{sig}`", "", r.doc + (" *(job: runs on the worker, cancellable, sends /progress)*" if r.job else ""), ""]
    lines += _arg_lines(r.args)
    if r.args:
        lines.append("")
    lines.append("Replies:")
    lines += [f"- `{_msg_sig(m)}`" + (f": {m.doc}" if m.doc else "") for m in r.replies]
    lines += [f"- `/fail {r.address} REASON:s`", ""]
    return lines


def reference_text() -> str:
    conventions = (protocol.__doc__ or "").split("Conventions (scsynth style):")[-1].strip()
    lines = ["# OSC reference", "",
             "Generated by `tools/gen_protocol` from `engine/protocol.py`; do not edit by hand.", "",
             "## Conventions", "", conventions, "",
             f"Limits: datagrams over {protocol.MAX_DATAGRAM_BYTES} bytes and strings over "
             f"{protocol.MAX_STRING_BYTES} bytes are refused; long replies are split to stay under "
             f"{protocol.SAFE_UDP_PAYLOAD_BYTES} bytes ({protocol.GRID_CHUNK_CODES} codes per /grid/chunk); "
             f"names (clips, sessions, models) are at most {protocol.MAX_NAME_CHARS} characters; WebSocket JSON "
             f"nested deeper than {protocol.MAX_WEBSOCKET_JSON_DEPTH} levels is refused. An OSC peer "
             f"silent for {protocol.PEER_TIMEOUT_S:g} s is forgotten; at most {protocol.MAX_PEERS} are "
             f"remembered. A sender gets at most {protocol.FAIL_BURST} `/fail` at once, then "
             f"{protocol.FAIL_PER_S:g} per second (the rest are counted in `/status fails_dropped`).", ""]
    groups: dict[str, list[Route]] = {}
    for r in protocol.ROUTES:
        groups.setdefault(r.group, []).append(r)
    lines += ["## Commands", ""]
    for group, routes in groups.items():
        lines += [f"### {group}", ""]
        for r in routes:
            lines += _route_md(r)
    lines += ["## Notifications", "",
              "Sent to clients that sent `/notify 1`, to the reply port, and to every web client.", ""]
    for m in protocol.NOTIFICATIONS:
        lines += [f"### `{_msg_sig(m)}`", "", m.doc or "", ""] + _arg_lines(m.args) + [""]
    lines += ["## Failure", "", f"`{_msg_sig(protocol.FAIL)}`: {protocol.FAIL.doc}", ""]
    return "\n".join(lines).replace("\n\n\n", "\n\n")


def write_all(check: bool = False) -> list[Path]:
    """Writes (or with `check`, compares) both files; returns those that differ(ed)."""
    stale = []
    for path, text in ((MANIFEST_PATH, manifest_text()), (REFERENCE_PATH, reference_text())):
        current = path.read_text() if path.exists() else None
        if current != text:
            stale.append(path)
            if not check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
    return stale
