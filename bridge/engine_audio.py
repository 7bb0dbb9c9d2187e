"""`BridgeAudio`: the engine server's `AudioPort` (engine/server/ports.py) on a real `Bridge`.

It turns what the server asks for (a grid, an audition, layered voices, transport, effects, a
render) into bridge calls: a decode thread (and, for a lone edit, the dispatcher itself) re-decodes
only what an edit touched with the torch-free live decoder and hands the splice to the device side;
auditions are decoded once and cached. `bridge/serve.py` (the composition root) builds it.
"""
from __future__ import annotations

import contextlib
import queue
import sys
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

import numpy as np

from bridge.priority import DECODE_RT_PRIORITY, hand_over_gil_quickly, normal_priority, raise_thread_priority
from engine import trace
from engine.codes import Codes
from engine.errors import InputError
from engine.server.ports import NO_DEVICE, RenderSettings
from engine.signal.clips import NORMALIZE_LUFS, mix_layers

AUDITION_CACHE_SAMPLES = 10_000_000  # about 40 MB of decoded auditions (3.5 minutes at 48 kHz)
# An edit is spliced on the dispatcher itself when its last one there ended this long ago and the
# decode thread is idle; closer edits go to the decode thread, which coalesces a burst into one decode.
SPLICE_HERE_GAP_S = 0.010


class BridgeAudio:
    """`AudioPort` over the bridge facade. Grids are decoded to audio on a decode thread of its own
    (latest grid wins), so a burst of edits never makes the OSC dispatcher wait for a decoder. A
    lone edit of the playing grid (a few ms) is spliced on the calling thread instead: handing it
    to the decode thread cost a thread wake-up and GIL hand-overs with the replies that follow."""

    def __init__(self, bridge) -> None:
        self.bridge = bridge
        self._model: Any = None
        self._live: Any = None  # engine.live.decoder.LiveDecoder
        self._loop: Any = None  # its LiveLoop over the current grid
        self._grid: Codes | None = None
        self._grid_playing = False  # False while an audition replaced the grid's audio
        self._jobs: queue.Queue = queue.Queue()
        self._jobs_put = self._jobs_done = 0  # the decode thread is idle when equal (each has one writer)
        self._spliced_here_s = 0.0  # perf_counter when the last edit spliced on the dispatcher ended
        self._closed = False
        self._main: tuple[Any, int] | None = None  # voice 0's audio as last set: (samples, rate)
        self._layers: list[tuple[Codes, Any]] = []  # decoded layers, reused while their grid is the same
        self._voice_layers: list[tuple[Codes, float]] = []  # the layers as last set, with gains (renders)
        self._at: float | None = None  # inside `with at(t)`: the Unix time the calls are for
        self._auditions: OrderedDict[bytes, tuple[Any, int]] = OrderedDict()  # decoded auditions, newest last
        self._decode_lock = threading.Lock()  # one _decode at a time: the decode thread's, or a cached audition's
        self._trace: dict | None = None  # DISTILL_TRACE_EDITS: the stamps of the grid being decoded (engine/trace.py)
        # the decode thread takes the GIL back after each ONNX call and numpy step: behind the
        # dispatcher or the web server it would wait up to Python's 5 ms each time
        hand_over_gil_quickly()
        self._thread = threading.Thread(target=self._decode_loop, name="distill-decode", daemon=True)
        self._thread.start()

    def describe(self) -> str:
        return self.bridge.device["name"] if self.bridge.device else "none"

    @contextlib.contextmanager
    def at(self, unix_s: float | None):
        """Calls inside happen at Unix time `unix_s` on the audio timeline (bridge/schedule.py):
        transport and parameters on that frame, a grid from that frame once it is decoded."""
        self._at = unix_s
        try:
            with self.bridge.at(unix_s):
                yield
        finally:
            self._at = None

    def schedule_ahead_s(self) -> float:
        """How early a timed call must reach the bridge at the latest: before the producer writes
        its frame, i.e. the ring's lead plus one block (37 ms at 256 frames / 48 kHz)."""
        cfg = self.bridge.config
        return (self.bridge.lead_frames + cfg.block_size) / cfg.sample_rate

    def set_model(self, model: Any, model_path: Path) -> None:
        """The live path decodes with the torch-free ONNX `LiveDecoder` and re-decodes only what an
        edit touches; a bundle without ONNX graphs falls back to the torch decoder (whole grid)."""
        from engine.live.decoder import LiveDecoder
        try:
            live = LiveDecoder(model.bundle)
        except InputError as e:
            live = None
            print(f"distill serve: {e}; decoding with torch instead (slower edits)", file=sys.stderr)
        # Swapped while no decode runs: a grid still decoding with the old decoder on the decode
        # thread read `self._live` between its calls and found None (seen under load).
        with self._decode_lock:
            self._model, self._loop, self._live = model, None, live
            self._auditions.clear()

    def set_grid(self, codes: Codes, frames: tuple[int, int] | None) -> None:
        self._grid = codes
        if self.bridge.device is not None:  # nothing plays without a device: decode when it does
            stamps = trace.take() if trace.ENABLED else None
            if not self._splice_here(codes, stamps):
                self._put(("grid", codes, self._at, stamps))

    def _put(self, job: tuple) -> None:
        self._jobs_put += 1
        self._jobs.put(job)

    def _splice_here(self, codes: Codes, stamps: dict | None) -> bool:
        """Splices an edit of the playing grid on this thread when the decode thread has nothing
        queued or running (so no older grid can land after this one) and the last edit spliced
        here ended SPLICE_HERE_GAP_S ago. False: the decode thread must do it."""
        if (not self._is_splice(codes) or self._jobs_put != self._jobs_done
                or time.perf_counter() - self._spliced_here_s < SPLICE_HERE_GAP_S
                or not self._decode_lock.acquire(blocking=False)):
            return False
        try:
            if stamps is not None:
                stamps["picked"], stamps["picked_cpu"] = time.perf_counter(), time.thread_time()
            self._trace = stamps
            self._show_grid(codes)
        except Exception as e:
            print(f"distill serve: decode failed: {type(e).__name__}: {e}", file=sys.stderr)
        finally:
            self._spliced_here_s = time.perf_counter()
            self._decode_lock.release()
        return True

    def _is_splice(self, codes: Codes) -> bool:
        """Whether `codes` as the grid is an edit of the loop that plays (re-decoded in part, ms)."""
        loop = self._loop
        return loop is not None and self._grid_playing and loop.codes.indices.shape == codes.indices.shape

    def audition(self, codes: Codes, gain_db: float = 0.0) -> None:
        if self._model is None:
            raise InputError("no model loaded: send /model/load NAME first")
        self._require_device()
        # Decoded before (a MIDI key struck again): start it here, on the dispatcher, unless the
        # decode thread is busy (it keeps the order of grid and audition changes then).
        if self._audition_key(codes) in self._auditions and self._jobs_put == self._jobs_done and \
                self._decode_lock.acquire(blocking=False):
            try:
                self._decode("audition", (codes, float(gain_db)))
            finally:
                self._decode_lock.release()
            return
        self._put(("audition", (codes, float(gain_db)), self._at, None))

    renders_voices = True  # layered voices are kept (and rendered) even without a device

    def set_voices(self, layers: list[tuple[Codes, float]]) -> None:
        """Layers `[(codes, gain_db)]` played as voices 1.. over the grid (voice 0), decoded on the
        decode thread; [] leaves the grid alone. Without a device they are kept for renders."""
        if layers and self._model is None:
            raise InputError("no model loaded: send /model/load NAME first")
        self._voice_layers = list(layers)
        if self.bridge.device is not None and (layers or self._layers):
            self._put(("voices", list(layers), self._at, None))

    def _decode_loop(self) -> None:
        raise_thread_priority(DECODE_RT_PRIORITY)  # a busy machine must not hold an edit back (bridge/priority.py)
        while True:
            # coalesce: only the newest request of each kind matters (grid or audition, layers)
            batch = {}
            kind, payload, at, stamps = self._jobs.get()
            got = 1
            while True:
                if stamps is not None:
                    stamps["picked"], stamps["picked_cpu"] = time.perf_counter(), time.thread_time()
                if kind == "close":
                    return
                batch["voices" if kind == "voices" else "main"] = (kind, payload, at, stamps)
                if self._jobs.empty():
                    break
                kind, payload, at, stamps = self._jobs.get()
                got += 1
            for kind, payload, at, stamps in batch.values():  # the grid before the layers mixed with it
                # a timed edit is heard from its frame on; anything but a splice decodes at normal priority
                splice = kind == "grid" and self._is_splice(payload)
                priority = contextlib.nullcontext() if splice else normal_priority()
                try:
                    with self._decode_lock, self.bridge.at(at), priority:
                        self._trace = stamps
                        self._decode(kind, payload)
                except Exception as e:
                    print(f"distill serve: decode failed: {type(e).__name__}: {e}", file=sys.stderr)
            self._jobs_done += got  # after the decodes: an edit spliced elsewhere cannot land before them

    def _decode(self, kind: str, payload: Any) -> None:
        if kind == "grid":
            self._show_grid(payload)
        elif kind == "voices":
            self._show_voices(payload)
        else:  # audition: the clip replaces the grid until the grid changes or /play
            codes, gain_db = payload
            self._grid_playing = False
            samples, rate = self._audition_samples(codes)
            self.bridge.set_loop(None, None)
            self._set_main(samples, rate, gain_db=gain_db)
            self.bridge.seek(0.0)
            self.bridge.play()

    def _set_main(self, samples: Any, rate: int, gain_db: float | None = None) -> None:
        """Voice 0's audio; `gain_db` None keeps its gain, else sets it (an audition's velocity, or
        0 dB when the grid comes back). An edit's splice goes by `Bridge.apply_splice` instead."""
        self._main = (samples, rate)
        self.bridge.set_audio(samples, rate, gain_db=gain_db)
        self.bridge.open_stream()  # the first audio there is to play opens the device (no-op after)

    def _show_voices(self, layers: list[tuple[Codes, float]]) -> None:
        cached = {id(codes): samples for codes, samples in self._layers}
        todo = [codes for codes, _ in layers if id(codes) not in cached]
        if todo:
            if self._live is not None:
                decoded = self._live.render_voices(todo)  # one batched ONNX call per grid length
            else:
                decoded = [self._render_samples(codes)[0] for codes in todo]
            cached.update({id(codes): samples for codes, samples in zip(todo, decoded)})
        self._layers = [(codes, cached[id(codes)]) for codes, _ in layers]
        if self._main is None:
            return  # the grid is not decoded yet: nothing to layer over
        rate = self._live.spec.audio.sample_rate if self._live is not None else self._main[1]
        main_samples, main_rate = self._main
        self.bridge.set_voices([(main_samples, main_rate, 0.0),
                                *((cached[id(codes)], rate, gain_db) for codes, gain_db in layers)])

    def _audition_samples(self, codes: Codes) -> tuple[Any, int]:
        """Auditions are decoded once per grid: a MIDI key struck again (or a timed note) plays at
        once instead of waiting for the decoder. The cache holds at most AUDITION_CACHE_SAMPLES."""
        key = self._audition_key(codes)
        hit = self._auditions.get(key)
        if hit is not None:
            self._auditions.move_to_end(key)
            return hit
        samples, rate = self._render_samples(codes)
        self._auditions[key] = (samples, rate)
        while sum(len(v[0]) for v in self._auditions.values()) > AUDITION_CACHE_SAMPLES and len(self._auditions) > 1:
            self._auditions.popitem(last=False)
        return samples, rate

    @staticmethod
    def _audition_key(codes: Codes) -> bytes:
        return codes.indices.tobytes() + repr(codes.indices.shape).encode()

    def _render_samples(self, codes: Codes) -> tuple[Any, int]:
        if self._live is not None:
            return self._live.render(codes), self._live.spec.audio.sample_rate
        audio = self._model.render(codes)
        return audio.samples, audio.sample_rate

    def _show_grid(self, codes: Codes) -> None:
        self._grid = codes
        if self._live is None:
            samples, rate = self._render_samples(codes)
            self._set_main(samples, rate, gain_db=0.0)
        elif self._loop is None or self._loop.codes.indices.shape != codes.indices.shape or not self._grid_playing:
            self._loop = self._live.loop(codes)
            self._set_main(self._loop.samples, self._live.spec.audio.sample_rate, gain_db=0.0)
        else:
            splice = self._loop.edit(codes)  # only the frames the edit touched, crossfaded in
            if splice is not None:
                if self._trace is not None:
                    self._trace["decoded"], self._trace["decoded_cpu"] = time.perf_counter(), time.thread_time()
                # Only the new samples go to the device side (a process of its own: the whole voice
                # would be pickled through its pipe, 1 ms for a 1 s loop); voice 0 is the loop's audio.
                self._main = (self._loop.samples, self._live.spec.audio.sample_rate)
                device_started, device_posted = self.bridge.apply_splice(splice.start, splice.samples)
                trace.finish(self._trace, splice_samples=len(splice.samples), device_started=device_started,
                             device_posted=device_posted)
            self._trace = None
        self._grid_playing = True

    def _require_device(self) -> None:
        if self.bridge.device is None:
            raise InputError(NO_DEVICE)

    def play(self) -> None:
        self._require_device()
        if not self._grid_playing and self._grid is not None:
            self._put(("grid", self._grid, self._at, None))  # back from an audition
        self.bridge.play()

    def stop(self) -> None:
        self.bridge.stop()

    def loop(self, start_s: float, end_s: float) -> None:
        self.bridge.set_loop(None, None) if end_s == 0 else self.bridge.set_loop(start_s, end_s)

    def loop_bars(self, start_bar: float, bars: float) -> None:
        self.bridge.set_loop_bars(start_bar, start_bar + bars)

    def tempo(self, bpm: float) -> None:
        self.bridge.set_tempo(bpm)

    def link(self, on: bool, start_stop: bool) -> int:
        if not on:
            self.bridge.disable_link()
            return 0
        self.bridge.enable_link(start_stop=start_stop)
        return int(self.bridge.link.status()["peers"])

    def seek(self, position_s: float) -> None:
        self.bridge.seek(position_s)

    def gain(self, gain_db: float) -> None:
        self.bridge.set_gain_db(gain_db)

    def fx_add(self, effect: str, slot: int) -> tuple[int, str]:
        index = self.bridge.add_effect(effect, index=None if slot < 0 else slot)
        return index, Path(effect).stem if effect.endswith(".vst3") else effect

    def fx_remove(self, slot: int) -> None:
        self.bridge.remove_effect(slot)

    def fx_param(self, slot: int, name: str, value: float) -> None:
        self.bridge.set_effect_param(slot, name, value)

    def fx_bypass(self, slot: int, bypassed: bool) -> None:
        self.bridge.set_effect_bypass(slot, bypassed)

    def fx_list(self) -> list[dict]:
        out = []
        for i, slot in enumerate(self.bridge.effects()):
            params = slot.get("params", {})
            if isinstance(params, dict):
                params = [{"name": k, "value": v if isinstance(v, (int, float)) else 0.0, "unit": ""}
                          for k, v in params.items()]
            out.append({"slot": slot.get("index", i), "name": slot.get("name", slot.get("plugin", "?")),
                        "bypassed": slot.get("bypass", slot.get("bypassed", False)), "params": params})
        return out

    def fx_state(self) -> dict:
        return self.bridge.effects_to_dict()

    def fx_restore(self, state: dict) -> None:
        if state:
            self.bridge.effects_from_dict(state)

    def render(self, codes: Codes, folder: Path, name: str, settings: RenderSettings,
               progress: Callable[[float, str], None]) -> Path:
        if self._model is None:
            raise InputError("no model loaded: send /model/load NAME first")
        progress(0.1, "decoding")
        # The one render path (engine/signal/clips.py): what the live stream plays, with or without a
        # device. The live decoder, voice 0 plus the layered voices when the whole grid renders,
        # looped or cut to the length, the chain, the master gain, then -14 LUFS if asked.
        samples, rate = self._render_samples(codes)
        layers = self._voice_layers if self._grid is not None and codes.indices.shape == self._grid.indices.shape \
            and np.array_equal(codes.indices, self._grid.indices) else []
        mix = mix_layers([(samples, 0.0), *zip(self._decoded_layers(layers), (g for _, g in layers))])
        progress(0.6, "rendering through the effect chain")
        return self.bridge.render(mix, rate, clips_dir=str(folder), format=settings.format,
                                  bit_depth=settings.bit_depth,
                                  out_sample_rate=settings.sample_rate, duration_s=settings.duration_s,
                                  bars=settings.bars, loop=True,
                                  loudness_lufs=NORMALIZE_LUFS if settings.normalize else None, name=Path(name).name)

    def _decoded_layers(self, layers: list[tuple[Codes, float]]) -> list[Any]:
        """The layers' samples: those the decode thread has, the rest decoded here (worker)."""
        cached = {id(codes): samples for codes, samples in self._layers}
        todo = [codes for codes, _ in layers if id(codes) not in cached]
        if todo:
            decoded = (self._live.render_voices(todo) if self._live is not None
                       else [self._render_samples(codes)[0] for codes in todo])
            cached.update({id(codes): samples for codes, samples in zip(todo, decoded)})
        return [cached[id(codes)] for codes, _ in layers]

    def status(self) -> dict:
        s = self.bridge.status()
        latency = s.get("output_latency_s")
        return {"transport": "playing" if s.get("playing") else "stopped", "position_s": s.get("position_s", 0.0),
                "underruns": s.get("underruns", 0), "latency_ms": 1000.0 * latency if latency else 0.0,
                "gain_db": s.get("gain_db", 0.0), "tempo_bpm": s.get("tempo_bpm", 120.0),
                "link": bool(s.get("link")), "host_underflows": s.get("host_underflows", 0),
                "idle_underruns": s.get("idle_underruns", 0), "late_commands": int(s.get("late_commands", 0)),
                "edit_rewinds": int(s.get("edit_rewinds", 0)), "device_restarts": int(s.get("device_restarts", 0))}

    def close(self, timeout_s: float = 10.0) -> bool:
        """Joins the decode thread (it finishes the decode it is in, within `timeout_s`), closes the
        bridge (stream and producer thread, each bounded) and drops the ONNX sessions. Idempotent.
        False when something did not stop in time (then the process must exit without waiting
        for it). PortAudio itself stays up (other streams may use it): `run` terminates it."""
        if self._closed:
            return not self.bridge.stuck
        self._closed = True
        self._jobs.put(("close", None, None, None))
        self._thread.join(timeout_s)
        decoder_done = not self._thread.is_alive()
        clean = self.bridge.close() and decoder_done
        if decoder_done:
            self._live = self._loop = self._model = None  # onnxruntime sessions go while Python is whole
        self._layers, self._main = [], None
        return clean
