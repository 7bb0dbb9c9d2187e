"""The .distill bundle: bit-exact round trip, atomic saves, and one clear sentence per bad file."""
import io
import json
import pickle
import zipfile

import numpy as np
import pytest

from engine.bundle import BundleError, load_bundle, save_bundle
from engine.codec.model import Model
from engine.signal.audio import load_audio


def test_round_trip_is_bit_exact(tiny_model_path, dev_sets, tmp_path):
    bundle = load_bundle(tiny_model_path)
    again = load_bundle(save_bundle(tmp_path / "again.distill", bundle))
    assert again.config == bundle.config and again.model_id == bundle.model_id and again.meta == bundle.meta
    for name, array in bundle.tensors["codec"].items():
        assert np.array_equal(array, again.tensors["codec"][name]), name
    audio = load_audio(sorted((dev_sets / "dev-tiny-5").iterdir())[1], bundle.config.audio.sample_rate)
    first = Model(bundle).reconstruct(audio).samples
    second = Model.load(tmp_path / "again.distill").reconstruct(audio).samples
    assert np.array_equal(first, second)


def test_save_is_atomic(tiny_model_path, tmp_path, monkeypatch):
    bundle = load_bundle(tiny_model_path)
    target = save_bundle(tmp_path / "m.distill", bundle)
    good = target.read_bytes()
    monkeypatch.setattr("engine.bundle.st_save", lambda arrays: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        save_bundle(target, bundle)
    assert target.read_bytes() == good and [p.name for p in tmp_path.iterdir()] == ["m.distill"]


def _rewrite_manifest(src, dst, **changes):
    with zipfile.ZipFile(src) as z, zipfile.ZipFile(dst, "w") as out:
        for item in z.namelist():
            data = z.read(item)
            if item == "manifest.json":
                manifest = json.loads(data)
                manifest.update(changes)
                data = json.dumps(manifest).encode()
            out.writestr(item, data)
    return dst


@pytest.mark.parametrize("version, sentence", [
    (1, "{path}: a bundle format 1 model from an older Distill; retrain it with `distill train` to get format 2"),
    (3, "{path} was written by a newer Distill (bundle format 3); this version reads format 2: update Distill to load it"),
    ("2", "{path}: the bundle format version '2' is not a format number (this version of Distill reads format 2)"),
    (2.0, "{path}: the bundle format version 2.0 is not a format number (this version of Distill reads format 2)"),
])
def test_rejects_other_versions(tiny_model_path, tmp_path, version, sentence):
    path = _rewrite_manifest(tiny_model_path, tmp_path / "v.distill", version=version)
    with pytest.raises(BundleError) as e:
        load_bundle(path)
    assert str(e.value) == sentence.format(path=path)


def test_rejects_truncated_random_and_foreign_files(tiny_model_path, tmp_path):
    data = tiny_model_path.read_bytes()
    (tmp_path / "cut.distill").write_bytes(data[: len(data) // 2])
    (tmp_path / "noise.distill").write_bytes(np.random.default_rng(0).bytes(5000))
    with zipfile.ZipFile(tmp_path / "foreign.distill", "w") as z:
        z.writestr("hello.txt", "not a model")
    for name, words in [("cut", "truncated"), ("noise", "not a zip"), ("foreign", "without manifest")]:
        with pytest.raises(BundleError, match=words) as e:
            load_bundle(tmp_path / f"{name}.distill")
        assert f"{name}.distill" in str(e.value)


class _Payload:
    """Unpickling this would create a file: proof that something executed."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickle_payload_never_executes(tiny_model_path, tmp_path):
    marker = tmp_path / "executed"
    payload = pickle.dumps(_Payload(str(marker)))
    # A torch-style checkpoint (data.pkl), and a real bundle whose tensor member is a pickle.
    with zipfile.ZipFile(tmp_path / "torch.distill", "w") as z:
        z.writestr("archive/data.pkl", payload)
    with zipfile.ZipFile(tiny_model_path) as z, zipfile.ZipFile(tmp_path / "evil.distill", "w") as out:
        for item in z.namelist():
            out.writestr(item, payload if item.endswith(".safetensors") else z.read(item))
    with pytest.raises(BundleError, match="never unpickles"):
        load_bundle(tmp_path / "torch.distill")
    with pytest.raises(BundleError, match="not valid safetensors"):
        load_bundle(tmp_path / "evil.distill")
    assert not marker.exists()


def test_demo_model_loads_with_the_current_code(tmp_path):
    from pathlib import Path
    demo = Path(__file__).resolve().parents[2] / "models" / "demo.distill"
    model = Model.load(demo)
    assert model.bundle.meta["report"]["health"]["verdict"] in ("green", "yellow")
    codes = model.encode(load_audio_like(model))
    assert codes.levels == model.config.codec.levels


def load_audio_like(model):
    from engine.signal.audio import Audio
    rate = model.config.audio.sample_rate
    t = np.arange(rate) / rate
    return Audio((0.3 * np.sin(2 * np.pi * 220 * t) * np.exp(-3 * t)).astype(np.float32), rate)
