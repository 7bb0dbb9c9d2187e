"""Streaming PGHI: any split of frames and any audio block size gives the offline samples; block
joins are click-free; PGHI converges far better than random phase."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.config import AudioConfig
from engine.signal.audio import Audio, load_audio
from engine.signal.griffin_lim import griffin_lim
from engine.signal.mel import Mel, mel_spectrogram, mel_to_magnitude
from engine.signal.stft import n_samples_for, stft
from engine.signal.stream import BlockReader, PhaseStream, pghi

BLOCK_SIZES = [1, 64, 65, 512, 8193]  # the style guide's sweep: 1, odd, and one past a power of two

CFG = AudioConfig()  # the product rate: 48 kHz, n_fft 2048, hop 512
STREAM_TOLERANCE = 1e-4  # max abs sample difference, full scale 1 (BLAS sums differ by frame count)


@pytest.fixture(scope="module")
def real_mel(dev_sets: Path) -> Mel:
    path = sorted((dev_sets / "dev-mixed-120").glob("0*-freepats-*"))[0]
    audio = load_audio(path, CFG.sample_rate)
    return mel_spectrogram(Audio(audio.samples[: CFG.sample_rate], CFG.sample_rate), CFG)


def _frames_feeder(mel: Mel, sizes: list[int]):
    position, turn = 0, 0

    def next_frames():
        nonlocal position, turn
        if position >= mel.n_frames:
            return None
        size = sizes[turn % len(sizes)]
        turn += 1
        chunk = mel.values[:, position: position + size]
        position += size
        return chunk

    return next_frames


@pytest.mark.parametrize("block_size", BLOCK_SIZES)
def test_streaming_equals_offline_over_block_sizes(real_mel: Mel, block_size: int) -> None:
    offline = pghi(real_mel, CFG).samples
    reader = BlockReader(CFG, _frames_feeder(real_mel, [1, 3, 16]))
    blocks = []
    while not reader.exhausted:
        block = reader.read(block_size)
        assert block.shape == (block_size,)
        blocks.append(block)
    streamed = np.concatenate(blocks)
    assert len(streamed) >= len(offline) and not np.any(streamed[len(offline):])
    np.testing.assert_allclose(streamed[: len(offline)], offline, atol=STREAM_TOLERANCE)
    _assert_click_free(streamed[: len(offline)], offline, block_size)


@pytest.mark.parametrize("split", [[1], [2], [7], [1000]])
def test_any_split_of_frames_gives_the_offline_samples(real_mel: Mel, split: list[int]) -> None:
    offline = pghi(real_mel, CFG).samples
    stream = PhaseStream(CFG)
    feed = _frames_feeder(real_mel, split)
    parts = []
    while (frames := feed()) is not None:
        parts.append(stream.push(frames))
    parts.append(stream.finish())
    np.testing.assert_allclose(np.concatenate(parts), offline, atol=STREAM_TOLERANCE)


def _assert_click_free(samples: np.ndarray, reference: np.ndarray, block_size: int) -> None:
    """No sample step at a block join larger than the largest step the signal itself makes within
    256 samples of it (measured on the unsplit render, which has no joins): a click is a step the
    signal does not make on its own."""
    steps, own = np.abs(np.diff(samples)), np.abs(np.diff(reference))
    for join in range(block_size, len(samples) - 1, block_size):
        lo, hi = max(join - 256, 0), min(join + 256, len(own))
        assert steps[join - 1] <= own[lo:hi].max() + STREAM_TOLERANCE, f"click at sample {join}"


def test_click_detector_catches_a_click(real_mel: Mel) -> None:
    """The join check is able to fail: a block stream with a dropped sample clicks."""
    reference = pghi(real_mel, CFG).samples
    join = 64 * (1 + int(np.argmax(np.abs(reference[64::64]))))
    samples = reference.copy()
    samples[join:] *= -1.0  # a polarity flip at one join, where the signal is loud: a bad splice
    with pytest.raises(AssertionError, match=f"click at sample {join}"):
        _assert_click_free(samples, reference, 64)


def test_pghi_length_and_quality_against_random_phase(real_mel: Mel) -> None:
    out = pghi(real_mel, CFG)
    assert len(out.samples) == n_samples_for(real_mel.n_frames, CFG.hop_length)
    target = mel_to_magnitude(real_mel.values, CFG)

    def convergence(samples: np.ndarray) -> float:
        got = np.abs(stft(samples, real_mel.n_frames, CFG))
        return float(np.linalg.norm(got - target) / np.linalg.norm(target))

    random_phase = convergence(griffin_lim(real_mel, CFG, n_iter=0).samples)
    assert convergence(out.samples) < 0.7 * random_phase


def test_pure_tone_is_rebuilt_nearly_exactly() -> None:
    """A steady sinusoid between bins: PGHI's phase advance must follow its true frequency."""
    t = np.arange(CFG.sample_rate // 2) / CFG.sample_rate
    audio = Audio((0.5 * np.sin(2 * np.pi * 1003.3 * t)).astype(np.float32), CFG.sample_rate)
    n_frames = len(audio.samples) // CFG.hop_length + 1
    magnitude = np.abs(stft(audio.samples, n_frames, CFG))
    from engine.signal.pghi import integrate_phase, log_magnitude
    from engine.signal.stft import istft
    magnitude = magnitude[None]  # one voice
    logm = log_magnitude(magnitude, CFG)
    phase = integrate_phase(magnitude, logm, logm[..., 0], logm[..., -1], None, None, CFG)
    magnitude, phase = magnitude[0], phase[0]
    rebuilt = np.abs(stft(istft(magnitude * np.exp(1j * phase), CFG), n_frames, CFG))
    assert np.linalg.norm(rebuilt - magnitude) / np.linalg.norm(magnitude) < 0.1


def test_empty_and_single_frame_streams() -> None:
    stream = PhaseStream(CFG)
    assert len(stream.push(np.zeros((CFG.n_mels, 0), np.float32))) == 0
    one = Mel(np.full((CFG.n_mels, 1), 0.5, np.float32), CFG.frame_rate_hz)
    assert len(pghi(one, CFG).samples) == 0
    two = Mel(np.full((CFG.n_mels, 2), 0.5, np.float32), CFG.frame_rate_hz)
    assert len(pghi(two, CFG).samples) == CFG.hop_length


def test_voices_together_equal_each_voice_alone(real_mel: Mel) -> None:
    from engine.signal.stream import pghi_samples
    a = real_mel.values[:, :60]
    b = real_mel.values[:, 30:90][::-1].copy()  # another spectrum: bins reversed
    together = pghi_samples(np.stack([a, b]), CFG)
    assert together.shape == (2, n_samples_for(60, CFG.hop_length))
    np.testing.assert_allclose(together[0], pghi_samples(a, CFG), atol=STREAM_TOLERANCE)
    np.testing.assert_allclose(together[1], pghi_samples(b, CFG), atol=STREAM_TOLERANCE)
