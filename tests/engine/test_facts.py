"""Drift tests: each shared fact of engine/facts.py against every place that states it again (the
route table, the moves, the sampler, the session, the web page, the Max patch, the docs)."""
from __future__ import annotations

import re
from pathlib import Path

from engine import facts, protocol
from engine.server import reference

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "plugin_ui" / "web"


def test_moves_are_one_list_everywhere():
    from engine.edit.moves import MOVES
    assert tuple(MOVES) == facts.MOVE_NAMES == protocol.MOVES
    assert {r.address for r in protocol.ROUTES if r.group == "move"} == {f"/move/{m}" for m in facts.MOVE_NAMES}
    app = (WEB / "app.js").read_text()
    page_moves = re.search(r"const MOVES = \{(.*?)\};", app, re.S).group(1)
    assert re.findall(r"(\w+): \"/move/(\w+)\"", page_moves) == [(m, m) for m in facts.MOVE_NAMES]
    assert re.findall(r'data-move="(\w+)"', (WEB / "index.html").read_text()) == list(facts.MOVE_NAMES)
    editor_doc = (ROOT / "docs" / "editor.md").read_text()
    assert all(m in editor_doc for m in facts.MOVE_NAMES)


def test_sampling_defaults_and_ranges_are_one_table():
    from engine.edit.session import DEFAULT_SAMPLING
    from engine.prior.sampling import Sampling
    assert DEFAULT_SAMPLING == {"temperature": Sampling().temperature, "top_k": Sampling().top_k,
                                "top_p": Sampling().top_p, "seed": 0}
    html = (WEB / "index.html").read_text()
    for knob in facts.SAMPLING_KNOBS:
        arg = protocol.ROUTES_BY_ADDRESS[f"/sampling/{knob.word}"].args[0]
        assert (arg.default, arg.minimum, arg.maximum) == (knob.default, knob.minimum, knob.maximum)
        slider = re.search(rf'<input id="{knob.word}"[^>]*>', html).group(0)
        low, high, value = (float(re.search(rf'{a}="([^"]+)"', slider).group(1)) for a in ("min", "max", "value"))
        # the page's slider may cover less than OSC accepts, but never more, and starts at the default
        assert knob.minimum <= low <= high <= knob.maximum and value == knob.default, knob.word


def test_status_keys_are_declared_once():
    assert list(facts.STATUS_KEYS) == reference.manifest()["facts"]["status_keys"]
    doc = protocol.ROUTES_BY_ADDRESS["/status"].replies[0].doc
    assert all(f"{key} {t} (" in doc for key, (t, _) in facts.STATUS_KEYS.items())


def test_bit_depths_mean_one_thing():
    from bridge.render import ClipSpec
    from engine.errors import InputError
    from engine.server.ports import RenderSettings
    assert facts.BIT_DEPTHS[32] == "32-bit float"
    assert ClipSpec(bit_depth="float").bit_depth == ClipSpec(bit_depth=32).bit_depth == 32
    for fmt in facts.RENDER_FORMATS:  # both sides refuse the same combinations
        for bits in facts.BIT_DEPTHS:
            refused = []
            for make in (lambda: RenderSettings(format=fmt, bit_depth=bits), lambda: ClipSpec(format=fmt, bit_depth=bits)):
                try:
                    make()
                    refused.append(False)
                except InputError:
                    refused.append(True)
            assert refused[0] == refused[1] == (bits == 32 and fmt not in facts.FLOAT_FORMATS), (fmt, bits)


def test_the_max_patch_offers_every_move_and_no_other():
    text = (ROOT / "plugin_ui" / "max" / "distill.maxpat").read_text()
    assert set(re.findall(r"/move/(\w+)", text)) == set(facts.MOVE_NAMES)


def test_effect_kinds_come_from_one_list():
    from bridge.effects import BUILTINS
    assert BUILTINS == facts.EFFECT_KINDS == tuple(reference.manifest()["facts"]["effect_kinds"])
    app = (WEB / "app.js").read_text()
    assert '"Compressor"' not in app and "facts || {}).effect_kinds" in app  # the page reads them from the manifest
