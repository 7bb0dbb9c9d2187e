"""The route table is the single source: handlers, manifest and reference must match it."""
from __future__ import annotations

import json
import re
import subprocess
import sys

from engine import protocol
from engine.server import reference
from engine.server.handlers import handler_table

ROOT = reference.ROOT


def test_every_route_has_a_handler_and_every_handler_a_route():
    routes = set(protocol.ROUTES_BY_ADDRESS)
    assert routes - set(handler_table()) == set(), "routes without a handler"
    assert set(handler_table()) - routes == set(), "handlers without a route"


def test_fixed_addresses_have_the_issue_signatures():
    r = protocol.ROUTES_BY_ADDRESS
    assert [(a.type, a.optional) for a in r["/ping"].args] == [("*", True)]
    assert r["/ping"].replies[0].address == "/pong"
    assert r["/status"].args == () and r["/status"].replies[0].pairs
    assert [a.type for a in r["/model/load"].args] == ["s"]
    assert [(a.type, a.optional) for a in r["/generate"].args] == [("f", False), ("i", True)]
    for address in ("/undo", "/redo", "/play", "/stop"):
        assert r[address].args == ()
    assert [a.type for a in r["/render"].args] == ["s"]
    assert r["/render"].replies[0].address == "/done" and r["/render"].replies[0].args[1].name == "path"
    status_doc = r["/status"].replies[0].doc
    for key in ("model", "transport", "cpu", "underruns", "jobs"):
        assert key in status_doc


def test_the_issue_areas_are_covered():
    addresses = set(protocol.ROUTES_BY_ADDRESS)
    for op in ("set", "swap", "copy", "paste", "duplicate", "reverse", "shift", "blend", "morph", "lock",
               "regenerate", "encode", "select"):
        assert f"/edit/{op}" in addresses
    for move in ("brighter", "darker", "louder", "softer", "noisier", "tonal", "punchier", "smoother"):
        assert f"/move/{move}" in addresses
    for a in ("/model/list", "/model/info", "/train/start", "/train/progress", "/train/cancel", "/sampling/creativity",
              "/sampling/focus", "/sampling/diversity", "/grid/get", "/labels/get", "/audition/code",
              "/audition/region", "/audition/grid", "/loop", "/seek", "/gain", "/fx/add", "/fx/remove", "/fx/param",
              "/fx/bypass", "/fx/list", "/session/save", "/session/load"):
        assert a in addresses


def test_addresses_are_plain_osc():
    for r in protocol.ROUTES:
        assert re.fullmatch(r"(/[a-z0-9_]+)+", r.address), r.address
        assert r.doc and r.group
        names = [a.name for a in r.args]
        assert len(names) == len(set(names)), r.address


def test_manifest_and_reference_are_up_to_date():
    assert reference.write_all(check=True) == [], "run tools/gen_protocol"
    data = json.loads(reference.MANIFEST_PATH.read_text())
    assert [r["address"] for r in data["routes"]] == [r.address for r in protocol.ROUTES]
    text = reference.REFERENCE_PATH.read_text()
    for r in protocol.ROUTES:
        assert f"#### `{r.address}" in text


def test_gen_protocol_check_fails_on_drift(tmp_path, monkeypatch):
    stale = tmp_path / "protocol.json"
    stale.write_text("{}")
    monkeypatch.setattr(reference, "MANIFEST_PATH", stale)
    monkeypatch.setattr(reference, "REFERENCE_PATH", tmp_path / "osc.md")
    assert set(reference.write_all(check=True)) == {stale, tmp_path / "osc.md"}
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_protocol"), "--check"], capture_output=True,
                         text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr  # the real files are current


def test_grid_chunk_fits_the_safe_udp_payload():
    from engine.server.osc import build_message
    from engine.server.wire import grid_chunks
    import numpy as np
    grid = np.full((4, 1000), 2**31 - 1, dtype=np.int64)
    for address, args in grid_chunks(grid, 2**31 - 1, 0, 1000):
        assert len(build_message(address, args)) <= protocol.SAFE_UDP_PAYLOAD_BYTES


def test_engine_server_never_imports_the_bridge_or_sounddevice():
    code = ("import sys; import engine.server.app, engine.server.web, engine.server.handlers, engine.server.library; "
            "bad = [m for m in sys.modules if m == 'sounddevice' or m == 'bridge' or m.startswith('bridge.')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_cli_registers_serve_through_the_composition_root():
    from engine.cli import COMMANDS
    assert COMMANDS["serve"] == "bridge.serve" and COMMANDS["models"] == "engine.cli.models"
