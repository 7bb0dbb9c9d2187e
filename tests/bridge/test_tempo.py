"""Tempo conversions, and Ableton Link through aalink when it is installed."""
import importlib.util
import time

import pytest

from bridge.tempo import LINK_MISSING, LinkClock, Tempo
from engine.errors import InputError


def test_bars_and_beats_to_seconds_and_back():
    tempo = Tempo(bpm=120, beats_per_bar=4)
    assert tempo.seconds(bars=1) == 2.0
    assert tempo.seconds(bars=2, beats=1) == 4.5
    assert tempo.bars_beats(4.5) == (2, 1.0)
    assert tempo.frames(bars=1, sample_rate=44100) == 88200
    assert Tempo(bpm=90, beats_per_bar=3).seconds(bars=1) == 2.0
    with pytest.raises(InputError):
        Tempo(bpm=5)
    with pytest.raises(InputError):
        Tempo(beats_per_bar=0)


def test_link_without_aalink_says_how_to_get_it():
    if importlib.util.find_spec("aalink") is not None:
        pytest.skip("aalink is installed: see test_link_follows_the_session_tempo")
    assert not LinkClock.available()
    with pytest.raises(InputError, match="pip install aalink"):
        LinkClock().start()


@pytest.mark.skipif(importlib.util.find_spec("aalink") is None, reason=LINK_MISSING)
def test_link_follows_the_session_tempo():
    clock = LinkClock(bpm=100).start()
    try:
        time.sleep(0.2)
        status = clock.status()
        assert status["enabled"] and status["tempo_bpm"] == pytest.approx(100.0)
        assert status["beat"] > 0.0 and 0.0 <= status["phase"] < 4.0
        clock.set_tempo(132.0)
        time.sleep(0.05)
        assert clock.tempo().bpm == pytest.approx(132.0)
    finally:
        clock.stop()
    assert not clock.status()["enabled"]


@pytest.mark.skipif(importlib.util.find_spec("aalink") is None, reason=LINK_MISSING)
def test_bridge_tempo_follows_link():
    from bridge.bridge import Bridge
    b = Bridge(play_audio=False)
    try:
        b.set_tempo(110)
        b.enable_link()
        b.link.set_tempo(125.0)  # as a peer would
        time.sleep(0.05)
        status = b.status()
        assert status["link"]["enabled"] and status["tempo_bpm"] == pytest.approx(125.0)
        b.set_tempo(240)  # a bar is 1 s
        if b.link.seconds_to_next_bar() < 0.5:  # start early in a bar, so play() has to wait
            time.sleep(b.link.seconds_to_next_bar() + 0.02)
        wait_s = b.link.seconds_to_next_bar()
        b.play()
        b.player.pull(256)  # the producer would take a queued command right away
        assert not b.player.playing  # it waits for the bar line
        time.sleep(wait_s + 0.05)
        b.player.pull(256)
        assert b.player.playing
    finally:
        b.close()
    assert b.status()["link"] is None


@pytest.mark.skipif(importlib.util.find_spec("aalink") is None, reason=LINK_MISSING)
def test_link_start_stop_sync_follows_a_peer():
    """A second Link member in this process plays Live's part: its start starts the bridge on the
    session's next bar, its stop stops it; the bridge's own play reaches the peer."""
    from bridge.bridge import Bridge
    heard: list = []
    peer = LinkClock(240, start_stop=True, on_start_stop=heard.append).start()  # a bar is 1 s
    b = Bridge(play_audio=False)
    try:
        b.set_tempo(240)
        b.enable_link(start_stop=True)
        deadline = time.monotonic() + 10
        while b.link.status()["peers"] < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert b.link.status()["peers"] >= 1, "the two Link members never saw each other"
        peer.set_playing(True)
        deadline = time.monotonic() + 3
        while not b.player.playing and time.monotonic() < deadline:
            b.player.pull(256)
            time.sleep(0.02)
        assert b.player.playing, "the peer's start did not start the bridge"
        peer.set_playing(False)
        deadline = time.monotonic() + 3
        while b.player.playing and time.monotonic() < deadline:
            b.player.pull(256)
            time.sleep(0.02)
        assert not b.player.playing, "the peer's stop did not stop the bridge"
        heard.clear()
        b.play()
        deadline = time.monotonic() + 3
        while True not in heard and time.monotonic() < deadline:
            time.sleep(0.02)
        assert True in heard, "the bridge's play did not reach the peer"
    finally:
        b.close()
        peer.stop()
