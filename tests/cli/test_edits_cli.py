"""`distill edit SESSION OP`: ops through the real CLI on a tiny real model; a failed op exits 2 and
leaves the session file byte-identical."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from tests.edit.test_edits_fixtures import trained_tiny

from engine.bundle import save_bundle
from engine.cli import main
from engine.edit.session import load_session



@pytest.fixture(scope="module")
def models(dev_sets, tmp_path_factory):
    """The tiny model, the same weights under another model id (a model the session is not of), and
    a sound to encode."""
    folder = tmp_path_factory.mktemp("models")
    model, _ = trained_tiny(str(dev_sets / "dev-tiny-5"))
    first = save_bundle(folder / "m0.distill", model.bundle)
    other = save_bundle(folder / "m1.distill", replace(model.bundle, model_id="another-model"))
    return first, other, sorted((dev_sets / "dev-tiny-5").iterdir())[0]


def edit(capsys, *argv) -> tuple[int, dict | str]:
    code = main(["edit", *map(str, argv), "--json"])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else err)


def test_a_script_of_edits_undo_and_redo(models, tmp_path, capsys):
    model, _, sound = models
    session = tmp_path / "m0.distill.session.json"
    code, state = edit(capsys, session, "new", model, sound)
    assert code == 0 and state["undo"] == 0 and state["levels"] == 2
    start = load_session(session).codes.indices.copy()
    code, state = edit(capsys, session, "set", 1, 3, 5)
    assert code == 0 and state["op"] == "set 1 3 5" and state["undo"] == 1
    assert load_session(session).codes.indices[1, 3] == 5
    assert edit(capsys, session, "reverse", 0, 6)[0] == 0
    assert edit(capsys, session, "lock", 1)[1]["locked_levels"] == [1]
    assert edit(capsys, session, "select", 2, 8)[1]["selection"] == {"start_frame": 2, "end_frame": 8, "levels": []}
    assert edit(capsys, session, "copy")[1]["clipboard_frames"] == 6
    assert edit(capsys, session, "shift", 2)[0] == 0
    assert edit(capsys, session, "paste", 0)[0] == 0
    assert edit(capsys, session, "blend", 0.5)[0] == 0
    code, state = edit(capsys, session, "move", "louder", 0, 6)
    assert code == 0 or "no code change" in state
    after = load_session(session)
    np.testing.assert_array_equal(after.codes.indices[1], load_session(session).history()[3].codes.indices[1])
    code, state = edit(capsys, session, "history")
    assert state["history"][:4] == ["new", "set 1 3 5", "reverse 0 6", "lock 1"]
    for _ in range(after.n_past):
        assert edit(capsys, session, "undo")[0] == 0
    np.testing.assert_array_equal(load_session(session).codes.indices, start)  # bit-identical
    code, err = edit(capsys, session, "undo")
    assert code == 2 and "nothing to undo" in err
    assert edit(capsys, session, "redo")[1]["op"] == "set 1 3 5"


def test_failed_ops_exit_2_and_leave_the_file_unchanged(models, tmp_path, capsys):
    model, other_model, sound = models
    session = tmp_path / "s.json"
    assert edit(capsys, session, "new", model)[0] == 0  # two seconds of silence
    before = session.read_bytes()
    for argv, message in [
        (("set", 2, 0, 0), "level 2 is out of range"),
        (("set", 0, 10_000, 0), "frame 10000 is out of range"),
        (("set", 0, 0, 8), "code 8 is out of range"),
        (("set", 0, 0), "expected arguments"),
        (("reverse", 5, 5), "region"),
        (("paste", 0), "clipboard is empty"),
        (("move", "wetter"), "unknown move"),
        (("sampling", "temperature=-1"), "temperature"),
        (("effects", "{not json"), "JSON"),
        (("redo",), "nothing to redo"),
        (("show", "--model", other_model), "belongs to model"),
    ]:
        code, err = edit(capsys, session, *argv)
        assert code == 2 and message in err, (argv, err)
        assert session.read_bytes() == before


def test_corrupt_session_file_exits_2(models, tmp_path, capsys):
    session = tmp_path / "s.json"
    session.write_text('{"format": "distill-session", "version": 1, "states": [')
    code, err = edit(capsys, session, "show")
    assert code == 2 and "corrupt session file" in err and str(session) in err


def test_audition_writes_wav_files(models, tmp_path, capsys):
    from engine.signal.audio import load_audio

    model, _, sound = models
    session = tmp_path / "s.json"
    edit(capsys, session, "new", model, sound)
    code, state = edit(capsys, session, "audition", tmp_path / "region.wav", 2, 6)
    assert code == 0 and state["undo"] == 0  # auditioning is not an edit
    assert load_audio(tmp_path / "region.wav", 48_000, 0.0).duration_s == pytest.approx(4 * 1024 / 48_000, abs=0.01)
    code, _ = edit(capsys, session, "audition-code", 0, 3, tmp_path / "held.wav", 10)
    assert code == 0 and (tmp_path / "held.wav").stat().st_size > 1000


def test_regenerate_with_the_prior_through_the_cli(dev_sets, tmp_path, capsys):
    from engine.config import PriorConfig
    from engine.prior.train import train_prior

    model, sounds = trained_tiny(str(dev_sets / "dev-tiny-5"))
    grids = [np.array(model.encode(s).indices) for s in sounds]
    cfg = PriorConfig(layers=1, dim=32, heads=2, context_frames=32, crop_frames=32, batch_size=8, max_steps=20)
    prior = train_prior(grids, [], 8, cfg, seed=0, max_seconds=20)
    path = save_bundle(tmp_path / "p.distill", model.bundle.with_tensors("prior", prior.tensors))
    session = tmp_path / "p.session.json"
    edit(capsys, session, "new", path, sorted((dev_sets / "dev-tiny-5").iterdir())[4])
    edit(capsys, session, "lock", 1)
    code, state = edit(capsys, session, "regenerate", 2, 10, 7)
    assert code == 0 and state["op"] == "regenerate 2 10 seed 7"
    before, after = (s.codes.indices for s in load_session(session).history()[-2:])
    changed = np.argwhere(before != after)
    assert set(changed[:, 0]) <= {0} and set(changed[:, 1]) <= set(range(2, 10))  # level 1 is locked
    edit(capsys, session, "undo")
    assert edit(capsys, session, "regenerate", 2, 10, 7)[0] == 0
    np.testing.assert_array_equal(load_session(session).codes.indices, after)  # the seed reproduces
