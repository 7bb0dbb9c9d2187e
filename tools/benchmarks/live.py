"""Live engine figures: a real `distill serve` process with the demo model.

- `serve_ready_s`: from starting the process to `/status` naming the model (`--model demo`): imports,
  OSC and web ports, the bundle, the ONNX decoder and prior sessions, the session grid. No device.
- `serve_rss_mb`: the process's resident memory (VmRSS) after that model loaded and `/generate 10`
  finished, no device; `with_device` repeats it playing on the JACK dummy server when one runs
  (`DISTILL_JACK_SERVER`, default distill-test), with `private_mb` (the process's own pages) and
  `jack_shared_mb` (the JACK server's shared memory every client maps, which VmRSS counts too).
  `torch_loaded` says whether the process imported torch (it must not: generation and decoding
  run in ONNX Runtime).
"""
from __future__ import annotations

import functools
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"
SERVER = os.environ.get("DISTILL_JACK_SERVER", "distill-test")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS in /proc status")


def _memory_mb(pid: int) -> dict:
    """Private memory (this process's own pages) and the shared segments JACK maps into every client
    (its server's shm, ~100 MB with the dummy driver here), which VmRSS counts too."""
    rollup = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, value = line.split(":", 1)
        rollup[key] = int(value.split()[0]) / 1024.0
    jack, current = 0.0, ""
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        fields = line.split()
        if fields and "-" in fields[0] and len(fields) >= 5 and not line.startswith(" "):
            current = fields[5] if len(fields) > 5 else ""
        elif line.startswith("Rss:") and "/dev/shm/jack" in current:
            jack += int(fields[1]) / 1024.0
    return {"private_mb": round(rollup.get("Private_Clean", 0) + rollup.get("Private_Dirty", 0), 1),
            "jack_shared_mb": round(jack, 1)}


def _cpu_s(pid: int) -> float:
    """CPU seconds the process used so far (user + system): what the load does not inflate."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _status(client) -> dict:
    pairs = client.answer("/status")[1]
    return dict(zip(pairs[::2], pairs[1::2]))


def _serve(device: bool) -> dict:
    sys.path.insert(0, str(ROOT / "tests" / "server"))
    from osc_client import OscClient, wait_for

    from serve_process import ServeProcess
    args = ["--models-dir", str(MODELS), "--model", "demo"] + (["--device", "system"] if device else [])
    env = {"JACK_DEFAULT_SERVER": SERVER, "JACK_NO_START_SERVER": "1"} if device else {}
    started = time.perf_counter()
    with ServeProcess(*args, env=env) as proc:
        client = OscClient(proc.osc_port)
        try:
            wait_for(lambda: _status(client)["model"] == "demo", timeout_s=120, step_s=0.02)
            ready_s = time.perf_counter() - started
            ready_cpu_s = _cpu_s(proc.proc.pid)
            t0 = time.perf_counter()
            reply = client.answer("/generate", 10.0, 1)
            generate_s = time.perf_counter() - t0
            if reply[0] != "/done":
                raise RuntimeError(f"/generate failed: {reply}")
            if device:
                client.answer("/play")
                time.sleep(2.0)
            status = _status(client)
            torch_loaded = "torch" in _modules(proc.proc.pid)
            child = _children(proc.proc.pid)  # the device process (bridge/device_process.py), if any
            device_side = {"rss_mb": round(_rss_mb(child[0]), 1), **_memory_mb(child[0])} if child else None
            return {"device_process": device_side, "ready_s": ready_s, "ready_cpu_s": ready_cpu_s, "rss_mb": _rss_mb(proc.proc.pid), "generate_10s_osc_s": generate_s,
                    **_memory_mb(proc.proc.pid),
                    "underruns": status["underruns"], "audio": status["audio"], "torch_loaded": torch_loaded}
        finally:
            client.close()


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _modules(pid: int) -> str:
    """Shared objects the process mapped: torch's libraries show there once it is imported."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return "torch" if "libtorch" in maps else ""


@functools.lru_cache(maxsize=1)
def _measured() -> dict:
    plain = _serve(device=False)
    with_device = None
    from bridge.jack_tools import server_running
    if server_running(SERVER):  # jack_wait -c exits 0 either way: its answer says
        with_device = _serve(device=True)
    return {"plain": plain, "device": with_device}


def serve_ready_s() -> dict:
    m = _measured()
    return {"value": round(m["plain"]["ready_s"], 3), "unit": "s", "target": 2.0, "model": "demo",
            "cpu_s": round(m["plain"]["ready_cpu_s"], 3),
            "torch_loaded": m["plain"]["torch_loaded"], "load_1min": os.getloadavg()[0],
            "with_device_s": round(m["device"]["ready_s"], 3) if m["device"] else None}


def serve_rss_mb() -> dict:
    m = _measured()
    device = m["device"]
    return {"value": round(m["plain"]["rss_mb"], 1), "unit": "MB", "target": 200, "model": "demo",
            "torch_loaded": m["plain"]["torch_loaded"],
            "generate_10s_osc_s": round(m["plain"]["generate_10s_osc_s"], 3),
            "private_mb": m["plain"]["private_mb"],
            "with_device": None if device is None else {
                "rss_mb": round(device["rss_mb"], 1), "private_mb": device["private_mb"],
                "jack_shared_mb": device["jack_shared_mb"], "audio": device["audio"], "underruns": device["underruns"],
                "torch_loaded": device["torch_loaded"], "device_process": device["device_process"]},
            "load_1min": os.getloadavg()[0]}


FIGURES = {"serve_ready_s": serve_ready_s, "serve_rss_mb": serve_rss_mb}
