"""`distill train` writes its pictures (loss, code use per level, original vs reconstruction), and
`distill info --plots` redraws them from the bundle's report alone."""
from __future__ import annotations

import struct

import pytest

from engine.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PICTURES = ("loss.png", "code_usage.png", "spectrogram.png")


def png_size(path) -> tuple[int, int]:
    """(width, height) of a valid PNG; fails on anything else."""
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and data[12:16] == b"IHDR", f"{path} is not a PNG"
    assert data[-8:-4] == b"IEND", f"{path} is truncated"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def trained(dev_sets, tiny_overrides, tmp_path_factory):
    root = tmp_path_factory.mktemp("plots")
    sets = [x for o in [*tiny_overrides, "prior.max_steps=40", "prior.eval_every_steps=20"] for x in ("--set", o)]
    assert main(["train", str(dev_sets / "dev-tiny-5"), "--out", str(root / "tiny.distill"), "--no-export",
                 *sets]) == 0
    return root


def test_train_writes_the_pictures(trained):
    for name in PICTURES:
        width, height = png_size(trained / "tiny-plots" / name)
        assert width > 300 and height > 200, (name, width, height)


def test_info_redraws_them_from_the_bundle(trained, tmp_path, capsys):
    assert main(["info", str(trained / "tiny.distill"), "--plots", str(tmp_path / "again")]) == 0
    out = capsys.readouterr().out
    for name in PICTURES:
        png_size(tmp_path / "again" / name)
        assert f"wrote {tmp_path / 'again' / name}" in out
    assert "not drawn" not in out
    from engine.bundle import load_bundle
    report = load_bundle(trained / "tiny.distill").meta["report"]
    assert report["history"] and report["prior_training"]["history"] and report["plots"]["spectrogram"]["original"]


def test_a_report_without_the_data_says_what_it_cannot_draw(tmp_path):
    from engine.workflow.plots import write_plots
    written, missing = write_plots({"history": []}, tmp_path)
    assert written == [] and len(missing) == 3 and all(m.split(":")[0] in PICTURES for m in missing)
