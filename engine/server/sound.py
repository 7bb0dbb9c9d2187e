"""The current grid's decoded sound, for the web page to play with Web Audio and draw.

Without any audio device the engine still decodes: the page fetches the grid's audio over HTTP
(`engine.protocol.SOUND_HTTP`: an index, then float32 segments) and plays it in the browser, so
`./run demo` is audible on any laptop. Decoding is lazy (only when a page asks) and incremental:
an edit of the same-shaped grid re-decodes only the frames it touched (`LiveLoop.edit`).

Why segments with content ETags (not column ranges): the decoder's receptive field and the
synthesis overlap spread an edit of frames [a, b) over more samples than those frames, by an amount
only the decoder knows. The grid is cut into segments of `SEGMENT_FRAMES` code frames (aligned
with the grid's columns), each named by a hash of its samples; the page compares the index with
what it holds and fetches only the segments whose hash changed. That is exact whatever the
decoder's reach, costs nothing when an edit changes nothing audible, and survives missed
notifications (the page only ever converges on the newest index).

Threading: `index()` is awaited on the dispatcher loop; it reads the immutable session value there
and decodes on one thread of its own, so OSC and WebSocket traffic never waits for a decoder.
"""
from __future__ import annotations

import asyncio
import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from engine.errors import InputError

SEGMENT_FRAMES = 32  # code frames per segment: ~0.34 s at 48 kHz / hop 512; an edit refetches ~1-3
MAX_SOUND_S = 180.0  # longest grid served (35 MB of float32 at 48 kHz; its first decode takes ~6 s)


class SoundRefused(InputError):
    """Why there is no sound to serve; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Decoded:
    """One decoded grid. `samples` is read-only float32 mono [T]; segment i covers samples
    [i * segment_samples, (i + 1) * segment_samples)."""

    version: int
    model_id: str
    samples: np.ndarray  # [T] float32
    sample_rate: int
    frames: int  # code frames in the grid
    samples_per_frame: int  # hop_length * time_stride: one grid column
    etags: tuple[str, ...]

    @property
    def segment_samples(self) -> int:
        return SEGMENT_FRAMES * self.samples_per_frame

    def segment(self, i: int) -> np.ndarray:
        if not 0 <= i < len(self.etags):
            raise SoundRefused(404, f"segment {i} does not exist: this grid's sound has {len(self.etags)} segments")
        n = self.segment_samples
        return self.samples[i * n:(i + 1) * n]

    def index(self, max_s: float) -> dict:
        return {"version": self.version, "model_id": self.model_id, "sample_rate": self.sample_rate,
                "samples": int(len(self.samples)), "frames": self.frames,
                "samples_per_frame": self.samples_per_frame, "segment_frames": SEGMENT_FRAMES,
                "segment_samples": self.segment_samples, "etags": list(self.etags), "max_seconds": max_s,
                "format": "float32 little-endian mono"}


def segment_etags(samples: np.ndarray, segment_samples: int) -> tuple[str, ...]:
    """A short content hash per segment (the last one may be shorter)."""
    data = np.ascontiguousarray(samples, dtype="<f4")
    return tuple(hashlib.blake2b(data[i:i + segment_samples].tobytes(), digest_size=8).hexdigest()
                 for i in range(0, max(len(data), 1), segment_samples))


class GridSound:
    """Decodes the server's current grid on request, reusing the previous decode for edits."""

    def __init__(self, max_s: float = MAX_SOUND_S) -> None:
        self.max_s = max_s
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="distill-web-sound")
        self._lock = asyncio.Lock()
        self._decoded: Decoded | None = None
        self._model: Any = None  # the engine.codec.model.Model the decoder below belongs to
        self._live: Any = None  # engine.live.decoder.LiveDecoder, or None (torch fallback)
        self._loop: Any = None  # its LiveLoop over the last decoded grid
        self._codes: Any = None  # the Codes last decoded

    async def current(self, core: Any) -> Decoded:
        """The current grid decoded (decoding it first if it changed since the last call)."""
        model, session = core.state.model, core.state.session
        if model is None or session is None:
            raise SoundRefused(404, "no sound yet: load a model (/model/load) and generate or encode a grid")
        codes = session.codes
        seconds = codes.n_frames / model.code_frame_rate_hz
        if seconds > self.max_s:
            raise SoundRefused(413, f"the grid is {seconds:.0f} s long; the page plays at most {self.max_s:.0f} s: "
                                    "start distill serve with --device to hear it, or render it")
        async with self._lock:
            d = self._decoded
            if d is not None and self._model is model and self._codes is not None \
                    and np.array_equal(self._codes.indices, codes.indices):
                if d.version != core.state.version:  # same sound, newer version (sampling, locks...)
                    d = self._decoded = replace(d, version=core.state.version)
                return d
            loop = asyncio.get_running_loop()
            self._decoded = await loop.run_in_executor(self._executor, self._decode, model, codes, core.state.version)
            return self._decoded

    def _decode(self, model: Any, codes: Any, version: int) -> Decoded:
        """On the sound thread: the grid to samples, incrementally when only codes changed."""
        if model is not self._model:
            from engine.live.decoder import LiveDecoder  # torch-free; the bridge plays the same decoder
            self._model, self._live, self._loop = model, None, None
            try:
                self._live = LiveDecoder(model.bundle)
            except InputError:
                self._live = None  # no ONNX graph in this bundle: the torch decoder, whole grids
        if self._live is None:
            samples = model.render(codes).samples
        elif self._loop is not None and self._loop.codes.indices.shape == codes.indices.shape:
            self._loop.edit(codes)  # re-decodes only what the edit touched, in place
            samples = self._loop.samples
        else:
            self._loop = self._live.loop(codes)
            samples = self._loop.samples
        self._codes = codes
        samples = np.array(samples, dtype=np.float32)  # a copy: the loop's buffer changes on the next edit
        samples.flags.writeable = False
        cfg = model.config
        per_frame = cfg.audio.hop_length * cfg.codec.time_stride
        return Decoded(version, model.model_id, samples, cfg.audio.sample_rate, codes.n_frames, per_frame,
                       segment_etags(samples, SEGMENT_FRAMES * per_frame))

    def close(self) -> None:
        """Waits for a decode in progress, then drops the ONNX session (no onnxruntime thread may
        outlive the interpreter)."""
        self._executor.shutdown(wait=True)
        self._live = self._loop = self._model = self._codes = self._decoded = None

