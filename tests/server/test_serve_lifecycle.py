"""`distill serve --device` from start-up to shutdown on a private JACK (dummy) server: the device
stream opens only once the model is loaded (no ports before), first sound comes without an
underrun, and a JACK server killed under a playing engine leaves nothing hanging: SIGTERM and
Ctrl-C still end the process within a bound.

The private servers have fixed names: JACK keeps a registry of at most 8 servers and reclaims the
entry of a killed one only when a server of the same name starts again."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

import pytest

from osc_client import OscClient, wait_for

pytestmark = pytest.mark.skipif(not shutil.which("jackd"), reason="needs Debian jackd2 (.ci/run installs it)")
EXIT_BOUND_S = 10.0  # close waits at most 2 s per part (bridge/bridge.py CLOSE_TIMEOUT_S)


@pytest.fixture
def private_jack():
    from bridge.jack_tools import JackServer
    saved = {k: os.environ.get(k) for k in ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER")}
    servers = []

    def start(name: str):
        servers.append(JackServer.ensure(name, 48000, 256))
        return servers[-1]
    yield start
    for server in servers:
        killed = server.process is not None and server.process.poll() == -signal.SIGKILL
        server.stop()
        if killed:  # its registry entry stays taken until a server of that name starts and stops
            JackServer.ensure(server.name, 48000, 256).stop()
    for k, v in saved.items():
        os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def _serve(tiny_library, server: str, *extra: str):
    from serve_process import ServeProcess
    for f in (tiny_library / "models").glob("*.session.json"):
        f.unlink()
    return ServeProcess("--models-dir", str(tiny_library / "models"), "--clips-dir", str(tiny_library / "clips"),
                        "--input-dir", str(tiny_library / "inputs"), "--web-port", "-1", "--device", "system",
                        *extra, env={"JACK_DEFAULT_SERVER": server, "JACK_NO_START_SERVER": "1"})


def _status(client) -> dict:
    pairs = client.answer("/status")[1]
    return dict(zip(pairs[::2], pairs[1::2]))


def _ports(server: str) -> set[str]:
    done = subprocess.run(["jack_lsp"], env={**os.environ, "JACK_DEFAULT_SERVER": server}, capture_output=True,
                          text=True, timeout=10)
    return {line.strip() for line in done.stdout.splitlines() if line.strip()}


def test_the_stream_opens_after_the_model_and_first_sound_has_no_underrun(tiny_library, private_jack):
    name = "distill-live-start"
    private_jack(name)
    system_ports = _ports(name)
    for attempt in range(2):  # a loaded shared machine can starve a block; the stream rule cannot flake
        proc = _serve(tiny_library, name)
        try:
            client = OscClient(proc.osc_port)
            assert _status(client)["audio"] != "none", proc.stderr_text()
            time.sleep(0.5)
            assert _ports(name) == system_ports, "the stream opened before there was anything to play"
            assert client.answer("/model/load", "tiny")[0] == "/done"
            wait_for(lambda: len(_ports(name)) > len(system_ports), timeout_s=20)  # the first grid opened it
            assert client.answer("/generate", 2.0, 1)[0] == "/done"
            assert client.answer("/play")[0] == "/done"
            time.sleep(1.0)
            status = _status(client)
            client.close()
        finally:
            proc.stop()
        assert status["transport"] == "playing" and {"host_underflows", "idle_underruns"} <= set(status)
        if status["underruns"] == 0:
            return
    pytest.fail(f"underruns from start-up to first sound in both attempts: {status['underruns']}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_a_jack_server_killed_under_a_playing_engine_leaves_nothing_hanging(tiny_library, private_jack, sig):
    name = "distill-live-kill"
    jack = private_jack(name)
    assert jack.process is not None, "the private server must be ours to kill"
    proc = _serve(tiny_library, name, "--model", "tiny")
    try:
        client = OscClient(proc.osc_port)
        wait_for(lambda: _status(client)["model"] == "tiny", timeout_s=60)
        assert client.answer("/generate", 3.0, 1)[0] == "/done"
        assert client.answer("/play")[0] == "/done"
        time.sleep(0.5)
        jack.process.kill()  # jackd disappears without a word to its clients
        jack.process.wait()
        time.sleep(0.5)
        assert proc.alive(), "the engine died with its JACK server"
        assert client.answer("/ping", "still")[0] == "/pong"  # and still answers
        started = time.monotonic()
        proc.proc.send_signal(sig)
        try:
            returncode = proc.proc.wait(EXIT_BOUND_S + 20)
        except subprocess.TimeoutExpired:
            returncode = None
        took_s = time.monotonic() - started
        stderr = proc.stop()
        client.close()
    finally:
        proc.stop()
    assert returncode == 0, f"exit {returncode} after {took_s:.1f} s: {stderr[-2000:]}"
    assert took_s <= EXIT_BOUND_S, f"took {took_s:.1f} s to exit"
    assert "Traceback" not in stderr and "terminate called" not in stderr, stderr[-2000:]
