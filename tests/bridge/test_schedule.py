"""Timed commands land on their frame: offline with a clock stamped by hand (exact frames), and on
a real JACK (dummy) server, where a recorder in another process hears each timed play at its time
on JACK's frame clock (well inside one block: the block is cut where the time falls)."""
from __future__ import annotations

import time

import numpy as np

from bridge.bridge import Bridge
from bridge.jack_tools import Recorder
from bridge.player import Player
from bridge.player_config import PlayerConfig
from bridge.schedule import TimedCommands, onsets, recorded_unix_s
from bridge_helpers import RATE, without_underruns


def test_timed_commands_cut_the_block_on_their_frame():
    player = Player(PlayerConfig(sample_rate=RATE, block_size=256, lead_blocks=2))
    player.set_audio(np.full(RATE, 0.5, np.float32), RATE)
    for k in range(16):  # a device clock: frame k * 256 was handed over at t0 + k * 256 / rate
        player.clock.stamp(k * 256, 100.0 + k * 256 / RATE)
    unix_of = lambda frame: 100.0 + frame / RATE + (time.time() - time.perf_counter())  # noqa: E731
    for frame, call in ((1000, player.play), (1700, player.stop), (2222, player.play)):
        with player.at(unix_of(frame)):
            call()
    out = player.pull(4096)[:, 0]
    assert onsets(out) == [1000, 2222]
    assert np.all(out[:1000] == 0) and out[1000] > 0 and out[1700 + 240:2222].max() == 0  # 5 ms ramp down
    assert player.timed.late == 0
    untimed = Player(PlayerConfig(sample_rate=RATE, block_size=256))  # no clock (no stream): at once
    untimed.set_audio(np.full(RATE, 0.5, np.float32), RATE)
    with untimed.at(time.time() + 10):
        untimed.play()
    assert untimed.pull(256)[0, 0] > 0


def test_segments_order_and_late_commands():
    timed = TimedCommands()
    for frame, name in ((300, "b"), (100, "late"), (300, "c"), (260, "a")):
        timed.push(frame / 1000, (name,))  # times in s; this clock: frame = 1000 x time
    frame_at = lambda unix_s: round(unix_s * 1000)  # noqa: E731
    assert timed.segments(256, 256, frame_at) == [(4, [("late",)]), (40, [("a",)]), (212, [("b",), ("c",)])]
    assert timed.late == 1 and timed.segments(512, 256, frame_at) == [(256, [])]


def test_timed_plays_land_on_their_time_in_a_jack_recording(jack):
    bridge = Bridge("system", RATE, 256, strict_device=True)
    try:
        bridge.set_audio(np.full(RATE * 4, 0.5, np.float32), RATE)
        time.sleep(0.3)  # the clock gets its callbacks

        def scenario():  # -> (errors_ms [10] or None if a play went missing, timed commands late)
            late_before = bridge.player.timed.late
            with Recorder(bridge.jack_ports[:1], 1.6) as rec:
                t0 = time.time() + 0.2
                stamps = [t0 + 0.1 * k for k in range(10)]
                for t in stamps:
                    with bridge.player.at(t):
                        bridge.play()
                    with bridge.player.at(t + 0.05):
                        bridge.stop()
            recording = rec.result()
            landed = [recorded_unix_s(recording, f) for f in onsets(recording.audio[:, 0], heard=recording.heard())]
            errors_ms = 1000 * (np.array(landed) - np.array(stamps)) if len(landed) == len(stamps) else None
            return errors_ms, bridge.player.timed.late - late_before

        # A late server cycle (the VM's steal) moves JACK's frame clock against wall time between the
        # bridge's reading of it and the recorder's: that reading is retried, a wrong one without it fails.
        on_time = lambda r: r[0] is not None and np.abs(r[0]).max() < 2.0 and r[1] == 0  # noqa: E731
        errors_ms, late = without_underruns(bridge, scenario, good=on_time)
        assert errors_ms is not None, "a timed play is missing from the recording"
        assert np.abs(errors_ms).max() < 2.0, np.round(errors_ms, 2)  # a block is 5.3 ms
        assert late == 0
    finally:
        bridge.close()
