"""Time-tagged OSC bundles on a real `distill serve --device` process playing into a JACK (dummy)
server of its own: bundles stamped ahead start the transport on their time in the recording (on
JACK's frame clock); a bundle stamped in the past is applied at once and counted in
/status late_bundles; plain messages are untouched. (The figure: tools/bench timetag_jitter_ms.)"""
from __future__ import annotations

import os
import shutil
import socket
import time

import numpy as np
import pytest

from osc_client import OscClient, wait_for
from serve_process import ServeProcess

pytestmark = pytest.mark.skipif(not shutil.which("jackd"), reason="needs Debian jackd2 (.ci/run installs it)")


def bundle(timetag_s: float, *addresses: str) -> bytes:
    from pythonosc.osc_bundle_builder import OscBundleBuilder
    from pythonosc.osc_message_builder import OscMessageBuilder
    b = OscBundleBuilder(timetag_s)
    for address in addresses:
        b.add_content(OscMessageBuilder(address).build())
    return b.build().dgram


def test_bundles_start_and_stop_on_their_time_and_late_ones_are_counted(tiny_library):
    from bridge.jack_tools import JackServer, Recorder
    from bridge.schedule import onsets, recorded_unix_s
    for f in (tiny_library / "models").glob("*.session.json"):
        f.unlink()
    name = f"distill-timetags-{os.getpid()}"
    saved = {k: os.environ.get(k) for k in ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER")}
    jack = JackServer.ensure(name, 48000, 256)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        with ServeProcess("--models-dir", str(tiny_library / "models"), "--clips-dir", str(tiny_library / "clips"),
                          "--input-dir", str(tiny_library / "inputs"), "--web-port", "-1", "--model", "tiny",
                          "--device", "system",
                          env={"JACK_DEFAULT_SERVER": name, "JACK_NO_START_SERVER": "1"}) as proc:
            client = OscClient(proc.osc_port)
            status = lambda: dict(zip(*[iter(client.answer("/status")[1])] * 2))  # noqa: E731
            wait_for(lambda: status()["model"] == "tiny", timeout_s=60)
            assert client.answer("/generate", 2.0, 3)[0] == "/done"
            time.sleep(0.5)  # decoded, and the stream's clock has its callbacks
            late = status()["late_bundles"]
            stamps = []
            with Recorder(["PortAudio:out_0"], seconds=1.6) as rec:
                start = time.time() + 0.2
                for k in range(5):
                    stamps.append(start + 0.25 * k)
                    sock.sendto(bundle(stamps[-1], "/play"), ("127.0.0.1", proc.osc_port))
                    sock.sendto(bundle(stamps[-1] + 0.1, "/stop"), ("127.0.0.1", proc.osc_port))
            recording = rec.result()
            landed = [recorded_unix_s(recording, f) for f in onsets(recording.audio[:, 0], heard=recording.heard())]
            assert len(landed) == len(stamps), f"{len(landed)} starts heard for {len(stamps)} bundles"
            errors_ms = 1000 * (np.array(landed) - np.array(stamps))
            assert np.abs(errors_ms).max() < 2.0, np.round(errors_ms, 2)  # a block is 5.3 ms
            assert status()["late_bundles"] == late
            sock.sendto(bundle(time.time() - 1.0, "/play", "/stop"), ("127.0.0.1", proc.osc_port))
            wait_for(lambda: status()["late_bundles"] == late + 1)  # two messages, one late bundle
            client.close()
    finally:
        sock.close()
        jack.stop()
        for f in (tiny_library / "models").glob("*.session.json"):
            f.unlink()
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
