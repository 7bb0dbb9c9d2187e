"""A JACK server with the dummy driver and a timestamped recorder: real audio without a sound card.

Used by the tests and the benchmark (and usable by anyone who needs a paced audio device):

    server = JackServer.ensure("distill-test", sample_rate=48000, period=256)  # reuses a running one
    devices.refresh(jack_client_name="distill-123")  # PortAudio sees JACK, our ports get a known name
    with Recorder(["distill-123:out_0", "distill-123:out_1"], seconds=2.0) as rec: ...
    result = rec.result()  # audio [T, C] plus the monotonic time of every recorded JACK cycle
    devices.terminate(); server.stop()  # PortAudio first, or Python aborts with 134

The recorder is a second JACK client in its own process (`python -m bridge.jack_tools record`, on
the JACK-Client package so that each cycle lands at JACK's own frame count), so JACK runs it after
the bridge in the same cycle. It stamps each cycle with time.perf_counter()
(CLOCK_MONOTONIC, shared by processes), which lets an edit's call time be compared with the cycle
in which its audio left the bridge.
"""
from __future__ import annotations

import argparse
import os
import shutil
import selectors
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ENV = {"JACK_NO_START_SERVER": "1"}
# A JACK command-line tool (jack_lsp, jack_connect) answers in milliseconds; one that has not answered
# in this long is stuck on a busy or dying server, and the test should fail rather than hang.
JACK_TOOL_TIMEOUT_S = 20.0
RECORDER_START_TIMEOUT_S = 60.0
# After its recording is saved, the recorder closes its JACK client; on a server that zombified the
# client (a late cycle on a loaded machine), jack_deactivate can block for good. The saved recording
# is complete either way, so the process gets this long to exit and is then killed.
RECORDER_EXIT_GRACE_S = 3.0


def _env(name: str) -> dict:
    return {**os.environ, **ENV, "JACK_DEFAULT_SERVER": name}


def server_running(name: str) -> bool:
    if shutil.which("jack_wait") is None:
        return False
    done = subprocess.run(["jack_wait", "-c"], env=_env(name), capture_output=True, text=True, timeout=10)
    return done.stdout.strip() == "running"


class JackServer:
    """A named jackd (dummy driver, paced in real time); stops only a server it started itself."""

    def __init__(self, name: str, process: subprocess.Popen | None, sample_rate: int, period: int) -> None:
        self.name, self.process, self.sample_rate, self.period = name, process, sample_rate, period

    @classmethod
    def ensure(cls, name: str = "distill-test", sample_rate: int = 48000, period: int = 256) -> "JackServer":
        """Starts `jackd -n NAME -d dummy -r RATE -p PERIOD` unless a server NAME already runs, and
        points this process's JACK clients at it (JACK_DEFAULT_SERVER, JACK_NO_START_SERVER)."""
        if shutil.which("jackd") is None:
            raise RuntimeError("jackd not found: apt-get install jackd2")
        os.environ.update(ENV)
        os.environ["JACK_DEFAULT_SERVER"] = name
        process = None
        if not server_running(name):
            process = subprocess.Popen(["jackd", "-n", name, "-d", "dummy", "-r", str(sample_rate),
                                        "-p", str(period)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                       env=_env(name))
            waited = subprocess.run(["jack_wait", "-w", "-t", "5"], env=_env(name), capture_output=True, text=True,
                                    timeout=15)
            if process.poll() is not None or "available" not in waited.stdout:
                err = process.stderr.read().decode(errors="replace")[-500:] if process.poll() is not None else ""
                process.kill()
                raise RuntimeError(f"jackd {name} did not start: {waited.stdout.strip()} {err}")
        return cls(name, process, sample_rate, period)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def align(recorded: np.ndarray, reference: np.ndarray, heard: np.ndarray | None = None) -> tuple[int, float]:
    """(lag, correlation): where `recorded` [N] sits in `reference` [M >= N], by FFT cross-correlation;
    the correlation leaves out the frames where `heard` [N] is False (Recording.heard(): cycles the
    recorder missed are silence in the recording, not in what played)."""
    n = 1 << int(np.ceil(np.log2(len(reference) + len(recorded))))
    c = np.fft.irfft(np.fft.rfft(reference, n) * np.conj(np.fft.rfft(recorded, n)), n)
    lag = int(np.argmax(c[:len(reference) - len(recorded) + 1]))
    segment = reference[lag:lag + len(recorded)]
    keep = np.ones(len(recorded), bool) if heard is None else heard
    return lag, float(np.corrcoef(segment[keep], recorded[keep])[0, 1])


def until_clean(scenario, missed, good=None, attempts: int = 5):
    """scenario() again until `missed()` (underruns plus host underflows, say) did not move during
    it: on a loaded shared machine a starved block, or a cycle JACK found us late for (the VM's steal
    time), reads as a click or as other audio. A result that `good(result)` accepts is kept even if
    a miss was counted meanwhile (it fell where it did no harm); a wrong sound with every block
    delivered comes back at once, for the caller's asserts. Backs off between tries, as steal comes
    in bursts. RuntimeError after `attempts` spoiled ones."""
    for attempt in range(attempts):
        before = missed()
        result = scenario()
        if missed() == before or (good is not None and good(result)):
            return result
        time.sleep(0.3 * (attempt + 1))
    raise RuntimeError(f"underruns or host underflows in each of {attempts} attempts: "
                       "the machine is too loaded to judge")


def connect(source: str, destination: str, server: str | None = None) -> None:
    env = _env(server) if server else {**os.environ, **ENV}
    subprocess.run(["jack_connect", source, destination], env=env, check=True, capture_output=True, timeout=10)


@dataclass(frozen=True)
class Recording:
    """audio [T, C] float32; cycle_frame [N] first frame of each callback; cycle_time_s [N] its
    monotonic time; gaps [G, 2] [start, stop) frames of cycles the recorder missed (silence there)."""

    audio: np.ndarray
    sample_rate: int
    cycle_frame: np.ndarray
    cycle_time_s: np.ndarray
    gaps: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))

    def in_gap(self, frame: int) -> bool:
        return bool(np.any((self.gaps[:, 0] <= frame) & (frame < self.gaps[:, 1])))

    def heard(self) -> np.ndarray:
        """[T] bool: False on the frames of the cycles the recorder missed (silence that never played)."""
        mask = np.ones(len(self.audio), bool)
        for start, stop in self.gaps:
            mask[start:stop] = False
        return mask

    def max_step(self, channel: int = 0) -> float:
        """The largest sample-to-sample step between frames the recorder heard: a click, where the
        edges of a missed cycle's silence are not."""
        heard = self.heard()
        both = heard[1:] & heard[:-1]
        steps = np.abs(np.diff(self.audio[:, channel]))[both]
        return float(steps.max()) if steps.size else 0.0

    def clean_start(self, frame: int, length: int) -> int:
        """The first frame >= `frame` where `length` frames hold no gap (a window to judge the sound by)."""
        for start, stop in sorted(map(tuple, self.gaps)):
            if start < frame + length and frame < stop:
                frame = int(stop)
        return frame

    def time_of(self, frame: int) -> float:
        """Monotonic time of the JACK cycle that carried recorded `frame`."""
        k = int(np.searchsorted(self.cycle_frame, frame, side="right")) - 1
        return float(self.cycle_time_s[max(k, 0)])


class Recorder:
    """Records `sources` (JACK output ports) for `seconds` in a separate JACK client process."""

    _count = 0

    def __init__(self, sources: list[str], seconds: float, client_name: str | None = None) -> None:
        self.sources, self.seconds = sources, float(seconds)
        Recorder._count += 1  # a fresh name each time: JACK renames a client whose name is still taken
        self.client_name = client_name or f"distill-rec-{os.getpid()}-{Recorder._count}"
        self._dir = tempfile.mkdtemp(prefix="distill-rec-")
        self.path = Path(self._dir) / "rec.npz"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "Recorder":
        root = str(Path(__file__).resolve().parent.parent)
        env = {**os.environ, **ENV, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bridge.jack_tools", "record", "--client", self.client_name,
             "--seconds", str(self.seconds), "--out", str(self.path), *self.sources],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=root)
        # "recording" once the ports are connected; bounded, since a JACK tool can hang on a busy server
        ready = selectors.DefaultSelector()
        ready.register(self.process.stdout, selectors.EVENT_READ)
        line = self.process.stdout.readline() if ready.select(timeout=RECORDER_START_TIMEOUT_S) else "(no answer)"
        ready.close()
        if line.strip() != "recording":
            self.process.kill()
            raise RuntimeError(f"recorder did not start: {line} {self.process.stderr.read()[-800:]}")
        return self

    def __exit__(self, *exc) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        deadline = time.monotonic() + self.seconds + 30  # its own deadline is seconds + 10
        while not self.path.exists() and self.process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        try:
            self.process.wait(timeout=RECORDER_EXIT_GRACE_S)
        except subprocess.TimeoutExpired:  # saved (or stuck before saving: result() says so)
            self.process.kill()
            self.process.wait()

    def result(self) -> Recording:
        self.__exit__()
        if not self.path.exists():
            raise RuntimeError(f"recorder wrote nothing: {self.process.stderr.read()[-800:]}")
        data = np.load(self.path)
        rec = Recording(data["audio"], int(data["sample_rate"]), data["cycle_frame"], data["cycle_time_s"], data["gaps"])
        shutil.rmtree(self._dir, ignore_errors=True)
        return rec


def edit_storm(bridge, audio: np.ndarray, sample_rate: int, seconds: float, edits_per_s: float = 50.0,
               region: int = 4096, seed: int = 0) -> tuple[int, np.ndarray]:
    """Plays while sending `edits_per_s` edits (a new buffer with `region` samples rescaled, as a
    decoder re-decoding a few frames would) for `seconds`; returns (edits sent, the last buffer).
    Each region is the original audio at a gain of 0.7-1.3: gains do not compound over thousands
    of edits (they did: a 10-minute soak's recording peaked at 6.1 from a 0.43 loop)."""
    rng = np.random.default_rng(seed)
    original = np.asarray(audio, np.float32)
    current = original
    edits = 0
    next_edit = time.perf_counter()
    deadline = next_edit + seconds
    while time.perf_counter() < deadline:
        start = int(rng.integers(0, len(current) - region))
        current = current.copy()
        current[start:start + region] = original[start:start + region] * np.float32(rng.uniform(0.7, 1.3))
        bridge.set_audio(current, sample_rate, changed=(start, start + region))
        edits += 1
        next_edit += 1.0 / edits_per_s
        time.sleep(max(0.0, next_edit - time.perf_counter()))
    return edits, current


def _record(args: argparse.Namespace) -> int:
    """The recorder process: a JACK client (the JACK-Client package, not PortAudio) named --client,
    its inputs connected to the sources. Each cycle's audio goes where JACK's own frame counter
    says it belongs, so a cycle this client missed (JACK skips a client still busy with the last
    one) is a gap of silence at its true place, listed in `gaps`, instead of shifting everything
    after it one cycle early, and the per-cycle times stay on one line (recorded_unix_s)."""
    import jack

    client = jack.Client(args.client, no_start_server=True)
    channels = len(args.sources)
    ports = [client.inports.register(f"in_{i}") for i in range(channels)]
    rate = client.samplerate
    total = int(args.seconds * rate)
    audio = np.zeros((total + 8192, channels), np.float32)
    cycle_frame = np.zeros(int(args.seconds * rate / 32) + 64, np.int64)
    cycle_time = np.zeros(len(cycle_frame), np.float64)
    gaps = np.zeros((4096, 2), np.int64)  # [start, stop) frames no cycle delivered
    state = {"first": None, "frames": 0, "cycles": 0, "gaps": 0, "armed": False}

    @client.set_process_callback
    def process(frames: int) -> None:
        now = time.perf_counter()
        if not state["armed"]:
            return
        at = client.last_frame_time
        if state["first"] is None:
            state["first"] = at
        f = (at - state["first"]) % 2 ** 32  # JACK's frame counter is 32 bits (wraps after a day)
        if f >= total:
            return
        if f > state["frames"] and state["gaps"] < len(gaps):
            gaps[state["gaps"]] = state["frames"], f
            state["gaps"] += 1
        k = state["cycles"]
        if k < len(cycle_frame):
            cycle_frame[k], cycle_time[k] = f, now
            state["cycles"] = k + 1
        n = min(frames, len(audio) - f)
        for i, port in enumerate(ports):
            audio[f:f + n, i] = port.get_array()[:n]
        state["frames"] = f + frames

    client.activate()
    for source, port in zip(args.sources, ports):
        client.connect(source, port)
    state["armed"] = True
    print("recording", flush=True)
    deadline = time.monotonic() + args.seconds + 10
    while state["frames"] < total and time.monotonic() < deadline:
        time.sleep(0.25)  # rare wake-ups: this thread holding the GIL while starved would stall the callback
    state["armed"] = False
    n = min(state["frames"], total)
    partial = Path(args.out).with_suffix(".part.npz")  # the parent waits for args.out: written whole, then renamed
    np.savez(partial, audio=audio[:n], sample_rate=rate, cycle_frame=cycle_frame[:state["cycles"]],
             cycle_time_s=cycle_time[:state["cycles"]], gaps=gaps[:state["gaps"]])
    os.replace(partial, args.out)
    client.deactivate()  # after saving: this can block on a server that zombified the client
    client.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bridge.jack_tools")
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="record JACK output ports with per-cycle timestamps")
    rec.add_argument("sources", nargs="+")
    rec.add_argument("--client", required=True)
    rec.add_argument("--seconds", type=float, required=True)
    rec.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    return _record(args)


if __name__ == "__main__":
    sys.exit(main())
