"""One script of edits through the three front ends (OSC, the WebSocket, `distill edit`) on the same
session: the grids and the undo stacks must come out the same, because all three are adapters over
`engine.edit.service.EditService`."""
from __future__ import annotations

import json
import shutil

import numpy as np
from websockets.sync.client import connect

from engine.cli import main
from engine.edit.session import load_session

# (CLI op and args, OSC address and args); regions over all levels: the CLI has no selection here.
Q = 2  # the tiny model's levels
SCRIPT = [
    (("set", 1, 3, 5), ("/edit/set", 1, 3, 5)),
    (("swap", 5, 2, 0, 10), ("/edit/swap", 0, Q, 0, 10, 5, 2)),
    (("reverse", 2, 9), ("/edit/reverse", 0, Q, 2, 9)),
    (("shift", 3, 0, 12), ("/edit/shift", 0, Q, 0, 12, 3)),
    (("fill", 4, 5, 8), ("/edit/fill", 0, Q, 5, 8, 4)),
    (("lock", 1), ("/edit/lock", 1, 1)),
    (("copy", 0, 6), ("/edit/copy", 0, Q, 0, 6)),
    (("paste", 10, 0), ("/edit/paste", 0, 10)),
    (("blend", 0.5, 0, 6), ("/edit/blend", 0, Q, 0, 6, 0.5)),
    (("undo",), ("/undo",)),
    (("undo",), ("/undo",)),
    (("redo",), ("/redo",)),
    (("unlock", 1), ("/edit/lock", 1, 0)),
    (("duplicate", 0, 4), ("/edit/duplicate", 0, Q, 0, 4)),
    (("morph", 4, 12), ("/edit/morph", 0, Q, 4, 12)),
    (("sampling", "temperature=0.7"), ("/sampling/creativity", 0.7)),
    (("regenerate", 2, 10, 7), ("/edit/regenerate", 0, Q, 2, 10, 7)),
    (("move", "brighter", 0, 8), ("/move/brighter", 0, Q, 0, 8, 1.0)),
]


def summary(path) -> tuple:
    """What must agree: every history state's grid, op, locks and sampling, and the cursor."""
    s = load_session(path)
    states = [(st.codes.indices.tolist(), st.op, st.locked_levels, st.sampling) for st in s.history()]
    return states, s.n_past, s.n_future


def run_osc(loaded, tmp) -> tuple:
    for _, (address, *args) in SCRIPT:
        reply = loaded.answer(address, *args)
        assert reply[0] == "/done", (address, reply)
    assert loaded.answer("/session/save", "osc")[0] == "/done"
    return summary(tmp / "osc.session.json")


def run_ws(port: int, tmp) -> tuple:
    with connect(f"ws://127.0.0.1:{port}/ws", open_timeout=5) as ws:
        def call(address, *args):
            ws.send(json.dumps({"address": address, "args": list(args)}))
            while True:
                msg = json.loads(ws.recv(timeout=60))
                if msg["address"] in ("/done", "/fail") and msg["args"][0] == address:
                    assert msg["address"] == "/done", msg
                    return msg
        call("/session/load", "start")
        for _, (address, *args) in SCRIPT:
            call(address, *args)
        call("/session/save", "ws")
    return summary(tmp / "ws.session.json")


def run_cli(start, model, tmp, capsys) -> tuple:
    path = tmp / "cli.session.json"
    shutil.copy(start, path)
    for argv, _ in SCRIPT:
        code = main(["edit", str(path), *map(str, argv), "--model", str(model), "--json"])
        out, err = capsys.readouterr()
        assert code == 0, (argv, err)
    return summary(path)


def test_one_script_of_edits_gives_the_same_session_through_osc_websocket_and_cli(server, loaded, tiny_library,
                                                                                   capsys):
    models = tiny_library / "models"
    assert loaded.answer("/edit/encode", "tone.wav")[0] == "/done"  # a grid with something in it
    assert loaded.answer("/session/save", "start")[0] == "/done"
    start = models / "start.session.json"
    try:
        osc = run_osc(loaded, models)
        ws = run_ws(server.web_port, models)
        cli = run_cli(start, models / "tiny.distill", models, capsys)
        assert len(osc[0]) > 10 and osc[1:] == ws[1:] == cli[1:]
        for i, (a, b, c) in enumerate(zip(osc[0], ws[0], cli[0], strict=True)):
            assert a == b == c, f"history state {i} differs: osc {a[1]!r}, websocket {b[1]!r}, cli {c[1]!r}"
        assert not np.array_equal(osc[0][0][0], osc[0][-1][0])  # the script changed the grid
    finally:
        for name in ("start", "osc", "ws", "cli"):
            (models / f"{name}.session.json").unlink(missing_ok=True)
