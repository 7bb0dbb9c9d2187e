"""Real MIDI into a real `distill serve --device system --midi-in kbd:keys` playing on a real JACK
(dummy) server: a JACK MIDI keyboard (python-rtmidi's JACK API, the sending peer in this process)
plays two notes and turns a controller; the recording of the engine's JACK output shows each note's
slice of the grid, at its velocity's gain, starting right after the note and stopping after its
release, and then the grid the controller's move made. (This machine has no ALSA sequencer: the
JACK API is the only MIDI it has.) The same notes forwarded over OSC by Pd: tests/ui/test_pd.py."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from osc_client import OscClient, wait_for
from serve_process import ServeProcess

pytestmark = pytest.mark.skipif(not shutil.which("jackd"), reason="needs Debian jackd2 (.ci/run installs it)")


def status(client) -> dict:
    pairs = client.answer("/status")[1]
    return dict(zip(pairs[::2], pairs[1::2]))


def grid(client) -> np.ndarray:
    msgs = client.call("/grid/get", skip=())
    levels, frames = msgs[0][1][1], msgs[0][1][2]
    out = np.zeros((levels, frames), np.int64)
    for address, args in msgs:
        if address == "/grid/chunk":
            out[args[1], args[2]:args[2] + len(args) - 3] = args[3:]
    return out


def match(snippet: np.ndarray, reference: np.ndarray) -> tuple[float, int]:
    """Best normalised correlation of `snippet` against every offset of `reference` (looped), and
    that offset: 1.0 means the snippet is the reference's audio there, at some gain."""
    n = len(snippet)
    ref = np.concatenate([reference, reference[:n]]).astype(np.float64)
    s = snippet.astype(np.float64) - snippet.mean()
    s /= np.linalg.norm(s) + 1e-12
    size = 1 << int(np.ceil(np.log2(len(ref) + n)))
    num = np.fft.irfft(np.fft.rfft(ref, size) * np.conj(np.fft.rfft(s, size)), size)[:len(reference)]
    c1, c2 = np.concatenate([[0], np.cumsum(ref)]), np.concatenate([[0], np.cumsum(ref ** 2)])
    total, energy = c1[n:n + len(reference)] - c1[:len(reference)], c2[n:n + len(reference)] - c2[:len(reference)]
    scores = num / np.sqrt(np.maximum(energy - total ** 2 / n, 1e-12))
    k = int(np.argmax(scores))
    return float(scores[k]), k


NOTES = ((0.3, [0x90, 48, 127], "on48"), (0.9, [0x80, 48, 0], "off48"),  # as tests/server/midi_notes.pd plays
         (1.4, [0x90, 51, 64], "on51"), (2.0, [0x80, 51, 0], "off51"))
PD_SEQUENCE = Path(__file__).parent / "midi_notes.pd"
PD_PATCH = Path(__file__).resolve().parents[2] / "plugin_ui" / "pd" / "distill.pd"
ATTEMPTS = 3
# `--midi-latency-ms` of the timed source: the bridge's schedule-ahead (lead plus a block, 37 ms)
# plus the dispatcher's margin (30 ms) and the way in, so that every note reaches the bridge in time
MIDI_LATENCY_MS = 80


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("source", ["jack-midi", "jack-midi-timed", "pd-notein"])
def test_notes_play_their_slices_and_a_cc_moves_the_grid(tiny_library, source):
    """`jack-midi`: a JACK MIDI keyboard into `--midi-in`; `jack-midi-timed`: the same with
    `--midi-latency-ms 80`, so each note goes through the bundle clock and is heard 80 ms after it
    arrived (JACK MIDI and the port thread add a few ms before it is stamped); `pd-notein`: headless Pd runs the shipped
    patch, and a test sequence patch plays the same notes into its [r distill-note] (what [notein]
    feeds) and the controller into [r distill-cc], forwarded as /midi/note and /midi/cc over OSC."""
    import rtmidi

    from bridge.jack_tools import JackServer, Recorder
    from bridge.resample import resample
    from bridge.schedule import recorded_unix_s
    from engine.codec.model import Model
    from engine.codes import Codes
    from engine.live.decoder import LiveDecoder
    if source == "pd-notein" and not shutil.which("pd"):
        pytest.fail("pd missing: apt-get install -y --no-install-recommends puredata-core")
    for f in (tiny_library / "models").glob("*.session.json"):
        f.unlink()
    name = f"distill-midi-{os.getpid()}"
    saved = {k: os.environ.get(k) for k in ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER")}
    jack = JackServer.ensure(name, 48000, 256)
    keys = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="kbd")
    keys.open_virtual_port("keys")
    midi_args = {"jack-midi": ("--midi-in", "kbd:keys"), "pd-notein": (),
                 "jack-midi-timed": ("--midi-in", "kbd:keys", "--midi-latency-ms", str(MIDI_LATENCY_MS))}[source]
    pd = None
    try:
        with ServeProcess("--models-dir", str(tiny_library / "models"), "--clips-dir", str(tiny_library / "clips"),
                          "--input-dir", str(tiny_library / "inputs"), "--web-port", "-1", "--model", "tiny",
                          "--device", "system", *midi_args,
                          env={"JACK_DEFAULT_SERVER": name, "JACK_NO_START_SERVER": "1"}) as proc:
            if midi_args:
                assert "MIDI in from kbd:keys (UNIX_JACK)" in proc.stderr_text()
            client = OscClient(proc.osc_port)
            wait_for(lambda: status(client)["model"] == "tiny", timeout_s=60)
            assert client.answer("/generate", 2.0, 4)[0] == "/done"
            model = Model.load(tiny_library / "models" / "tiny.distill")
            live = LiveDecoder(model.bundle)
            as_codes = lambda g: Codes(g, 8, model.code_frame_rate_hz, model.model_id)  # noqa: E731
            for attempt in range(ATTEMPTS):  # a block the engine played as silence (a loaded machine) spoils a reading
                underruns = status(client)["underruns"]
                try:
                    codes = grid(client)
                    frames = codes.shape[1]
                    slices = [(i * frames // 8, (i + 1) * frames // 8) for i in range(8)]
                    slice_audio = [resample(live.render(as_codes(codes[:, a:b])), 16000, 48000) for a, b in slices]

                    if source != "pd-notein":  # each key once before: its slice is decoded (and cached) already
                        for msg in ([0x90, 48, 1], [0x80, 48, 0], [0x90, 51, 1], [0x80, 51, 0]):
                            keys.send_message(msg)
                            time.sleep(0.3)
                    late_before = status(client)["late_bundles"]  # a first strike waits for its decode: late
                    version_before = status(client)["version"]  # notes and /play leave the grid's version alone
                    with Recorder(["PortAudio:out_0"], seconds=3.6) as rec:
                        t0 = time.perf_counter()
                        sent = {}
                        if source == "pd-notein":
                            pd = subprocess.Popen(["pd", "-nogui", "-nosound", "-noprefs", "-nrt", "-open", str(PD_PATCH),
                                                   "-open", str(PD_SEQUENCE), "-send",
                                                   f"distill-connect {proc.osc_port} {free_udp_port()}",
                                                   "-send", "midi-test-start bang"],
                                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                        else:  # the keyboard
                            for at, msg, what in NOTES:
                                time.sleep(max(0.0, t0 + at - time.perf_counter()))
                                keys.send_message(msg)
                                sent[what] = time.perf_counter()
                    recording = rec.result()
                    x = recording.audio[:, 0]
                    loud = np.flatnonzero(np.abs(x) > 1e-4)
                    assert loud.size, "nothing was heard"
                    # two notes: two bursts separated by silence (the release stops the first) ...
                    gaps = np.flatnonzero(np.diff(loud) > 4800)  # 100 ms of silence
                    assert len(gaps) >= 1, "the first note was never released"
                    bursts = [(loud[0], loud[gaps[0]]), (loud[gaps[0] + 1], loud[gaps[1]] if len(gaps) > 1 else loud[-1])]
                    if source == "pd-notein":  # Pd's clock, not ours: the notes' spacing is what can be checked
                        first = recording.time_of(bursts[0][0])
                        sent = {what: first + at - NOTES[0][0] for at, _, what in NOTES}
                    else:  # ... and with nothing else playing, the second release is the end
                        assert len(gaps) == 1, f"expected two bursts, found {len(gaps) + 1}"
                    for (start, stop), (on, off), want, velocity in zip(bursts, (("on48", "off48"), ("on51", "off51")),
                                                                          (0, 3), (127, 64)):
                        early_s = 0.1 if source == "pd-notein" else 0.03  # Pd's times are known from its first note only
                        delay_s = recording.time_of(start) - sent[on]
                        assert -early_s <= delay_s < 0.25, f"note {on} heard {delay_s * 1000:.0f} ms after it was played"
                        if source == "jack-midi-timed":  # on the frame clock, not the recorder's late wake-ups
                            delay_s = recorded_unix_s(recording, start) - (sent[on] + time.time() - time.perf_counter())
                            ahead_s = MIDI_LATENCY_MS / 1000
                            assert ahead_s - 0.001 <= delay_s < ahead_s + 0.03, \
                                f"{on}: heard {delay_s * 1000:.1f} ms after, not {MIDI_LATENCY_MS} + its way in"
                        release_s = recording.time_of(stop) - sent[off]
                        assert -early_s <= release_s < 0.25, f"{off}: sound ended {release_s * 1000:.0f} ms after the release"
                        at = recording.clean_start(start + 480, 2400)  # 50 ms past the 5 ms ramp, clear of missed cycles
                        snippet = x[at:at + 2400]
                        scores = [match(snippet, audio)[0] for audio in slice_audio]
                        assert int(np.argmax(scores)) == want and scores[want] > 0.99, (on, np.round(scores, 3))
                        _, offset = match(snippet, slice_audio[want])
                        ref = np.concatenate([slice_audio[want]] * 2)[offset:offset + len(snippet)]
                        gain_db = 20 * np.log10(np.std(snippet) / np.std(ref))
                        expected_db = 40 * np.log10(velocity / 127)
                        assert abs(gain_db - expected_db) < 1.0, f"{on}: {gain_db:.1f} dB, velocity {velocity} wants {expected_db:.1f}"

                    if source == "jack-midi-timed":  # each note reached the bridge before its frame
                        assert status(client)["late_bundles"] == late_before
                    # the controller: CC 74 (the default mapping's "brighter") at full amount on the playing grid
                    if source != "pd-notein":
                        assert client.answer("/play")[0] == "/done"
                        version = status(client)["version"]
                        keys.send_message([0xB0, 74, 127])
                    else:  # the sequence sends /play (through the patch) and then the controller
                        version = version_before
                    wait_for(lambda: status(client)["version"] > version and status(client)["jobs"] == 0
                             and status(client)["transport"] == "playing", timeout_s=30)
                    moved = grid(client)
                    assert not np.array_equal(moved, codes), "the controller's move changed nothing"
                    time.sleep(0.3)  # re-decoded and crossfaded in
                    with Recorder(["PortAudio:out_0"], seconds=0.4) as rec:
                        pass
                    after = rec.result()
                    new_audio = resample(live.render(as_codes(moved)), 16000, 48000)
                    old_audio = resample(live.render(as_codes(codes)), 16000, 48000)
                    # two 50 ms windows 200 ms apart, clear of cycles the recorder missed: one of them is
                    # clear of the loop seam (a 5 ms crossfade at the end of the 2 s grid) too
                    windows = [after.audio[at:at + 2400, 0] for at in (after.clean_start(f, 2400) for f in (2400, 12000))]
                    new_score, tail = max((match(w, new_audio)[0], k) for k, w in enumerate(windows))
                    old_score = match(windows[tail], old_audio)[0]
                    assert new_score > 0.99 and new_score > old_score, (new_score, old_score, after.gaps.tolist())
                    break
                except AssertionError:
                    if attempt + 1 == ATTEMPTS or status(client)["underruns"] == underruns:
                        raise  # a wrong sound with every block played is the engine's fault
                    print(f"attempt {attempt + 1}: {status(client)['underruns'] - underruns} underruns, again")
                    if pd is not None:
                        pd.terminate()
                        pd.communicate(timeout=10)
                        pd = None
                    assert client.answer("/stop")[0] == "/done"
            client.close()
            assert "Traceback" not in proc.stderr_text()
    finally:
        if pd is not None:
            pd.terminate()
            errors = [line for line in pd.communicate(timeout=10)[1].splitlines() if line.startswith("error")]
            assert not errors, errors
        keys.close_port()
        del keys
        jack.stop()
        for f in (tiny_library / "models").glob("*.session.json"):
            f.unlink()
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
