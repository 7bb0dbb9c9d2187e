"""Timing a sequencer can rely on, measured on a real `distill serve --device` process playing into
a JACK server of its own (dummy driver, 48 kHz, 256-frame periods).

- timetag_jitter_ms: OSC bundles stamped 50 ms ahead, sent at 20 Hz, alternate /play and /stop;
  a second JACK client records the engine's output and each play's first sample after silence is
  read on JACK's frame clock (`bridge.schedule.recorded_unix_s`). The figure is the p99 of
  |landed - stamp| over the plays; median, max, the number of plays heard, the server's
  late_bundles and its ring underruns meanwhile (a starved block delays what follows it) come with it. 60 s by default; `DISTILL_TIMETAG_S=10` for a shorter run.
"""
from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SECONDS = float(os.environ.get("DISTILL_TIMETAG_S", "60"))
AHEAD_S, RATE_HZ = 0.05, 20.0


def _bundle(timetag_s: float, address: str) -> bytes:
    from pythonosc.osc_bundle_builder import OscBundleBuilder
    from pythonosc.osc_message_builder import OscMessageBuilder
    bundle = OscBundleBuilder(timetag_s)  # Unix seconds; python-osc writes the NTP time tag
    bundle.add_content(OscMessageBuilder(address).build())
    return bundle.build().dgram


def timetag_jitter_ms() -> dict:
    from bridge.jack_tools import JackServer, Recorder
    from bridge.schedule import onsets, recorded_unix_s
    from benchmarks.osc import _client
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "server"))  # the test helpers
    from serve_process import ServeProcess
    name = f"distill-timing-{os.getpid()}"
    jack = JackServer.ensure(name, 48000, 256)
    env = {"JACK_DEFAULT_SERVER": name, "JACK_NO_START_SERVER": "1"}
    try:
        with ServeProcess("--model", "demo", "--device", "system", "--web-port", "-1", env=env) as proc:
            client, call = _client(proc.osc_port)
            status = lambda: dict(zip(*[iter(call("/status")[-1][1])] * 2))  # noqa: E731
            deadline = time.monotonic() + 120
            while status()["model"] != "demo" and time.monotonic() < deadline:
                time.sleep(0.2)
            if call("/generate", 4.0, 1)[-1][0] != "/done":
                raise RuntimeError("the demo model did not generate a grid")
            before = status()
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            stamps = []
            with Recorder(["PortAudio:out_0"], seconds=SECONDS + 1.0) as rec:
                start = time.time() + 0.3
                for k in range(int(SECONDS * RATE_HZ)):
                    sent_at = start + k / RATE_HZ
                    time.sleep(max(0.0, sent_at - time.time()))
                    play = k % 2 == 0
                    stamp = time.time() + AHEAD_S  # 50 ms ahead of the actual send, as a sequencer stamps
                    sock.sendto(_bundle(stamp, "/play" if play else "/stop"), ("127.0.0.1", proc.osc_port))
                    if play:
                        stamps.append(stamp)
            recording = rec.result()
            after = status()
            late, underruns = after["late_bundles"] - before["late_bundles"], after["underruns"] - before["underruns"]
            client.close()
            sock.close()
    finally:
        jack.stop()
    landed = np.array([recorded_unix_s(recording, f) for f in onsets(recording.audio[:, 0], heard=recording.heard())])
    stamps = np.array(stamps)
    if not landed.size:
        raise RuntimeError("no play was heard in the recording")
    nearest = stamps[np.abs(landed[:, None] - stamps[None, :]).argmin(axis=1)]
    signed_ms = (landed - nearest) * 1000.0
    errors_ms = np.abs(signed_ms)
    return {"value": round(float(np.percentile(errors_ms, 99)), 3), "unit": "ms",
            "median_ms": round(float(np.median(errors_ms)), 3), "max_ms": round(float(errors_ms.max()), 3),
            "over_1ms": int((errors_ms > 1.0).sum()), "outliers_ms": [round(float(e), 2) for e in signed_ms[errors_ms > 1.0]][:20],
            "plays_heard": int(landed.size), "plays_sent": int(stamps.size), "late_bundles": int(late), "underruns": int(underruns),
            "seconds": SECONDS}


FIGURES = {"timetag_jitter_ms": timetag_jitter_ms}
