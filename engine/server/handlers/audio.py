"""Audition, transport, effects and render routes: thin calls into the `AudioPort` (the bridge, or
`OfflineAudio` when there is no device). Effect changes are pushed on the session history, so undo
restores the chain and `/session/save` stores it."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from engine.edit.service import EditService, Region
from engine.errors import InputError
from engine.server.core import Client, Core
from engine.server.handlers.common import generate_session, service
from engine.server.jobs import Job
from engine.server.paths import confine
from engine.server.ports import check_render_size
from engine.server.wire import Args, HandlerTable, Replies, args_or_defaults, done

TABLE = HandlerTable()

# ------------------------------------------------------------ audition
@TABLE.handles("/audition/code")
def audition_code(core: Core, client: Client, args: Args) -> Replies:
    level, code, frames, gain_db = args_or_defaults("/audition/code", args)
    core.audio.audition(service(core).audition_code(core.state.require_session(), level, code, frames), gain_db)
    return done("/audition/code")


@TABLE.handles("/audition/region")
def audition_region(core: Core, client: Client, args: Args) -> Replies:
    s = core.state.require_session()
    l0, l1, f0, f1, gain_db = args_or_defaults("/audition/region", args)
    region = Region.of_levels(s.codes, l0, l1, f0, f1)
    held = service(core).audition_region(s, region)
    core.audio.audition(held.with_indices(np.array(held.indices[:, region.start:region.stop])), gain_db)
    return done("/audition/region")


@TABLE.handles("/audition/grid")
def audition_grid(core: Core, client: Client, args: Args) -> Replies:
    core.audio.audition(core.state.require_session().codes)
    return done("/audition/grid")


# ------------------------------------------------------------ transport
def _transport(address: str, call):
    @TABLE.handles(address)
    def handler(core: Core, client: Client, args: Args) -> Replies:
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


@TABLE.handles("/link")
def link(core: Core, client: Client, args: Args) -> Replies:
    on, start_stop = args_or_defaults("/link", args)
    return done("/link", core.audio.link(bool(on), bool(start_stop)))


# ------------------------------------------------------------ effects
def _record_fx(core: Core, op: str) -> None:
    """Pushes the chain onto the history (undoable, saved with the session)."""
    session = core.state.session
    if session is not None:
        new = EditService().set_effects(session, core.audio.fx_state(), op)
        if new is not session:
            core.commit_session(new, restore_fx=False)


@TABLE.handles("/fx/add")
def fx_add(core: Core, client: Client, args: Args) -> Job:
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


@TABLE.handles("/fx/remove")
def fx_remove(core: Core, client: Client, args: Args) -> Replies:
    core.audio.fx_remove(args[0])
    _record_fx(core, "fx remove")
    return done("/fx/remove")


@TABLE.handles("/fx/param")
def fx_param(core: Core, client: Client, args: Args) -> Replies:
    core.audio.fx_param(*args)
    _record_fx(core, "fx param")
    return done("/fx/param")


@TABLE.handles("/fx/bypass")
def fx_bypass(core: Core, client: Client, args: Args) -> Replies:
    core.audio.fx_bypass(args[0], bool(args[1]))
    _record_fx(core, "fx bypass")
    return done("/fx/bypass")


@TABLE.handles("/fx/list")
def fx_list(core: Core, client: Client, args: Args) -> Replies:
    chain = core.audio.fx_list()
    out = []
    for slot in chain:
        out.append(("/fx/slot", [int(slot["slot"]), str(slot["name"]), int(bool(slot.get("bypassed")))]))
        for p in slot.get("params", []):
            out.append(("/fx/value", [int(slot["slot"]), str(p["name"]), float(p["value"]), str(p.get("unit", ""))]))
    return out + done("/fx/list", len(chain))


# ------------------------------------------------------------ render
@TABLE.handles("/render/settings")
def render_settings(core: Core, client: Client, args: Args) -> Replies:
    fmt, bit_depth, sample_rate, normalize = args
    core.state.render_settings = replace(core.state.render_settings, format=fmt, bit_depth=bit_depth, sample_rate=sample_rate,
                                   normalize=bool(normalize))
    return done("/render/settings")


@TABLE.handles("/render/length")
def render_length(core: Core, client: Client, args: Args) -> Replies:
    seconds, bars = args
    core.state.render_settings = replace(core.state.render_settings, duration_s=seconds or None, bars=bars or None)
    return done("/render/length")


def _render_job(core: Core, address: str, name: str, codes) -> Job:
    settings, folder, audio = core.state.render_settings, core.roots.clips, core.audio
    confine(folder, Path(name).name or "clip", "clip name")  # the port keeps only the last component
    if settings.bars is None:  # refused now, before any work; a length in bars is checked by the bridge
        seconds = settings.duration_s or codes.n_frames / codes.frame_rate_hz
        check_render_size(round(seconds * settings.sample_rate), settings.sample_rate, settings.bit_depth, folder)
    return Job(address, lambda progress, cancelled: audio.render(codes, folder, name, settings, progress),
               lambda path: done(address, str(path)))


@TABLE.handles("/render")
def render(core: Core, client: Client, args: Args) -> Job:
    return _render_job(core, "/render", args[0], core.state.require_session().codes)


@TABLE.handles("/render/region")
def render_region(core: Core, client: Client, args: Args) -> Job:
    name, f0, f1 = args
    codes = core.state.require_session().codes
    if not 0 <= f0 < f1 <= codes.n_frames:
        raise InputError(f"frames [{f0}, {f1}) are out of range: the grid has {codes.n_frames} frames")
    return _render_job(core, "/render/region", name, codes.with_indices(np.array(codes.indices[:, f0:f1])))


# ------------------------------------------------------------ layered voices
@TABLE.handles("/voice/add")
def voice_add(core: Core, client: Client, args: Args) -> Job:
    ed, st = service(core), core.state
    st.require_prior()
    seconds, seed = args_or_defaults("/voice/add", args)
    if core.audio.describe() == "none" and not getattr(core.audio, "renders_voices", False):  # say so now
        from engine.server.ports import NO_DEVICE
        raise InputError(NO_DEVICE)
    base = st.require_session()

    def commit(new) -> Replies:
        if st.session is None or st.session.model_id != base.model_id:
            raise InputError("the model changed while the job ran; its result was dropped")
        voices = [*st.voices, (new.codes, 0.0)]
        core.audio.set_voices(voices)
        st.voices = voices
        return done("/voice/add", len(voices))
    return Job("/voice/add", lambda progress, cancelled: generate_session(ed, base, seconds, seed, progress,
                                                                          cancelled), commit)


@TABLE.handles("/voice/gain")
def voice_gain(core: Core, client: Client, args: Args) -> Replies:
    voice, gain_db = args
    if not 1 <= voice <= len(core.state.voices):
        raise InputError(f"voice {voice} is out of range: there are {len(core.state.voices)} layers (1..{len(core.state.voices)})"
                         if core.state.voices else f"voice {voice} is out of range: there are no layers (send /voice/add)")
    voices = list(core.state.voices)
    voices[voice - 1] = (voices[voice - 1][0], float(gain_db))
    core.audio.set_voices(voices)
    core.state.voices = voices
    return done("/voice/gain")


@TABLE.handles("/voice/clear")
def voice_clear(core: Core, client: Client, args: Args) -> Replies:
    count = len(core.state.voices)
    core.audio.set_voices([])
    core.state.voices = []
    return done("/voice/clear", count)
