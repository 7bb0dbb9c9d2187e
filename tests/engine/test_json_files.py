"""Sessions and codes files are bounded JSON: a pipe, a huge or a deeply nested file is refused in
one sentence, without hanging or reading it whole (engine/jsonfile.py)."""
import os

import pytest

from engine.codes import MAX_CODES_BYTES, CodesError, load_codes
from engine.edit.session import MAX_SESSION_BYTES, SessionError, load_session


def sparse(path, size):
    with open(path, "wb") as f:
        f.truncate(size)  # no blocks written: the size check must refuse it before reading
    return path


@pytest.mark.parametrize("load, error, cap, words", [
    (load_session, SessionError, MAX_SESSION_BYTES, "corrupt session file, not readable as JSON"),
    (load_codes, CodesError, MAX_CODES_BYTES, "not readable as a codes file"),
])
def test_pipes_huge_and_deep_files_are_one_sentence(tmp_path, load, error, cap, words):
    os.mkfifo(tmp_path / "pipe.json")  # reading it would block forever with no writer
    sparse(tmp_path / "huge.json", cap + 2**20)
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (tmp_path / "deep40.json").write_text("[" * 40 + "]" * 40)
    cases = {"pipe.json": "(not a regular file (a folder, pipe or device))",
             "huge.json": f"({(cap + 2**20) // 2**20} MB, over the {cap // 2**20} MB limit)",
             "deep.json": "(nested deeper than 32 levels)", "deep40.json": "(nested deeper than 32 levels)"}
    for name, reason in cases.items():
        with pytest.raises(error) as e:
            load(tmp_path / name)
        assert str(e.value) == f"{tmp_path / name}: {words} {reason}"
    with pytest.raises(error, match="no such"):
        load(tmp_path / "missing.json")
