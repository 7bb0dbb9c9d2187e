"""The player without a device: `pull()` runs the producer and the callback's copy synchronously."""
import numpy as np
import pytest

from engine.signal.clips import LOOP_SEAM_MS, seam_envelope
from bridge.player import Player
from bridge.player_config import PlayerConfig
from bridge.resample import resample
from bridge.tempo import Tempo
from bridge_helpers import make_signal
from engine.errors import InputError

BLOCK = 256


def playing(x, rate=48000, **config) -> Player:
    p = Player(PlayerConfig(block_size=BLOCK, **config))
    p.set_audio(x, rate)
    p.play()
    return p


def max_step(y: np.ndarray) -> float:
    return float(np.abs(np.diff(y)).max())


def test_plays_the_audio_after_a_click_free_ramp_and_loops():
    x = make_signal(0.25)
    y = playing(x).pull(BLOCK * 100)[:, 0]
    ramp = PlayerConfig().frames(5.0)
    looped = np.tile(x, 3)[:len(y)]  # with the loop seam's dip at each pass (test_loop_seams below)
    looped = looped * seam_envelope(np.arange(len(looped)) % len(x), 0, len(x), PlayerConfig().frames(LOOP_SEAM_MS))
    assert np.array_equal(y[ramp:], looped[ramp:])
    assert np.all(np.abs(y[:ramp]) <= np.abs(looped[:ramp]) + 1e-7)  # faded in, not jumped
    assert y[0] != looped[0] or looped[0] == 0.0


def test_output_is_stereo_and_mono_model_audio_is_on_both_sides():
    y = playing(make_signal(0.1)).pull(BLOCK * 8)
    assert y.shape == (BLOCK * 8, 2) and y.dtype == np.float32
    assert np.array_equal(y[:, 0], y[:, 1])


@pytest.mark.parametrize("device_rate", [44100, 96000])
def test_model_rate_is_resampled_to_the_device_rate(device_rate):
    x = make_signal(0.5)
    y = playing(x, sample_rate=device_rate).pull(BLOCK * 40)[:, 0]
    expected = np.tile(resample(x, 48000, device_rate), 3)[:len(y)]
    ramp = PlayerConfig(sample_rate=device_rate).frames(5.0)
    assert np.array_equal(y[ramp:], expected[ramp:])


def test_an_edit_is_heard_from_the_first_block_it_changes_with_a_crossfade():
    t = np.arange(48000) / 48000
    x = (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    p = playing(x)
    before = p.pull(BLOCK * 20)[:, 0]
    edited = x.copy()
    edited[:] = (0.5 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)  # the whole loop changes
    queued = p.ring.available()  # already rendered with the old audio: these play first
    p.set_audio(edited, 48000, changed=(0, len(x)))
    after = p.pull(BLOCK * 20)[:, 0]
    start = len(before) + queued
    timeline = np.concatenate([before, after])
    fade = PlayerConfig().frames(5.0)
    assert np.array_equal(timeline[fade:start], np.tile(x, 2)[fade:start])
    assert np.array_equal(timeline[start + fade:], np.tile(edited, 2)[start + fade:len(timeline)])
    assert not np.array_equal(timeline[start:start + 1], np.tile(x, 2)[start:start + 1])  # first block has it
    assert max_step(timeline) < 0.05  # 330 Hz at 0.5 steps at most 0.022 per sample: no click


def test_an_edit_ahead_of_the_playhead_changes_only_its_region():
    x = make_signal(1.0)
    p = playing(x)
    p.pull(BLOCK * 4)
    edited = x.copy()
    edited[30000:31000] = 0.0
    p.set_audio(edited, 48000, changed=(30000, 31000))
    y = p.pull(BLOCK * 150)[:, 0]
    timeline_start = BLOCK * 4
    assert np.array_equal(y, np.tile(edited, 2)[timeline_start:timeline_start + len(y)])


def test_stop_and_play_ramp_without_clicks_and_keep_the_position():
    x = (0.8 * np.ones(48000)).astype(np.float32)  # DC: any jump would be a full-scale click
    p = playing(x)
    p.pull(BLOCK * 10)
    p.stop()
    y = p.pull(BLOCK * 10)[:, 0]
    assert y[-1] == 0.0 and max_step(y) <= 0.8 / PlayerConfig().frames(5.0) + 1e-6
    position = p.position_frames()
    p.pull(BLOCK * 10)
    assert p.position_frames() == position
    p.play()
    y = p.pull(BLOCK * 10)[:, 0]
    assert y[-1] == pytest.approx(0.8) and max_step(y) <= 0.8 / PlayerConfig().frames(5.0) + 1e-6


def test_seek_crossfades_and_moves_the_playhead():
    ramp_up = np.linspace(-0.9, 0.9, 48000).astype(np.float32)
    p = playing(ramp_up)
    p.pull(BLOCK * 10)
    queued = p.ring.available()
    p.seek_frames(40000)
    y = p.pull(BLOCK * 10)[:, 0]
    assert y[-1] == ramp_up[40000 + BLOCK * 10 - queued - 1]
    assert max_step(y) < 2 * 1.6 / PlayerConfig().frames(5.0)  # a 1.6 jump spread over the crossfade


def test_gain_ramps_to_the_new_level():
    x = (0.5 * np.ones(48000)).astype(np.float32)
    p = playing(x)
    p.pull(BLOCK * 10)
    p.set_gain_db(-6.0)
    y = p.pull(BLOCK * 10)[:, 0]
    assert y[-1] == pytest.approx(0.5 * 10 ** (-6 / 20), rel=1e-5)
    assert max_step(y) < 0.01
    with pytest.raises(InputError):
        p.set_gain_db(60.0)


def test_voices_are_mixed_with_their_gains():
    a, b = make_signal(0.5, seed=1), make_signal(0.3, seed=2)
    p = Player(PlayerConfig(block_size=BLOCK))
    p.set_voices([(a, 48000, 0.0), (b, 48000, -6.0)])
    p.play()
    y = p.pull(BLOCK * 60)[:, 0]
    mix = a.copy()
    mix[:len(b)] += np.float32(10 ** (-6 / 20)) * b
    expected = np.tile(mix, 2)[:len(y)]
    assert np.allclose(y[480:], expected[480:], atol=1e-6)


def test_loop_region_in_bars_at_a_tempo():
    tempo = Tempo(bpm=120, beats_per_bar=4)  # a bar is 2 s
    x = make_signal(4.0)
    p = playing(x)
    start, end = tempo.frames(bars=0.25), tempo.frames(bars=0.5)  # 0.5 s .. 1.0 s
    p.set_loop_frames(start, end)
    y = p.pull(BLOCK * 400)[:, 0]  # about 2.1 s
    tail = y[-48000:]
    segment = x[start:end]
    assert any(np.array_equal(tail[:1000], segment[i:i + 1000]) for i in range(0, len(segment) - 1000))
    with pytest.raises(InputError):
        p.set_loop_frames(100, 50)


def test_bad_input_is_refused_with_the_field_named():
    p = Player()
    with pytest.raises(InputError, match="samples"):
        p.set_audio(np.zeros((2, 10), np.float32), 48000)
    with pytest.raises(InputError, match="sample_rate"):
        p.set_audio(np.zeros(10, np.float32), 0)
    with pytest.raises(InputError, match="block_size"):
        PlayerConfig(block_size=32)
    with pytest.raises(InputError, match="NaN"):
        p.set_audio(np.array([0.0, np.nan], np.float32), 48000)


def test_edits_while_stopped_take_effect_at_once_and_play_from_the_position():
    x, y = make_signal(0.5, seed=3), make_signal(0.5, seed=4)
    p = Player(PlayerConfig(block_size=BLOCK, crossfade_ms=20.0, ramp_ms=2.0))
    p.set_audio(x, 48000)
    p.play()
    p.pull(BLOCK * 8)
    p.set_audio(y, 48000)
    p.stop()  # the stop ramp ends before the 20 ms crossfade would
    p.pull(BLOCK * 8)
    z = make_signal(0.5, seed=5)
    p.set_audio(z, 48000)
    p.pull(BLOCK * 2)
    assert p._scene is p.scene and np.array_equal(p._scene.voices[0].source, z)  # the producer took it


@pytest.mark.parametrize("device_rate", [48000, 44100])
def test_a_splice_plays_like_the_whole_new_buffer(device_rate):
    x = make_signal(1.0)
    spliced = Player(PlayerConfig(block_size=BLOCK, sample_rate=device_rate))
    spliced.set_audio(x, 48000)
    piece = make_signal(0.1, seed=7)
    spliced.apply_splice(20000, piece)
    whole = Player(PlayerConfig(block_size=BLOCK, sample_rate=device_rate))
    edited = x.copy()
    edited[20000:20000 + len(piece)] = piece
    whole.set_audio(edited, 48000)
    for p in (spliced, whole):
        p.play()
    assert np.allclose(spliced.pull(BLOCK * 200), whole.pull(BLOCK * 200), atol=1e-6)
    x[:] = 0.0  # the caller's buffer changing later does not reach the player
    assert spliced.scene.voices[0].source[:100].any()
    with pytest.raises(InputError, match="outside"):
        spliced.apply_splice(len(x) - 10, piece)


def _ramp_signal(frames: int) -> np.ndarray:
    return np.linspace(-0.5, 0.5, frames, dtype=np.float32)  # a full-scale step where it loops


@pytest.mark.parametrize("seam_ms", [0.0, LOOP_SEAM_MS], ids=["hard cut", "seam"])
@pytest.mark.parametrize("loop", [None, (1500, 4500)], ids=["whole buffer", "region with audio before it"])
def test_loop_seams_are_crossfaded_and_keep_the_loop_length(seam_ms: float, loop):
    """A loop whose end does not meet its start: a hard cut steps by the whole jump (the check can
    fail); the seam's dip (whole buffer) or crossfade into the audio just before the loop start (a
    region) leaves no step above a few thousandths, and the loop keeps its length exactly."""
    x = _ramp_signal(6000)  # steps of 1.7e-4 inside; 0.5 to 1.0 across the seam
    p = Player(PlayerConfig(block_size=BLOCK, loop_seam_ms=seam_ms))
    p.set_audio(x, 48000)
    if loop:
        p.set_loop_frames(*loop)
    p.play()
    start, end = loop or (0, len(x))
    period = end - start
    y = p.pull(BLOCK * (5 * period // BLOCK + 1))[:, 0]
    steady = y[300:]  # past the 5 ms play ramp
    if seam_ms == 0:
        assert max_step(steady) > 0.2
    else:
        assert max_step(steady) < 0.005
    np.testing.assert_allclose(steady[period:2 * period], steady[:period], atol=1e-6)  # the same length


def test_a_looped_render_has_the_live_streams_seams():
    """engine.signal.clips.fit_length with a seam dips where the player dips: the rendered loop equals the
    player's output pass for pass (one render path)."""
    from engine.signal.clips import fit_length
    x = _ramp_signal(9000)
    seam = PlayerConfig().frames(LOOP_SEAM_MS)
    rendered = fit_length(x, 3 * len(x), 48000, loop=True, seam=seam)
    p = Player(PlayerConfig(block_size=BLOCK, ramp_ms=0.02))  # a one-frame ramp: compare from frame 1
    p.set_audio(x, 48000)
    p.play()
    y = p.pull(BLOCK * (3 * len(x) // BLOCK + 1))[:, 0][:3 * len(x)]
    np.testing.assert_allclose(y[1:-500], rendered[1:-500], atol=1e-6)  # the render's end fades out


def test_an_underrun_while_playing_is_logged_with_its_circumstances():
    from types import SimpleNamespace
    p = playing(make_signal(0.5))
    p.pull(BLOCK * 4)  # the producer has run: audio is expected
    flags = SimpleNamespace(output_underflow=False)
    out = np.zeros((BLOCK, 2), np.float32)
    p._produce_until_lead()
    for _ in range(p.config.lead_blocks):  # the lead is played out and nothing refills it
        p.callback(out, BLOCK, None, flags)
    assert p.underruns == 0
    p.callback(out, BLOCK, None, SimpleNamespace(output_underflow=True))
    assert p.underruns == 1 and p.host_underflows == 1 and not out.any()
    unix_s, since_block_ms, since_callback_ms, host_underflows = p.underrun_log[0]
    assert unix_s > 1.6e9 and since_block_ms >= since_callback_ms >= 0.0 and host_underflows == 1
    assert not p.underrun_log[1].any()


def test_the_lead_is_sized_in_milliseconds_and_a_bad_one_is_refused():
    # 30 ms at 48 kHz: 12 blocks of 128 frames, 6 of 256; --lead-ms 40 at 128 frames: 15 blocks
    assert PlayerConfig.for_device(48000, 128).lead_blocks == 12
    assert PlayerConfig.for_device(48000, 256).lead_blocks == 6
    config = PlayerConfig.for_device(48000, 128, lead_ms=40)
    assert config.lead_blocks == 15 and config.ring_blocks >= 2 * config.lead_blocks
    assert PlayerConfig.for_device(48000, 2048, lead_ms=5).lead_blocks == 2  # never under two blocks
    with pytest.raises(InputError, match="lead_ms"):
        PlayerConfig.for_device(48000, 128, lead_ms=0)


def test_a_host_buffer_larger_than_a_block_keeps_the_lead_in_time_in_whole_host_buffers():
    player = Player(PlayerConfig.for_device(48000, 64))  # 30 ms: 23 blocks of 64 frames
    player.fit_host_buffer(256)  # JACK asks for four 64-frame blocks per 256-frame cycle
    assert player.lead_frames == 6 * 256  # 1,472 frames rounded up to whole cycles, 32 ms
    assert player.ring.capacity >= player.lead_frames + 2 * 256
