"""Link that stays locked: a second Link member in this process (Live's part) changes the session's
tempo while the bridge plays a one-bar loop on the JACK dummy server; a recorder in another process
hears the loop's start on the session's bar lines before and after the change (bridge/link_lock.py)."""
from __future__ import annotations

import importlib.util
import time

import numpy as np
import pytest

from bridge.bridge import Bridge
from bridge.jack_tools import Recorder
from bridge.schedule import onsets, recorded_unix_s
from bridge.tempo import LINK_MISSING, LinkClock
from bridge_helpers import RATE, without_underruns

pytestmark = pytest.mark.skipif(importlib.util.find_spec("aalink") is None, reason=LINK_MISSING)
TOLERANCE_MS = 3.0  # timed frames land within ~0.1 ms; Link and thread wake-ups add the rest


def _one_bar_with_a_hit(bar_s: float) -> np.ndarray:
    """A smooth 20 ms tone burst at the start of an otherwise silent bar: its onset marks the
    loop start, and any step in the recording larger than the burst's own would be a click."""
    x = np.zeros(round(bar_s * RATE), np.float32)
    n = round(0.02 * RATE)
    t = np.arange(n) / RATE
    x[:n] = 0.5 * np.hanning(n) * np.sin(2 * np.pi * 500 * t)
    return x


def _bar_error_ms(unix_s: float, reference: tuple[float, int, float]) -> float:
    bar_unix_s, _, bar_s = reference
    k = round((unix_s - bar_unix_s) / bar_s)
    return (unix_s - (bar_unix_s + k * bar_s)) * 1000


def test_loop_start_follows_the_bar_line_after_a_peer_changes_tempo(jack):
    peer = LinkClock(240).start()  # a bar is 1 s
    bridge = Bridge("system", RATE, 256, strict_device=True)
    try:
        bridge.set_tempo(240)
        bridge.enable_link()
        deadline = time.monotonic() + 10
        while bridge.link.status()["peers"] < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert bridge.link.status()["peers"] >= 1, "the two Link members never saw each other"
        bridge.set_audio(_one_bar_with_a_hit(1.0), RATE)
        bridge.play()  # on the next bar line

        def scenario():  # -> (bar-line errors before, after the change, slips meanwhile, recording, tempo seen)
            peer.set_tempo(240.0)  # a retry starts from 1 s bars again
            time.sleep(2.2)
            slips_before = bridge.status()["link"]["align_slips"]
            with Recorder(bridge.jack_ports[:1], 5.5) as rec:
                time.sleep(1.5)
                before = peer.next_bar()
                changed_at = time.time()
                peer.set_tempo(300.0)  # a bar is now 0.8 s: the 1 s loop must restart on each bar line
                time.sleep(0.4)
                after = peer.next_bar()
                tempo = (after[2], bridge.link.status()["tempo_bpm"])
            recording = rec.result()
            slips = bridge.status()["link"]["align_slips"] - slips_before
            heard = [recorded_unix_s(recording, f)
                     for f in onsets(recording.audio[:, 0], silent_frames=256, heard=recording.heard())]
            early = [_bar_error_ms(u, before) for u in heard if u < changed_at - 0.05]
            # from the second new bar line on: the lock thread may already be waiting for an old-tempo
            # bar line when the peer changes tempo, and then the first new bar line passes unaligned
            # (one loop start ~200 ms late); every bar line after that must be met
            late = [_bar_error_ms(u, after) for u in heard if u > changed_at + 1.7]
            print(f"bar-line error ms: before {early}, after {late}, slips {slips}")
            return early, late, slips, recording, tempo

        # A late server cycle (the VM's steal) shifts JACK's frame clock by a period between the
        # bridge's reading and the recorder's (CI: one loop start 9.6 ms off, the others 0.1-0.3):
        # such a reading is retried; an off-beat loop without one fails below.
        on_the_bar = lambda r: (len(r[0]) >= 1 and len(r[1]) >= 2  # noqa: E731
                                and max(map(abs, r[0] + r[1])) < TOLERANCE_MS)
        early, late, slips, recording, tempo = without_underruns(bridge, scenario, good=on_the_bar)
    finally:
        bridge.close()
        peer.stop()
    assert tempo[0] == pytest.approx(0.8, abs=1e-3) and tempo[1] == pytest.approx(300)
    assert len(early) >= 1 and len(late) >= 2, f"loop starts heard: {len(early)} before, {len(late)} after"
    assert max(map(abs, early + late)) < TOLERANCE_MS, f"off the bar line (ms): {early} / {late}"
    assert slips >= len(late)  # at 0.8 s bars the 1 s loop was moved back at every bar line
    step = recording.max_step()  # between frames the recorder heard
    assert step < 0.05, f"a step of {step:.3f} in the recording: a click"
