"""Bridge figures, measured on a real JACK server (dummy driver, 48 kHz, 256-frame periods).

- soak_underruns: ring underruns while playing a loop through a VST3 (ZamCompX2) with 50 edits
  per second; 30 s by default, `DISTILL_SOAK_S=600` for the issue's full 10 minutes.
  A JACK recording client connects to the ports, records 1 s and leaves every 20 s (`port_connections`).
  `DISTILL_SOAK_TRAIN=1` runs `distill train` on dev-small-30 in another process all along (a new
  run starts when one ends; `training_alongside: true` in the figure, with the runs' count);
  `DISTILL_SOAK_BLOCK=128` soaks at 128-frame blocks (the JACK server's period must match: the
  bench starts one at that period under its own name when it has to).
- callback_p99_share: p99 of the callback's duration over that soak, as a share of the block period.
  Both carry `steal_share`: the CPU time the hypervisor gave to others meanwhile (`machine.CpuSteal`);
  the soak also `cpu_stalls`, what a SCHED_FIFO probe on each CPU could not run through
  (`machine.CpuStalls`), and each logged underrun the stall each CPU was in at that moment.
- edit_to_ear_bridge_ms: from the `set_audio` call (in-process) to the JACK cycle that carries
  the first changed sample, read from a second JACK client's recording; median, with p95 and max.
  (`edit_to_ear_ms`, from the OSC datagram into a real `distill serve`, is in ear.py.)
- stop_to_ear_ms: from the `stop()` call to the JACK cycle carrying the first sample of its ramp,
  with an empty chain (the stop rewrites the queued ring) and `with_effect_ms` with a 0 dB Gain in
  it (waits the lead), side by side in one session; medians with p95.
- render_rt_factor: seconds of clip rendered per second of work (Bridge.render of a 10 s clip,
  48 -> 44.1 kHz, ZamCompX2 + Reverb, -14 LUFS, 24-bit wav; the render copy of the chain is loaded
  by a first, short render, as it is once per chain change in a session).
"""
from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from tools.benchmarks.machine import CpuStalls, CpuSteal

SOAK_S = float(os.environ.get("DISTILL_SOAK_S", "30"))
SOAK_TRAIN = os.environ.get("DISTILL_SOAK_TRAIN", "") not in ("", "0")
SOAK_BLOCK = int(os.environ.get("DISTILL_SOAK_BLOCK", "256"))
# the device side in a process of its own, as `distill serve` runs it; DISTILL_SOAK_DEVICE=thread: in-process
SOAK_PROCESS = os.environ.get("DISTILL_SOAK_DEVICE", "process") != "thread"
SOAK_LEAD = int(os.environ.get("DISTILL_SOAK_LEAD", "0"))  # blocks ready ahead; 0: the Bridge's default
SERVER = os.environ.get("DISTILL_JACK_SERVER", "distill-test")
VST3 = "/usr/lib/vst3/ZamCompX2.vst3"
RATE = 48000
ROOT = Path(__file__).resolve().parents[2]


def _test_audio(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    env = np.exp(-6.0 * (t % 0.25))  # a hit every quarter second
    return (0.4 * env * np.sin(2 * np.pi * 180 * t) + 0.03 * rng.standard_normal(len(t))).astype(np.float32)


class _Session:
    """A JACK server (reused if running), PortAudio pointed at it, and a Bridge playing into it."""

    def __init__(self, block: int = 256, device_process: bool = False, lead_blocks: int = 0) -> None:
        self.block, self.device_process, self.lead_blocks = block, device_process, lead_blocks

    def __enter__(self):
        from bridge import devices
        from bridge.jack_tools import JackServer
        name = SERVER if self.block == 256 else f"{SERVER}-{self.block}"  # the shared one runs 256
        self.server = JackServer.ensure(name, RATE, self.block)
        os.environ["JACK_DEFAULT_SERVER"] = name
        self.client = f"distill-bench-{os.getpid()}"
        devices.refresh(self.client)
        from bridge.bridge import Bridge
        lead = {"lead_blocks": self.lead_blocks} if self.lead_blocks else {}
        self.bridge = Bridge(None, RATE, self.block, strict_device=True, device_process=self.device_process,
                             jack_client_name=self.client if self.device_process else None, **lead)
        return self

    def __exit__(self, *exc):
        from bridge import devices
        self.bridge.close()
        devices.terminate()  # before the server stops, or Python aborts on exit
        self.server.stop()


class _Training:
    """`distill train` on dev-small-30 in another process, started again whenever a run ends."""

    def __enter__(self):
        self.runs, self.dir = 0, tempfile.mkdtemp(prefix="distill-soak-train-")
        self._stop = threading.Event()
        self._proc = None
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        sets = Path(os.environ.get("DISTILL_DEV_SETS", "/tmp/dev-sets"))
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        while not self._stop.is_set():
            self.runs += 1
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "engine.cli", "train", str(sets / "dev-small-30"), "--out",
                 str(Path(self.dir) / f"m{self.runs}.distill"), "--no-export", "--no-plots", "--max-minutes", "5"],
                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            while self._proc.poll() is None and not self._stop.wait(0.5):
                pass

    def __exit__(self, *exc):
        self._stop.set()
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(timeout=30)
        self._thread.join(timeout=5)
        shutil.rmtree(self.dir, ignore_errors=True)


class _Recorders:
    """A JACK recording client connecting to `ports`, recording 1 s and leaving, every 20 s."""

    def __init__(self, ports: list[str], every_s: float = 20.0) -> None:
        self.ports, self.every_s, self.count, self.peak = ports, every_s, 0, 0.0
        self.started_unix_s: list[float] = []  # when each recorder began connecting
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def _loop(self) -> None:
        from bridge.jack_tools import Recorder
        while not self._stop.wait(self.every_s):
            self.started_unix_s.append(time.time())
            with Recorder(self.ports, 1.0) as rec:
                pass
            self.count += 1
            self.peak = max(self.peak, float(np.abs(rec.result().audio).max()))

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=30)


@functools.lru_cache(maxsize=1)
def _soak() -> dict:
    from bridge.jack_tools import edit_storm
    audio = _test_audio(2.0)
    training = _Training() if SOAK_TRAIN else contextlib.nullcontext()
    with training, _Session(SOAK_BLOCK, SOAK_PROCESS, SOAK_LEAD) as s:
        if SOAK_TRAIN:
            time.sleep(20.0)  # the training has imported torch and is in its steps
        b = s.bridge
        b.add_effect(VST3, {"threshold_db": -20.0, "ratio": 4.0})
        b.set_audio(audio, RATE)
        b.play()
        time.sleep(0.5)
        before = b.status()
        b.host.reset_callback_timer()
        # a recording client connects and leaves every 20 s
        with CpuSteal() as steal, CpuStalls() as stalls, _Recorders(b.jack_ports[:2]) as recorders:
            edits, _ = edit_storm(b, audio, RATE, SOAK_S, 50.0)
        status, state = b.status(), b.host.state()
    # each underrun next to the recorder connection nearest before it (s after it started)
    underrun_log = [{"unix_s": row[0], "since_producer_block_ms": row[1], "since_last_callback_ms": row[2],
                     "host_underflows_by_then": int(row[3]),
                     "after_recorder_s": min((row[0] - t for t in recorders.started_unix_s if t <= row[0]), default=None),
                     "cpu_stall_ms": stalls.spanning(row[0])}  # what each CPU's real-time probe was stuck in then
                    for row in state["underrun_log"]]
    return {  # start-up included (the figure): the stream opened with play()
        "soak_underruns": {"value": status["underruns"], "unit": "underruns", "seconds": SOAK_S, "edits": edits,
                           "after_startup": status["underruns"] - before["underruns"],
                           "host_underflows": status["host_underflows"] - before["host_underflows"],
                           "block_size": SOAK_BLOCK, "plugin": "ZamCompX2", "training_alongside": SOAK_TRAIN,
                           "training_runs": training.runs if SOAK_TRAIN else 0,
                           "port_connections": recorders.count, "recorded_peak": recorders.peak, "device_process": SOAK_PROCESS,
                           "lead_blocks": round(status["lead_s"] * RATE / SOAK_BLOCK),
                           "underrun_log": underrun_log, "producer_max_gap_ms": state["producer_max_gap_ms"],
                           # the device process's longest garbage collection (bridge/priority.py GcPauses)
                           "gc_max_ms": state.get("gc_max_ms"), "gc_collections": state.get("gc_collections"),
                           "producer_realtime": state["realtime"],
                           "load_1min": os.getloadavg()[0], "steal_share": steal.share,
                           "cpu_stalls": stalls.summary(status["lead_s"] * 1000)},
        "callback_p99_share": {"value": round(status["callback_p99_share"], 5), "unit": "share of block period",
                               "block_period_ms": SOAK_BLOCK / RATE * 1000, "training_alongside": SOAK_TRAIN,
                               "steal_share": steal.share},
    }


def soak_underruns() -> dict:
    return _soak()["soak_underruns"]


def callback_p99_share() -> dict:
    return _soak()["callback_p99_share"]


def _delays_ms(recording, calls: list[float], changed: np.ndarray) -> np.ndarray:
    """For each call's perf_counter time, ms to the JACK cycle carrying the first recorded frame
    from the call's cycle on where `changed` [T] holds; calls with none are left out."""
    delays = []
    for t0 in calls:
        k = int(np.searchsorted(recording.cycle_time_s, t0))  # first cycle after the call
        if k >= len(recording.cycle_frame):
            continue
        first = int(recording.cycle_frame[k])
        hits = np.flatnonzero(changed[first:])
        if len(hits):
            delays.append((recording.time_of(first + int(hits[0])) - t0) * 1000)
    return np.array(delays)


def edit_to_ear_ms(trials: int = 30) -> dict:
    from bridge.jack_tools import Recorder
    silence = np.zeros(RATE, np.float32)
    tone = np.full(RATE, 0.5, np.float32)  # DC: the crossfade's first sample is already visible
    rng = np.random.default_rng(2)
    with _Session(device_process=SOAK_PROCESS) as s:
        b = s.bridge
        b.set_audio(silence, RATE)
        b.play()
        time.sleep(0.3)
        calls = []
        seconds = trials * 0.12 + 0.5
        with Recorder(b.jack_ports[:1], seconds) as rec:
            time.sleep(0.1)
            for _ in range(trials):
                time.sleep(float(rng.uniform(0.0, 0.006)))  # land anywhere within a block period
                calls.append(time.perf_counter())
                b.set_audio(tone, RATE)
                time.sleep(0.05)
                b.set_audio(silence, RATE)
                time.sleep(0.06)
        recording = rec.result()
        status = b.status()
        lead_ms = status["lead_s"] * 1000
        latency_ms = status["output_latency_s"] * 1000
    d = _delays_ms(recording, calls, np.abs(recording.audio[:, 0]) > 1e-4)
    if not len(d):
        raise RuntimeError("no edit was found in the recording")
    return {"value": round(float(np.median(d)), 3), "unit": "ms", "p95": round(float(np.percentile(d, 95)), 3),
            "max": round(float(d.max()), 3), "trials": len(d), "measured_from": "set_audio call",
            "lead_ms": lead_ms, "host_buffer_ms": latency_ms, "device_process": SOAK_PROCESS,
            "edit_rewinds": status["edit_rewinds"], "load_1min": os.getloadavg()[0]}


def stop_to_ear_ms(trials: int = 20) -> dict:
    """`stop()` call -> the JACK cycle carrying the first sample of its 5 ms ramp, with an empty chain
    (the stop rewrites the queued ring, Player._rewind) and, side by side in the same session, with a
    0 dB Gain in the chain (blocks already through an effect cannot be rewritten: it waits the lead)."""
    from bridge.jack_tools import Recorder
    tone = np.full(10 * RATE, 0.5, np.float32)  # DC, longer than a case: no loop seam in it
    rng = np.random.default_rng(3)
    cases = {}
    with _Session(device_process=SOAK_PROCESS) as s:
        b = s.bridge
        b.set_audio(tone, RATE)
        for case in ("empty_chain", "with_effect"):
            if case == "with_effect":
                b.add_effect("Gain", {"gain_db": 0.0})
            before = b.status()["command_rewinds"]
            calls = []
            with Recorder(b.jack_ports[:1], trials * 0.2 + 0.5) as rec:
                time.sleep(0.1)
                for _ in range(trials):
                    b.seek(0.0)
                    b.play()
                    time.sleep(0.1 + float(rng.uniform(0.0, 0.006)))  # playing at full level by now
                    calls.append(time.perf_counter())
                    b.stop()
                    time.sleep(0.09)
            recording = rec.result()
            falling = (recording.audio[:, 0] < 0.5 - 1e-4) & recording.heard()
            status = b.status()
            cases[case] = (_delays_ms(recording, calls, falling), status["command_rewinds"] - before)
        lead_ms = status["lead_s"] * 1000
    (empty, rewinds), (effect, effect_rewinds) = cases["empty_chain"], cases["with_effect"]
    if not len(empty) or not len(effect):
        raise RuntimeError("no stop was found in the recording")
    return {"value": round(float(np.median(empty)), 3), "unit": "ms", "p95": round(float(np.percentile(empty, 95)), 3),
            "with_effect_ms": round(float(np.median(effect)), 3),
            "with_effect_p95": round(float(np.percentile(effect, 95)), 3), "trials": [len(empty), len(effect)],
            "command_rewinds": [int(rewinds), int(effect_rewinds)], "lead_ms": lead_ms,
            "measured_from": "Bridge.stop call", "device_process": SOAK_PROCESS, "load_1min": os.getloadavg()[0]}


def render_rt_factor() -> dict:
    from bridge.bridge import Bridge
    audio = _test_audio(10.0)
    with tempfile.TemporaryDirectory() as d, Bridge(play_audio=False, clips_dir=d) as b:
        b.add_effect(VST3, {"threshold_db": -20.0})
        b.add_effect("Reverb")
        render = dict(format="wav", bit_depth=24, out_sample_rate=44100, loudness_lufs=-14.0)
        b.render(audio[:RATE], RATE, **render)  # first render loads the render copy of the chain
        started = time.perf_counter()
        b.render(audio, RATE, **render)
        elapsed = time.perf_counter() - started
    return {"value": round(10.0 / elapsed, 2), "unit": "x real time", "clip_s": 10.0,
            "note": "Bridge.render: 48 -> 44.1 kHz, ZamCompX2 + Reverb, -14 LUFS, 24-bit wav; chain already loaded"}


FIGURES = {
    "soak_underruns": soak_underruns,
    "callback_p99_share": callback_p99_share,
    "edit_to_ear_bridge_ms": edit_to_ear_ms,
    "stop_to_ear_ms": stop_to_ear_ms,
    "render_rt_factor": render_rt_factor,
}
