"""`distill serve --device NAME` when the device cannot open: the composition root says so, and the
server keeps serving OSC, the effect chain and rendering; a playing device server stops cleanly on
SIGTERM and Ctrl-C. (A device that plays: test_peers.py.)"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from osc_client import OscClient, wait_for


def test_missing_device_says_so_and_keeps_serving_effects_and_rendering(tiny_library, tmp_path, capsys):
    from bridge.engine_audio import BridgeAudio
    from bridge.serve import open_bridge_audio
    from engine.server.app import Server, ServeOptions
    for f in (tiny_library / "models").glob("*.session.json"):
        f.unlink()  # a fresh grid and an empty chain
    audio = open_bridge_audio("no-such-device-xyz", 48000, 256, tmp_path)
    assert isinstance(audio, BridgeAudio) and audio.describe() == "none"
    assert "no-such-device-xyz" in capsys.readouterr().err
    srv = Server(ServeOptions(osc_port=0, web_port=None, models_dir=tiny_library / "models", clips_dir=tmp_path,
                              input_dir=tmp_path), audio, log=lambda text: None).start_in_thread()
    try:
        client = OscClient(srv.osc_port)
        assert client.answer("/model/load", "tiny")[0] == "/done"
        reply = client.answer("/play")
        assert reply[0] == "/fail" and "no audio device" in reply[1][1]
        assert client.answer("/fx/add", "Gain")[0] == "/done"  # the chain works without a device
        assert client.answer("/fx/param", 0, "gain_db", -6)[0] == "/done"
        assert client.call("/fx/list", skip=())[-1] == ("/done", ["/fx/list", 1])
        done = client.answer("/render", "offline")
        assert done[0] == "/done" and Path(done[1][1]).stat().st_size > 1000
        pairs = client.answer("/status")[1]
        assert dict(zip(pairs[::2], pairs[1::2]))["audio"] == "none"
        client.close()
    finally:
        srv.join()
        audio.close()


@pytest.mark.skipif(not shutil.which("jackd"), reason="needs Debian jackd2 (.ci/run installs it)")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_a_signal_stops_a_playing_device_server_cleanly(tiny_library, sig):
    """`distill serve --device` playing on a real JACK (dummy) server, its decode thread busy with
    an edit storm, gets SIGTERM or Ctrl-C: it exits 0 with no C++ abort at interpreter exit
    ("terminate called without an active exception") and no traceback, and JACK still runs."""
    from bridge.jack_tools import JackServer, server_running
    from serve_process import ServeProcess
    name = f"distill-sig-{os.getpid()}-{int(sig)}"
    saved = {k: os.environ.get(k) for k in ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER")}
    jack = JackServer.ensure(name, 48000, 256)
    try:
        proc = ServeProcess("--models-dir", str(tiny_library / "models"), "--clips-dir", str(tiny_library / "clips"),
                            "--input-dir", str(tiny_library / "inputs"), "--web-port", "-1", "--model", "tiny",
                            "--device", "system", env={"JACK_DEFAULT_SERVER": name, "JACK_NO_START_SERVER": "1"})
        try:
            client = OscClient(proc.osc_port)
            wait_for(lambda: dict(zip(*[iter(client.answer("/status")[1])] * 2))["model"] == "tiny", timeout_s=60)
            assert client.answer("/generate", 4.0, 1)[0] == "/done"
            assert client.answer("/play")[0] == "/done"
            status = dict(zip(*[iter(client.answer("/status")[1])] * 2))
            assert status["audio"] != "none", "the JACK device did not open"
            for i in range(40):  # re-decodes queue up on the decode thread
                client.send("/edit/set", i % 2, (7 * i) % 100, i % 8)
            time.sleep(0.05)
            proc.proc.send_signal(sig)
            returncode = proc.proc.wait(30)
            stderr = proc.stop()
            client.close()
        finally:
            proc.stop()
        assert "terminate called" not in stderr, stderr[-2000:]
        assert "Traceback" not in stderr, stderr[-2000:]
        assert returncode == 0, f"exit code {returncode}: {stderr[-2000:]}"
        assert server_running(name), "JACK went down with the engine"
    finally:
        jack.stop()
        for f in (tiny_library / "models").glob("*.session.json"):
            f.unlink()
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


@pytest.mark.skipif(not shutil.which("jackd"), reason="needs Debian jackd2 (.ci/run installs it)")
@pytest.mark.parametrize("device_process", [True, False], ids=["device-process", "in-process"])
def test_closing_the_bridge_audio_joins_its_threads(tiny_library, tmp_path, device_process):
    """What a clean exit rests on: after `BridgeAudio.close()` on a real JACK device no decode or
    producer thread is alive and the stream is closed (with the device in its own process, that
    process has ended); `terminate_portaudio` then releases PortAudio."""
    import sounddevice as sd

    from bridge import devices
    from bridge.jack_tools import JackServer
    from bridge.engine_audio import BridgeAudio
    from bridge.serve import open_bridge_audio, terminate_portaudio
    from engine.codec.model import Model
    from engine.codes import Codes
    name = f"distill-close-{os.getpid()}"
    saved = {k: os.environ.get(k) for k in ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER")}
    jack = JackServer.ensure(name, 48000, 256)
    try:
        devices.refresh()  # PortAudio sees the JACK server started after import
        audio = open_bridge_audio("system", 48000, 256, tmp_path, device_process=device_process)
        assert isinstance(audio, BridgeAudio) and audio.describe() != "none", audio.bridge.message
        model = Model.load(tiny_library / "models" / "tiny.distill")
        audio.set_model(model, tiny_library / "models" / "tiny.distill")
        codes = Codes(np.zeros((2, 64), np.int64), 8, model.code_frame_rate_hz, model.model_id)
        for k in range(10):  # decodes queued on the decode thread
            audio.set_grid(codes.with_indices(np.full((2, 64), k % 8, np.int64)), None)
        audio.play()
        audio.close()
        assert not audio._thread.is_alive(), "the decode thread outlived close()"
        if device_process:
            assert audio.bridge.host._proc.poll() == 0, "the device process did not end cleanly"
        else:
            assert not audio.bridge.player._thread.is_alive(), "the bridge's producer thread outlived close()"
            assert audio.bridge.host._stream is None
        assert not audio.bridge.stream_open
        audio.close()  # idempotent
        terminate_portaudio()
        assert not sd._initialized, "PortAudio is still initialised"
    finally:
        devices.terminate()  # before JACK stops (else Python aborts at exit), then back as it was
        jack.stop()
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
        devices.refresh()


@pytest.mark.skipif(not shutil.which("jackd"), reason="needs Debian jackd2 (.ci/run installs it)")
def test_a_lone_edit_is_spliced_at_once_and_a_burst_coalesces_in_order(tiny_library, tmp_path):
    """An edit of the playing grid while the decode thread is idle is in the player when set_grid
    returns (spliced on the calling thread: no hand-over); edits closer together go to the decode
    thread, and an edit never overtakes a grid still decoding there: the last grid always wins."""
    from bridge.engine_audio import SPLICE_HERE_GAP_S
    from bridge.serve import open_bridge_audio
    from engine.codec.model import Model
    from engine.codes import Codes
    with _jack_of_its_own("distill-splice"):
        audio = open_bridge_audio("system", 48000, 256, tmp_path, device_process=False)  # to read the scene
        try:
            model = Model.load(tiny_library / "models" / "tiny.distill")
            audio.set_model(model, tiny_library / "models" / "tiny.distill")
            rng = np.random.default_rng(3)
            grid = lambda frames: Codes(rng.integers(0, 8, (2, frames)), 8, model.code_frame_rate_hz,  # noqa: E731
                                        model.model_id)
            voice0 = lambda: audio.bridge.player.scene.voices[0].source  # noqa: E731
            idle = lambda: audio._jobs_put == audio._jobs_done  # noqa: E731
            first = grid(64)
            audio.set_grid(first, None)
            audio.play()
            wait_for(lambda: idle() and audio._loop is not None and audio._loop.codes is first)

            time.sleep(2 * SPLICE_HERE_GAP_S)
            edited = first.with_indices(np.where(np.arange(64) == 20, (first.indices + 1) % 8, first.indices))
            audio.set_grid(edited, None)
            assert audio._loop.codes is edited and idle()  # spliced before set_grid returned
            np.testing.assert_array_equal(voice0(), audio._loop.samples)

            burst = [edited.with_indices((edited.indices + k) % 8) for k in range(1, 6)]
            for codes in burst:  # within the gap of the splice above: the decode thread's, coalesced
                audio.set_grid(codes, None)
            wait_for(idle)
            assert audio._loop.codes is burst[-1]
            np.testing.assert_array_equal(voice0(), audio._loop.samples)

            long = grid(4000)  # a new shape: a whole decode on the decode thread, long enough to overlap
            audio.set_grid(long, None)
            time.sleep(2 * SPLICE_HERE_GAP_S)
            last = long.with_indices((long.indices + 1) % 8)
            audio.set_grid(last, None)  # the decode thread is (or was) busy: queued after `long`, not before
            wait_for(idle, timeout_s=60)
            assert audio._loop.codes is last
            np.testing.assert_allclose(voice0(), audio._live.render(last), atol=1e-3)
        finally:
            audio.close()


def test_normal_priority_lowers_a_real_time_decode_thread_for_its_block_only():
    """What the decode thread's whole decodes rest on (bridge/priority.py): its SCHED_FIFO is dropped
    inside `normal_priority` and back after; threads it starts do not inherit it."""
    import threading

    from bridge.priority import DECODE_RT_PRIORITY, normal_priority, raise_thread_priority
    seen = {}

    def decode_thread():
        if not raise_thread_priority(DECODE_RT_PRIORITY):
            return  # no privilege here: nothing to test
        fifo = os.SCHED_FIFO | os.SCHED_RESET_ON_FORK
        seen["splice"] = os.sched_getscheduler(0)
        with normal_priority():
            seen["whole"] = os.sched_getscheduler(0)
        seen["after"] = os.sched_getscheduler(0), os.sched_getparam(0).sched_priority
        child = threading.Thread(target=lambda: seen.__setitem__("child", os.sched_getscheduler(0)))
        child.start()
        child.join()
        seen["fifo"] = fifo

    t = threading.Thread(target=decode_thread)
    t.start()
    t.join()
    if not seen:
        pytest.skip("no privilege for SCHED_FIFO here")
    assert seen["splice"] == seen["fifo"] and seen["after"] == (seen["fifo"], DECODE_RT_PRIORITY)
    assert seen["whole"] & ~os.SCHED_RESET_ON_FORK == os.SCHED_OTHER
    assert seen["child"] == os.SCHED_OTHER


@contextlib.contextmanager
def _jack_of_its_own(prefix: str):
    """A JACK dummy server for one test, PortAudio pointed at it; afterwards PortAudio goes first
    (else Python aborts at exit), then the server, and the environment is as it was."""
    from bridge import devices
    from bridge.jack_tools import JackServer
    saved = {k: os.environ.get(k) for k in ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER")}
    jack = JackServer.ensure(f"{prefix}-{os.getpid()}", 48000, 256)
    try:
        devices.refresh()
        yield jack
    finally:
        devices.terminate()
        jack.stop()
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
        devices.refresh()


@pytest.mark.skipif(not shutil.which("jackd"), reason="needs Debian jackd2 (.ci/run installs it)")
def test_layered_voices_over_osc_reach_the_playing_bridge(tiny_library, tmp_path):
    """/voice/add generates a second code stream with the real prior and the bridge mixes it as
    voice 1 over the grid (voice 0) on a real JACK device; /voice/gain sets its gain, an edit of the
    grid leaves the layers alone, /voice/clear removes them; bad indices /fail naming the voice."""
    from bridge import devices
    from bridge.jack_tools import JackServer
    from bridge.engine_audio import BridgeAudio
    from bridge.serve import open_bridge_audio
    from engine.codes import Codes
    from engine.prior.generate import frames_for_seconds, generate
    from engine.prior.sampling import Sampling
    from engine.server.app import Server, ServeOptions
    for f in (tiny_library / "models").glob("*.session.json"):
        f.unlink()
    name = f"distill-voices-{os.getpid()}"
    saved = {k: os.environ.get(k) for k in ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER")}
    jack = JackServer.ensure(name, 48000, 256)
    srv = audio = None
    try:
        devices.refresh()
        # in-process, so the test can read what the producer mixes (test_render_paths hears the
        # layers through the device process)
        audio = open_bridge_audio("system", 48000, 256, tmp_path, device_process=False)
        assert isinstance(audio, BridgeAudio) and audio.describe() != "none", audio.bridge.message
        srv = Server(ServeOptions(osc_port=0, web_port=None, models_dir=tiny_library / "models", clips_dir=tmp_path,
                                  input_dir=tmp_path), audio, log=lambda text: None).start_in_thread()
        client = OscClient(srv.osc_port)
        scene = lambda: audio.bridge.player.scene  # noqa: E731  (what the producer mixes now)
        assert client.answer("/model/load", "tiny")[0] == "/done"
        assert client.answer("/generate", 1.0, 1)[0] == "/done"
        assert client.answer("/play")[0] == "/done"
        reply = client.answer("/voice/gain", 1, 0.0)
        assert reply[0] == "/fail" and reply[1][1].startswith("voice 1 is out of range"), reply
        grid_audio = audio._live.render(srv.core.state.session.codes)  # the generated grid, decoded
        wait_for(lambda: len(scene().voices) == 1 and len(scene().voices[0].source) == len(grid_audio))
        grid_voice = scene().voices[0].source.copy()
        np.testing.assert_allclose(grid_voice, grid_audio, atol=1e-5)

        assert client.answer("/voice/add", 1.0, 5) == ("/done", ["/voice/add", 1])
        wait_for(lambda: len(scene().voices) == 2)
        model, prior = srv.core.state.model, srv.core.state.prior
        frames = frames_for_seconds(1.0, model.code_frame_rate_hz)
        s = srv.core.state.session.present.sampling
        want_codes = generate(prior, frames, Sampling(temperature=float(s["temperature"]), top_k=int(s["top_k"]),
                                                       top_p=float(s["top_p"])), 5)
        want = audio._live.render(Codes(want_codes.astype("int64"), 8, model.code_frame_rate_hz, model.model_id))
        np.testing.assert_allclose(scene().voices[1].source, want, atol=1e-5)  # seed 5's stream, decoded
        np.testing.assert_array_equal(scene().voices[0].source, grid_voice)  # the grid plays on under it

        assert client.answer("/voice/add", 1.0, 6) == ("/done", ["/voice/add", 2])
        assert client.answer("/voice/gain", 2, -6.0) == ("/done", ["/voice/gain"])
        wait_for(lambda: len(scene().voices) == 3 and abs(scene().voices[2].gain - 10 ** (-6 / 20)) < 1e-6)
        layer1 = scene().voices[1].source.copy()
        assert client.answer("/edit/fill", 0, 2, 0, 10, 3)[0] == "/done"  # the grid changes, the layers stay
        wait_for(lambda: not np.array_equal(scene().voices[0].source[:len(grid_voice)], grid_voice))
        assert len(scene().voices) == 3 and np.array_equal(scene().voices[1].source, layer1)
        reply = client.answer("/voice/gain", 3, 0.0)
        assert reply[0] == "/fail" and "voice 3 is out of range" in reply[1][1], reply

        assert client.answer("/voice/clear") == ("/done", ["/voice/clear", 2])
        wait_for(lambda: len(scene().voices) == 1)
        assert client.answer("/voice/clear") == ("/done", ["/voice/clear", 0])
        client.close()
    finally:
        if srv is not None:
            srv.join()
        if audio is not None:
            audio.close()
        devices.terminate()  # before JACK stops (else Python aborts at exit), then back as it was
        jack.stop()
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
        devices.refresh()
        for f in (tiny_library / "models").glob("*.session.json"):
            f.unlink()
