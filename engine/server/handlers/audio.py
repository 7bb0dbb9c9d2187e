"""Audition, transport, effects and render routes: thin calls into the `AudioPort` (the bridge, or
`OfflineAudio` when there is no device). Effect changes are pushed on the session history, so undo
restores the chain and `/session/save` stores it."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from engine.errors import InputError
from engine.server.handlers import args_or_defaults, done, handles
from engine.server.handlers.model import require_model
from engine.server.jobs import Job
from engine.server.paths import confine
from engine.server.ports import RenderSettings, check_render_size

def _session(core):
    require_model(core)
    return core.session


# ------------------------------------------------------------ audition
@handles("/audition/code")
def audition_code(core, client, args):
    session = _session(core)
    level, code, frames, gain_db = args_or_defaults("/audition/code", args)
    codes = session.codes
    from engine.edits import check_code, check_level
    check_level(codes, level), check_code(codes, code)
    # Held in context: the grid's first frames, with the chosen level held at `code`.
    n = min(frames, max(codes.n_frames, 1))
    held = np.array(codes.indices[:, :n]) if codes.n_frames >= n else np.zeros((codes.levels, n), np.int64)
    held[level, :] = code
    core.audio.audition(codes.with_indices(held), gain_db)
    return done("/audition/code")


@handles("/audition/region")
def audition_region(core, client, args):
    session = _session(core)
    l0, l1, f0, f1, gain_db = args_or_defaults("/audition/region", args)
    codes = session.codes
    if not (0 <= l0 < l1 <= codes.levels and 0 <= f0 < f1 <= codes.n_frames):
        raise InputError(f"region levels [{l0}, {l1}) frames [{f0}, {f1}) is outside the "
                         f"{codes.levels} x {codes.n_frames} grid")
    region = np.array(codes.indices[:, f0:f1])
    if l0 > 0 or l1 < codes.levels:  # levels outside the region play code 0 (they must exist: RVQ sums them)
        keep = np.zeros_like(region)
        keep[l0:l1] = region[l0:l1]
        region = keep
    core.audio.audition(codes.with_indices(region), gain_db)
    return done("/audition/region")


@handles("/audition/grid")
def audition_grid(core, client, args):
    core.audio.audition(_session(core).codes)
    return done("/audition/grid")


# ------------------------------------------------------------ transport
def _transport(address: str, call):
    @handles(address)
    def handler(core, client, args):
        call(core.audio, *args)
        core.notify("/transport", [core.audio.status().get("transport", "stopped"),
                                   float(core.audio.status().get("position_s", 0.0))])
        return done(address)
    return handler


_transport("/play", lambda audio: audio.play())
_transport("/stop", lambda audio: audio.stop())
_transport("/loop", lambda audio, start_s, end_s: audio.loop(start_s, end_s))
_transport("/loop/bars", lambda audio, start_bar, bars: audio.loop_bars(start_bar, bars))
_transport("/tempo", lambda audio, bpm: audio.tempo(bpm))
_transport("/seek", lambda audio, position_s: audio.seek(position_s))
_transport("/gain", lambda audio, gain_db: audio.gain(gain_db))


@handles("/link")
def link(core, client, args):
    on, start_stop = args_or_defaults("/link", args)
    return done("/link", core.audio.link(bool(on), bool(start_stop)))


# ------------------------------------------------------------ effects
def _record_fx(core, op: str) -> None:
    """Pushes the chain onto the history (undoable, saved with the session)."""
    session = core.session
    if session is not None:
        state = session.present.with_effects(core.audio.fx_state())
        if state.effects_json != session.present.effects_json:
            core.commit_session(session.push(replace(state, op=op)), restore_fx=False)


@handles("/fx/add")
def fx_add(core, client, args):
    effect, slot = args_or_defaults("/fx/add", args)
    if (effect.endswith(".vst3") or "/" in effect) and not Path(effect).is_absolute():
        raise InputError(f"VST3 plugin {effect!r}: give the absolute path of a .vst3 bundle in a plugin folder")
    # The audio port loads VST3 bundles only from the plugin folders (bridge/plugins.py).
    audio = core.audio

    def commit(result):
        _record_fx(core, "fx add")
        return done("/fx/add", *result)
    # Loading a VST3 can take a while: the worker does it; the bridge swaps the chain safely.
    return Job("/fx/add", lambda progress, cancelled: tuple(audio.fx_add(effect, slot)), commit)


@handles("/fx/remove")
def fx_remove(core, client, args):
    core.audio.fx_remove(args[0])
    _record_fx(core, "fx remove")
    return done("/fx/remove")


@handles("/fx/param")
def fx_param(core, client, args):
    core.audio.fx_param(*args)
    _record_fx(core, "fx param")
    return done("/fx/param")


@handles("/fx/bypass")
def fx_bypass(core, client, args):
    core.audio.fx_bypass(args[0], bool(args[1]))
    _record_fx(core, "fx bypass")
    return done("/fx/bypass")


@handles("/fx/list")
def fx_list(core, client, args):
    chain = core.audio.fx_list()
    out = []
    for slot in chain:
        out.append(("/fx/slot", [int(slot["slot"]), str(slot["name"]), int(bool(slot.get("bypassed")))]))
        for p in slot.get("params", []):
            out.append(("/fx/value", [int(slot["slot"]), str(p["name"]), float(p["value"]), str(p.get("unit", ""))]))
    return out + done("/fx/list", len(chain))


# ------------------------------------------------------------ render
@handles("/render/settings")
def render_settings(core, client, args):
    fmt, bit_depth, sample_rate, normalize = args
    core.render_settings = replace(core.render_settings, format=fmt, bit_depth=bit_depth, sample_rate=sample_rate,
                                   normalize=bool(normalize))
    return done("/render/settings")


@handles("/render/length")
def render_length(core, client, args):
    seconds, bars = args
    core.render_settings = replace(core.render_settings, duration_s=seconds or None, bars=bars or None)
    return done("/render/length")


def _render_job(core, address: str, name: str, codes) -> Job:
    settings, folder, audio = core.render_settings, core.roots.clips, core.audio
    confine(folder, Path(name).name or "clip", "clip name")  # the port keeps only the last component
    if settings.bars is None:  # refused now, before any work; a length in bars is checked by the bridge
        seconds = settings.duration_s or codes.n_frames / codes.frame_rate_hz
        check_render_size(round(seconds * settings.sample_rate), settings.sample_rate, settings.bit_depth, folder)
    return Job(address, lambda progress, cancelled: audio.render(codes, folder, name, settings, progress),
               lambda path: done(address, str(path)))


@handles("/render")
def render(core, client, args):
    return _render_job(core, "/render", args[0], _session(core).codes)


@handles("/render/region")
def render_region(core, client, args):
    name, f0, f1 = args
    codes = _session(core).codes
    if not 0 <= f0 < f1 <= codes.n_frames:
        raise InputError(f"frames [{f0}, {f1}) are out of range: the grid has {codes.n_frames} frames")
    return _render_job(core, "/render/region", name, codes.with_indices(np.array(codes.indices[:, f0:f1])))


# ------------------------------------------------------------ layered voices
@handles("/voice/add")
def voice_add(core, client, args):
    from engine.codes import Codes
    from engine.generate import frames_for_seconds
    from engine.server.handlers.edit import _require_prior, _sampling, generation_work
    session, prior = _session(core), _require_prior(core)
    seconds, seed = args_or_defaults("/voice/add", args)
    seed = int(session.present.sampling.get("seed", 0)) if seed is None else seed
    if core.audio.describe() == "none":  # say so now rather than after generating
        from engine.server.ports import NO_DEVICE
        raise InputError(NO_DEVICE)
    base, sampling = session.codes, _sampling(session)
    frames = frames_for_seconds(seconds, base.frame_rate_hz)

    work = generation_work(prior, frames, sampling, seed)

    def commit(indices):
        if core.session is None or core.session.model_id != base.model_id:
            raise InputError("the model changed while the job ran; its result was dropped")
        codes = Codes(indices.astype("int64"), base.codebook_size, base.frame_rate_hz, base.model_id)
        voices = [*core.voices, (codes, 0.0)]
        core.audio.set_voices(voices)
        core.voices = voices
        return done("/voice/add", len(voices))
    return Job("/voice/add", work, commit)


@handles("/voice/gain")
def voice_gain(core, client, args):
    voice, gain_db = args
    if not 1 <= voice <= len(core.voices):
        raise InputError(f"voice {voice} is out of range: there are {len(core.voices)} layers (1..{len(core.voices)})"
                         if core.voices else f"voice {voice} is out of range: there are no layers (send /voice/add)")
    voices = list(core.voices)
    voices[voice - 1] = (voices[voice - 1][0], float(gain_db))
    core.audio.set_voices(voices)
    core.voices = voices
    return done("/voice/gain")


@handles("/voice/clear")
def voice_clear(core, client, args):
    count = len(core.voices)
    core.audio.set_voices([])
    core.voices = []
    return done("/voice/clear", count)
