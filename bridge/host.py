"""The device side: a `Player`, its live effects chain and the output stream, as one object.

`Bridge` drives a `PlayerHost` either in its own process (`distill serve`; bridge/device_process.py
runs one in a child and forwards these calls over a pipe) or in-process (headless renders, tests,
the tools). Every public method takes and returns plain values (numbers, strings, lists, dicts,
numpy arrays), so the same calls work in both places and nothing here knows which it is in.

Why a process of its own: the audio callback and the producer are Python threads, and a Python
thread waits for the GIL behind every other thread of its process. In `distill serve` those are
the OSC dispatcher, the decoder, label measurement, the web server and a training run; a thread
holding the GIL can itself be preempted by another process, and the callback then waits for a
whole scheduler slice (tools/bench `gil_callback_delay_ms`: 218 underruns in 15 s with busy
threads in the same process, none with the same load in other processes). In the child the only
Python threads are the callback, the producer and the one that takes these calls.
"""
from __future__ import annotations

import logging
import threading
import time

import numpy as np

from bridge.effects import EffectsChain
from bridge.plugins import PluginFolders
from bridge.player import Player
from bridge.player_config import PlayerConfig
from bridge.priority import hand_over_gil_quickly
from engine.errors import InputError
from engine.signal.clips import mix_layers

log = logging.getLogger("distill.bridge")
CLOSE_TIMEOUT_S = 2.0  # stopping a healthy stream takes milliseconds; a vanished JACK server, forever


def within(timeout_s: float, work) -> bool:
    """Runs `work()` on a daemon thread; False when it has not returned after `timeout_s`."""
    thread = threading.Thread(target=work, name="distill-bridge-close", daemon=True)
    thread.start()
    thread.join(timeout_s)
    return not thread.is_alive()


class PlayerHost:
    """One output device's player, chain and stream; the `Bridge` owns one (here or in a child)."""

    def __init__(self, config: PlayerConfig, plugin_folders: PluginFolders | None = None) -> None:
        self.config = config
        self.player = Player(config)
        self.at = self.player.at  # `with host.at(unix_s):` times the control calls made inside it
        self.plugin_folders = plugin_folders or PluginFolders.make()
        self.device: dict | None = None
        self.message = ""
        self.jack_ports: list[str] = []  # e.g. ["distill:out_0", "distill:out_1"] on JACK
        self.latency_s: float | None = None
        self._stream = None
        self._fx_lock = threading.Lock()  # one structural chain change at a time
        self._open_lock = threading.Lock()
        self.stuck = False  # the device did not stop when closed (its JACK server went away)

    # ---------------- the device ----------------
    def find_device(self, device: str | int | None, strict: bool = False,
                    jack_client_name: str | None = None) -> dict:
        """Chooses the output device and checks it takes our format; the stream opens in
        `open_stream`. Returns {"device": info or None, "message": why}. `jack_client_name` names
        this process's JACK client (ports NAME:out_0...), re-initialising PortAudio first."""
        try:  # imported here: without the PortAudio library the bridge still renders
            import sounddevice as sd

            from bridge import devices
        except OSError as e:
            if strict:
                raise InputError(f"audio output: PortAudio missing ({e}); apt-get install libportaudio2") from None
            self.message = "no PortAudio library (apt-get install libportaudio2): rendering clips only"
            log.warning(self.message)
            return {"device": None, "message": self.message}
        if jack_client_name:
            devices.refresh(jack_client_name)
        try:
            info = devices.find_output(device)
            if info is None:
                raise InputError("no audio output device found")
            sd.check_output_settings(device=info["index"], samplerate=self.config.sample_rate, channels=2,
                                     dtype="float32")
        except (InputError, sd.PortAudioError, ValueError) as e:
            self._refuse(device, e, strict)
        else:
            self.device = info
            self.message = f"{info['name']} ({info['hostapi']}): opens when there is something to play"
        return {"device": self.device, "message": self.message}

    def _refuse(self, device, error: Exception, strict: bool) -> None:
        if strict:
            raise InputError(f"audio device {device!r}: {error}") from None
        self.device = None
        self.message = f"no usable audio output ({error}): rendering clips only"
        log.warning(self.message)

    def open_stream(self, strict: bool = False) -> dict:
        """Opens and starts the output stream on the chosen device (idempotent, any thread). The
        producer fills the lead before the first callback, so the stream starts with real blocks.
        Returns {"open", "latency_s", "jack_ports", "message"}."""
        with self._open_lock:
            info = self.device
            if self._stream is None and info is not None:
                self._open(info, strict)
            return {"open": self._stream is not None, "latency_s": self.latency_s,
                    "jack_ports": list(self.jack_ports), "message": self.message}

    def _open(self, info: dict, strict: bool) -> None:
        import sounddevice as sd

        from bridge import devices
        try:
            client = devices.actual_jack_client_name() if "JACK" in info["hostapi"] else None
            ports_before = set(devices.jack_ports(client))  # PortAudio registers ports at open
            stream = sd.OutputStream(device=info["index"], samplerate=self.config.sample_rate,
                                     blocksize=self.config.block_size, channels=2, dtype="float32",
                                     latency="low", callback=self.player.callback)
        except (sd.PortAudioError, ValueError) as e:
            self._refuse(info["name"], e, strict)
            return
        # The callback and the producer wait for the GIL behind any busy Python thread of this
        # process up to the switch interval each time: 5 ms by default, a whole block. In the
        # device process those are only the call thread's; in-process, training steps, label
        # measurement or the web server (tools/bench gil_callback_delay_ms: 218 underruns in 15 s
        # with three busy threads at 5 ms, 14 at 0.5 ms). A process that plays switches every 0.5 ms.
        hand_over_gil_quickly()
        self.latency_s = float(stream.latency)
        self.player.fit_host_buffer(round(self.latency_s * self.config.sample_rate))
        self.player.start()
        stream.start()
        self._stream = stream
        # PortAudio numbers a client's ports on, stream after stream: name the ones this stream got
        self.jack_ports = [p for p in devices.jack_ports(client) if p not in ports_before]
        self.message = f"playing on {info['name']} ({info['hostapi']})"

    # ---------------- voices and transport (the Player's control calls) ----------------
    def set_audio(self, samples, sample_rate: int, changed: tuple[int, int] | None = None,
                  voice: int = 0, gain_db: float | None = None) -> None:
        self.player.set_audio(samples, sample_rate, changed=changed, voice=voice, gain_db=gain_db)

    def apply_splice(self, start: int, samples, voice: int = 0) -> tuple[float, float]:
        """-> (perf_counter when it started, when the player had the new samples): the device side's
        part of an edit's way to the ear (engine/trace.py: CLOCK_MONOTONIC, the same in every process)."""
        started = time.perf_counter()
        self.player.apply_splice(start, samples, voice)
        return started, time.perf_counter()

    def set_voices(self, voices: list[tuple]) -> None:
        self.player.set_voices(voices)

    def set_voice_gain(self, voice: int, gain_db: float) -> None:
        self.player.set_voice_gain(voice, gain_db)

    def set_loop_frames(self, start: int | None, end: int | None) -> None:
        self.player.set_loop_frames(start, end)

    def play(self) -> None:
        self.player.play()

    def stop(self) -> None:
        self.player.stop()

    def seek_frames(self, frame: int) -> None:
        self.player.seek_frames(frame)

    def align_frames(self, frame: int, tolerance_frames: int) -> None:
        self.player.align_frames(frame, tolerance_frames)

    def set_gain_db(self, gain_db: float) -> None:
        self.player.set_gain_db(gain_db)

    def mix_voices(self) -> np.ndarray:
        """The voices mixed at the device rate, as the live stream plays them (before effects). # [T]"""
        voices = self.player.scene.voices
        return mix_layers([(v.samples, 20.0 * np.log10(max(v.gain, 1e-12))) for v in voices])

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

    # ---------------- state ----------------
    def state(self) -> dict:
        """What the Bridge reports and the Link lock reads, in one call. JSON-safe."""
        p = self.player
        start, end = p.scene.bounds()
        return {
            "playing": bool(p.playing),
            "position_frames": int(p.position_frames()),
            "underruns": int(p.underruns),  # blocks missed while audio was expected
            "idle_underruns": int(p.idle_underruns),  # empty ring during silence: not heard
            "host_underflows": int(p.host_underflows),  # the host's own xrun flag
            # the first underruns: [unix s, ms since the producer's last block, ms since the
            # previous callback, host underflows by then]; and the producer's longest pass
            "underrun_log": p.underrun_log[:min(p.underruns, len(p.underrun_log))].round(4).tolist(),
            "producer_max_gap_ms": round(p.producer_max_gap_s * 1e3, 3),
            "stream_open": self._stream is not None,
            "output_latency_s": self.latency_s if self._stream is not None else None,
            "lead_frames": int(p.lead_frames),
            "callback_p99_s": p.timer.p99_s(),
            "callbacks": int(p.timer.count),
            "clock_running": bool(p.clock.running),
            "bounds_frames": [int(start), int(end)],
            "voices": len(p.scene.voices),
            "effects": len(p.chain.slots),
            "late_commands": int(p.timed.late),
            "align_slips": int(p.align_slips),
            "edit_rewinds": int(p.rewinds),
            "command_rewinds": int(p.command_rewinds),
            "realtime": bool(p.realtime),
            "producer_error": p.producer_error,
            "jack_ports": list(self.jack_ports),
            "message": self.message,
        }

    @staticmethod
    def silent_state(config: PlayerConfig, message: str) -> dict:
        """`state()` of a device side that is not there (its process ended): nothing plays."""
        return {"playing": False, "position_frames": 0, "underruns": 0, "idle_underruns": 0,
                "host_underflows": 0, "stream_open": False, "output_latency_s": None,
                "lead_frames": config.lead_blocks * config.block_size, "callback_p99_s": 0.0, "callbacks": 0,
                "clock_running": False, "bounds_frames": [0, 0], "voices": 0, "effects": 0, "late_commands": 0,
                "align_slips": 0, "edit_rewinds": 0, "command_rewinds": 0, "realtime": False,
                "producer_error": message, "jack_ports": [], "message": message}  # what stopped the sound

    def reset_callback_timer(self) -> None:
        """Starts the callback-duration and producer-gap figures afresh (tools/bench: after start-up,
        whose imports and first decodes would otherwise stand in the producer's longest gap)."""
        self.player.timer.count = 0
        self.player.producer_max_gap_s = 0.0

    def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> bool:
        """Stops the stream and the producer, each within `timeout_s`. False when one did not stop:
        PortAudio waits forever for a JACK server that went away, so the stream is then abandoned
        and `stuck` set; the process must not terminate PortAudio or wait at exit."""
        stream, self._stream = self._stream, None
        clean = True
        if stream is not None:
            clean = within(timeout_s, lambda: (stream.abort(), stream.close()))
            if not clean:
                log.warning("the audio device did not stop within %.1f s (its server went away?); "
                            "leaving it", timeout_s)
        clean = self.player.close(timeout_s) and clean
        self.stuck = not clean
        return clean
