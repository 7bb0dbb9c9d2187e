"""What the server needs from the audio side, as an interface (dependency inversion).

`engine/` never imports `bridge` or `sounddevice`: the server talks to an `AudioPort`, and the
composition root (`bridge/serve.py`, what `distill serve` runs) plugs in the real bridge. With no
bridge or no audio device, `OfflineAudio` answers: transport and audition fail with a sentence
that says how to get sound, and render still works (torch decode, no effect chain).

Threading: every method is called on the dispatcher thread except `render`, which runs on the
worker (it gets the codes it renders as a value).
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from contextlib import nullcontext
from typing import Any, Callable, ContextManager, Protocol

from engine.codes import Codes
from engine.errors import InputError
from engine.facts import RENDER_FORMATS, bytes_per_sample, check_bit_depth
from engine.signal.clips import unique_clip_path  # noqa: F401  (the one clip-naming scheme; OfflineAudio)


# A render holds the whole clip in memory a few times over (resampled, through the chain, normalised)
# and writes it at once, so its length is capped in frames, not seconds: 10 minutes at 48 kHz,
# 5 at 96 kHz, 2.5 at 192 kHz -- about 230 MB of float32 stereo in flight and a 173 MB 24-bit file.
MAX_RENDER_FRAMES = 600 * 48_000
RENDER_DISK_MARGIN_BYTES = 256_000_000  # left free after a render: the session autosave, the DAW, the system


def check_render_size(frames: int, sample_rate: int, bit_depth: int | str, folder: Path, channels: int = 2) -> None:
    """Refuses (InputError, one sentence) a render of `frames` frames at `sample_rate` over
    MAX_RENDER_FRAMES, or one whose file (`channels` x bytes per sample; 32 or "float": 4 bytes)
    would leave less than RENDER_DISK_MARGIN_BYTES free on the clips folder's disk."""
    if frames > MAX_RENDER_FRAMES:
        raise InputError(f"a render of {frames / sample_rate:.4g} s at {sample_rate} Hz is {frames:,} frames, over "
                         f"the {MAX_RENDER_FRAMES:,}-frame limit ({MAX_RENDER_FRAMES / sample_rate / 60:.3g} minutes "
                         f"at {sample_rate} Hz): render a shorter length or at a lower sample rate")
    need = frames * channels * bytes_per_sample(32 if bit_depth == "float" else int(bit_depth))  # "float": 32
    existing = Path(folder).absolute()
    while not existing.exists() and existing != existing.parent:  # the folder is made on the first render
        existing = existing.parent
    free = shutil.disk_usage(existing).free
    if free < need + RENDER_DISK_MARGIN_BYTES:
        raise InputError(f"the clips folder {folder} has {free / 1e6:.0f} MB free; this render needs "
                         f"{need / 1e6:.0f} MB plus {RENDER_DISK_MARGIN_BYTES / 1e6:.0f} MB to spare: free some "
                         f"space or start distill serve with another --clips-dir")


@dataclass(frozen=True)
class RenderSettings:
    """File format for renders. `bit_depth` 32 means 32-bit float."""

    format: str = "wav"
    bit_depth: int = 24
    sample_rate: int = 48_000
    normalize: bool = False
    duration_s: float | None = None  # None: the grid's own length
    bars: float | None = None  # at the bridge's tempo; wins over duration_s

    def __post_init__(self) -> None:
        if self.format not in RENDER_FORMATS:
            raise InputError(f"render format must be wav, flac or aiff, got {self.format!r}")
        check_bit_depth(self.bit_depth, self.format)
        if not 8000 <= self.sample_rate <= 192_000:
            raise InputError(f"render sample_rate must be 8000..192000 Hz, got {self.sample_rate}")


class AudioPort(Protocol):
    """The transport, effects and render side of the engine (the bridge, or `OfflineAudio`)."""

    def describe(self) -> str: ...  # device name, or "none"

    def set_model(self, model: Any, model_path: Path) -> None: ...  # model: engine.codec.model.Model

    def set_grid(self, codes: Codes, frames: tuple[int, int] | None) -> None: ...  # changed [start, stop) or all

    def play(self) -> None: ...

    def stop(self) -> None: ...

    def loop(self, start_s: float, end_s: float) -> None: ...  # end_s 0: whole grid

    def loop_bars(self, start_bar: float, bars: float) -> None: ...

    def tempo(self, bpm: float) -> None: ...

    def link(self, on: bool, start_stop: bool) -> int: ...  # Ableton Link on/off; returns the peers seen

    def at(self, unix_s: float | None) -> ContextManager: ...  # calls inside happen at that time (clock.py)

    def schedule_ahead_s(self) -> float: ...  # how early before its time a timed call must be made

    def seek(self, position_s: float) -> None: ...

    def gain(self, gain_db: float) -> None: ...

    def audition(self, codes: Codes, gain_db: float = 0.0) -> None: ...  # play a short grid, looped, instead of the grid

    def set_voices(self, layers: list[tuple[Codes, float]]) -> None: ...  # [(codes, gain_db)] over the grid

    def fx_add(self, effect: str, slot: int) -> tuple[int, str]: ...

    def fx_remove(self, slot: int) -> None: ...

    def fx_param(self, slot: int, name: str, value: float) -> None: ...

    def fx_bypass(self, slot: int, bypassed: bool) -> None: ...

    def fx_list(self) -> list[dict]: ...  # [{"slot", "name", "bypassed", "params": [{"name", "value", "unit"}]}]

    def fx_state(self) -> dict: ...  # JSON-safe chain, saved in the session

    def fx_restore(self, state: dict) -> None: ...

    def render(self, codes: Codes, folder: Path, name: str, settings: RenderSettings,
               progress: Callable[[float, str], None]) -> Path: ...  # on the worker; a new file, never overwrites

    def status(self) -> dict: ...  # transport s, position_s f, underruns i, latency_ms f, gain_db f


NO_DEVICE = ("no audio device: start `distill serve --device NAME` (see `distill serve --help`) "
             "to hear it; rendering works without one")


class OfflineAudio:
    """No bridge: no sound, no effects; renders with the torch decoder and Griffin-Lim."""

    def __init__(self, reason: str = NO_DEVICE) -> None:
        self.reason = reason
        self._model: Any = None
        self._gain_db = 0.0

    def describe(self) -> str:
        return "none"

    def set_model(self, model: Any, model_path: Path) -> None:
        self._model = model

    def set_grid(self, codes: Codes, frames: tuple[int, int] | None) -> None:
        pass  # nothing plays

    def _refuse(self, *_: Any) -> Any:
        raise InputError(self.reason)

    play = stop = loop = loop_bars = tempo = seek = audition = link = _refuse
    fx_add = fx_remove = fx_param = fx_bypass = _refuse

    def set_voices(self, layers: list[tuple[Codes, float]]) -> None:
        if layers:
            raise InputError(self.reason)

    def at(self, unix_s: float | None) -> ContextManager:
        return nullcontext()  # nothing plays: a timed call is as good as an immediate one

    def schedule_ahead_s(self) -> float:
        return 0.0

    def gain(self, gain_db: float) -> None:
        self._gain_db = float(gain_db)  # applied to renders

    def fx_list(self) -> list[dict]:
        return []

    def fx_state(self) -> dict:
        return {}

    def fx_restore(self, state: dict) -> None:
        pass

    def render(self, codes: Codes, folder: Path, name: str, settings: RenderSettings,
               progress: Callable[[float, str], None]) -> Path:
        import numpy as np

        from engine.signal.audio import Audio, save_audio
        if self._model is None:
            raise InputError("no model loaded: send /model/load NAME first")
        if settings.bars is not None:
            raise InputError("a length in bars needs the tempo of the bridge: start distill serve with the bridge")
        progress(0.1, "decoding")
        # The render path of engine/signal/clips.py without the bridge's chain: the live decoder when the
        # model has its graph (what the stream would play), looped or cut, gain, -14 LUFS if asked.
        from engine.signal.clips import NORMALIZE_LUFS, finish, fit_length, seam_frames
        samples, rate = self._decode(codes)
        frames = None if settings.duration_s is None else int(round(settings.duration_s * rate))
        samples = fit_length(samples, frames, rate, loop=True, seam=seam_frames(rate))  # the live loop's seams
        if settings.sample_rate != rate:  # the DAW's rate
            from pedalboard.io import StreamResampler
            resampler = StreamResampler(rate, settings.sample_rate, 1)
            block = samples[None].astype(np.float32)  # [1, T]
            samples = np.concatenate([resampler.process(block), resampler.process(None)], axis=1)[0]
        out = finish(samples[None], settings.sample_rate, self._gain_db,
                     NORMALIZE_LUFS if settings.normalize else None)[0]
        if settings.bit_depth != 32:
            out = np.clip(out, -1.0, 1.0)
        progress(0.9, "writing")
        return save_audio(unique_clip_path(folder, name, settings.format), Audio(out, settings.sample_rate),
                          bit_depth=settings.bit_depth)

    def _decode(self, codes: Codes):
        from engine.live.decoder import LiveDecoder, LiveDecoderError
        try:
            live = LiveDecoder(self._model.bundle)
        except LiveDecoderError:
            audio = self._model.render(codes)  # torch decoder + Griffin-Lim: no ONNX graph
            return audio.samples, audio.sample_rate
        return live.render(codes), live.spec.audio.sample_rate

    def status(self) -> dict:
        return {"transport": "stopped", "position_s": 0.0, "underruns": 0, "latency_ms": 0.0,
                "gain_db": self._gain_db}
