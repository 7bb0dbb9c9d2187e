"""Plugins only from plugin folders (bridge/plugins.py): a planted VST3 bundle whose constructor
writes a file never gets loaded over OSC, through a symlink or `..`, in a saved session, or in a
chain rebuilt from a file; from a folder named with --plugins-dir the same bundle does load (so
the test can fail), and the zam-plugins in /usr/lib/vst3 still load."""
from __future__ import annotations

import json
import platform
import shutil
import subprocess
from pathlib import Path

import pytest

from osc_client import OscClient

CONSTRUCTOR = r'''
#include <stdio.h>
__attribute__((constructor)) static void planted(void) {
    FILE *f = fopen(MARKER, "w");
    if (f) { fputs("the plugin's code ran\n", f); fclose(f); }
}
'''


def plant_bundle(folder: Path, marker: Path, name: str = "Planted") -> Path:
    """A real (tiny) VST3 bundle layout whose shared object writes `marker` when it is loaded."""
    if not shutil.which("gcc"):
        pytest.fail("gcc missing: apt-get install -y --no-install-recommends gcc")
    bundle = folder / f"{name}.vst3"
    binary = bundle / "Contents" / f"{platform.machine()}-linux" / f"{name}.so"
    binary.parent.mkdir(parents=True)
    source = folder / f"{name}.c"
    source.write_text(CONSTRUCTOR)
    subprocess.run(["gcc", "-shared", "-fPIC", f'-DMARKER="{marker}"', "-o", str(binary), str(source)], check=True)
    return bundle


@pytest.fixture
def bridge_server(tiny_library, tmp_path):
    """An in-process server on a real bridge (no device) whose extra plugin folder is tmp/allowed.
    (Its plugin loads are all refused before pedalboard runs.)"""
    from bridge.plugins import PluginFolders
    from bridge.serve import open_bridge_audio
    from engine.server.app import Server, ServeOptions
    for f in (tiny_library / "models").glob("*.session.json"):
        f.unlink()
    (tmp_path / "allowed").mkdir()
    audio = open_bridge_audio(None, 48000, 256, tmp_path / "clips", PluginFolders.make([tmp_path / "allowed"]))
    srv = Server(ServeOptions(osc_port=0, web_port=None, models_dir=tiny_library / "models",
                              clips_dir=tmp_path / "clips", input_dir=tmp_path), audio,
                 log=lambda text: None).start_in_thread()
    client = OscClient(srv.osc_port)
    assert client.answer("/model/load", "tiny")[0] == "/done"
    yield client
    client.close()
    srv.join()
    audio.close()
    for f in (tiny_library / "models").glob("*.session.json"):
        f.unlink()


def test_a_planted_bundle_outside_the_plugin_folders_never_runs(tiny_library, tmp_path):
    """A real `distill serve --plugins-dir` process: the flag as the musician gives it."""
    from serve_process import ServeProcess
    marker = tmp_path / "marker"
    bundle = plant_bundle(tmp_path / "downloads", marker)
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    link = allowed / "Linked.vst3"
    link.symlink_to(bundle)  # inside the folder by name, outside once resolved
    dotted = allowed / ".." / "downloads" / "Planted.vst3"
    with ServeProcess("--models-dir", str(tiny_library / "models"), "--clips-dir", str(tmp_path / "clips"),
                      "--input-dir", str(tmp_path), "--web-port", "-1", "--plugins-dir", str(allowed)) as proc:
        client = OscClient(proc.osc_port, timeout_s=60)
        reply = client.answer("/fx/add", str(bundle))
        assert reply[0] == "/fail" and reply[1][0] == "/fx/add", reply
        assert "outside the plugin folders" in reply[1][1] and "/usr/lib/vst3" in reply[1][1]
        assert str(allowed) in reply[1][1] and "--plugins-dir" in reply[1][1]
        for path in (link, dotted):
            reply = client.answer("/fx/add", str(path))
            assert reply[0] == "/fail" and "outside the plugin folders" in reply[1][1], reply
        assert not marker.exists()
        if Path("/usr/lib/vst3/ZamCompX2.vst3").exists():  # the standard folders still load
            assert client.answer("/fx/add", "/usr/lib/vst3/ZamCompX2.vst3") == ("/done", ["/fx/add", 0, "ZamCompX2"])

        inside = plant_bundle(allowed, marker, name="Inside")  # in the folder named with --plugins-dir
        reply = client.answer("/fx/add", str(inside))
        assert reply[0] == "/fail" and "could not load" in reply[1][1], reply  # not a real plugin ...
        assert marker.exists()  # ... but pedalboard did load its code: the folder check is what stops it
        client.close()


@pytest.mark.skipif(not Path("/usr/lib/vst3/ZamCompX2.vst3").exists(), reason="apt-get install zam-plugins")
def test_undo_restores_a_removed_vst3_on_the_dispatcher(tiny_library, tmp_path):
    """pedalboard loads VST3s only on the thread that loaded the first: /fx/add loads on the worker,
    undo reloads on the dispatcher (the main thread of `distill serve`), so bridge/plugins.py loads
    every VST3 on one loader thread. Without it this undo answered "must be reloaded on the main thread"."""
    from serve_process import ServeProcess
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(tiny_library / "models" / "tiny.distill", models)
    with ServeProcess("--models-dir", str(models), "--clips-dir", str(tmp_path / "clips"),
                      "--input-dir", str(tmp_path), "--web-port", "-1") as proc:
        client = OscClient(proc.osc_port, timeout_s=60)
        assert client.answer("/model/load", "tiny")[0] == "/done"
        assert client.answer("/fx/add", "/usr/lib/vst3/ZamCompX2.vst3")[0] == "/done"
        assert client.answer("/fx/remove", 0)[0] == "/done"
        assert client.answer("/undo")[0] == "/done"
        assert client.call("/fx/list", skip=("/heartbeat", "/progress"))[-1] == ("/done", ["/fx/list", 1])
        assert client.answer("/render", "with-the-compressor")[0] == "/done"
        client.close()


def test_a_session_naming_a_planted_bundle_is_refused_and_changes_nothing(bridge_server, tiny_library, tmp_path):
    marker = tmp_path / "marker"
    bundle = plant_bundle(tmp_path / "downloads", marker)
    assert bridge_server.answer("/fx/add", "Gain")[0] == "/done"
    saved = Path(bridge_server.answer("/session/save", "planted")[1][1])
    saved.write_text(saved.read_text().replace('"plugin":"Gain"', '"plugin":' + json.dumps(str(bundle))))
    assert str(bundle) in saved.read_text()
    version = dict(zip(*[iter(bridge_server.answer("/status")[1])] * 2))["version"]
    reply = bridge_server.answer("/session/load", "planted")
    assert reply[0] == "/fail" and "outside the plugin folders" in reply[1][1], reply
    assert not marker.exists()
    assert dict(zip(*[iter(bridge_server.answer("/status")[1])] * 2))["version"] == version
    assert bridge_server.call("/fx/list", skip=())[0][1][1] == "Gain"  # the chain as it was


def test_a_chain_file_naming_a_planted_bundle_is_refused(tmp_path):
    from bridge.effects import EffectsChain
    from engine.errors import InputError
    marker = tmp_path / "marker"
    bundle = plant_bundle(tmp_path, marker)
    chain_file = tmp_path / "chain.json"
    chain_file.write_text(json.dumps({"format": 1, "slots": [{"plugin": "Gain"}, {"plugin": str(bundle)}]}))
    with pytest.raises(InputError, match="outside the plugin folders"):
        EffectsChain.from_dict(json.loads(chain_file.read_text()))
    assert not marker.exists()


def test_plugins_dir_must_be_a_folder(tmp_path):
    from bridge.plugins import PluginFolders, standard_folders
    from engine.errors import InputError
    with pytest.raises(InputError, match="--plugins-dir .*: not a folder"):
        PluginFolders.make([tmp_path / "nope"])
    assert Path("/usr/lib/vst3") in standard_folders("linux")
    assert Path("/Library/Audio/Plug-Ins/VST3") in standard_folders("darwin")
    assert standard_folders("win32")[0].name == "VST3"
