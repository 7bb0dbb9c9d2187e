"""`distill generate / encode / decode` on a tiny real bundle: outputs, bad arguments, refusals."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engine.bundle import Bundle, save_bundle
from engine.cli import main
from engine.codec.model import codec_tensors, new_model_id, utc_now
from engine.codec.network import Codec
from engine.codes import Codes, load_codes, save_codes
from engine.config import CodecConfig, Config
from engine.prior.network import Prior, PriorNet, PriorSpec
from engine.signal.audio import Audio, load_audio, save_audio

RATE = 48_000


def tiny_bundle(with_prior: bool) -> Bundle:
    torch.manual_seed(0)
    config = Config(codec=CodecConfig(hidden_channels=16, latent_dim=8, levels=2, codebook_size=8, codebook_dim=4))
    tensors = codec_tensors(Codec(config.audio, config.codec))
    bundle = Bundle(config, new_model_id(tensors), utc_now(), {"codec": tensors})
    if with_prior:
        spec = PriorSpec(levels=2, codebook_size=8, dim=16, layers=1, heads=2, context_frames=32)
        bundle = bundle.with_tensors("prior", Prior(PriorNet(spec)).tensors())
    return bundle


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    return (save_bundle(folder / "with.distill", tiny_bundle(True)),
            save_bundle(folder / "without.distill", tiny_bundle(False)))


def test_generate_writes_audio_and_codes_reproducibly(models, tmp_path, capsys):
    model, _ = models
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    assert main(["generate", str(model), "--seconds", "1.5", "--out", str(a), "--seed", "4",
                 "--codes-out", str(tmp_path / "a.json"), "--creativity", "1.2", "--focus", "5",
                 "--diversity", "0.9"]) == 0
    audio = load_audio(a, RATE)
    assert len(audio.samples) == 72_000
    codes = load_codes(tmp_path / "a.json")
    assert codes.levels == 2 and codes.n_frames == 71  # ceil(1.5 s x 46.875 frames/s)
    assert main(["generate", str(model), "--seconds", "1.5", "--out", str(b), "--seed", "4",
                 "--codes-out", str(tmp_path / "b.json"), "--creativity", "1.2", "--focus", "5",
                 "--diversity", "0.9"]) == 0
    np.testing.assert_array_equal(load_codes(tmp_path / "b.json").indices, codes.indices)


@pytest.mark.parametrize("args, word", [
    (["--seconds", "0"], "seconds"), (["--seconds", "-2"], "seconds"), (["--seconds", "61"], "seconds"),
    (["--seconds", "2", "--creativity", "0"], "creativity"), (["--seconds", "2", "--creativity", "-1"], "creativity"),
    (["--seconds", "2", "--diversity", "0"], "diversity"), (["--seconds", "2", "--diversity", "1.5"], "diversity"),
    (["--seconds", "2", "--focus", "-1"], "focus"),
])
def test_bad_generate_arguments_exit_2_with_one_sentence(models, tmp_path, capsys, args, word):
    model, _ = models
    out = tmp_path / "x.wav"
    assert main(["generate", str(model), "--out", str(out), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert word in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_generate_without_prior_says_so_in_one_sentence(models, tmp_path, capsys):
    _, without = models
    assert main(["generate", str(without), "--seconds", "1", "--out", str(tmp_path / "x.wav")]) == 2
    err = capsys.readouterr().err.strip()
    assert "no prior" in err and len(err.splitlines()) == 1 and err.count(". ") == 0


def test_encode_decode_round_trip_and_foreign_codes_refused(models, tmp_path, capsys):
    model, without = models
    t = np.arange(RATE) / RATE
    save_audio(tmp_path / "in.wav", Audio((0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), RATE))
    assert main(["encode", str(model), str(tmp_path / "in.wav"), "--out", str(tmp_path / "c.json")]) == 0
    codes = load_codes(tmp_path / "c.json")
    assert codes.levels == 2 and codes.n_frames > 40
    assert main(["decode", str(model), str(tmp_path / "c.json"), "--out", str(tmp_path / "out.wav")]) == 0
    assert load_audio(tmp_path / "out.wav", RATE).duration_s > 0.9
    foreign = Codes(np.array(codes.indices), codes.codebook_size, codes.frame_rate_hz, "someothermodel")
    save_codes(tmp_path / "foreign.json", foreign)
    capsys.readouterr()
    assert main(["decode", str(model), str(tmp_path / "foreign.json"), "--out", str(tmp_path / "f.wav")]) == 2
    err = capsys.readouterr().err
    assert "someothermodel" in err and not (tmp_path / "f.wav").exists()
    (tmp_path / "bad.json").write_text(json.dumps({"format": "distill-codes", "version": 9}))
    assert main(["decode", str(model), str(tmp_path / "bad.json"), "--out", str(tmp_path / "g.wav")]) == 2


def test_generate_help_names_the_plain_word_flags(capsys):
    with pytest.raises(SystemExit) as e:
        main(["generate", "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and "--creativity" in out and "--focus" in out and "--codes-out" in out


@pytest.mark.parametrize("args, word", [(["--lead-ms", "900"], "lead_ms"), (["--block-size", "16"], "block_size"),
                                        (["--sample-rate", "1000"], "sample_rate")])
def test_bad_serve_device_settings_exit_2_before_serving(args, word, capsys):
    """Refused before any port opens: not an engine that serves on without sound; and the signal
    dispositions are left as they were (an ignored SIGTERM would be inherited by every child this
    process starts: the suite hung on an oscdump that would not terminate)."""
    import signal
    handlers = [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)]
    assert main(["serve", "--osc-port", "0", "--web-port", "-1", "--device", "system", *args]) == 2
    out, err = capsys.readouterr()
    assert word in err and "error" in err and "OSC on" not in out + err
    assert [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)] == handlers


def test_serve_that_cannot_listen_exits_2_and_leaves_the_signal_handlers(capsys):
    """The cleanup path (after the device was opened) restores SIGINT and SIGTERM too."""
    import signal
    import socket
    handlers = [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        code = main(["serve", "--osc-port", str(taken.getsockname()[1]), "--web-port", "-1"])
    assert code == 2 and "cannot listen" in capsys.readouterr().err
    assert [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)] == handlers
