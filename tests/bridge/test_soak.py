"""Soak: playing through a real VST3 while 50 edits per second arrive.

The 10-minute run (`-m slow`) asserts no underrun; the 3-second run in the default suite asserts
that every edit was taken and what JACK recorded afterwards is the last edit through the chain.
Both run the device side in its own process, as `distill serve` does (bridge/device_process.py).
"""
import time
from pathlib import Path

import numpy as np
import pytest

from bridge.bridge import Bridge
from bridge.effects import EffectsChain
from bridge.jack_tools import Recorder, align, edit_storm
from bridge_helpers import RATE, make_signal, without_underruns

ZAMCOMPX2 = "/usr/lib/vst3/ZamCompX2.vst3"
pytestmark = pytest.mark.skipif(not Path(ZAMCOMPX2).exists(), reason="apt-get install zam-plugins")


def soak(seconds: float, client: str, judge_recording: bool = True):
    """-> (edits sent, the recording's correlation with the offline chain or None, underruns)."""
    b = Bridge("system", RATE, 256, strict_device=True, device_process=True, jack_client_name=f"{client}-soak")
    try:
        b.add_effect(ZAMCOMPX2, {"threshold_db": -20.0, "ratio": 4.0})
        audio = make_signal(2.0)
        b.set_audio(audio, RATE)
        b.play()
        time.sleep(0.3)
        before = b.status()
        edits, last = edit_storm(b, audio, RATE, seconds, 50.0)
        after = b.status()
        if not judge_recording:
            return edits, None, after["underruns"] - before["underruns"]
        time.sleep(0.1)
        chain = b.effects_to_dict()
        offline = EffectsChain.from_dict(chain).process(np.tile(last, 4)[None], RATE, reset=True)[0]

        def record():  # -> (recording, its correlation with the last edit through the chain offline)
            with Recorder(b.jack_ports[:1], 1.0) as rec:
                pass
            recording = rec.result()
            return recording, align(recording.audio[:, 0], offline, recording.heard())[1]

        # a block starved or a late server cycle while recording (a loaded machine) would spoil the
        # comparison (CI: 0.983 once); such a reading is retried, a wrong sound without one fails
        recording, corr = without_underruns(b, record, good=lambda r: r[1] >= 0.99)
    finally:
        b.close()
    return edits, corr, after["underruns"] - before["underruns"]


def test_short_edit_storm_lands_every_edit(jack):
    edits, corr, underruns = soak(3.0, jack.client)
    assert edits >= 120, f"{edits} edits in 3 s"  # 50 per second, give or take a loaded machine
    assert corr >= 0.99, f"after {edits} edits ({underruns} underruns) correlation {corr:.4f}"


@pytest.mark.slow
def test_ten_minute_soak_has_no_underruns(jack):
    edits, _, underruns = soak(600.0, jack.client, judge_recording=False)
    assert edits >= 600 * 45
    assert underruns == 0
