"""Grid, editor, move, label and generation routes. Every edit is a pure function `Codes -> Codes`
from `engine/edits.py` (or `engine/moves.py`), pushed on the session's history, so undo/redo
restore bit-identical grids and a failed edit changes nothing."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from engine import protocol
from engine.errors import InputError
from engine.server.core import grid_chunks
from engine.server.handlers import args_or_defaults, done, handles
from engine.server.handlers.model import require_model
from engine.server.jobs import Job
from engine.server.paths import confine


def _session(core):
    require_model(core)
    return core.session


def _levels(session, level_start: int, level_stop: int) -> tuple[int, ...]:
    q = session.codes.levels
    if not 0 <= level_start < level_stop <= q:
        raise InputError(f"levels [{level_start}, {level_stop}) are out of range: need 0 <= start < stop <= {q}")
    return tuple(range(level_start, level_stop))


def _apply(core, address: str, new_codes, op: str):
    session = core.session
    core.commit_session(session.edit(new_codes, op))
    return done(address, core.version)


def _region_edit(address: str, op: str, fn):
    """Registers a route whose first four args are a region; `fn(core, codes, session, levels, f0, f1, *rest)`."""
    @handles(address)
    def handler(core, client, args):
        session = _session(core)
        l0, l1, f0, f1, *rest = args_or_defaults(address, args)
        levels = _levels(session, l0, l1)
        return _apply(core, address, fn(core, session.codes, session, levels, f0, f1, *rest), op)
    return handler


def _edits():
    from engine import edits
    return edits


@handles("/grid/get")
def grid_get(core, client, args):
    session = _session(core)
    f0, f1 = args_or_defaults("/grid/get", args)
    codes = session.codes
    f1 = codes.n_frames if f1 == 0 else f1
    if not 0 <= f0 < f1 <= codes.n_frames:
        raise InputError(f"frames [{f0}, {f1}) are out of range: the grid has {codes.n_frames} frames")
    info = ("/grid/info", [core.version, codes.levels, codes.n_frames, codes.codebook_size, float(codes.frame_rate_hz)])
    return [info, *grid_chunks(codes.indices, core.version, f0, f1), *done("/grid/get", core.version)]


@handles("/edit/set")
def edit_set(core, client, args):
    session = _session(core)
    level, frame, code = args
    new = _edits().set_code(session.codes, level, frame, code, session.present.locked_levels)
    return _apply(core, "/edit/set", new, "set")


_region_edit("/edit/swap", "swap", lambda core, c, s, lv, f0, f1, a, b: _edits().swap_codes(
    c, a, b, f0, f1, lv, s.present.locked_levels))
_region_edit("/edit/duplicate", "duplicate", lambda core, c, s, lv, f0, f1: _edits().duplicate_region(
    c, f0, f1, lv, s.present.locked_levels))
_region_edit("/edit/reverse", "reverse", lambda core, c, s, lv, f0, f1: _edits().reverse_region(
    c, f0, f1, lv, s.present.locked_levels))
_region_edit("/edit/shift", "shift", lambda core, c, s, lv, f0, f1, n: _edits().shift_region(
    c, f0, f1, n, lv, s.present.locked_levels))



@handles("/edit/fill")
def edit_fill(core, client, args):
    session = _session(core)
    l0, l1, f0, f1, code = args
    codes = session.codes
    # each field checked on its own so the /fail names the one that is wrong
    for name, value, low, high in (("level_start", l0, 0, codes.levels - 1), ("level_stop", l1, l0 + 1, codes.levels),
                                   ("frame_start", f0, 0, codes.n_frames - 1),
                                   ("frame_stop", f1, f0 + 1, codes.n_frames),
                                   ("code", code, 0, codes.codebook_size - 1)):
        if not low <= value <= high:
            raise InputError(f"{name} {value} is out of range: need {low}..{high} for this grid")
    new = _edits().fill(codes, code, f0, f1, tuple(range(l0, l1)), session.present.locked_levels)
    return _apply(core, "/edit/fill", new, "fill")

def _clipboard(session):
    if session.clipboard is None:
        raise InputError("the clipboard is empty: send /edit/copy first")
    clip = session.clipboard
    if clip.shape[0] != session.codes.levels:  # blend/morph need every level; pad with the grid's own
        raise InputError("blend and morph need a clipboard copied from all levels")
    return clip


_region_edit("/edit/blend", "blend", lambda core, c, s, lv, f0, f1, amount: _edits().blend(
    c, _clipboard(s), amount, _codebooks(core), f0, f1, lv, s.present.locked_levels))
_region_edit("/edit/morph", "morph", lambda core, c, s, lv, f0, f1: _edits().morph(
    c, _clipboard(s), _codebooks(core), f0, f1, lv, s.present.locked_levels))

def _codebooks(core):
    if core.codebooks is None:
        raise InputError("this model's codebooks could not be read; blend and morph need them")
    return core.codebooks  # [Q, K, d]


@handles("/edit/copy")
def edit_copy(core, client, args):
    session = _session(core)
    l0, l1, f0, f1 = args
    _levels(session, l0, l1)
    clip = _edits().copy_region(session.codes, f0, f1, tuple(range(l0, l1)))
    core.commit_session(replace(session, clipboard=clip))
    return done("/edit/copy", core.version)


@handles("/edit/paste")
def edit_paste(core, client, args):
    session = _session(core)
    level, frame = args
    if session.clipboard is None:
        raise InputError("the clipboard is empty: send /edit/copy first")
    new = _edits().paste(session.codes, session.clipboard, frame, level, None, session.present.locked_levels)
    return _apply(core, "/edit/paste", new, "paste")


@handles("/edit/lock")
def edit_lock(core, client, args):
    session = _session(core)
    level, locked = args
    _levels(session, level, level + 1)
    current = set(session.present.locked_levels)
    current = current | {level} if locked else current - {level}
    core.commit_session(session.push(replace(session.present, locked_levels=tuple(sorted(current)),
                                             op="lock" if locked else "unlock")))
    return done("/edit/lock", core.version)


@handles("/edit/select")
def edit_select(core, client, args):
    from engine.session import Selection
    session = _session(core)
    l0, l1, f0, f1 = args
    levels = _levels(session, l0, l1)
    _edits().check_region(session.codes, f0, f1)
    selection = Selection(f0, f1, () if levels == tuple(range(session.codes.levels)) else levels)
    core.commit_session(session.replace_present(selection=selection))
    core.notify("/selection", [l0, l1, f0, f1])
    return done("/edit/select", core.version)


@handles("/undo")
def undo(core, client, args):
    core.commit_session(_session(core).undo())
    return done("/undo", core.version)


@handles("/redo")
def redo(core, client, args):
    core.commit_session(_session(core).redo())
    return done("/redo", core.version)


# ------------------------------------------------------------ model-backed edits (jobs)
def _sampling(session):
    from engine.sampling import Sampling
    s = session.present.sampling
    return Sampling(temperature=float(s["temperature"]), top_k=int(s["top_k"]), top_p=float(s["top_p"]))


def _require_prior(core):
    if core.prior is None:
        raise InputError(f"model {core.model_name!r} has no prior: retrain it without --no-prior to generate")
    return core.prior


def _frames_progress(progress):
    return lambda done_frames, total: progress(done_frames / max(total, 1), f"{done_frames}/{total} frames")


def generation_work(prior, frames: int, sampling, seed: int):
    """A job's work function that samples `frames` code frames, with progress and cancellation."""
    from engine.generate import GenerationCancelled
    from engine.generate import generate as run_generate

    def work(progress, cancelled):
        try:
            return run_generate(prior, frames, sampling, seed, _frames_progress(progress), cancelled)
        except GenerationCancelled:
            from engine.server.jobs import Cancelled
            raise Cancelled() from None
    return work


@handles("/generate")
def generate(core, client, args):
    from engine.codes import Codes
    from engine.generate import frames_for_seconds
    session, prior = _session(core), _require_prior(core)
    seconds, seed = args_or_defaults("/generate", args)
    seed = int(session.present.sampling.get("seed", 0)) if seed is None else seed
    frames = frames_for_seconds(seconds, session.codes.frame_rate_hz)
    sampling, base = _sampling(session), session.codes

    work = generation_work(prior, frames, sampling, seed)

    def commit(indices):
        _check_same_model(core, base)
        codes = Codes(indices.astype("int64"), base.codebook_size, base.frame_rate_hz, base.model_id)
        core.commit_session(core.session.edit(codes, "generate"))
        return done("/generate", codes.n_frames, core.version)
    return Job("/generate", work, commit)


def _check_same_model(core, codes) -> None:
    if core.session is None or core.session.model_id != codes.model_id:
        raise InputError("the model changed while the job ran; its result was dropped")


def _check_same_grid(core, base) -> None:
    """A region job computed from `base` must not overwrite edits made while it ran."""
    _check_same_model(core, base)
    if core.session.codes is not base and not np.array_equal(core.session.codes.indices, base.indices):
        raise InputError("the grid changed while the job ran; its result was dropped (send it again)")


@handles("/edit/regenerate")
def edit_regenerate(core, client, args):
    session, prior = _session(core), _require_prior(core)
    l0, l1, f0, f1, seed = args_or_defaults("/edit/regenerate", args)
    levels = _levels(session, l0, l1)
    seed = int(session.present.sampling.get("seed", 0)) if seed is None else seed
    codes, sampling = session.codes, _sampling(session)
    locked = tuple(sorted(set(session.present.locked_levels) | (set(range(codes.levels)) - set(levels))))
    _edits().check_region(codes, f0, f1)

    def work(progress, cancelled):
        return _edits().regenerate(codes, prior, f0, f1, sampling, seed, locked)

    def commit(new):
        _check_same_grid(core, codes)
        return _apply(core, "/edit/regenerate", new, "regenerate")
    return Job("/edit/regenerate", work, commit)


@handles("/edit/encode")
def edit_encode(core, client, args):
    model = require_model(core)
    path = confine(core.roots.inputs, args[0], "audio file")
    if not path.exists() and not path.is_symlink():
        raise InputError(f"no audio file {args[0]!r} in {core.roots.inputs}")
    from engine.audio import check_audio_path
    check_audio_path(path)  # a pipe, device, folder or loop: its reason now, never a blocked worker

    def commit(new):
        _check_same_model(core, new)
        return _apply(core, "/edit/encode", new, "encode")
    return Job("/edit/encode", lambda progress, cancelled: _edits().encode_audio(model, str(path)), commit)


# ------------------------------------------------------------ perceptual moves
def _labels(core) -> dict:
    """The loaded model's code labels (JSON from the bundle), or InputError saying how to get them."""
    if core.labels is None:
        from engine.labels import model_labels
        core.labels = model_labels(core.model)
        if core.labels is None:
            raise InputError(f"model {core.model_name!r} has no code labels: run `distill export` on it")
    return core.labels


def _move_handler(name: str):
    address = f"/move/{name}"

    @handles(address)
    def handler(core, client, args):
        from engine.moves import apply_move
        session = _session(core)
        l0, l1, f0, f1, amount = args_or_defaults(address, args)
        levels = _levels(session, l0, l1)
        labels, model, codes, locked = _labels(core), core.model, session.codes, session.present.locked_levels
        _edits().check_region(codes, f0, f1)

        def work(progress, cancelled):  # decodes candidates: milliseconds to a second, so off the dispatcher
            return apply_move(model, codes, name, f0, f1, amount=amount, levels=levels, locked_levels=locked,
                              labels=labels)

        def commit(result):
            _check_same_grid(core, codes)
            if not result.moved:
                raise InputError(f"no code change makes this region {name} (it stays as it was)")
            return _apply(core, address, result.codes, name)
        return Job(address, work, commit)
    return handler


for _name in protocol.MOVES:
    _move_handler(_name)


@handles("/labels/get")
def labels_get(core, client, args):
    from engine.labels import code_label
    require_model(core)
    labels = _labels(core)
    only = args[0] if args else None
    out = []
    for level, entry in enumerate(labels["levels"]):
        if only is not None and level != only:
            continue
        for code in range(len(entry["names"])):
            c = code_label(labels, level, code)
            out.append(("/label", [level, code, str(c["name"]), int(c["family"]), str(c["family_name"])]))
    return out + done("/labels/get", len(out))


# ------------------------------------------------------------ sampling
@handles("/sampling")
def sampling_get(core, client, args):
    s = _session(core).present.sampling
    return [("/sampling", [float(s["temperature"]), int(s["top_k"]), float(s["top_p"])])]


def _sampling_setter(address: str, key: str):
    @handles(address)
    def handler(core, client, args):
        session = _session(core)
        core.commit_session(session.push(replace(session.present.with_sampling(**{key: args[0]}), op=key)))
        return done(address)
    return handler


_sampling_setter("/sampling/creativity", "temperature")
_sampling_setter("/sampling/focus", "top_k")
_sampling_setter("/sampling/diversity", "top_p")
