"""The server over real UDP sockets, in process: conventions, robustness, the editor and jobs."""
from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest

from osc_client import OscClient, wait_for
from engine.server.osc import build_message, parse_datagram


def status(client) -> dict:
    reply = client.answer("/status")
    assert reply[0] == "/status"
    pairs = reply[1]
    return dict(zip(pairs[::2], pairs[1::2]))


def grid(client) -> np.ndarray:
    msgs = client.call("/grid/get", skip=("/progress", "/heartbeat"))
    info = next(m for m in msgs if m[0] == "/grid/info")[1]
    out = np.full((info[1], info[2]), -1, np.int64)
    for address, args in msgs:
        if address == "/grid/chunk":
            _, level, f0, *codes = args
            out[level, f0:f0 + len(codes)] = codes
    assert (out >= 0).all()
    return out


def test_ping_status_and_unknown(client):
    assert client.call("/ping") == [("/pong", [])]
    assert client.call("/ping", "tok") == [("/pong", ["tok"])]
    assert client.call("/ping", 3.0) == [("/pong", [3.0])]
    s = status(client)
    for key in ("model", "transport", "cpu", "underruns", "jobs"):
        assert key in s
    assert s["model"] == "none" and s["transport"] == "stopped"
    client.send("/no/such")
    assert client.recv() == ("/fail", ["/no/such", "unknown address /no/such (see docs/osc.md)"])


def test_commands_without_a_model_fail_with_a_sentence(client):
    for address, args in (("/undo", []), ("/edit/set", [0, 0, 0]), ("/generate", [2.0]), ("/render", ["x"])):
        reply = client.answer(address, *args)
        assert reply[0] == "/fail" and "no model loaded" in reply[1][1]


def test_reply_port_via_notify(server, client):
    listener = OscClient(server.osc_port)  # a second socket stands in for Max's [udpreceive]
    client.send("/notify", 1, listener.port)
    assert listener.recv() == ("/done", ["/notify"])  # from now on this client's replies go there
    client.send("/ping", "x")
    assert listener.recv() == ("/pong", ["x"])
    beat = listener.recv()
    while beat[0] != "/heartbeat":
        beat = listener.recv()
    assert beat[1][0] >= 1
    listener.close()


def test_models_list_and_load_and_info(client):
    msgs = client.call("/model/list")
    assert msgs[0] == ("/model/entry", msgs[0][1]) and msgs[0][1][:5] == ["tiny", 2, 8, 5, "green"]
    assert msgs[-1] == ("/done", ["/model/list", 1])
    assert client.call("/model/list", "zzz")[-1] == ("/done", ["/model/list", 0])
    done = client.answer("/model/load", "tiny")
    assert done[0] == "/done" and done[1][:2] == ["/model/load", "tiny"] and done[1][3:5] == [2, 8]
    info = dict(zip(*[iter(client.answer("/model/info")[1])] * 2))
    assert info["name"] == "tiny" and info["has_prior"] == 1
    assert status(client)["model"] == "tiny"


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "nope"])
def test_model_paths_are_confined(client, name):
    reply = client.answer("/model/load", name)
    assert reply[0] == "/fail"


def test_edit_undo_redo_are_bit_exact(loaded):
    g0 = grid(loaded)
    assert loaded.answer("/edit/set", 1.0, 3.0, 7.0)[0] == "/done"  # Pd-style floats
    g1 = grid(loaded)
    assert g1[1, 3] == 7 and (np.delete(g1.ravel(), 1 * g1.shape[1] + 3) == np.delete(g0.ravel(), 1 * g0.shape[1] + 3)).all()
    assert loaded.answer("/edit/reverse", 0, 2, 0, 8)[0] == "/done"
    g2 = grid(loaded)
    assert loaded.answer("/undo")[0] == "/done"
    assert (grid(loaded) == g1).all()
    assert loaded.answer("/undo")[0] == "/done"
    assert (grid(loaded) == g0).all()
    assert loaded.answer("/redo")[0] == "/done"
    assert loaded.answer("/redo")[0] == "/done"
    assert (grid(loaded) == g2).all()
    reply = loaded.answer("/redo")
    assert reply == ("/fail", ["/redo", "nothing to redo"])


def test_bad_edits_fail_and_leave_the_grid(loaded):
    before, version = grid(loaded), status(loaded)["version"]
    for args in ([5, 0, 0], [0, 10_000, 0], [0, 0, 99]):
        assert loaded.answer("/edit/set", *args)[0] == "/fail"
    assert loaded.answer("/edit/reverse", 0, 9, 0, 4)[0] == "/fail"
    assert loaded.answer("/edit/paste", 0, 0)[1][1].startswith("the clipboard is empty")
    assert (grid(loaded) == before).all() and status(loaded)["version"] == version


def test_every_region_edit(loaded):
    assert loaded.answer("/generate", 2.0, 1)[0] == "/done"
    ops = [("/edit/swap", 0, 2, 0, 20, 1, 2), ("/edit/copy", 0, 2, 0, 8), ("/edit/paste", 0, 10),
           ("/edit/duplicate", 0, 2, 0, 8), ("/edit/shift", 0, 2, 0, 20, 3), ("/edit/blend", 0, 2, 20, 30, 0.5),
           ("/edit/morph", 0, 2, 30, 40), ("/edit/lock", 0, 1), ("/edit/select", 0, 2, 4, 12)]
    for address, *args in ops:
        reply = loaded.answer(address, *args)
        assert reply[0] == "/done", (address, reply)
    locked = grid(loaded)
    assert loaded.answer("/edit/reverse", 0, 2, 0, 30)[0] == "/done"
    assert (grid(loaded)[0] == locked[0]).all()  # level 0 is locked
    reply = loaded.answer("/edit/set", 0, 0, 1)
    assert reply[0] == "/fail" and "locked" in reply[1][1]


def test_generate_regenerate_and_encode_jobs(loaded):
    reply = loaded.answer("/generate", 1, 5)
    from engine.prior.generate import frames_for_seconds
    assert reply[0] == "/done" and reply[1][1] == frames_for_seconds(1.0, 31.25)
    g = grid(loaded)
    assert loaded.answer("/undo")[0] == "/done"
    assert loaded.answer("/redo")[0] == "/done"
    assert (grid(loaded) == g).all()
    assert loaded.answer("/generate", 1, 5)[0] == "/done"
    assert (grid(loaded) == g).all()  # same seed, same codes
    assert loaded.answer("/edit/regenerate", 0, 2, 5, 10, 2)[0] == "/done"
    g2 = grid(loaded)
    assert (g2[:, :5] == g[:, :5]).all() and (g2[:, 10:] == g[:, 10:]).all()
    assert loaded.answer("/edit/encode", "tone.wav")[0] == "/done"
    assert loaded.answer("/edit/encode", "../models/tiny.distill")[0] == "/fail"
    assert loaded.answer("/generate", 0.5)[0] == "/fail"  # below the table's minimum


def test_sampling_settings(loaded):
    assert loaded.answer("/sampling/creativity", 1) == ("/done", ["/sampling/creativity"])
    assert loaded.answer("/sampling/focus", 5.0) == ("/done", ["/sampling/focus"])
    assert loaded.answer("/sampling/diversity", 0.5)[0] == "/done"
    creativity, focus, diversity = loaded.answer("/sampling")[1]
    assert (creativity, focus, diversity) == (1.0, 5, 0.5)
    assert loaded.answer("/sampling/diversity", 0.0)[0] == "/fail"


def test_jobs_do_not_block_the_server_and_can_be_cancelled(loaded):
    loaded.send("/generate", 60.0, 1)
    t0 = time.perf_counter()
    assert loaded.call("/ping", "during")[-1] == ("/pong", ["during"])
    assert time.perf_counter() - t0 < 0.5
    assert status(loaded)["jobs"] == 1  # the generation is still running (cancelled below)
    version = status(loaded)["version"]
    assert loaded.call("/cancel", "/generate")[-1][0] == "/done"
    msgs = []
    while not any(m[0] == "/fail" and m[1][0] == "/generate" for m in msgs):
        msgs.append(loaded.recv())
    assert ("/fail", ["/generate", "cancelled"]) in msgs
    assert status(loaded)["version"] == version


def test_render_and_session_save_load(loaded, tiny_library):
    assert loaded.answer("/render/settings", "flac", 16, 22050, 1)[0] == "/done"
    first = loaded.answer("/render", "my clip")
    second = loaded.answer("/render", "my clip")
    assert first[0] == second[0] == "/done"
    p1, p2 = first[1][1], second[1][1]
    assert p1 != p2 and p1.endswith("my-clip-001.flac") and p2.endswith("my-clip-002.flac")  # one naming scheme
    from pedalboard.io import AudioFile
    with AudioFile(p1) as f:
        assert f.samplerate == 22050 and f.frames > 0
    assert loaded.answer("/render", "../escape")[1][1].startswith(str(tiny_library / "clips"))
    assert loaded.answer("/render/length", 3, 0)[0] == "/done"
    with AudioFile(loaded.answer("/render", "three seconds")[1][1]) as f:
        assert f.frames == 3 * 22050
    assert loaded.answer("/render/length", 0, 2)[0] == "/done"
    assert loaded.answer("/render", "bars")[0] == "/fail"  # no bridge in this in-process server: no tempo
    assert loaded.answer("/render/length", 0, 0)[0] == "/done"
    loaded.answer("/edit/set", 0, 2, 3)
    g = grid(loaded)
    saved = loaded.answer("/session/save", "mine")
    assert saved[0] == "/done" and saved[1][1].endswith("mine.session.json")
    loaded.answer("/edit/set", 0, 2, 4)
    assert loaded.answer("/session/load", "mine")[0] == "/done"
    assert (grid(loaded) == g).all()
    assert loaded.answer("/session/load", "../../x")[0] == "/fail"


def test_transport_without_a_device_says_how_to_get_one(loaded):
    reply = loaded.answer("/play")
    assert reply[0] == "/fail" and "--device" in reply[1][1]
    assert loaded.answer("/gain", -6)[0] == "/done"
    assert loaded.call("/fx/list")[-1] == ("/done", ["/fx/list", 0])


def test_grid_notifications_reach_subscribers_split_under_1400_bytes(server, loaded):
    watcher = OscClient(server.osc_port)
    assert watcher.answer("/notify", 1) == ("/done", ["/notify"])
    loaded.answer("/generate", 30.0, 3)
    from engine.prior.generate import frames_for_seconds
    frames = frames_for_seconds(30.0, 31.25)
    got = {}
    while "/grid/changed" not in got or sum(len(a) - 3 for a in got.get("chunks", [])) < 2 * frames:
        raw = watcher.sock.recv(65536)
        assert len(raw) <= 1400
        address, args = parse_datagram(raw)[0]
        if address == "/grid/changed":
            got["/grid/changed"] = args
        elif address == "/grid/chunk":
            got.setdefault("chunks", []).append(args)
    assert got["/grid/changed"][1:3] == [2, frames]
    watcher.close()


def test_failures_are_rate_limited_and_the_server_survives(server, client):
    for _ in range(200):
        client.send("/no/such")
    fails = [m for m in client.drain() if m[0] == "/fail"]
    assert 20 <= len(fails) < 100
    assert status(client)["fails_dropped"] >= 100
    time.sleep(0.1)
    assert client.call("/ping", "alive") == [("/pong", ["alive"])]


def test_oversized_and_malformed_datagrams_get_a_fail(client):
    client.send_raw(build_message("/ping", ["x" * 9000]))
    assert client.recv()[0] == "/fail"
    for truncated in (b"/edit/set\x00\x00\x00,iii\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x02",
                      b"/edit/set\x00\x00\x00,iii\x00\x00\x00\x00\x00\x00\x01"):
        client.send_raw(truncated)
        reply = client.recv()
        assert reply[0] == "/fail" and reply[1][0] == "/edit/set", reply
    client.send_raw(b"\x00\x01garbage")
    assert client.recv()[0] == "/fail"
    assert client.call("/ping") == [("/pong", [])]


def test_a_thousand_pings_from_two_threads_all_answered(server):
    counts = []

    def run():
        c = OscClient(server.osc_port, timeout_s=5)
        n = 0
        for i in range(500):
            c.send("/ping", i)
            if c.recv() == ("/pong", [i]):
                n += 1
        counts.append(n)
        c.close()
    threads = [threading.Thread(target=run) for _ in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert counts == [500, 500]


def test_labels_and_perceptual_moves(loaded):
    msgs = loaded.call("/labels/get", 1, skip=())
    labels = [m for m in msgs if m[0] == "/label"]
    assert msgs[-1] == ("/done", ["/labels/get", 8]) and len(labels) == 8
    assert all(m[1][0] == 1 and isinstance(m[1][2], str) for m in labels)
    loaded.answer("/generate", 2.0, 3)
    before = grid(loaded)
    moved = 0
    for move in ("brighter", "darker", "louder", "softer", "noisier", "tonal", "punchier", "smoother"):
        reply = loaded.answer(f"/move/{move}", 0, 2, 10, 30)
        assert reply[0] in ("/done", "/fail"), reply
        if reply[0] == "/done":
            moved += 1
            after = grid(loaded)
            assert (after[:, :10] == before[:, :10]).all() and (after[:, 30:] == before[:, 30:]).all()
            assert loaded.answer("/undo")[0] == "/done"
        else:
            assert "no code change" in reply[1][1]
        assert (grid(loaded) == before).all()
    assert moved >= 4  # random weights: most moves still find a code that goes the named way


@pytest.fixture
def train_server(dev_sets, tiny_library, tmp_path):
    from engine.server.app import Server, ServeOptions
    options = ServeOptions(osc_port=0, web_port=None, models_dir=tmp_path / "models",
                           clips_dir=tmp_path / "clips", input_dir=dev_sets, heartbeat_s=0.5,
                           train_overrides=("codec.hidden_channels=16", "codec.latent_dim=8", "codec.levels=2",
                                            "codec.codebook_size=8", "codec.codebook_dim=4", "train.threads=1"))
    srv = Server(options, log=lambda text: None).start_in_thread()
    yield srv
    srv.join()


def test_training_reports_epochs_and_can_be_cancelled(train_server, tmp_path):
    client = OscClient(train_server.osc_port, timeout_s=120)
    assert client.answer("/train/start", "../etc", "x")[0] == "/fail"
    assert client.answer("/train/start", "dev-tiny-5/nope", "x")[0] == "/fail"
    client.send("/train/start", "dev-tiny-5", "cancelled-run", 5.0)
    epoch = client.recv()
    while epoch[0] != "/train/epoch":
        epoch = client.recv()
    assert epoch[1][0] >= 1 and epoch[1][1] > epoch[1][0]
    state = client.answer("/train/progress")[1]
    assert state[0] == "running" and state[1] >= 1
    assert client.call("/ping", "still here")[-1] == ("/pong", ["still here"])
    assert client.answer("/train/cancel") == ("/done", ["/train/cancel"])
    while True:
        msg = client.recv()
        if msg[0] == "/fail" and msg[1][0] == "/train/start":
            assert msg[1][1] == "cancelled"
            break
    assert client.answer("/train/progress")[1][0] == "cancelled"
    assert not (tmp_path / "models" / "cancelled-run.distill").exists()
    client.close()


@pytest.mark.slow
def test_training_over_osc_finishes_and_the_model_loads(train_server, tmp_path):
    client = OscClient(train_server.osc_port, timeout_s=900)
    client.send("/train/start", "dev-tiny-5", "trained", 0.2)
    verdicts, health = [], []
    while True:
        msg = client.recv()
        if msg[0] == "/train/health":
            health.append(msg[1])
        if msg[0] == "/train/verdict":
            verdicts.append(msg[1])
        if msg[0] in ("/done", "/fail") and msg[1][0] == "/train/start":
            break
    assert msg[0] == "/done" and msg[1][1].endswith("trained.distill"), msg
    assert verdicts and verdicts[0][0] in ("green", "yellow", "red") and health
    assert client.answer("/train/progress")[1][0] == "done"
    assert client.call("/model/list")[-1] == ("/done", ["/model/list", 1])
    assert client.answer("/model/load", "trained")[0] == "/done"
    client.close()


@pytest.mark.slow
def test_export_over_osc_adds_the_onnx_graph(tmp_path):
    from engine.server.app import Server, ServeOptions
    from tiny_model import make_tiny_model
    (tmp_path / "models").mkdir()
    make_tiny_model(tmp_path / "models" / "copy.distill", onnx=False)  # the shared tiny model carries graphs
    srv = Server(ServeOptions(osc_port=0, web_port=None, models_dir=tmp_path / "models", clips_dir=tmp_path,
                              input_dir=tmp_path), log=lambda text: None).start_in_thread()
    try:
        client = OscClient(srv.osc_port, timeout_s=300)
        assert client.answer("/model/load", "copy")[0] == "/done"
        info = dict(zip(*[iter(client.answer("/model/info")[1])] * 2))
        assert info["has_onnx"] == 0
        assert client.answer("/model/export")[0] == "/done"
        info = dict(zip(*[iter(client.answer("/model/info")[1])] * 2))
        assert info["has_onnx"] == 1
        client.close()
    finally:
        srv.join()


def test_a_region_job_never_overwrites_edits_made_while_it_ran(loaded):
    assert loaded.answer("/generate", 20.0, 1)[0] == "/done"
    loaded.send("/edit/regenerate", 0, 2, 0, 600, 9)  # seconds of work on the worker
    assert loaded.answer("/edit/set", 1, 620, 3)[0] == "/done"  # answered at once, meanwhile
    edited = grid(loaded)
    while True:
        msg = loaded.recv()
        if msg[1] and msg[1][0] == "/edit/regenerate" and msg[0] in ("/done", "/fail"):
            break
    assert msg[0] == "/fail" and "grid changed" in msg[1][1]
    assert (grid(loaded) == edited).all()


def test_model_named_on_the_command_line_may_live_anywhere(tiny_library, tmp_path):
    import shutil
    from engine.server.app import Server, ServeOptions
    shutil.copy(tiny_library / "models" / "tiny.distill", tmp_path / "elsewhere.distill")
    srv = Server(ServeOptions(osc_port=0, web_port=None, model=str(tmp_path / "elsewhere.distill"),
                              models_dir=tiny_library / "models", clips_dir=tmp_path, input_dir=tmp_path),
                 log=lambda text: None).start_in_thread()
    try:
        client = OscClient(srv.osc_port)
        wait_for(lambda: status(client)["model"] == "elsewhere")
        reply = client.answer("/model/load", str(tmp_path / "elsewhere.distill"))  # over OSC: confined
        assert reply[0] == "/fail" and "outside" in reply[1][1]
        client.close()
    finally:
        srv.join()


def test_fill_is_one_undo_step_and_spares_locked_levels(loaded):
    assert loaded.answer("/generate", 2.0, 3)[0] == "/done"
    g0 = grid(loaded)
    code = int((g0[1, 4:12].max() + 1) % 8)  # differs from at least one cell of level 1 there
    assert loaded.answer("/edit/lock", 0, 1)[0] == "/done"
    locked = grid(loaded)
    reply = loaded.answer("/edit/fill", 0, 2, 4.0, 12.0, code)  # Pd-style floats for the frames
    assert reply[0] == "/done", reply
    g1 = grid(loaded)
    assert (g1[1, 4:12] == code).all()
    assert (g1[0] == locked[0]).all()  # the locked level is untouched
    assert (g1[:, :4] == locked[:, :4]).all() and (g1[:, 12:] == locked[:, 12:]).all()
    assert loaded.answer("/undo")[0] == "/done"  # one step undoes the whole fill
    assert (grid(loaded) == locked).all()
    assert loaded.answer("/redo")[0] == "/done"
    assert (grid(loaded) == g1).all()


@pytest.mark.parametrize("args, field", [
    ((0, 3, 0, 8, 1), "level_stop"), ((1, 1, 0, 8, 1), "level_stop"), ((0, 2, 0, 100_000, 1), "frame_stop"),
    ((0, 2, 8, 8, 1), "frame_stop"), ((0, 2, 0, 8, 8), "code"), ((5, 6, 0, 8, 1), "level_start"),
    ((0, 2, 100_000, 100_001, 1), "frame_start"),
])
def test_fill_out_of_range_names_the_field(loaded, args, field):
    before, version = grid(loaded), status(loaded)["version"]
    reply = loaded.answer("/edit/fill", *args)
    assert reply[0] == "/fail" and reply[1][1].startswith(field + " "), reply
    assert (grid(loaded) == before).all() and status(loaded)["version"] == version


def test_voices_need_an_audio_device(loaded):
    reply = loaded.answer("/voice/add", 1.0, 2)
    assert reply[0] == "/fail" and "no audio device" in reply[1][1], reply
    reply = loaded.answer("/voice/gain", 1, -3.0)
    assert reply[0] == "/fail" and "voice 1 is out of range" in reply[1][1], reply
    assert loaded.answer("/voice/clear") == ("/done", ["/voice/clear", 0])


def test_time_tagged_bundles_go_to_the_scheduler_hook(server, client):
    from engine.server.osc import build_bundle
    seen = []

    def scheduler(timetag_s, run):  # what the audio side plugs in; here: note it, run it next
        seen.append(timetag_s)
        server.post(run)
    server.core.scheduler = scheduler
    at = time.time() + 3600
    client.send_raw(build_bundle([("/ping", ["later"])], at))
    assert client.recv() == ("/pong", ["later"])
    client.send_raw(build_bundle([("/ping", ["now"])]))  # the "immediately" tag: no scheduler
    assert client.recv() == ("/pong", ["now"])
    assert len(seen) == 1 and abs(seen[0] - at) < 1e-3
    server.core.scheduler = None
    client.send_raw(build_bundle([("/ping", ["unscheduled"])], at))  # no scheduler: at once
    assert client.recv() == ("/pong", ["unscheduled"])


def test_status_sends_exactly_the_declared_keys_in_order(loaded):
    from engine.facts import STATUS_KEYS
    pairs = loaded.answer("/status")[1]
    assert pairs[::2] == list(STATUS_KEYS)
    assert all(isinstance(v, {"s": str, "i": int, "f": float}[STATUS_KEYS[k][0]]) for k, v in zip(pairs[::2], pairs[1::2]))
