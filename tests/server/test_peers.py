"""Real peers drive a real `distill serve --device` process playing into a real JACK server (dummy
driver): liblo's oscsend/oscdump, headless Pure Data (vanilla netsend/oscformat/netreceive/oscparse,
which sends every number as a float), and transport, effects and renders through the bridge."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from osc_client import OscClient
from serve_process import ServeProcess

HERE = Path(__file__).parent
pytestmark = pytest.mark.skipif(not all(shutil.which(t) for t in ("oscsend", "oscdump", "pd", "jackd")),
                                reason="needs Debian liblo-tools, puredata-core and jackd2 (.ci/run installs them)")


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def serve(tiny_library):
    from bridge.jack_tools import JackServer
    name = f"distill-serve-{os.getpid()}"
    saved = {k: os.environ.get(k) for k in ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER")}
    jack = JackServer.ensure(name, 48000, 256)  # sets both variables in this process: restored below
    reply_port = free_udp_port()
    try:
        with ServeProcess("--models-dir", str(tiny_library / "models"), "--clips-dir", str(tiny_library / "clips"),
                          "--input-dir", str(tiny_library / "inputs"), "--reply-port", str(reply_port),
                          "--device", "system", env={"JACK_DEFAULT_SERVER": name, "JACK_NO_START_SERVER": "1"}) as proc:
            proc.reply_port = reply_port
            yield proc
    finally:  # the server (and its PortAudio) stops before JACK does
        jack.stop()
        for f in (tiny_library / "models").glob("*.session.json"):
            f.unlink()  # the next module starts from a fresh grid and an empty chain
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


class Dump:
    """`oscdump -L PORT`, collecting lines."""

    def __init__(self, port: int) -> None:
        self.proc = subprocess.Popen(["oscdump", "-L", str(port)], stdout=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        time.sleep(0.3)  # let it bind

    def wait_for(self, *texts: str, timeout_s: float = 30.0) -> str:
        """The first new line holding every one of `texts` (oscdump prefixes a time stamp)."""
        import selectors
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if sel.select(timeout=0.2):
                line = self.proc.stdout.readline()
                self.lines.append(line.rstrip())
                if all(t in line for t in texts):
                    return line
        raise AssertionError(f"oscdump never printed {texts!r}; got {self.lines[-10:]}")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait()


def oscsend(port: int, address: str, types: str = "", *args) -> None:
    subprocess.run(["oscsend", "127.0.0.1", str(port), address, types, *map(str, args)], check=True, timeout=10)


def test_oscsend_and_oscdump_round_trip(serve):
    dump = Dump(serve.reply_port)
    try:
        oscsend(serve.osc_port, "/ping", "s", "hello")
        assert '/pong s "hello"' in dump.wait_for("/pong")
        oscsend(serve.osc_port, "/model/load", "s", "tiny")
        dump.wait_for('/done ss', '"/model/load" "tiny"')
        oscsend(serve.osc_port, "/generate", "fi", 1.0, 3)
        line = dump.wait_for("/done", '"/generate"')
        from engine.prior.generate import frames_for_seconds
        assert f'"/generate" {frames_for_seconds(1.0, 31.25)} ' in line
        oscsend(serve.osc_port, "/edit/set", "fff", 0.0, 2.0, 5.0)  # Pd-style floats
        dump.wait_for("/done", '"/edit/set"')
        oscsend(serve.osc_port, "/undo")
        dump.wait_for("/done", '"/undo"')
        oscsend(serve.osc_port, "/status")
        status = dump.wait_for("/status", '"model"')
        for key in ('"model" "tiny"', '"transport" "stopped"', '"cpu"', '"underruns"', '"jobs"'):
            assert key in status
        oscsend(serve.osc_port, "/edit/set", "s", "nonsense")
        dump.wait_for('/fail ss "/edit/set" "/edit/set takes 3')
        assert serve.alive()
    finally:
        dump.close()


def test_pure_data_ping_load_generate_undo_status(serve):
    pd_port = free_udp_port()
    out = subprocess.run(["pd", "-nogui", "-nosound", "-noprefs", "-nrt", "-open", str(HERE / "round_trip.pd"),
                          "-send", f"cfg {serve.osc_port} {pd_port}"], capture_output=True, text=True, timeout=90)
    log = out.stdout + out.stderr
    for expected in ("distill: done /notify", "distill: pong hello", "distill: done /model/load tiny",
                     "distill: done /generate", "distill: done /undo", "distill: status model tiny"):
        assert expected in log, log[-3000:]
    assert "distill: fail" not in log, log[-3000:]


def status(client) -> dict:
    pairs = client.answer("/status")[1]
    return dict(zip(pairs[::2], pairs[1::2]))


def done(client, *message):
    reply = client.answer(*message)
    assert reply[0] == "/done", reply  # the /fail's sentence in the report
    return reply


def test_the_device_plays_edits_and_renders_through_the_bridge(serve):
    client = OscClient(serve.osc_port)
    client.send("/notify", 1, client.port)  # take the replies back from the shared reply port
    assert client.recv() == ("/done", ["/notify"])
    done(client, "/model/load", "tiny")
    assert status(client)["audio"] != "none", serve.banner
    done(client, "/generate", 2.0, 1)
    assert client.answer("/play") == ("/done", ["/play"])
    time.sleep(0.5)
    s = status(client)
    assert s["transport"] == "playing" and s["position_s"] > 0
    done(client, "/edit/set", 0, 4, 3)
    done(client, "/gain", -6)
    done(client, "/fx/add", "Gain")
    done(client, "/fx/param", 0, "gain_db", -3.0)
    assert client.call("/fx/list", skip=())[-1] == ("/done", ["/fx/list", 1])
    done(client, "/undo")  # undoes the parameter change
    done(client, "/audition/code", 1, 2, 16)
    assert client.answer("/stop") == ("/done", ["/stop"])
    rendered = client.answer("/render", "through-bridge")
    assert rendered[0] == "/done" and Path(rendered[1][1]).stat().st_size > 1000
    done(client, "/tempo", 120)
    done(client, "/render/length", 0, 1)  # one bar at 120 bpm: 2 s
    from pedalboard.io import AudioFile
    with AudioFile(client.answer("/render", "one-bar")[1][1]) as f:
        assert abs(f.frames / f.samplerate - 2.0) < 0.01
    done(client, "/render/length", 0, 0)
    assert "LiveDecoder" not in serve.stderr_text() and "decode failed" not in serve.stderr_text()
    client.close()
