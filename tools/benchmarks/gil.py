"""gil_callback_delay_ms: does the GIL delay the audio callback or the producer when other Python
threads of the same process are busy (training, label measurement and the web server at once)?

A Bridge plays a 2 s loop on the JACK dummy server (48 kHz, 256 frames) with 50 edits/s, four
times for `DISTILL_GIL_S` seconds (default 20): alone; with three CPU-bound threads in the same process
(two pure-Python loops, as label measurement and the web server's JSON handling run, and one loop
of small torch matmuls with one thread, as training steps run; all need the GIL between their
operations); with the same three loops in other processes (the same CPU load, no shared GIL: what
moving the device side to its own process would buy); and with the threads again but
`sys.setswitchinterval(0.0005)` (the GIL handed over every 0.5 ms instead of Python's 5, what
an open Bridge stream now sets; the other runs use 5 ms); and with the threads in the engine's
process but the device side in a process of its own (`Bridge(device_process=True)`, what `distill
serve` runs: underruns and host underflows only, the callback cannot be stamped from here). Per callback the bench stamps when Python code started and where the ring was; the
callback's start delay is `started - frame / rate` minus the smallest such offset over the 64
callbacks around it (the device's own frame clock, as bridge/schedule.py reads it), so it is the
wait for the GIL plus the OS's wake-up. The producer's slack is the ring's fill when a callback
starts (blocks ready): a producer held up by the GIL shows as a low fill, an empty one as an underrun.
"""
from __future__ import annotations

import os
import threading
import time

import numpy as np

SERVER = os.environ.get("DISTILL_JACK_SERVER", "distill-test")
SECONDS = float(os.environ.get("DISTILL_GIL_S", "20"))
RATE, BLOCK = 48000, 256


def _busy_python(stop: threading.Event) -> None:
    while not stop.is_set():
        sum(i * i for i in range(2000))  # bytecode only: holds the GIL until the switch interval


def _busy_torch(stop: threading.Event) -> None:
    import torch
    torch.set_num_threads(1)
    a = torch.randn(64, 64)
    while not stop.is_set():
        for _ in range(50):
            a = torch.tanh(a @ a * 0.01)


def _busy_process(kind: str) -> None:
    stop = threading.Event()
    (_busy_torch if kind == "torch" else _busy_python)(stop)


def _run(busy: bool, processes: bool = False, switch_s: float = 0.005) -> dict:
    from bridge import devices
    from bridge.bridge import Bridge
    from bridge.jack_tools import JackServer, edit_storm
    server = JackServer.ensure(SERVER, RATE, BLOCK)
    devices.refresh(f"distill-gil-{os.getpid()}")
    n = int(SECONDS * RATE / BLOCK) + 4096
    started, frame, fill = np.zeros(n), np.zeros(n, np.int64), np.zeros(n, np.int64)
    count = [0]
    b = Bridge(None, RATE, BLOCK, strict_device=True, defer_stream=True)
    original = b.player.callback

    def stamped(outdata, frames, time_info, status):
        k = count[0]
        if k < n:
            started[k], frame[k], fill[k] = time.perf_counter(), b.player.ring.read, b.player.ring.available()
            count[0] = k + 1
        original(outdata, frames, time_info, status)

    b.player.callback = stamped
    stop = threading.Event()
    threads = [threading.Thread(target=f, args=(stop,), daemon=True)
               for f in ((_busy_python, _busy_python, _busy_torch) if busy and not processes else ())]
    import multiprocessing
    spawn = multiprocessing.get_context("spawn")
    procs = [spawn.Process(target=_busy_process, args=(k,), daemon=True)
             for k in (("python", "python", "torch") if processes else ())]
    old_switch = __import__("sys").getswitchinterval()
    t = np.linspace(0, 2, 2 * RATE, endpoint=False)
    audio = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    try:
        b.set_audio(audio, RATE)
        b.play()  # opens the stream, which shortens the switch interval (bridge.py): set it after
        __import__("sys").setswitchinterval(switch_s)
        time.sleep(0.5)
        for th in threads:
            th.start()
        for pr in procs:
            pr.start()
        time.sleep(1.0 if procs else 0.0)  # the processes import torch first
        before = b.status()
        k0 = count[0]
        edit_storm(b, audio, RATE, SECONDS, 50.0)
        status = b.status()
        k1 = count[0]
    finally:
        stop.set()
        __import__("sys").setswitchinterval(old_switch)
        for pr in procs:
            pr.terminate()
            pr.join(timeout=2)
        for th in threads:
            th.join(timeout=2)
        b.close()
        devices.terminate()
        server.stop()
    offset = started[k0:k1] - frame[k0:k1] / RATE
    floor = np.array([offset[max(0, i - 32):i + 32].min() for i in range(len(offset))])
    delay_ms = (offset - floor) * 1000
    return {"callback_delay_p50_ms": round(float(np.percentile(delay_ms, 50)), 3),
            "callback_delay_p99_ms": round(float(np.percentile(delay_ms, 99)), 3),
            "callback_delay_max_ms": round(float(delay_ms.max()), 3),
            "ring_fill_min_blocks": round(float(fill[k0:k1].min()) / BLOCK, 2),
            "ring_fill_p1_blocks": round(float(np.percentile(fill[k0:k1], 1)) / BLOCK, 2),
            "underruns": status["underruns"] - before["underruns"],
            "host_underflows": status["host_underflows"] - before["host_underflows"],
            "callbacks": int(k1 - k0), "load_1min": os.getloadavg()[0]}


def _run_device_process() -> dict:
    """The three busy threads in this process, the device side in its own (bridge/device_process.py)."""
    from bridge.bridge import Bridge
    from bridge.jack_tools import JackServer, edit_storm
    server = JackServer.ensure(SERVER, RATE, BLOCK)
    b = Bridge(None, RATE, BLOCK, strict_device=True, defer_stream=True, device_process=True)
    stop = threading.Event()
    threads = [threading.Thread(target=f, args=(stop,), daemon=True) for f in (_busy_python, _busy_python, _busy_torch)]
    t = np.linspace(0, 2, 2 * RATE, endpoint=False)
    audio = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    old_switch = __import__("sys").getswitchinterval()
    try:
        b.set_audio(audio, RATE)
        b.play()
        __import__("sys").setswitchinterval(0.005)  # this process keeps Python's default
        time.sleep(0.5)
        for th in threads:
            th.start()
        before = b.status()
        b.host.reset_callback_timer()
        edit_storm(b, audio, RATE, SECONDS, 50.0)
        status = b.status()
    finally:
        stop.set()
        __import__("sys").setswitchinterval(old_switch)
        for th in threads:
            th.join(timeout=2)
        b.close()
        server.stop()
    return {"underruns": status["underruns"] - before["underruns"],
            "host_underflows": status["host_underflows"] - before["host_underflows"],
            "callback_p99_share": round(status["callback_p99_share"], 4), "load_1min": os.getloadavg()[0]}


def gil_callback_delay_ms() -> dict:
    alone = _run(busy=False)
    busy = _run(busy=True)
    elsewhere = _run(busy=True, processes=True)  # the same load without the GIL: other processes
    short_switch = _run(busy=True, switch_s=0.0005)  # the same threads, GIL handed over every 0.5 ms
    device_process = _run_device_process()  # the same threads; the callback and producer elsewhere
    return {"value": busy["callback_delay_p99_ms"], "unit": "ms (p99, 3 busy Python threads)",
            "baseline": alone["callback_delay_p99_ms"],
            "ratio": round(busy["callback_delay_p99_ms"] / max(alone["callback_delay_p99_ms"], 1e-6), 2),
            "alone": alone, "busy": busy, "busy_in_other_processes": elsewhere,
            "busy_switch_interval_0_5ms": short_switch, "busy_device_process": device_process, "seconds": SECONDS, "block_size": BLOCK,
            "switch_interval_ms": 1000 * __import__("sys").getswitchinterval()}


FIGURES = {"gil_callback_delay_ms": gil_callback_delay_ms}
