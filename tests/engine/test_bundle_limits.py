"""Malformed and hostile bundles: `distill info BAD.distill` exits 2 with one sentence naming the
file, never a traceback; sizes are checked against the zip's declared and actual sizes."""
import json
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from engine.bundle import MAX_MANIFEST_BYTES, BundleError, load_bundle
from engine.jsonfile import json_depth

ROOT = Path(__file__).resolve().parent.parent.parent


def rebuild(src: Path, dst: Path, manifest_change=None, members: dict[str, bytes] | None = None,
            raw_manifest: bytes | None = None) -> Path:
    """A copy of `src` with its manifest changed by `manifest_change(manifest)` (in place) or replaced
    by `raw_manifest`, and `members` added or replaced."""
    members = dict(members or {})
    with zipfile.ZipFile(src) as z, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as out:
        for name in z.namelist():
            data = members.pop(name, None) or z.read(name)
            if name == "manifest.json":
                if raw_manifest is not None:
                    data = raw_manifest
                elif manifest_change is not None:
                    manifest = json.loads(data)
                    manifest_change(manifest)
                    data = json.dumps(manifest).encode()
            out.writestr(name, data)
        for name, data in members.items():
            out.writestr(name, data)
    return dst


def patch_declared_size(path: Path, member: str, size: int) -> Path:
    """Rewrites `member`'s uncompressed size in the zip's central directory (what zipfile trusts)."""
    data = bytearray(path.read_bytes())
    pos = data.find(b"PK\x01\x02")
    while pos >= 0:
        name_len = struct.unpack_from("<H", data, pos + 28)[0]
        if data[pos + 46:pos + 46 + name_len].decode() == member:
            struct.pack_into("<I", data, pos + 24, size)
            path.write_bytes(bytes(data))
            return path
        pos = data.find(b"PK\x01\x02", pos + 4)
    raise AssertionError(f"{member} not in {path}")


def nested(depth: int):
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


def set_key(*keys, value):
    def change(manifest):
        target = manifest
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
    return change


CASES = {
    # name: (how to build it from the tiny model, words the one sentence must hold)
    "big-manifest": (lambda src, dst: rebuild(src, dst, set_key("meta", "pad", value="x" * (MAX_MANIFEST_BYTES + 2**20))),
                     "member manifest.json is 17 MB, over the 16 MB limit for it"),
    "inflates-past-declared": (lambda src, dst: patch_declared_size(rebuild(src, dst), "codec.safetensors", 1000),
                               "member codec.safetensors is damaged or truncated"),
    "declares-huge-member": (lambda src, dst: patch_declared_size(rebuild(src, dst), "codec.safetensors", 2**32 - 1),
                             "members unpacking to 4096 MB, more than a Distill model holds"),
    "too-many-components": (lambda src, dst: rebuild(src, dst, set_key("tensors", value={
                                f"c{i}": "codec.safetensors" for i in range(17)})),
                            "17 tensor components, more than a Distill model has (16)"),
    "too-many-files": (lambda src, dst: rebuild(src, dst, set_key("files", value=[f"f{i}" for i in range(65)])),
                       "65 extra files, more than a Distill model has (64)"),
    "deep-json": (lambda src, dst: rebuild(src, dst, set_key("meta", "deep", value=nested(40))),
                  "manifest.json is nested deeper than 32 levels"),
    "very-deep-json": (lambda src, dst: rebuild(src, dst, raw_manifest=b"[" * 200_000 + b"]" * 200_000),
                       "manifest.json is nested deeper than 32 levels"),
    "meta-is-a-list": (lambda src, dst: rebuild(src, dst, set_key("meta", value=[1, 2])),
                       "manifest field 'meta' is missing or not an object"),
    "files-is-a-string": (lambda src, dst: rebuild(src, dst, set_key("files", value="decoder.onnx")),
                          "manifest field 'files' is missing or not a list"),
    "files-holds-a-number": (lambda src, dst: rebuild(src, dst, set_key("files", value=[3])),
                             "manifest field 'files' lists 3, not a member name"),
    "report-is-a-string": (lambda src, dst: rebuild(src, dst, set_key("meta", "report", value="green")),
                           "the training report (meta.report) is 'green', not an object"),
    "report-of-another-shape": (lambda src, dst: rebuild(src, dst, set_key("meta", "report", value={"files": 3})),
                                "its training report is malformed"),
    "long-model-id": (lambda src, dst: rebuild(src, dst, set_key("model_id", value="m" * 500)),
                      "manifest field 'model_id' is 500 characters long, over the 128-character limit"),
    "long-member-name": (lambda src, dst: rebuild(src, dst, set_key("files", value=["g" * 300 + ".onnx"])),
                         "a file member name is 305 characters long, over the 128-character limit"),
    "levels-zero": (lambda src, dst: rebuild(src, dst, set_key("config", "codec", "levels", value=0)),
                    "model config is invalid (config value codec.levels=0 is out of range (1 to 64))"),
    "hop-negative": (lambda src, dst: rebuild(src, dst, set_key("config", "audio", "hop_length", value=-1)),
                     "config value audio.hop_length=-1 is out of range"),
    "rate-a-string": (lambda src, dst: rebuild(src, dst, set_key("config", "audio", "sample_rate", value="48k")),
                      "config value audio.sample_rate='48k' is not a whole number"),
    "rate-huge": (lambda src, dst: rebuild(src, dst, set_key("config", "audio", "sample_rate", value=10**30)),
                  "config value audio.sample_rate=1000000000000000000000000000000 is out of range (8000 to 192000)"),
    "size-a-bool": (lambda src, dst: rebuild(src, dst, set_key("config", "codec", "codebook_size", value=True)),
                    "config value codec.codebook_size=True is not a whole number"),
    "section-a-list": (lambda src, dst: rebuild(src, dst, set_key("config", "prior", value=[1])),
                       "config section 'prior' is not a table of values"),
    "newer-format": (lambda src, dst: rebuild(src, dst, set_key("version", value=3)),
                     "was written by a newer Distill (bundle format 3); this version reads format 2"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_malformed_bundle_is_one_sentence_and_exit_2(tiny_model_path, tmp_path, case):
    make, words = CASES[case]
    bad = make(tiny_model_path, tmp_path / f"{case}.distill")
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "info", str(bad)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith(f"distill info: error: {bad}"), lines[0]
    assert words in lines[0], lines[0]


def test_the_good_bundle_still_passes_info(tiny_model_path):
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "info", str(tiny_model_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "codec: 2 levels x 8 codes" in proc.stdout, proc.stderr


def test_weights_that_disagree_with_a_valid_config_are_one_sentence(tiny_model_path, tmp_path):
    from engine.codec.model import Model
    bad = rebuild(tiny_model_path, tmp_path / "k.distill", set_key("config", "codec", "codebook_size", value=16))
    load_bundle(bad)  # the config itself is valid ...
    with pytest.raises(BundleError, match="codec weights do not match the config"):
        Model.load(bad)  # ... but the weights were trained for 8 codes


def test_json_depth_counts_without_recursion():
    assert json_depth(1) == 0 and json_depth([]) == 1 and json_depth({"a": [1, {"b": 2}]}) == 3
    assert json_depth(nested(100_000)) == 33  # stops counting past the cap, never recurses
    assert json_depth(json.loads(json.dumps({"r": {"levels": [{"u": np.float64(1).item()}]}}))) == 4


def test_live_path_records_from_the_bundle_are_checked_before_anything_is_built(tmp_path):
    """The torch-free path reads sizes from meta.onnx: a wrong one is one sentence, not a KeyError
    or a KV cache sized by the file."""
    sys.path.insert(0, str(ROOT / "tests" / "server"))
    from tiny_model import make_tiny_model

    from engine.live.decoder import LiveDecoder, LiveDecoderError
    from engine.live.prior import LivePrior, LivePriorError
    good = make_tiny_model(tmp_path / "tiny.distill", labels=False, onnx=True)
    LiveDecoder(good)
    LivePrior.from_bundle(load_bundle(good))
    for value in (None, "8", 10**9):
        change = (set_key("meta", "onnx", "decoder_receptive_field_frames", value=value) if value is not None else
                  lambda m: m["meta"]["onnx"].pop("decoder_receptive_field_frames"))
        bad = rebuild(good, tmp_path / "rf.distill", change)
        with pytest.raises(LiveDecoderError, match=r"its ONNX decoder record \(meta.onnx\) gives a receptive field of"):
            LiveDecoder(bad)
    bad = rebuild(good, tmp_path / "ctx.distill", set_key("meta", "onnx", "prior", "context_frames", value=10**7))
    with pytest.raises(LivePriorError, match=r"its ONNX prior record \(meta.onnx.prior\) does not match"):
        LivePrior.from_bundle(load_bundle(bad))


def test_a_prior_spec_past_its_ranges_is_refused():
    from engine.errors import InputError
    from engine.prior.network import PriorSpec
    with pytest.raises(InputError, match="prior.context_frames must be at most 16384, got 10000000"):
        PriorSpec(levels=2, codebook_size=8, dim=16, layers=1, heads=2, context_frames=10**7)
