"""Start a real `distill serve` process on free ports and wait until it answers: for tests,
benchmarks and scripts that drive the engine the way Max, Pd or a shell would."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_OSC = re.compile(r"OSC on udp://[^:]+:(\d+)")
_WEB = re.compile(r"web editor: http://[^:]+:(\d+)/")


class ServeProcess:
    """`distill serve` as a child process; `osc_port` and `web_port` are read from its banner."""

    def __init__(self, *args: str, env: dict | None = None, timeout_s: float = 60.0) -> None:
        cmd = [sys.executable, "-m", "engine.cli", "serve", "--osc-port", "0", *args]
        if "--web-port" not in args:
            cmd += ["--web-port", "0"]
        self.stderr = tempfile.TemporaryFile("w+")  # a file, not a pipe: a chatty server never blocks on it
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=self.stderr, text=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
        self.banner: list[str] = []
        self.osc_port = self.web_port = 0
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.banner.append(line.rstrip())
            if m := _OSC.search(line):
                self.osc_port = int(m.group(1))
            if m := _WEB.search(line):
                self.web_port = int(m.group(1))
            if "Ctrl-C stops" in line:
                return
        err = self.stop()
        raise RuntimeError(f"distill serve did not start: {' | '.join(self.banner)} {err[-2000:]}")

    def stderr_text(self) -> str:
        """What the server has written to stderr so far."""
        self.stderr.flush()
        with open(self.stderr.fileno(), closefd=False) as f:
            f.seek(0)
            return f.read()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout_s: float = 15.0) -> str:
        """SIGTERM (a clean stop), then SIGKILL; returns stderr."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr.seek(0)
        return self.stderr.read()

    def __enter__(self) -> "ServeProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
