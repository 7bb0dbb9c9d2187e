"""Clips: formats and bit depths as asked, unique names, lengths in seconds or bars, loudness."""
import numpy as np
import pytest
from pedalboard.io import AudioFile

from bridge.effects import EffectsChain
from engine.signal.loudness import integrated_loudness, k_weighting_coefficients
from bridge.render import ClipSpec, render_audio, render_clip
from bridge.resample import resample
from bridge.tempo import Tempo
from bridge_helpers import make_signal
from engine.errors import InputError


def read(path):
    with AudioFile(str(path)) as f:
        return f.read(f.frames), f.samplerate, f.file_dtype


@pytest.mark.parametrize("fmt,bit_depth,dtype", [
    ("wav", 16, "int16"), ("wav", 24, "int24"), ("wav", "float", "float32"),
    ("flac", 16, "int16"), ("flac", 24, "int24"), ("aiff", 16, "int16"), ("aiff", 24, "int24")])
def test_formats_and_bit_depths_are_what_was_asked(tmp_path, fmt, bit_depth, dtype):
    x = make_signal(0.5)
    path = render_clip(x, 48000, tmp_path, ClipSpec(format=fmt, bit_depth=bit_depth, sample_rate=44100))
    data, rate, file_dtype = read(path)
    assert path.suffix == f".{fmt}" and rate == 44100 and file_dtype == dtype
    expected = resample(x, 48000, 44100)
    assert data.shape == (1, len(expected))
    tolerance = {16: 1e-4, 24: 1e-6, "float": 0.0}[bit_depth]
    assert np.abs(data[0] - expected).max() <= tolerance


def test_names_are_unique_and_nothing_is_overwritten(tmp_path):
    x = make_signal(0.1)
    paths = [render_clip(x, 48000, tmp_path, ClipSpec(name="kick")) for _ in range(3)]
    assert [p.name for p in paths] == ["kick-001.wav", "kick-002.wav", "kick-003.wav"]
    before = paths[0].read_bytes()
    render_clip(make_signal(0.1, seed=9), 48000, tmp_path, ClipSpec(name="kick"))
    assert paths[0].read_bytes() == before


def test_length_in_bars_at_a_tempo_and_in_seconds(tmp_path):
    x = make_signal(3.0)
    path = render_clip(x, 48000, tmp_path, ClipSpec(bars=1, tempo=Tempo(bpm=100), sample_rate=48000))
    data, _, _ = read(path)
    assert data.shape[1] == round(2.4 * 48000)  # 4 beats at 100 BPM
    assert abs(data[0, -1]) < 1e-3  # cut with a fade-out, not a click
    longer = render_audio(x[:4800], 48000, ClipSpec(duration_s=1.5))
    assert longer.shape == (1, 72000) and not longer[0, 4800:].any()  # padded with silence


def test_rendered_through_the_chain_equals_the_chain_offline(tmp_path):
    x = make_signal(0.5)
    chain = EffectsChain.from_dict({"format": 1, "slots": [{"plugin": "Reverb", "params": {"room_size": 0.4}},
                                                           {"plugin": "Gain", "params": {"gain_db": -3.0}}]})
    path = render_clip(x, 48000, tmp_path, ClipSpec(bit_depth="float"), chain)
    data, _, _ = read(path)
    assert np.array_equal(data, chain.fresh_copy().process(x[None], 48000, reset=True))


def test_loudness_normalisation_reaches_the_target(tmp_path):
    x = 0.05 * make_signal(2.0)
    audio = render_audio(x, 48000, ClipSpec(loudness_lufs=-14.0))
    assert integrated_loudness(audio, 48000) == pytest.approx(-14.0, abs=0.05)
    peak = render_audio(x, 48000, ClipSpec(peak_db=-1.0))
    assert np.abs(peak).max() == pytest.approx(10 ** (-1 / 20), rel=1e-4)


def test_loudness_meter_matches_bs1770():
    b, a = k_weighting_coefficients(48000)[0]  # the recommendation's stage 1 at 48 kHz
    assert np.allclose(b, [1.53512485958697, -2.69169618940638, 1.19839281085285], atol=1e-9)
    assert np.allclose(a, [1.0, -1.69065929318241, 0.73248077421585], atol=1e-9)
    b, a = k_weighting_coefficients(48000)[1]
    assert np.allclose(a, [1.0, -1.99004745483398, 0.99007225036621], atol=1e-9)
    from engine.signal.loudness import _impulse_response
    for rate in (44100, 48000, 96000):  # the truncated FFT filter keeps the whole response
        h = _impulse_response(rate)
        assert np.abs(h[len(h) // 2:]).max() < 1e-9 * np.abs(h).max()
    t = np.arange(5 * 48000) / 48000
    tone = np.sin(2 * np.pi * 997 * t)  # 0 dBFS 997 Hz in one channel reads -3.01 LUFS
    assert integrated_loudness(tone, 48000) == pytest.approx(-3.01, abs=0.02)
    assert integrated_loudness(np.stack([tone, tone]), 48000) == pytest.approx(0.0, abs=0.02)
    tone_44k = np.sin(2 * np.pi * 997 * np.arange(5 * 44100) / 44100)
    assert integrated_loudness(tone_44k, 44100) == pytest.approx(-3.01, abs=0.02)
    short_gap = integrated_loudness(np.concatenate([0.1 * tone, np.zeros(5 * 48000)]), 48000)
    long_gap = integrated_loudness(np.concatenate([0.1 * tone, np.zeros(30 * 48000)]), 48000)
    assert short_gap == pytest.approx(long_gap, abs=1e-9)  # silent blocks are gated out
    assert short_gap == pytest.approx(-23.01, abs=0.2)  # only the blocks across the edge pull it down
    assert integrated_loudness(np.zeros(48000), 48000) == float("-inf")


def test_bad_specs_are_refused():
    with pytest.raises(InputError, match="format"):
        ClipSpec(format="mp4")
    with pytest.raises(InputError, match="bit_depth"):
        ClipSpec(bit_depth=12)
    with pytest.raises(InputError, match="flac cannot hold 32-bit float; use wav"):
        ClipSpec(format="flac", bit_depth="float")
    with pytest.raises(InputError, match="not both"):
        ClipSpec(duration_s=1.0, bars=1)
    with pytest.raises(InputError, match="name"):
        ClipSpec(name="../escape")


def test_free_text_names_become_safe_clip_names():
    from engine.signal.clips import clip_name
    assert clip_name("My Take 2.wav") == "My-Take-2"
    assert clip_name("../../etc/passwd", "flac") == "passwd"
    assert clip_name("???") == "clip"


def test_a_clip_over_the_length_cap_is_refused_before_any_work(tmp_path):
    """Bars at a slow tempo (the server checks seconds itself; bars only the bridge can)."""
    from engine.server.ports import MAX_RENDER_FRAMES
    spec = ClipSpec(sample_rate=192000, bars=200, tempo=Tempo(20.0))  # 2400 s
    assert spec.target_frames > MAX_RENDER_FRAMES
    with pytest.raises(InputError, match=r"over the 28,800,000-frame limit \(2.5 minutes at 192000 Hz\)"):
        render_clip(make_signal(0.1), 48000, tmp_path / "clips", spec)
    assert not (tmp_path / "clips").exists()
