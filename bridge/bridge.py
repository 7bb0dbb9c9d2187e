"""The `Bridge` facade: one object the OSC server drives (see docs/bridge.md for the API).

It owns a `Player` (voices, transport, producer thread, callback), the live effects chain, the
sounddevice output stream and the clip renderer. With no usable output device it says so in
`status()["message"]` and in the log, plays nothing, and still renders clips.
"""
from __future__ import annotations

import json
import logging
import sys
import threading
from pathlib import Path

import numpy as np

from bridge.effects import EffectsChain
from bridge.link_lock import LinkLock
from bridge.plugins import PluginFolders
from bridge.player import Player, PlayerConfig
from bridge.render import ClipSpec, render_clip
from bridge.tempo import LinkClock, Tempo
from engine.errors import InputError
from engine.signal.clips import clip_name, mix_layers

log = logging.getLogger("distill.bridge")
GIL_SWITCH_INTERVAL_S = 0.0005  # see open_stream
CLOSE_TIMEOUT_S = 2.0  # stopping a healthy stream takes milliseconds; a vanished JACK server, forever


def _within(timeout_s: float, work) -> bool:
    """Runs `work()` on a daemon thread; False when it has not returned after `timeout_s`."""
    thread = threading.Thread(target=work, name="distill-bridge-close", daemon=True)
    thread.start()
    thread.join(timeout_s)
    return not thread.is_alive()


class Bridge:
    """Real-time playback into an audio device, an effects chain, and clip rendering."""

    def __init__(self, device: str | int | None = None, sample_rate: int = 48000, block_size: int = 256,
                 *, lead_blocks: int = 2, clips_dir: str = "clips", play_audio: bool = True,
                 strict_device: bool = False, plugin_folders: PluginFolders | None = None,
                 defer_stream: bool = False) -> None:
        """Opens `device` (None: the default output; a name or part of one; an index) at
        `sample_rate` with `block_size` frames per callback. `play_audio=False` or no device: render
        only. `strict_device=True` raises InputError instead of falling back to render-only.
        `plugin_folders`: where VST3 plugins may load from (default: the platform's standard ones).
        `defer_stream=True` chooses and checks the device but opens the stream only at
        `open_stream()` (`distill serve`: once there is something to play)."""
        self.config = PlayerConfig(sample_rate=int(sample_rate), block_size=int(block_size),
                                   lead_blocks=int(lead_blocks))
        self.player = Player(self.config)
        self.clips_dir = Path(clips_dir)
        self.tempo = Tempo()
        self.device: dict | None = None
        self.message = ""
        self._gain_db = 0.0
        self._loop_s: tuple[float, float] | None = None
        self._stream = None
        self.jack_ports: list[str] = []  # e.g. ["distill:out_0", "distill:out_1"] on JACK
        self.link: LinkClock | None = None
        self._link_lock: LinkLock | None = None  # re-aligns the playing loop every bar while Link is on
        self.plugin_folders = plugin_folders or PluginFolders.make()
        self._fx_lock = threading.Lock()  # one structural chain change at a time
        self._render_lock = threading.Lock()
        self._render_cache: tuple[str, EffectsChain] | None = None
        self._open_lock = threading.Lock()
        self.stuck = False  # the device did not stop when closed (its JACK server went away)
        if play_audio:
            self._find(device, strict_device)
            if self.device is not None and not defer_stream:
                self.open_stream()
        else:
            self.message = "audio output off: the bridge renders clips but plays nothing"

    def _find(self, device, strict: bool) -> None:
        """Chooses the device and checks it takes our format; the stream opens in `open_stream`."""
        try:  # imported here: without the PortAudio library the bridge still renders
            import sounddevice as sd
            from bridge import devices
        except OSError as e:
            if strict:
                raise InputError(f"audio output: PortAudio missing ({e}); apt-get install libportaudio2") from None
            self.message = "no PortAudio library (apt-get install libportaudio2): rendering clips only"
            log.warning(self.message)
            return
        try:
            info = devices.find_output(device)
            if info is None:
                raise InputError("no audio output device found")
            sd.check_output_settings(device=info["index"], samplerate=self.config.sample_rate, channels=2,
                                     dtype="float32")
        except (InputError, sd.PortAudioError, ValueError) as e:
            self._refuse(device, e, strict)
            return
        self.device = info
        self.message = f"{info['name']} ({info['hostapi']}): opens when there is something to play"

    def _refuse(self, device, error: Exception, strict: bool) -> None:
        if strict:
            raise InputError(f"audio device {device!r}: {error}") from None
        self.device = None
        self.message = f"no usable audio output ({error}): rendering clips only"
        log.warning(self.message)

    @property
    def stream_open(self) -> bool:
        return self._stream is not None

    def open_stream(self, strict: bool = False) -> bool:
        """Opens and starts the output stream on the chosen device (idempotent, any thread). The
        producer fills the lead before the first callback, so the stream starts with real blocks.
        `distill serve` calls it once the model is loaded and its first audio is ready: loading
        a model while the device already asks for blocks was what underran at start-up."""
        import sounddevice as sd

        from bridge import devices
        with self._open_lock:
            info = self.device
            if self._stream is not None or info is None:
                return self._stream is not None
            try:
                client = devices.actual_jack_client_name() if "JACK" in info["hostapi"] else None
                ports_before = set(devices.jack_ports(client))  # PortAudio registers ports at open
                stream = sd.OutputStream(device=info["index"], samplerate=self.config.sample_rate,
                                         blocksize=self.config.block_size, channels=2, dtype="float32",
                                         latency="low", callback=self.player.callback)
            except (sd.PortAudioError, ValueError) as e:
                self._refuse(info["name"], e, strict)
                return False
            # The callback and the producer wait for the GIL behind any busy Python thread of this
            # process (training steps, label measurement, the web server) up to the switch interval
            # each time: 5 ms by default, a whole block. tools/bench gil_callback_delay_ms: 218
            # underruns in 15 s with three busy threads at 5 ms, 14 at 0.5 ms, 0 with the same load
            # in other processes. A process that plays hands the GIL over every 0.5 ms.
            sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_INTERVAL_S))
            self.player.fit_host_buffer(round(float(stream.latency) * self.config.sample_rate))
            self.player.start()
            stream.start()
            self._stream = stream
            # PortAudio numbers a client's ports on, stream after stream: name the ones this stream got
            self.jack_ports = [p for p in devices.jack_ports(client) if p not in ports_before]
            self.message = f"playing on {info['name']} ({info['hostapi']})"
            return True

    # ---------------- transport ----------------
    def play(self, quantized: bool = True) -> None:
        """Starts playback; with Ableton Link on (and `quantized`), on the session's next bar line:
        the start is sent early by the lead and the host buffer so the bar line is what is heard."""
        self.open_stream()  # a deferred stream opens at the first play at the latest
        if self.link is not None:
            self.link.set_playing(True)
        if quantized and self.link is not None:
            latency_s = float(self._stream.latency) if self._stream is not None else 0.0
            ahead_s = self.player.lead_frames / self.config.sample_rate + latency_s
            wait_s = self.link.seconds_to_next_bar() - ahead_s
            if wait_s > 0.0:
                timer = threading.Timer(wait_s, self.player.play)
                timer.daemon = True
                timer.start()
                return
        self.player.play()

    def stop(self) -> None:
        if self.link is not None:
            self.link.set_playing(False)
        self.player.stop()

    def seek(self, position_s: float) -> None:
        self.player.seek_frames(self._frames(position_s, "position_s"))

    def set_loop(self, start_s: float | None, end_s: float | None) -> None:
        """Loop region in seconds; (None, None) loops the whole audio."""
        if start_s is None and end_s is None:
            self.player.set_loop_frames(None, None)
            self._loop_s = None
            return
        start = self._frames(start_s or 0.0, "loop start_s")
        end = self._frames(end_s, "loop end_s") if end_s is not None else None
        self.player.set_loop_frames(start, end)
        self._loop_s = (start / self.config.sample_rate, end / self.config.sample_rate if end else None)

    def set_loop_bars(self, start_bar: float, end_bar: float, bpm: float | None = None,
                      beats_per_bar: int | None = None) -> None:
        """Loop region in bars (counted from 0) at `bpm` (default: the bridge's tempo)."""
        self.set_tempo(bpm or self.tempo.bpm, beats_per_bar or self.tempo.beats_per_bar)
        self.set_loop(self.tempo.seconds(bars=start_bar), self.tempo.seconds(bars=end_bar))

    def set_tempo(self, bpm: float, beats_per_bar: int = 4) -> None:
        self.tempo = Tempo(float(bpm), int(beats_per_bar))
        if self.link is not None:
            self.link.set_tempo(float(bpm))

    def enable_link(self, bpm: float | None = None, start_stop: bool = False) -> None:
        """Joins an Ableton Link session (needs the optional `aalink`); the tempo then follows it.
        With `start_stop`, play/stop is shared too: a peer's start starts us on its next bar, a
        peer's stop stops us, and our play/stop is sent to the session.
        Raises InputError saying how to install aalink when it is missing."""
        if self.link is not None and self.link.start_stop != bool(start_stop):
            self.disable_link()
        if self.link is None:
            self.link = LinkClock(bpm or self.tempo.bpm, float(self.tempo.beats_per_bar), start_stop,
                                  self._link_start_stop).start()
            self._link_lock = LinkLock(self).start()

    def _link_start_stop(self, playing: bool) -> None:
        """Link's thread: a peer started or stopped the session (our own changes echo back: ignored)."""
        if playing and not self.player.playing:
            self.play()
        elif not playing and self.player.playing:
            self.player.stop()

    def disable_link(self) -> None:
        if self._link_lock is not None:
            self._link_lock.stop()
            self._link_lock = None
        if self.link is not None:
            self.link.stop()
            self.link = None

    def set_gain_db(self, gain_db: float) -> None:
        self.player.set_gain_db(gain_db)
        self._gain_db = float(gain_db)

    # ---------------- audio from the engine ----------------
    def set_audio(self, samples, sample_rate: int, changed: tuple[int, int] | None = None,
                  voice: int = 0, gain_db: float | None = None) -> None:
        """Mono float32 audio at the model rate for one voice; `changed=(start, stop)` in its samples."""
        self.player.set_audio(samples, sample_rate, changed=changed, voice=voice, gain_db=gain_db)

    def apply_splice(self, start: int, samples, voice: int = 0) -> None:
        """An edit from `engine.live.decoder.LiveLoop.edit`: new samples for [start, start + len) of the
        voice, at the rate given to set_audio. Cheaper than set_audio of the whole buffer."""
        self.player.apply_splice(start, samples, voice)

    def set_voices(self, voices: list[tuple]) -> None:
        """All layers at once: [(samples, sample_rate[, gain_db]), ...]."""
        self.player.set_voices(voices)

    def set_voice_gain(self, voice: int, gain_db: float) -> None:
        self.player.set_voice_gain(voice, gain_db)

    # ---------------- effects ----------------
    def add_effect(self, plugin: str, params: dict | None = None, index: int | None = None,
                   bypass: bool = False) -> int:
        """Loads a built-in by name or a VST3 by path into slot `index` (default: last); returns it."""
        slot = EffectsChain.load_slot(plugin, params, bypass, self.plugin_folders)  # slow for VST3: never under the lock
        with self._fx_lock:
            slots = list(self.player.chain.slots)
            index = len(slots) if index is None else int(index)
            if not 0 <= index <= len(slots):
                raise InputError(f"effects slot {index}: expected 0..{len(slots)}")
            slots.insert(index, slot)
            self._swap_slots(slots)
        return index

    def remove_effect(self, index: int) -> None:
        with self._fx_lock:
            slots = list(self.player.chain.slots)
            self.player.chain.slot(index)
            del slots[index]
            self._swap_slots(slots)

    def move_effect(self, index: int, to_index: int) -> None:
        with self._fx_lock:
            slots = list(self.player.chain.slots)
            slot = self.player.chain.slot(index)
            if not 0 <= to_index < len(slots):
                raise InputError(f"effects slot {to_index}: expected 0..{len(slots) - 1}")
            slots.remove(slot)
            slots.insert(to_index, slot)
            self._swap_slots(slots)

    def set_effect_param(self, index: int, name: str, value) -> None:
        """Sets one parameter by its pedalboard name, units included (threshold_db, cutoff_frequency_hz)."""
        with self.player.chain_lock:
            self.player.chain.set_param(index, name, value)

    def set_effect_bypass(self, index: int, bypass: bool) -> None:
        with self.player.chain_lock:
            self.player.chain.set_bypass(index, bypass)

    def effects_to_dict(self) -> dict:
        with self.player.chain_lock:
            return self.player.chain.to_dict()

    def effects_from_dict(self, data: dict) -> None:
        """Replaces the chain with one rebuilt from `effects_to_dict()` output (e.g. a saved session)."""
        chain = EffectsChain.from_dict(data, self.plugin_folders)
        with self._fx_lock, self.player.chain_lock:
            self.player.chain = chain

    def effects(self) -> list[dict]:
        """Slots with every parameter's current value."""
        with self.player.chain_lock:
            return self.player.chain.describe()

    def _swap_slots(self, slots: list) -> None:
        planned = EffectsChain(slots, self.plugin_folders).planned()  # loads dual-mono twins outside the lock
        with self.player.chain_lock:
            self.player.chain.slots = planned.slots

    # ---------------- clips ----------------
    def render(self, samples=None, sample_rate: int | None = None, *, clips_dir: str | None = None,
               format: str = "wav", bit_depth: int | str = 24, out_sample_rate: int | None = None,
               duration_s: float | None = None, bars: float | None = None, bpm: float | None = None,
               loudness_lufs: float | None = None, peak_db: float | None = None,
               name: str = "clip", effects: bool = True, loop: bool = False,
               gain_db: float | None = None) -> Path:
        """Renders mono audio (default: the current voices, mixed) through the chain, then the
        master gain (None: the bridge's own, as the live stream plays it) to a new file.

        Returns the path (clips_dir/name-NNN.format). Length in seconds or in bars at `bpm`; a
        longer length pads with silence (effect tails ring on), or loops with `loop=True`."""
        if samples is None:
            samples, sample_rate = self._mix_voices(), self.config.sample_rate
        if sample_rate is None:
            raise InputError("render: sample_rate is required with samples")
        tempo = Tempo(float(bpm), self.tempo.beats_per_bar) if bpm else self.tempo
        spec = ClipSpec(format=format, bit_depth=bit_depth, sample_rate=int(out_sample_rate or self.config.sample_rate),
                        duration_s=duration_s, bars=bars, tempo=tempo, loudness_lufs=loudness_lufs,
                        peak_db=peak_db, name=clip_name(name, format), loop=loop,
                        gain_db=self._gain_db if gain_db is None else float(gain_db))
        chain = self._render_chain() if effects else None
        with self._render_lock:  # the render chain is one set of instances: one render at a time
            return render_clip(samples, int(sample_rate), clips_dir or self.clips_dir, spec, chain, copy_chain=False)

    def _render_chain(self) -> EffectsChain:
        """A private copy of the live chain for offline renders, reloaded only when the chain changed
        (loading a VST3 costs more than rendering seconds of audio through it)."""
        with self.player.chain_lock:
            data = self.player.chain.to_dict()
        key = json.dumps(data, sort_keys=True)
        with self._render_lock:
            if self._render_cache is None or self._render_cache[0] != key:
                self._render_cache = (key, EffectsChain.from_dict(data, self.plugin_folders))
            return self._render_cache[1]

    def _mix_voices(self) -> np.ndarray:
        voices = self.player.scene.voices
        return mix_layers([(v.samples, 20.0 * np.log10(max(v.gain, 1e-12))) for v in voices])

    # ---------------- state ----------------
    def status(self) -> dict:
        """JSON-safe state: playing, position_s, underruns, output_latency_s, callback_p99_share, device..."""
        cfg = self.config
        period_s = cfg.block_size / cfg.sample_rate
        stream = self._stream
        link = self.link.status() if self.link is not None else None
        if link is not None:  # bar lines where the loop was moved back onto the session's phase
            link["align_slips"] = self.player.align_slips
        if link is not None and abs(link["tempo_bpm"] - self.tempo.bpm) > 1e-6:
            self.tempo = Tempo(round(link["tempo_bpm"], 6), self.tempo.beats_per_bar)  # a peer changed it
        return {
            "playing": bool(self.player.playing),
            "position_s": self.player.position_frames() / cfg.sample_rate,
            "underruns": int(self.player.underruns),  # blocks missed while audio was expected
            "idle_underruns": int(self.player.idle_underruns),  # empty ring during silence: not heard
            "host_underflows": int(self.player.host_underflows),  # the host's own xrun flag
            "stream_open": self._stream is not None,
            "output_latency_s": float(stream.latency) if stream is not None else None,
            "lead_s": self.player.lead_frames / cfg.sample_rate,
            "callback_p99_share": self.player.timer.p99_s() / period_s,
            "device": self.device["name"] if self.device else None,
            "jack_ports": list(self.jack_ports),
            "sample_rate": cfg.sample_rate,
            "block_size": cfg.block_size,
            "gain_db": self._gain_db,
            "loop_s": list(self._loop_s) if self._loop_s else None,
            "voices": len(self.player.scene.voices),
            "effects": len(self.player.chain.slots),
            "tempo_bpm": self.tempo.bpm,
            "link": link,
            "message": self.player.producer_error or self.message,
        }

    def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> bool:
        """Stops the stream and the producer, each within `timeout_s`. Returns False when one did
        not stop: PortAudio waits forever for a JACK server that went away, so the stream is then
        abandoned and `self.stuck` set; the process must not terminate PortAudio or wait at exit
        (`distill serve` exits at once, bridge/serve.py)."""
        self.disable_link()
        stream, self._stream = self._stream, None
        clean = True
        if stream is not None:
            clean = _within(timeout_s, lambda: (stream.abort(), stream.close()))
            if not clean:
                log.warning("the audio device did not stop within %.1f s (its server went away?); "
                            "leaving it", timeout_s)
        clean = self.player.close(timeout_s) and clean
        self.stuck = not clean
        return clean

    def __enter__(self) -> "Bridge":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _frames(self, seconds, field: str) -> int:
        try:
            value = float(seconds)
        except (TypeError, ValueError):
            raise InputError(f"{field}: expected seconds, got {seconds!r}") from None
        if not np.isfinite(value) or value < 0:
            raise InputError(f"{field}: expected seconds >= 0, got {seconds!r}")
        return round(value * self.config.sample_rate)
