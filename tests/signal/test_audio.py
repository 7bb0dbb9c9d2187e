"""Audio in: every file of dev-mixed-120 gets the right keep/skip decision and reason."""
import hashlib
import json

import numpy as np
import pytest

from engine.signal.audio import Audio, AudioError, load_audio, save_audio, scan_folder


def expected_skip_reason(entry: dict) -> str | None:
    duration_s = entry["samples"] / entry["sample_rate"]
    if duration_s < 0.099:  # 0.0998 s is "0.1 s" to whoever made it (DURATION_TOLERANCE_S)
        return "too short"
    if entry.get("edge_case", "").startswith("digital silence"):
        return "digital silence"
    return None


def test_every_mixed_file_gets_the_right_decision(dev_sets):
    manifest = json.loads((dev_sets / "dev-mixed-120.manifest.json").read_text())
    used, skipped = scan_folder(dev_sets / "dev-mixed-120", 48_000)
    used_names = {a.source.rsplit("/", 1)[-1] for a in used}
    skipped_by_name = {s.path.rsplit("/", 1)[-1]: s.reason for s in skipped}
    assert len(used) + len(skipped) == len(manifest["files"]) == 120
    for entry in manifest["files"]:
        reason = expected_skip_reason(entry)
        if reason is None:
            assert entry["name"] in used_names, f"{entry['name']} should be used: {skipped_by_name.get(entry['name'])}"
        else:
            assert reason in skipped_by_name[entry["name"]], entry["name"]
    for audio in used:
        assert audio.sample_rate == 48_000 and audio.samples.dtype == np.float32 and audio.samples.ndim == 1


@pytest.mark.parametrize("edge", ["8bit", "24bit", "float32", "stereo-48k", "clipped", "long-60s", "short-0.2s"])
def test_edge_cases_load_at_the_model_rate(dev_sets, edge):
    path = next((dev_sets / "dev-mixed-120").glob(f"*edge-{edge}*"))
    audio = load_audio(path, 22_050)
    source_s = {"long-60s": 60.0, "short-0.2s": 0.2}.get(edge)
    if source_s:
        assert abs(audio.duration_s - source_s) < 0.01
    assert np.abs(audio.samples).max() > 0.01


def test_unusable_files_are_named_with_a_reason(tmp_path):
    (tmp_path / "notes.txt").write_text("not audio")
    (tmp_path / "fake.wav").write_bytes(b"RIFF0000WAVEjunk" * 4)
    save_audio(tmp_path / "empty.wav", np.zeros(0, np.float32), 48_000)
    save_audio(tmp_path / "nested" / "good.flac", np.sin(np.arange(4800) / 5).astype(np.float32), 48_000)
    used, skipped = scan_folder(tmp_path, 48_000)
    reasons = {s.path.rsplit("/", 1)[-1]: s.reason for s in skipped}
    assert [a.source.rsplit("/", 1)[-1] for a in used] == ["good.flac"]
    assert "extension" in reasons["notes.txt"]
    assert "not readable" in reasons["fake.wav"]
    assert "zero length" in reasons["empty.wav"] or "not readable" in reasons["empty.wav"]
    with pytest.raises(AudioError, match="fake.wav"):
        load_audio(tmp_path / "fake.wav", 48_000)


def test_user_files_are_never_modified(dev_sets):
    folder = dev_sets / "dev-tiny-5"
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    scan_folder(folder, 16_000)
    assert before == {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def test_save_is_atomic_and_reads_back(tmp_path):
    x = (0.5 * np.sin(np.arange(48_000) / 7)).astype(np.float32)
    path = save_audio(tmp_path / "x.wav", Audio(x, 48_000), bit_depth="float")
    assert np.array_equal(load_audio(path, 48_000).samples, x)
    assert [p.name for p in tmp_path.iterdir()] == ["x.wav"]
