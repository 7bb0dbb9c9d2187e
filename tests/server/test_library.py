"""The model library and `distill models`."""
from __future__ import annotations

import json
import shutil

from engine.cli import main
from engine.server.library import list_models


def test_library_lists_models_and_unreadable_files(tiny_library, tmp_path, capsys):
    shutil.copy(tiny_library / "models" / "tiny.distill", tmp_path / "drums.distill")
    (tmp_path / "broken.distill").write_bytes(b"not a zip")
    (tmp_path / "notes.txt").write_text("ignored")
    entries = list_models(tmp_path)
    assert [e.name for e in entries] == ["broken", "drums"]
    broken, drums = entries
    assert broken.health == "unreadable" and broken.message
    assert (drums.levels, drums.codebook_size, drums.files, drums.health, drums.has_prior) == (2, 8, 5, "green", True)
    assert [e.name for e in list_models(tmp_path, "DRU")] == ["drums"]
    assert main(["models", "--dir", str(tmp_path), "--json", "--filter", "drum"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [m["name"] for m in listed] == ["drums"]
    assert {"name", "levels", "codebook_size", "files", "health", "created"} <= set(listed[0])
    assert main(["models", "--dir", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "drums" in text and "unreadable" in text
