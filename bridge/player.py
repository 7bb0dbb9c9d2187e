"""The real-time player: voices on a looping timeline, transport, effects, a producer and a callback.

Control calls (any thread) build a new immutable `Scene` or a transport command and queue it. The
producer thread takes them between blocks, mixes the voices at the device rate, applies ramps and
crossfades, runs the effects chain (`reset=False`) and writes the block into the `Ring` a small lead
ahead of the playhead. The audio callback (`Player.callback`) copies one block out or plays
silence and counts an underrun: no allocation, no lock, no logging, no model call.

An edit (`set_audio(..., changed=(start, stop))`) swaps the scene at the producer's next block with
a linear crossfade of `crossfade_ms`; since old and new audio are equal outside the changed
samples, the edit is heard from the first block whose audio it changes. `pull()` runs the same
producer steps synchronously, for tests and offline use without a device.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import replace

import numpy as np

from bridge.effects import EffectsChain
from bridge.player_config import PlayerConfig
from bridge.priority import PRODUCER_RT_PRIORITY, raise_thread_priority
from bridge.resample import changed_output_range, resample, resample_region
from bridge.ring import CallbackTimer, Ring, Waker
from bridge.scene import Scene, Voice, as_mono, mix_scene
from bridge.schedule import AtTime, FrameClock, TimedCommands
from engine.errors import InputError

UNDERRUN_LOG = 32  # underruns whose circumstances are kept (Player.underrun_log)
# Commands that may rewrite the blocks already queued (Player._rewind) when they head the queue:
# an edit's scene, and stop, gain and seek, so a note-off or a fader is heard from the next block,
# not after the lead. "play" waits for the lead on purpose: Bridge.play sends Link's quantized start
# one lead early, so that the bar line is what is heard; "align" is Link's bar line itself.
REWINDABLE = frozenset({"scene", "stop", "gain", "seek"})

class Player:
    """Voices + transport + effects into a ring of stereo blocks at `config.sample_rate`."""

    def __init__(self, config: PlayerConfig = PlayerConfig(), chain: EffectsChain | None = None) -> None:
        self.config = config
        self.chain = chain or EffectsChain()
        self.chain_lock = threading.Lock()  # producer holds it for one block; control for one edit
        self.ring = Ring(config.ring_blocks * config.block_size, 2)
        self.lead_frames = config.lead_blocks * config.block_size
        self.timer = CallbackTimer()
        self.clock = FrameClock(config.sample_rate)  # ring frame <-> time, from the callbacks
        self.timed = TimedCommands()  # control calls made inside `with player.at(unix_s)`
        self.at = AtTime()
        self.host_underflows = 0  # the host's own xrun flag (status.output_underflow), counted apart
        # A block the callback could not fill counts as an underrun only while audio is expected
        # (playing, or ramping down); an empty ring during silence (before the first play, after a
        # stop) is counted apart, so `underruns` is what a listener could hear.
        self.underruns = 0
        self.idle_underruns = 0
        # The first UNDERRUN_LOG underruns, for a soak's diagnosis: [unix s, ms since the producer
        # last wrote a block, ms since the previous callback, host underflows so far] each
        self.underrun_log = np.zeros((UNDERRUN_LOG, 4))
        self._last_write_s = 0.0  # perf_counter of the producer's newest block
        self._last_callback_s = 0.0
        self.producer_max_gap_s = 0.0  # longest wait between two producer passes (scheduling)
        self.align_slips = 0  # Link bar lines where the loop was off and was moved (crossfaded)
        self.last_align_off_frames = 0  # how far off it was at the last bar line checked
        self._expect_audio = False  # assigned by the producer: the state of the newest block
        self._waker = Waker()
        self._commands: deque = deque()
        self._control_lock = threading.Lock()
        self._posted = Scene()  # the latest scene handed to the producer (control side)
        # producer state: touched by the producer only
        self._scene = Scene()
        self._position = 0
        self._playing = False
        self._transport_gain = 0.0
        self._gain = 1.0
        self._gain_target = 1.0
        self._gain_step = 0.0
        self._fade: list | None = None  # [old_scene, old_position, frames_done]
        self._dry = np.zeros(config.block_size, np.float32)
        self._old = np.zeros(config.block_size, np.float32)
        self._ramp = np.arange(1, config.block_size + 1, dtype=np.float32)
        # (ring frame where a block starts, the producer's state there): the playhead's position
        # and the blocks an edit may rewrite (_rewind); frames only ever increase along it
        self._history: deque = deque(maxlen=config.ring_blocks * 4)
        self._rewind_floor = 0  # no rewind before this ring frame: commands were applied up to it
        self.rewinds = 0  # edits that rewrote blocks already in the ring
        self.command_rewinds = 0  # stops, gains and seeks that did (REWINDABLE)
        self._host_frames = config.block_size  # the host's buffer (fit_host_buffer)
        self._thread: threading.Thread | None = None
        self._closing = False
        self.producer_error: str | None = None
        self.realtime = False  # whether the producer thread got real-time scheduling

    # ---------------- control side (any thread) ----------------
    def set_audio(self, samples, sample_rate: int, changed: tuple[int, int] | None = None,
                  voice: int = 0, gain_db: float | None = None) -> None:
        """Replaces one voice's audio (mono float32 at `sample_rate`). `changed=(start, stop)`, in
        source samples, says only those samples differ: only that region is resampled again."""
        x = as_mono(samples).copy()  # the caller (a decoder) may splice its buffer in place later
        rate = _positive_int(sample_rate, "sample_rate")
        with self._control_lock:
            voices = list(self._posted.voices)
            if not 0 <= voice <= len(voices):
                raise InputError(f"voice {voice}: expected 0..{len(voices)}")
            old = voices[voice] if voice < len(voices) else None
            gain = old.gain if old is not None and gain_db is None else _db(gain_db or 0.0)
            device = self._to_device(x, rate, old, changed)
            new = Voice(x, rate, device, gain)
            voices[voice:voice + 1] = [new]
            self._post(replace(self._posted, voices=tuple(voices)))

    def apply_splice(self, start: int, samples, voice: int = 0) -> None:
        """New source samples for [start, start + len(samples)) of a voice (engine.live.decoder's Splice),
        at the voice's own rate; the rest of its audio stays as it is."""
        piece = as_mono(samples, "splice samples")
        with self._control_lock:
            if not 0 <= voice < len(self._posted.voices):
                raise InputError(f"splice voice {voice}: no such voice (has {len(self._posted.voices)})")
            old = self._posted.voices[voice]
            start = int(start)
            if not 0 <= start <= start + len(piece) <= len(old.source):
                raise InputError(f"splice [{start}, {start + len(piece)}): outside the voice's "
                                 f"{len(old.source)} samples")
            source = old.source.copy()
            source[start:start + len(piece)] = piece
            device = self._to_device(source, old.source_rate, old, (start, start + len(piece)))
            voices = list(self._posted.voices)
            voices[voice] = Voice(source, old.source_rate, device, old.gain)
            self._post(replace(self._posted, voices=tuple(voices)))

    def set_voices(self, voices: list[tuple]) -> None:
        """Replaces all voices: each (samples, sample_rate) or (samples, sample_rate, gain_db)."""
        with self._control_lock:
            built = []
            for i, item in enumerate(voices):
                samples, rate, *rest = item
                x = as_mono(samples, f"voice {i} samples").copy()
                rate = _positive_int(rate, f"voice {i} sample_rate")
                built.append(Voice(x, rate, self._to_device(x, rate, None, None), _db(rest[0] if rest else 0.0)))
            self._post(replace(self._posted, voices=tuple(built)))

    def set_voice_gain(self, voice: int, gain_db: float) -> None:
        with self._control_lock:
            voices = list(self._posted.voices)
            if not 0 <= voice < len(voices):
                raise InputError(f"voice {voice}: expected 0..{len(voices) - 1}")
            voices[voice] = replace(voices[voice], gain=_db(gain_db))
            self._post(replace(self._posted, voices=tuple(voices)))

    def set_loop_frames(self, start: int | None, end: int | None) -> None:
        """Loop region [start, end) in device frames; None, None loops the whole (longest) voice."""
        with self._control_lock:
            loop = None
            if start is not None or end is not None:
                start, end = int(start or 0), int(end if end is not None else self._posted.length)
                if start < 0 or end <= start:
                    raise InputError(f"loop: need 0 <= start < end, got {start}..{end} frames")
                loop = (start, end)
            self._post(replace(self._posted, loop=loop))

    def play(self) -> None:
        self._command(("play",))

    def stop(self) -> None:
        self._command(("stop",))

    def seek_frames(self, frame: int) -> None:
        if frame < 0:
            raise InputError(f"seek: position {frame} frames is negative")
        self._command(("seek", int(frame)))

    def align_frames(self, frame: int, tolerance_frames: int) -> None:
        """Seeks to `frame` (crossfaded) unless the loop is already within `tolerance_frames` of it
        there, on the circle of the loop: Link's bar-line re-alignment (bridge/link_lock.py), made
        inside `with at(bar_time)` so the comparison happens on the bar line's own frame."""
        self._command(("align", int(frame), int(tolerance_frames)))

    def set_gain_db(self, gain_db: float) -> None:
        if not -120.0 <= float(gain_db) <= 24.0:
            raise InputError(f"gain_db {gain_db}: expected -120..24 dB")
        self._command(("gain", _db(gain_db)))

    @property
    def scene(self) -> Scene:
        return self._posted

    def _to_device(self, x: np.ndarray, rate: int, old: Voice | None, changed) -> np.ndarray:
        sr = self.config.sample_rate
        if changed is None or old is None or old.source_rate != rate or len(old.source) != len(x):
            return resample(x, rate, sr)
        start, stop = (int(v) for v in changed)
        if not 0 <= start <= stop <= len(x):
            raise InputError(f"changed: ({start}, {stop}) outside 0..{len(x)} samples")
        first, last = changed_output_range(start, stop, rate, sr)
        last = min(last, len(old.samples))
        device = old.samples.copy()
        if last > first:
            device[first:last] = resample_region(x, rate, sr, first, last)
        return device

    def _post(self, scene: Scene) -> None:
        self._posted = scene
        self._command(("scene", scene))

    def _command(self, command: tuple) -> None:
        at_s = self.at.current  # inside `with player.at(t)`: wait for t's frame (bridge/schedule.py)
        if at_s is not None and self.clock.running:
            self.timed.push(at_s, command)
        else:
            self._commands.append(command)
        self._waker.wake()

    # ---------------- the audio callback ----------------
    def callback(self, outdata, frames, time_info, status) -> None:
        """sounddevice callback: copy one block out, or silence + underrun. outdata [frames, 2]."""
        started = time.perf_counter()
        self.clock.stamp(self.ring.read, started)  # the timeline's clock for timed commands
        if status.output_underflow:
            self.host_underflows += 1
        if not self.ring.read_into(outdata):
            # An empty ring means the producer is behind: its newest block is the one due now.
            if self._expect_audio:
                if self.underruns < UNDERRUN_LOG:
                    self.underrun_log[self.underruns] = (time.time(), (started - self._last_write_s) * 1e3,
                                                         (started - self._last_callback_s) * 1e3, self.host_underflows)
                self.underruns += 1
            else:
                self.idle_underruns += 1
        self._last_callback_s = started
        self._waker.wake()
        self.timer.record(started)

    # ---------------- producer side ----------------
    def fit_host_buffer(self, host_frames: int) -> None:
        """Keeps the lead in units of the host's buffer when it is larger than a block: JACK with a
        256-frame period asks for four 64-frame blocks back to back, faster than a producer wakes.
        Call before start()."""
        unit = max(self.config.block_size, int(host_frames))
        self._host_frames = int(host_frames)
        # the lead's time (LEAD_MS), rounded up to whole host buffers, at least two of them
        lead = max(self.config.lead_blocks * self.config.block_size, 2 * unit)
        self.lead_frames = -(-lead // unit) * unit
        needed = self.lead_frames + 2 * unit + self.config.block_size
        if needed > self.ring.capacity:
            self.ring = Ring(needed, 2)

    def start(self) -> None:
        """Starts the producer thread (fills the ring before the stream starts asking)."""
        self._produce_until_lead()
        self._thread = threading.Thread(target=self._run, name="distill-bridge-producer", daemon=True)
        self._thread.start()

    def close(self, timeout_s: float = 2.0) -> bool:
        """Stops the producer thread; False when it did not end within `timeout_s` (a plugin stuck
        in a block): it is a daemon thread, left behind."""
        self._closing = True
        self._waker.wake()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
        self._waker.close()
        return self._thread is None or not self._thread.is_alive()

    def pull(self, frames: int) -> np.ndarray:
        """Offline: produce and read `frames` (a multiple of block_size) like the callback would. # [frames, 2]"""
        out = np.zeros((frames, 2), np.float32)
        block = self.config.block_size
        for i in range(0, frames, block):
            self._produce_until_lead()
            self.ring.read_into(out[i:i + block])
        return out

    def position_frames(self) -> int:
        """Frame of the timeline the callback is playing now (approximate to one block)."""
        read = self.ring.read
        for frame, state in reversed(list(self._history)):  # list(): one step under the GIL
            if frame <= read:
                position = int(state[1] + (read - frame))
                break
        else:
            return self._position
        start, end = self._scene.bounds()
        if end > start and position >= end:
            position = start + (position - start) % (end - start)
        return position

    @property
    def playing(self) -> bool:
        return self._playing

    def _run(self) -> None:
        period_s = self.config.block_size / self.config.sample_rate
        self.realtime = raise_thread_priority(PRODUCER_RT_PRIORITY)
        try:
            last = time.perf_counter()
            while not self._closing:
                self._produce_until_lead()
                self._waker.wait(period_s / 2)
                now = time.perf_counter()
                self.producer_max_gap_s = max(self.producer_max_gap_s, now - last)
                last = now
        except Exception as e:  # a broken plugin must not take the process down: say so in status()
            self.producer_error = f"{type(e).__name__}: {e}"

    def _produce_until_lead(self) -> None:
        block = self.config.block_size
        self._rewind()
        while self.ring.available() < self.lead_frames and self.ring.space() >= block:
            for frames, due in self.timed.segments(self.ring.written, block, self.clock.frame_at):  # cut where timed commands fall
                self._commands.extend(due)
                self.ring.write(self._render_block(frames))
                self._last_write_s = time.perf_counter()

    def _rewind(self) -> None:
        """An edit (or a stop, gain or seek: REWINDABLE) waiting with an empty effects chain rewrites
        the blocks already in the ring, so it is heard from the next block the callback has not
        started, not after the lead: the producer's state at that block's first frame is restored
        and the lead is refilled from there (the edit crossfades in as usual). Only where nothing
        else was applied since (a command's effect would be lost), and only blocks whose callback
        is at least `rewind_margin_ms` off (callbacks never start before the frame clock's time for
        their first frame, so a block the producer rewrites is not read meanwhile). With effects the
        blocks in the ring went through the chain, whose state cannot be rewound: the edit waits."""
        block = self.config.block_size
        head = self._commands[0][0] if self._commands else None
        if (self.chain.slots or head not in REWINDABLE or self._fade is not None
                or not self.clock.running or self._host_frames > block):  # several callbacks per host cycle: no clock per block
            return
        rate, read = self.config.sample_rate, self.ring.read
        soon_s = time.perf_counter() + self.config.rewind_margin_ms / 1000.0 - self.clock.epoch_s()
        for frame, state in self._history:
            callback = read + (frame - read) // block * block  # first frame of the callback that reads it
            # a callback copying `read` now started before `soon_s` (the clock's time for it has passed)
            if frame >= self._rewind_floor and callback >= read and callback / rate > soon_s:
                break
        else:
            return
        if frame >= self.ring.written or state[7] is not None:
            return
        while self._history and self._history[-1][0] >= frame:
            self._history.pop()
        (self._scene, self._position, self._playing, self._transport_gain, self._gain, self._gain_target,
         self._gain_step) = state[:7]
        self.ring.written = frame  # the callback has not reached it (above); the lead refills from here
        if head == "scene":
            self.rewinds += 1
        else:
            self.command_rewinds += 1

    def _apply_commands(self) -> None:
        while self._commands:
            command = self._commands[0]
            kind = command[0]
            if kind in ("scene", "seek", "align") and self._fade is not None:
                return  # one crossfade at a time: this one waits for the next block
            self._commands.popleft()
            if kind == "scene":
                while self._commands and self._commands[0][0] == "scene":
                    command = self._commands.popleft()  # only the newest scene matters
                self._start_fade(command[1], self._position)
            elif kind == "seek":
                self._start_fade(self._scene, command[1])
            elif kind == "align":
                self._align(command[1], command[2])
            elif kind == "play":
                self._playing = True
            elif kind == "stop":
                self._playing = False
            elif kind == "gain":
                self._gain_target = command[1]
                self._gain_step = (self._gain_target - self._gain) / self.config.frames(self.config.ramp_ms)

    def _align(self, frame: int, tolerance: int) -> None:
        start, end = self._scene.bounds()
        if not self._playing or end <= start:
            return
        off = (self._position - frame) % (end - start)
        off = min(off, end - start - off)
        self.last_align_off_frames = int(off)
        if off > tolerance:
            self.align_slips += 1
            self._start_fade(self._scene, frame)

    def _start_fade(self, scene: Scene, position: int) -> None:
        start, end = scene.bounds()
        if end > start and not start <= position < end:
            position = start
        if self._transport_gain > 0.0:  # audible: crossfade from what was playing
            self._fade = [self._scene, self._position, 0]
        self._scene, self._position = scene, position

    def _render_block(self, n: int | None = None) -> np.ndarray:
        """The next `n` frames (default one block; fewer when a timed command cuts the block). # [n, 2]"""
        cfg = self.config
        n = n or cfg.block_size
        ramp = self._ramp[:n]
        self._history.append((self.ring.written, (self._scene, self._position, self._playing, self._transport_gain,
                                                  self._gain, self._gain_target, self._gain_step, self._fade)))
        waiting = len(self._commands)
        self._apply_commands()
        if len(self._commands) != waiting:
            self._rewind_floor = self.ring.written + n  # what this block applied must stay in it
        dry = self._dry[:n]
        audible_before = self._transport_gain > 0.0  # a ramp-down block ends at 0 but is heard
        if not self._playing and self._transport_gain == 0.0:
            dry.fill(0.0)  # stopped: the position stays, the effects still ring out
            self._fade = None  # nothing audible to fade from; queued scenes must not wait on it
        else:
            seam = cfg.frames(cfg.loop_seam_ms) if cfg.loop_seam_ms > 0 else 0
            self._position = mix_scene(self._scene, self._position, dry, seam)
            if self._fade is not None:
                old_scene, old_position, done = self._fade
                old = self._old[:n]
                self._fade[1] = mix_scene(old_scene, old_position, old, seam)
                total = cfg.frames(cfg.crossfade_ms)
                w = np.minimum((ramp + done) / total, 1.0)  # first sample already > 0
                dry[:] = old + (dry - old) * w
                self._fade[2] = done + n
                if done + n >= total:
                    self._fade = None
            step = 1.0 / cfg.frames(cfg.ramp_ms)
            target = 1.0 if self._playing else 0.0
            if self._transport_gain != target:
                g = np.clip(self._transport_gain + (step if self._playing else -step) * ramp, 0.0, 1.0)
                dry *= g
                self._transport_gain = float(g[-1])
        self._expect_audio = self._playing or audible_before or self._transport_gain > 0.0
        with self.chain_lock:
            wet = self.chain.process(dry[None, :], cfg.sample_rate, reset=False) if self.chain.slots else dry[None, :]
        if self._gain != self._gain_target or self._gain != 1.0:
            if self._gain != self._gain_target:
                g = self._gain + self._gain_step * ramp
                g = np.minimum(g, self._gain_target) if self._gain_step > 0 else np.maximum(g, self._gain_target)
                self._gain = float(g[-1])
            else:
                g = self._gain
            wet = wet * g
        return np.repeat(wet.T, 2, axis=1) if wet.shape[0] == 1 else np.ascontiguousarray(wet.T)


def _db(gain_db: float) -> float:
    return float(10.0 ** (float(gain_db) / 20.0))


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer, float)) or int(value) != value or value <= 0:
        raise InputError(f"{name}: expected a positive integer, got {value!r}")
    return int(value)
