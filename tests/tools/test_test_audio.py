"""The project's own test audio: built from Debian packages alone, byte-identical on a rebuild, and
holding every edge case the reader tests rely on."""
import json

from tools.testaudio import build_set
from tools.testaudio.sets import SETS


def test_sets_match_their_manifests(dev_sets):
    for name, (_, count, _) in SETS.items():
        manifest = json.loads((dev_sets / f"{name}.manifest.json").read_text())
        assert manifest["file_count"] == count == len(manifest["files"])
        assert sorted(p.name for p in (dev_sets / name).iterdir()) == sorted(f["name"] for f in manifest["files"])


def test_a_rebuild_is_byte_identical(dev_sets, tmp_path):
    manifest, status = build_set(tmp_path, "dev-tiny-5")
    assert status == "built"
    reference = json.loads((dev_sets / "dev-tiny-5.manifest.json").read_text())
    assert [(f["name"], f["sha256"]) for f in manifest["files"]] == [(f["name"], f["sha256"]) for f in reference["files"]]
    assert build_set(tmp_path, "dev-tiny-5")[1] == "kept"
    (tmp_path / "dev-tiny-5" / manifest["files"][0]["name"]).write_bytes(b"changed")
    assert build_set(tmp_path, "dev-tiny-5")[1] == "built"  # a damaged file is noticed and rebuilt


def test_the_mixed_set_has_every_edge_case(dev_sets):
    manifest = json.loads((dev_sets / "dev-mixed-120.manifest.json").read_text())
    edges = " | ".join(manifest["edge_cases"].values())
    for case in ("0.2 s", "60 s", "stereo 48 kHz", "8-bit", "24-bit", "32-bit float", "digital silence", "clipped"):
        assert case in edges
    rates = {f["sample_rate"] for f in manifest["files"]}
    assert min(rates) <= 16_000 and max(rates) >= 48_000
    assert {f["format"] for f in manifest["files"]} >= {"wav", "flac", "ogg", "oga"}
