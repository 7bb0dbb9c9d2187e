"""Audio in cannot hurt: lying headers, long files, FIFOs, loops, devices and unreadable files are
skipped with a reason each, without hanging and without taking the memory."""
import os
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from engine.signal.audio import AudioError, load_audio, save_audio, scan_folder

ROOT = Path(__file__).resolve().parent.parent.parent
CLAIMED_FRAMES = 2**31 - 1  # what the probe's 96 KB WAV claimed: 13.5 h at 44.1 kHz


def lying_wav(path: Path, real_frames: int = 48_000, claimed_frames: int = CLAIMED_FRAMES, rate: int = 44_100) -> Path:
    """A real 16-bit mono WAV (a sine) whose data chunk claims `claimed_frames`."""
    pcm = (np.sin(np.arange(real_frames) / 9) * 8000).astype("<i2").tobytes()
    data_bytes = min(claimed_frames * 2, 0xFFFFFFFF)
    header = b"RIFF" + struct.pack("<I", min(36 + data_bytes, 0xFFFFFFFF)) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
    header += b"data" + struct.pack("<I", data_bytes)
    path.write_bytes(header + pcm)
    return path


def sine(seconds: float, rate: int = 16_000) -> np.ndarray:
    return (0.3 * np.sin(np.arange(int(seconds * rate)) / 7)).astype(np.float32)


def test_a_lying_header_is_skipped_by_distill_train_within_1_gb(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    wav = lying_wav(data / "lie.wav")
    assert 90_000 < wav.stat().st_size < 100_000
    # A wrapper process, so RUSAGE_CHILDREN sees `distill train` alone, not this test run's other children.
    wrapper = ("import resource, subprocess, sys\n"
               "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
               "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
               "print(p.stderr)\n")
    out = subprocess.run([sys.executable, "-c", wrapper, sys.executable, "-m", "engine.cli", "train", str(data),
                          "--out", str(tmp_path / "m.distill")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    code, peak_kb = map(int, out.stdout.split("\n", 1)[0].split())
    stderr = out.stdout.split("\n", 1)[1]
    assert code == 2, stderr
    assert peak_kb < 1024 * 1024, f"peak RSS {peak_kb / 1024:.0f} MB"
    assert f"skipped {wav}: damaged header: it claims 13.5 h" in stderr
    assert "Traceback" not in stderr and not (tmp_path / "m.distill").exists()


def test_a_header_that_claims_a_little_more_is_refused_too(tmp_path):
    wav = lying_wav(tmp_path / "short-lie.wav", claimed_frames=10 * 44_100)
    with pytest.raises(AudioError, match=r"short-lie.wav: damaged header: it claims 10.0 s .* holds at most 1.1 s"):
        load_audio(wav, 16_000)
    honest = lying_wav(tmp_path / "honest.wav", claimed_frames=48_000)  # the same bytes, a true header
    assert abs(load_audio(honest, 16_000).duration_s - 48_000 / 44_100) < 1e-3


def test_files_over_the_length_limit_are_skipped_and_the_limit_is_a_setting(tmp_path):
    save_audio(tmp_path / "long.flac", sine(3.0), 16_000)
    save_audio(tmp_path / "ok.wav", sine(1.0), 16_000)
    used, skipped = scan_folder(tmp_path, 16_000, max_duration_s=2.0)
    assert [Path(a.source).name for a in used] == ["ok.wav"]
    assert [(Path(s.path).name, s.reason) for s in skipped] == [
        ("long.flac", "too long (3.0 s; the limit is 2.0 s, set by audio.max_file_duration_s); "
                      "cut it into shorter files or raise the limit")]
    from engine.config import Config
    assert Config().audio.max_file_duration_s == 20 * 60
    assert Config().with_overrides(["audio.max_file_duration_s=5"]).audio.max_file_duration_s == 5.0
    used, _ = scan_folder(tmp_path, 16_000, max_duration_s=5.0)
    assert len(used) == 2


@pytest.mark.parametrize("rate", [16_000, 22_050, 48_000])
def test_block_reading_equals_reading_whole(tmp_path, rate):
    """Reading in blocks (and resampling streaming) gives the one-read result: a long file across
    many READ_BLOCK_FRAMES boundaries, at the source rate and resampled."""
    from pedalboard.io import AudioFile
    x = (0.4 * np.sin(np.arange(44_100 * 5) / 11) * np.linspace(0, 1, 44_100 * 5)).astype(np.float32)
    stereo = np.stack([x, -0.5 * x])
    path = tmp_path / "s.wav"
    with AudioFile(str(path), "w", samplerate=44_100, num_channels=2, bit_depth=32) as f:
        f.write(stereo)
    with AudioFile(str(path)) as f, (f.resampled_to(float(rate)) if rate != 44_100 else f) as r:
        whole = r.read(r.frames).mean(axis=0)
    got = load_audio(path, rate).samples
    assert got.shape == whole.shape
    np.testing.assert_allclose(got, whole, atol=1e-6)


def test_special_files_are_skipped_with_a_reason_and_nothing_hangs(tmp_path):
    good = tmp_path / "good.wav"
    save_audio(good, sine(0.5), 16_000)
    os.mkfifo(tmp_path / "pipe.wav")  # open() on it would block forever with no writer
    (tmp_path / "loop.wav").symlink_to("loop.wav")
    (tmp_path / "broken.flac").symlink_to("nowhere.flac")
    (tmp_path / "zero.wav").symlink_to("/dev/zero")  # a device: reads never end
    (tmp_path / "folder.wav").mkdir()
    save_audio(tmp_path / "folder.wav" / "inside.wav", sine(0.5), 16_000)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "back").symlink_to(tmp_path)  # a folder loop
    (tmp_path / "link.wav").symlink_to(good)  # a link to a good file is a good file
    (tmp_path / "empty.wav").write_bytes(b"")
    used, skipped = scan_folder(tmp_path, 16_000)
    assert sorted(Path(a.source).name for a in used) == ["good.wav", "inside.wav", "link.wav"]
    reasons = {Path(s.path).name: s.reason for s in skipped}
    assert reasons == {
        "pipe.wav": "a named pipe (FIFO), not an audio file",
        "loop.wav": "a symlink loop (the link points back to itself)",
        "broken.flac": "a broken symlink (it points to nowhere.flac, which does not exist)",
        "zero.wav": "a device, not an audio file",
        "folder.wav": "a folder named like an audio file (its contents are scanned)",
        "back": "a symlink to a folder already scanned (a loop); not scanned twice",
        "empty.wav": "zero length (an empty file)",
    }
    for name in ("pipe.wav", "loop.wav", "zero.wav", "folder.wav"):  # the single-file path too
        with pytest.raises(AudioError, match=name):
            load_audio(tmp_path / name, 16_000)


def test_an_unreadable_file_is_skipped_with_a_reason():
    """chmod 000 does not stop root: as root the scan runs in a child that drops to `nobody`."""
    folder = Path(tempfile.mkdtemp(prefix="distill-perm-"))  # not under tmp_path: `nobody` must reach it
    try:
        folder.chmod(0o755)
        save_audio(folder / "locked.wav", sine(0.5), 16_000)
        save_audio(folder / "open.wav", sine(0.5), 16_000)
        (folder / "locked.wav").chmod(0)
        # The interpreter lives under /root, so the child drops to `nobody` after its imports.
        drop = "os.setgroups([]); os.setgid(65534); os.setuid(65534)\n" if os.geteuid() == 0 else ""
        script = ("import os; from engine.signal.audio import scan_folder\n" + drop +
                  f"used, skipped = scan_folder({str(folder)!r}, 16000)\n"
                  "print([a.source for a in used]); print([(s.path, s.reason) for s in skipped])")
        out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        used, skipped = out.stdout.splitlines()
        assert used == repr([str(folder / "open.wav")])
        assert skipped == repr([(str(folder / "locked.wav"), "cannot be read (Permission denied)")])
    finally:
        (folder / "locked.wav").chmod(stat.S_IRUSR | stat.S_IWUSR)
        shutil.rmtree(folder)


def test_reconstruct_and_encode_refuse_a_pipe_and_a_lying_header_in_one_sentence(tiny_model_path, tmp_path, capsys):
    """In process (`engine.cli.main`, what the `distill` script runs): torch is loaded once."""
    from engine.cli import main
    os.mkfifo(tmp_path / "pipe.wav")
    lie = lying_wav(tmp_path / "lie.wav")
    for command, extra in (("reconstruct", [str(tmp_path / "out.wav")]), ("encode", ["--out", str(tmp_path / "c.json")])):
        for path, reason in ((tmp_path / "pipe.wav", "a named pipe (FIFO), not an audio file"),
                             (lie, "damaged header: it claims 13.5 h")):
            assert main([command, str(tiny_model_path), str(path), *extra]) == 2
            err = capsys.readouterr().err.strip()
            assert err.startswith(f"distill {command}: error: {path}: {reason}") and len(err.splitlines()) == 1, err
    assert not (tmp_path / "out.wav").exists() and not (tmp_path / "c.json").exists()


@pytest.mark.parametrize("override, sentence", [
    ("codec.levels=0", "config value codec.levels=0 is out of range (1 to 64)"),
    ("audio.hop_length=4096", "config value audio.hop_length=4096 is larger than audio.n_fft=2048"),
    ("audio.max_file_duration_s=0", "config value audio.max_file_duration_s=0.0 is out of range (1 to 86400)"),
])
def test_config_values_out_of_range_are_one_sentence(override, sentence):
    from engine.config import Config
    from engine.errors import InputError
    with pytest.raises(InputError) as e:
        Config().with_overrides([override])
    assert str(e.value) == sentence
