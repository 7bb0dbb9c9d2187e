"""edit_to_ear_ms: an OSC edit datagram into a real `distill serve` -> the first changed sample in a
JACK recording of its output.

The method: `distill serve --model demo --device system` plays a 1 s generated grid in a loop on
the JACK dummy server (48 kHz, 256-frame periods); a recorder in another process records its port.
Each trial reads the playhead from `/status`, sends `/edit/fill` of all levels over two code frames
just ahead of it (their decoded audio spreads back over the playhead through the decoder's
receptive field, so the change is due at once) and stamps the moment of `sendto`: on loopback the
kernel queues the datagram in the server's socket inside `sendto`, so this is the datagram's
arrival at the socket, and the figure includes the dispatcher's wake-up and read, the editor, the
decode thread's re-decode, the bridge's resample and ring lead, and JACK. The first changed sample
is the first recorded sample after the send that differs from the one a loop period earlier (the
loop plays bit-identical audio each period; trials are more than two periods apart). Its time is
read on JACK's frame clock as the recorder saw it (`bridge.schedule.recorded_unix_s`).
Until this round the figure was measured in-process from `Bridge.set_audio` (now
`edit_to_ear_bridge_ms`), which left out the OSC read, the editor and the decode.
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from tools.benchmarks.machine import CpuSteal

ROOT = Path(__file__).resolve().parents[2]
SERVER = os.environ.get("DISTILL_JACK_SERVER", "distill-test")
RATE = 48000


def _status(client) -> dict:
    pairs = client.answer("/status")[1]
    return dict(zip(pairs[::2], pairs[1::2]))


def _ports() -> set[str]:
    from bridge.jack_tools import _env
    return set(subprocess.run(["jack_lsp"], env=_env(SERVER), capture_output=True, text=True,
                              timeout=10).stdout.split())


def _period(x: np.ndarray, guess: int, at: int, heard: np.ndarray | None = None, window: int = 9600) -> int:
    """The loop period in frames near `guess`: where x repeats itself exactly before `at`, on the
    frames the recorder heard (`heard` [T], Recording.heard(): a cycle it missed is silence in the
    recording, which made a loaded run fail here once)."""
    heard = np.ones(len(x), bool) if heard is None else heard
    seg, seg_heard = x[at - window:at], heard[at - window:at]
    for delta in sorted(range(-4800, 4801), key=abs):
        p = guess + delta
        if at - window - p < 0:
            continue
        both = seg_heard & heard[at - window - p:at - p]
        if both.sum() >= window // 2 and np.any(seg[both]) and np.array_equal(seg[both], x[at - window - p:at - p][both]):
            return p
    raise RuntimeError("the recorded loop does not repeat: cannot find changed samples")


@contextlib.contextmanager
def _playing_serve(extra_env: dict | None = None):
    """`distill serve --model demo --device system` on the JACK dummy server, playing a generated
    1 s grid in a loop; yields (process, client, status, ports it opened)."""
    sys.path.insert(0, str(ROOT / "tests" / "server"))
    from osc_client import OscClient, wait_for

    from bridge.jack_tools import JackServer
    from serve_process import ServeProcess
    server = JackServer.ensure(SERVER, RATE, 256)
    before = _ports()
    env = {"JACK_DEFAULT_SERVER": SERVER, "JACK_NO_START_SERVER": "1", **(extra_env or {})}
    try:
        with ServeProcess("--models-dir", str(ROOT / "models"), "--model", "demo", "--device", "system",
                          "--web-port", "-1", env=env) as proc:
            client = OscClient(proc.osc_port)
            try:
                wait_for(lambda: _status(client)["model"] == "demo", timeout_s=120, step_s=0.05)
                if client.answer("/generate", 1.0, 3)[0] != "/done":
                    raise RuntimeError("/generate failed")
                client.answer("/play")
                time.sleep(1.5)
                new = sorted(p for p in _ports() - before if p.split(":")[-1].startswith("out_"))
                yield proc, client, _status(client), new
            finally:
                client.close()
    finally:
        server.stop()


def edit_to_ear_ms(trials: int = 30) -> dict:
    from bridge.jack_tools import Recorder
    from bridge.schedule import recorded_unix_s
    from engine import trace
    with _playing_serve({trace.ENV: "1"}) as (proc, client, st, new):
        levels, frames = int(st["levels"]), int(st["frames"])
        frame_rate = frames / 1.0
        rng = np.random.default_rng(5)
        sent, sent_perf, rewound, latency_ms = [], [], [], float(st["latency_ms"])
        with CpuSteal() as steal, Recorder(new[:1], trials * 2.6 + 1.5) as rec:  # 2.4 s a trial plus waits for the playhead
            time.sleep(1.2)
            for _ in range(trials):
                p = int(_status(client)["position_s"] * frame_rate)
                while p + 4 >= frames:  # an edit at the loop's end would be heard a loop later: after the wrap
                    time.sleep(0.02)
                    p = int(_status(client)["position_s"] * frame_rate)
                a = p + 2
                code = int(rng.integers(0, int(st["codebook_size"])))
                rewinds = int(_status(client)["edit_rewinds"])
                stamp, stamp_perf = time.time(), time.perf_counter()
                client.send("/edit/fill", 0, levels, a, a + 2, code)
                sent.append(stamp)
                sent_perf.append(stamp_perf)
                time.sleep(2.4)
                rewound.append(int(_status(client)["edit_rewinds"]) > rewinds)
            load = os.getloadavg()[0]
        recording = rec.result()
        status = _status(client)
        lines = trace.parse(proc.stderr_text())
    # per trial, the server's own stamps of its edit (DISTILL_TRACE_EDITS): the rest is the ring and JACK
    traced = [next((line for line in lines if s <= line["received"] < s + 2.0), None) for s in sent_perf]
    x = recording.audio[:, 0]
    unix = np.array([recorded_unix_s(recording, f) for f in range(0, len(x), 256)])
    frame_of = lambda t: int(np.searchsorted(unix, t)) * 256  # noqa: E731  (block before t)
    period = _period(x, round(RATE * 1.0), frame_of(sent[0]) - 256, recording.heard())
    delays, stages, rewound_heard = [], [], []
    for t, t_perf, line, rew in zip(sent, sent_perf, traced, rewound):
        first = max(frame_of(t) - 256, period)
        diff = np.flatnonzero(x[first:first + RATE] != x[first - period:first + RATE - period])
        hit = [first + int(k) for k in diff if recorded_unix_s(recording, first + int(k)) >= t
               and not recording.in_gap(first + int(k)) and not recording.in_gap(first + int(k) - period)]
        if hit:
            delays.append((recorded_unix_s(recording, hit[0]) - t) * 1000)
            stages.append(None if line is None else
                          {k: round((line[k] - t_perf) * 1000, 2) for k in (*trace.STAGES, "device_started", "device_posted")
                           if k in line})
            rewound_heard.append(rew)
    if not delays:
        raise RuntimeError("no edit was heard in the recording")
    d = np.array(delays)
    host_ms = 256 / RATE * 1000
    return {"value": round(float(np.median(d)), 3), "unit": "ms", "p95": round(float(np.percentile(d, 95)), 3),
            "max": round(float(d.max()), 3), "trials": len(d), "target_p95_ms": round(10 + host_ms, 2),
            "delays_ms": [round(float(v), 2) for v in d],
            "rewound": sum(rewound_heard),  # trials whose edit rewrote the queued blocks (else it waited the lead)
            "stages_ms": stages,  # per trial: each server stamp (engine/trace.py STAGES, the device side's) after the sendto
            "measured_from": "OSC /edit/fill datagram arriving at distill serve's socket (the sendto on loopback)",
            "to": "first changed sample in a JACK recording", "host_buffer_ms": host_ms,
            "recorder_gaps": len(recording.gaps),  # cycles the recorder missed: silence there, not counted as changes
            "serve_latency_ms": latency_ms, "underruns": status["underruns"],
            "host_underflows": status["host_underflows"], "load_1min": load,
            "steal_share": steal.share}  # CPU time the hypervisor gave to others meanwhile


def edit_to_splice_ms(edits: int = 150, gap_s: float = 0.06) -> dict:
    """The part of edit_to_ear_ms in front of the bridge, stage by stage, from the server's own
    stamps (DISTILL_TRACE_EDITS=1, engine/trace.py): an `/edit/fill` of all levels over 2 code
    frames at a random place every `gap_s` (jittered) while the grid plays; each stage's median and p95."""
    from engine import trace
    from engine.server.osc import build_message
    with _playing_serve({trace.ENV: "1"}) as (proc, client, st, _):
        levels, frames, k = int(st["levels"]), int(st["frames"]), int(st["codebook_size"])
        rng = np.random.default_rng(7)
        sent = []
        for i in range(edits):
            a = int(rng.integers(0, frames - 2))
            datagram = build_message("/edit/fill", [0, levels, a, a + 2, (i * 7 + 1) % k])
            sent.append(time.perf_counter())  # the sendto queues it in the server's socket before it returns
            client.send_raw(datagram)
            time.sleep(gap_s * float(rng.uniform(0.5, 1.5)))
        time.sleep(0.5)
        load = os.getloadavg()[0]
        lines = trace.parse(proc.stderr_text())
    sent = np.array(sent)
    rows = []
    for line in lines:  # each line belongs to the last edit sent before its datagram was read
        i = int(np.searchsorted(sent, line["received"], side="right")) - 1
        if i >= 0 and all(s in line for s in trace.STAGES):
            rows.append([sent[i], *(line[s] for s in trace.STAGES)])
    if len(rows) < edits // 2:
        raise RuntimeError(f"only {len(rows)} of {edits} edits were traced")
    t = np.array(rows) * 1000  # [N, 1 + stages] ms
    names = ("socket_to_read", "read_to_handler", "handler_to_queued", "queued_to_decode_thread",
             "decode", "splice_call")
    stat = lambda d: {"median": round(float(np.median(d)), 3), "p95": round(float(np.percentile(d, 95)), 3)}  # noqa: E731
    total = t[:, -1] - t[:, 0]
    cpu = np.array([line["decoded_cpu"] - line["picked_cpu"] for line in lines if "decoded_cpu" in line]) * 1000
    return {"value": stat(total)["median"], "unit": "ms", "p95": stat(total)["p95"], "max": round(float(total.max()), 3),
            "to_call": stat(t[:, -2] - t[:, 0]), "edits": len(rows), "of": edits,
            "stages": {n: stat(t[:, j + 1] - t[:, j]) for j, n in enumerate(names)},
            "decode_thread_cpu": stat(cpu) if len(cpu) else None,  # the decode's own CPU time: the rest of "decode" is waiting
            "measured_from": "OSC /edit/fill datagram queued in distill serve's socket (the sendto on loopback)",
            "to": "Bridge.apply_splice with the new samples returned (to_call: called), in-process perf_counter stamps",
            "load_1min": load}


FIGURES = {"edit_to_ear_ms": edit_to_ear_ms, "edit_to_splice_ms": edit_to_splice_ms}
