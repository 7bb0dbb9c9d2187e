"""The test recorder's account of cycles it missed (bridge/jack_tools.py Recording): a missed cycle is
silence in the recording that never played, so every judgement of a recording leaves it out."""
import numpy as np

from bridge.jack_tools import Recording, align
from bridge.schedule import onsets


def recording(audio: np.ndarray, gaps: list[tuple[int, int]]) -> Recording:
    audio = audio.astype(np.float32).copy()
    for start, stop in gaps:
        audio[start:stop] = 0.0  # what the recorder writes where no cycle came
    frames = np.arange(0, len(audio), 256)
    return Recording(audio[:, None], 48000, frames, frames / 48000.0, np.array(gaps, np.int64).reshape(-1, 2))


def test_a_missed_cycle_is_neither_a_click_nor_a_change_nor_an_onset():
    t = np.arange(9600) / 48000
    sine = 0.4 * np.sin(2 * np.pi * 200 * t)
    r = recording(sine, [(2048, 2304)])
    assert not r.heard()[2048:2304].any() and r.heard()[:2048].all() and r.heard()[2304:].all()
    assert r.max_step() < 0.02  # the sine's own steps (0.4 * 2 pi 200 / 48000 = 0.0105)
    assert np.abs(np.diff(r.audio[:, 0])).max() > 0.1  # where a plain diff reads the gap's edges as clicks
    _, plain = align(r.audio[:, 0], np.tile(sine, 2))
    lag, corr = align(r.audio[:, 0], np.tile(sine, 2), r.heard())
    assert corr > 0.9999 > plain and lag % 240 == 0  # 200 Hz at 48 kHz: the period is 240 frames
    assert onsets(r.audio[:, 0]) == [2304]  # read as a new sound after 256 frames of silence ...
    assert onsets(r.audio[:, 0], heard=r.heard()) == []  # ... but it was playing all along
    assert r.clean_start(1900, 240) == 2304 and r.clean_start(100, 240) == 100 and r.clean_start(2400, 240) == 2400


def test_silence_before_a_missed_cycle_keeps_the_onset_after_it():
    x = np.zeros(4096)
    x[3000:] = 0.5  # the sound starts after the gap: still an onset
    x[1000:1200] = 0.5
    r = recording(x, [(1024, 1280), (2048, 2304)])
    assert onsets(r.audio[:, 0], heard=r.heard()) == [1000, 3000]
