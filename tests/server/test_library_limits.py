"""A hostile models folder cannot stall the server: /model/list reads manifests on the reader
thread (size-capped, GIL-friendly parse, cached by mtime and size) while /ping keeps its answer time."""
from __future__ import annotations

import json
import shutil
import threading
import time
import zipfile
from pathlib import Path

from engine.server.app import Server, ServeOptions
from engine.server.library import list_models
from osc_client import OscClient

PING_BOUND_S = 0.050  # the bound for /ping while /model/list runs


def huge_manifest_bundle(path: Path, manifest_mb: int) -> Path:
    """A bundle whose manifest is really `manifest_mb` MB of JSON (written in 1 MB pieces)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z, \
            z.open("manifest.json", "w", force_zip64=True) as f:
        f.write(b'{"format": "distill-bundle", "version": 2, "model_id": "x", "created": "", "config": {}, '
                b'"tensors": {}, "files": [], "meta": {"pad": "')
        for _ in range(manifest_mb):
            f.write(b"x" * 2**20)
        f.write(b'"}}')
    return path


def padded_copy(src: Path, dst: Path, items: int) -> Path:
    """`src` with `items` small numbers in its meta: a manifest under the cap that takes a while to parse."""
    with zipfile.ZipFile(src) as z, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as out:
        for name in z.namelist():
            data = z.read(name)
            if name == "manifest.json":
                manifest = json.loads(data)
                manifest["meta"]["pad"] = [i * 0.5 for i in range(items)]
                data = json.dumps(manifest).encode()
            out.writestr(name, data)
    return dst


def test_ping_is_answered_within_50_ms_while_the_list_reads_a_200_mb_manifest(tiny_library, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(tiny_library / "models" / "tiny.distill", models / "tiny.distill")
    huge_manifest_bundle(models / "huge.distill", 200)
    for i in range(2):  # valid, 1.5 MB manifests: the list takes long enough to ping during it
        padded_copy(models / "tiny.distill", models / f"padded{i}.distill", 150_000)
    options = ServeOptions(osc_port=0, web_port=0, models_dir=models, clips_dir=tmp_path / "clips",
                           input_dir=tmp_path, heartbeat_s=0.5)
    server = Server(options, log=lambda text: None).start_in_thread()
    lister, pinger = OscClient(server.osc_port), OscClient(server.osc_port)
    try:
        pinger.answer("/ping")  # warm
        listed: list = []
        thread = threading.Thread(target=lambda: listed.extend(lister.call("/model/list")))
        thread.start()
        rtts = []
        while thread.is_alive():
            start = time.perf_counter()
            assert pinger.answer("/ping", len(rtts)) == ("/pong", [len(rtts)])
            rtts.append(time.perf_counter() - start)
            time.sleep(0.02)
        thread.join()
    finally:
        lister.close()
        pinger.close()
        server.join()
    entries = {args[0]: args for address, args in listed if address == "/model/entry"}
    assert listed[-1] == ("/done", ["/model/list", 4])
    assert entries["huge"][4] == "unreadable"
    assert entries["tiny"][1:5] == entries["padded0"][1:5] == [2, 8, 5, "green"]
    assert len(rtts) >= 3, f"the list ended after {len(rtts)} pings: nothing was measured during it"
    # Every ping within the bound, but one: on a loaded 2-core machine the OS alone can hold any
    # one answer past 50 ms. A list that blocked the dispatcher holds every ping during it (the
    # 200 MB manifest on the dispatcher: 2 s), so that still fails.
    slow = [round(r, 3) for r in rtts if r >= PING_BOUND_S]
    assert len(slow) <= 1 and max(rtts) < 10 * PING_BOUND_S, f"/ping answers over 50 ms during /model/list: {slow}"
    # the refusal, in words, and the cache: a second listing re-reads nothing
    huge = next(e for e in list_models(models) if e.name == "huge")
    assert huge.message == "member manifest.json is 200 MB, over the 16 MB limit for it"
    again = list_models(models)
    assert [e.name for e in again] == ["huge", "padded0", "padded1", "tiny"]
    assert all(a is b for a, b in zip(again, list_models(models)))  # cached by (mtime, size): not re-read


def test_the_cache_follows_a_changed_file(tiny_library, tmp_path):
    shutil.copy(tiny_library / "models" / "tiny.distill", tmp_path / "m.distill")
    assert list_models(tmp_path)[0].health == "green"
    (tmp_path / "m.distill").write_bytes(b"PK not really")
    assert list_models(tmp_path)[0].health == "unreadable"
