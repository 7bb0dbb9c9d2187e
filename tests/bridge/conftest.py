"""Bridge fixtures: a real JACK server (dummy driver) and PortAudio pointed at it.

`jack` starts `jackd -n distill-test -d dummy -r 48000 -p 256` unless a server of that name runs
(DISTILL_JACK_SERVER overrides the name, e.g. when several people share one machine), re-initialises
PortAudio so it sees the server, and names this process's JACK client so the tests know its ports.
At the end PortAudio is terminated before the server stops (the other order aborts Python, 134).
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from bridge.jack_tools import JackServer  # noqa: E402
from bridge_helpers import PERIOD, RATE  # noqa: E402


@pytest.fixture(scope="session")
def jack():
    """The running JACK server. A Bridge opened on it lists its own ports in `bridge.jack_ports`."""
    if shutil.which("jackd") is None:
        pytest.fail("jackd missing: apt-get install jackd2 (the bridge tests need a real JACK server)")
    from bridge import devices
    server = JackServer.ensure(os.environ.get("DISTILL_JACK_SERVER", "distill-test"), RATE, PERIOD)
    server.client = f"distill-test-{os.getpid()}"
    devices.refresh(server.client)
    yield server
    devices.terminate()
    server.stop()
