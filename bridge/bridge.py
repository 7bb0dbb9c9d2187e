"""The `Bridge` facade: one object the OSC server drives (see docs/bridge.md for the API).

It owns the device side — a `bridge.host.PlayerHost`: the `Player` (voices, transport, producer
thread, callback), the live effects chain and the sounddevice output stream — in this process or,
with `device_process=True` (`distill serve`), in a process of its own (bridge/device_process.py),
plus tempo, Ableton Link and the clip renderer. With no usable output device it says so in
`status()["message"]` and in the log, plays nothing, and still renders clips.
"""
from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import numpy as np

from bridge.device_journal import RESTART_NOTE
from bridge.effects import EffectsChain
from bridge.host import CLOSE_TIMEOUT_S, PlayerHost
from bridge.link_lock import LinkLock
from bridge.plugins import PluginFolders
from bridge.player import Player
from bridge.player_config import PlayerConfig
from bridge.render import ClipSpec, render_clip
from bridge.tempo import LinkClock, Tempo
from engine.errors import InputError
from engine.signal.clips import clip_name

log = logging.getLogger("distill.bridge")


class Bridge:
    """Real-time playback into an audio device, an effects chain, and clip rendering."""

    def __init__(self, device: str | int | None = None, sample_rate: int = 48000, block_size: int = 256,
                 *, lead_blocks: int | None = None, lead_ms: float | None = None, clips_dir: str = "clips",
                 play_audio: bool = True, strict_device: bool = False, plugin_folders: PluginFolders | None = None,
                 defer_stream: bool = False, device_process: bool = False,
                 jack_client_name: str | None = None) -> None:
        """Opens `device` (None: the default output; a name or part of one; an index) at
        `sample_rate` with `block_size` frames per callback. `play_audio=False` or no device: render
        only. `strict_device=True` raises InputError instead of falling back to render-only.
        `plugin_folders`: where VST3 plugins may load from (default: the platform's standard ones).
        `defer_stream=True` chooses and checks the device but opens the stream only at
        `open_stream()` (`distill serve`: once there is something to play). `device_process=True`
        runs the device side in its own process; `jack_client_name` names its JACK client.
        `lead_blocks` or `lead_ms` (None: LEAD_MS): the audio kept ready ahead of the playhead."""
        self.config = PlayerConfig.for_device(sample_rate, block_size, lead_blocks, lead_ms)
        self.plugin_folders = plugin_folders or PluginFolders.make()
        if play_audio and device_process:
            from bridge.device_process import DeviceProcess
            self.host = DeviceProcess(self.config, self.plugin_folders)
        else:
            self.host = PlayerHost(self.config, self.plugin_folders)
        self.clips_dir = Path(clips_dir)
        self.tempo = Tempo()
        self.device: dict | None = None
        self.message = ""
        self._gain_db = 0.0
        self._loop_s: tuple[float, float] | None = None
        self._stream_open = False
        self._latency_s = 0.0
        self._lead_frames = self.config.lead_blocks * self.config.block_size
        self.jack_ports: list[str] = []  # e.g. ["distill:out_0", "distill:out_1"] on JACK
        self.link: LinkClock | None = None
        self._link_lock: LinkLock | None = None  # re-aligns the playing loop every bar while Link is on
        self._render_lock = threading.Lock()
        self._render_cache: tuple[str, EffectsChain] | None = None
        self._open_lock = threading.Lock()
        self.stuck = False  # the device did not stop when closed (its JACK server went away)
        if play_audio:
            try:
                found = self.host.find_device(device, strict_device, jack_client_name)
            except InputError:
                self.host.close()
                raise
            self.device, self.message = found["device"], found["message"]
            if self.device is not None and not defer_stream:
                self.open_stream()
        else:
            self.message = "audio output off: the bridge renders clips but plays nothing"

    @property
    def player(self) -> Player:
        """The in-process Player (tests, tools); with `device_process=True` it lives in the child."""
        if not isinstance(self.host, PlayerHost):
            raise AttributeError("the player runs in the device process: use the Bridge's methods")
        return self.host.player

    def at(self, unix_s: float | None):
        """`with bridge.at(unix_s):` the control calls made inside start on that time's frame."""
        return self.host.at(unix_s)

    @property
    def lead_frames(self) -> int:
        """Frames the producer keeps ready ahead of the playhead (valid once the stream is open)."""
        return self._lead_frames

    @property
    def stream_open(self) -> bool:
        return self._stream_open

    def open_stream(self, strict: bool = False) -> bool:
        """Opens and starts the output stream on the chosen device (idempotent, any thread). The
        producer fills the lead before the first callback, so the stream starts with real blocks.
        `distill serve` calls it once the model is loaded and its first audio is ready: loading
        a model while the device already asks for blocks was what underran at start-up."""
        with self._open_lock:
            if self._stream_open or self.device is None:
                return self._stream_open
            opened = self.host.open_stream(strict)
            self.message = opened["message"]
            if opened["open"]:
                self._stream_open, self._latency_s = True, float(opened["latency_s"])
                self.jack_ports = list(opened["jack_ports"])
                self._lead_frames = int(self.host.state()["lead_frames"])
            else:
                self.device = None
            return self._stream_open

    # ---------------- transport ----------------
    def play(self, quantized: bool = True) -> None:
        """Starts playback; with Ableton Link on (and `quantized`), on the session's next bar line:
        the start is sent early by the lead and the host buffer so the bar line is what is heard."""
        self.open_stream()  # a deferred stream opens at the first play at the latest
        if self.link is not None:
            self.link.set_playing(True)
        if quantized and self.link is not None:
            latency_s = self._latency_s if self._stream_open else 0.0
            ahead_s = self.lead_frames / self.config.sample_rate + latency_s
            wait_s = self.link.seconds_to_next_bar() - ahead_s
            if wait_s > 0.0:
                timer = threading.Timer(wait_s, self.host.play)
                timer.daemon = True
                timer.start()
                return
        self.host.play()

    def stop(self) -> None:
        if self.link is not None:
            self.link.set_playing(False)
        self.host.stop()

    def seek(self, position_s: float) -> None:
        self.host.seek_frames(self._frames(position_s, "position_s"))

    def align_frames(self, frame: int, tolerance_frames: int) -> None:
        """Moves the playing loop to `frame` (crossfaded) unless it is within `tolerance_frames`."""
        self.host.align_frames(frame, tolerance_frames)

    def set_loop(self, start_s: float | None, end_s: float | None) -> None:
        """Loop region in seconds; (None, None) loops the whole audio."""
        if start_s is None and end_s is None:
            self.host.set_loop_frames(None, None)
            self._loop_s = None
            return
        start = self._frames(start_s or 0.0, "loop start_s")
        end = self._frames(end_s, "loop end_s") if end_s is not None else None
        self.host.set_loop_frames(start, end)
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
        state = self.host.state()
        if playing and not state["playing"]:
            self.play()
        elif not playing and state["playing"]:
            self.host.stop()

    def disable_link(self) -> None:
        if self._link_lock is not None:
            self._link_lock.stop()
            self._link_lock = None
        if self.link is not None:
            self.link.stop()
            self.link = None

    def set_gain_db(self, gain_db: float) -> None:
        self.host.set_gain_db(gain_db)
        self._gain_db = float(gain_db)

    # ---------------- audio from the engine ----------------
    def set_audio(self, samples, sample_rate: int, changed: tuple[int, int] | None = None,
                  voice: int = 0, gain_db: float | None = None) -> None:
        """Mono float32 audio at the model rate for one voice; `changed=(start, stop)` in its samples."""
        self.host.set_audio(samples, sample_rate, changed=changed, voice=voice, gain_db=gain_db)

    def apply_splice(self, start: int, samples, voice: int = 0) -> tuple[float, float]:
        """An edit from `engine.live.decoder.LiveLoop.edit`: new samples for [start, start + len) of the
        voice, at the rate given to set_audio. Cheaper than set_audio of the whole buffer.
        -> perf_counter stamps of the device side starting it and having it (PlayerHost.apply_splice)."""
        return self.host.apply_splice(start, samples, voice)

    def set_voices(self, voices: list[tuple]) -> None:
        """All layers at once: [(samples, sample_rate[, gain_db]), ...]."""
        self.host.set_voices(voices)

    def set_voice_gain(self, voice: int, gain_db: float) -> None:
        self.host.set_voice_gain(voice, gain_db)

    # ---------------- effects (bridge/host.py holds the live chain) ----------------
    def add_effect(self, plugin: str, params: dict | None = None, index: int | None = None,
                   bypass: bool = False) -> int:
        """Loads a built-in by name or a VST3 by path into slot `index` (default: last); returns it."""
        return self.host.add_effect(plugin, params, index, bypass)

    def remove_effect(self, index: int) -> None:
        self.host.remove_effect(index)

    def move_effect(self, index: int, to_index: int) -> None:
        self.host.move_effect(index, to_index)

    def set_effect_param(self, index: int, name: str, value) -> None:
        """Sets one parameter by its pedalboard name, units included (threshold_db, cutoff_frequency_hz)."""
        self.host.set_effect_param(index, name, value)

    def set_effect_bypass(self, index: int, bypass: bool) -> None:
        self.host.set_effect_bypass(index, bypass)

    def effects_to_dict(self) -> dict:
        return self.host.effects_to_dict()

    def effects_from_dict(self, data: dict) -> None:
        """Replaces the chain with one rebuilt from `effects_to_dict()` output (e.g. a saved session)."""
        self.host.effects_from_dict(data)

    def effects(self) -> list[dict]:
        """Slots with every parameter's current value."""
        return self.host.effects()

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
        data = self.host.effects_to_dict()
        key = json.dumps(data, sort_keys=True)
        with self._render_lock:
            if self._render_cache is None or self._render_cache[0] != key:
                self._render_cache = (key, EffectsChain.from_dict(data, self.plugin_folders))
            return self._render_cache[1]

    def _mix_voices(self) -> np.ndarray:
        return self.host.mix_voices()

    # ---------------- state ----------------
    def status(self) -> dict:
        """JSON-safe state: playing, position_s, underruns, output_latency_s, callback_p99_share, device..."""
        cfg = self.config
        period_s = cfg.block_size / cfg.sample_rate
        state = self.host.state()
        link = self.link.status() if self.link is not None else None
        if link is not None:  # bar lines where the loop was moved back onto the session's phase
            link["align_slips"] = state["align_slips"]
        if link is not None and abs(link["tempo_bpm"] - self.tempo.bpm) > 1e-6:
            self.tempo = Tempo(round(link["tempo_bpm"], 6), self.tempo.beats_per_bar)  # a peer changed it
        return {
            "playing": state["playing"],
            "position_s": state["position_frames"] / cfg.sample_rate,
            "underruns": state["underruns"],  # blocks missed while audio was expected
            "idle_underruns": state["idle_underruns"],  # empty ring during silence: not heard
            "host_underflows": state["host_underflows"],  # the host's own xrun flag
            "stream_open": state["stream_open"],
            "output_latency_s": state["output_latency_s"],
            "lead_s": state["lead_frames"] / cfg.sample_rate,
            "callback_p99_share": state["callback_p99_s"] / period_s,
            "device": self.device["name"] if self.device else None,
            "device_process": getattr(self.host, "pid", None),  # the child's pid; None: in this process
            "jack_ports": list(state.get("jack_ports") or self.jack_ports),  # a restarted child's may differ
            "device_restarts": state.get("device_restarts", 0),  # device processes that died and were replaced
            "sample_rate": cfg.sample_rate,
            "block_size": cfg.block_size,
            "gain_db": self._gain_db,
            "loop_s": list(self._loop_s) if self._loop_s else None,
            "voices": state["voices"],
            "effects": state["effects"],
            "late_commands": state["late_commands"],
            "edit_rewinds": state["edit_rewinds"],  # edits heard before the lead (bridge/player.py _rewind)
            "command_rewinds": state["command_rewinds"],  # stops, gains, seeks heard before it
            "tempo_bpm": self.tempo.bpm,
            "link": link,
            "message": state["producer_error"] or (RESTART_NOTE if state.get("device_restarts") else self.message),
        }

    def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> bool:
        """Stops the stream and the producer, each within `timeout_s`. Returns False when one did
        not stop: PortAudio waits forever for a JACK server that went away, so the stream is then
        abandoned and `self.stuck` set; a process that hosts the device itself must then not
        terminate PortAudio or wait at exit (`distill serve` exits at once, bridge/serve.py). With
        `device_process=True` the child is killed instead and this process is left clean."""
        self.disable_link()
        self._stream_open = False
        clean = self.host.close(timeout_s)
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
