"""Grid, editor, move, label, generation and sampling routes: thin adapters over
`engine.edit.service.EditService`. OSC regions are level and frame ranges (`Region.of_levels`);
slow use cases run on the worker from the session they started with and are committed with
`commit_onto`, so an edit made meanwhile is never overwritten and a failed job changes nothing."""
from __future__ import annotations

from typing import Callable

from engine import protocol
from engine.edit.service import EditService, Region, commit_onto
from engine.edit.session import Selection, Session
from engine.errors import InputError
from engine.server.core import Client, Core
from engine.server.handlers.common import generate_session, service
from engine.server.jobs import Job
from engine.server.paths import confine
from engine.server.wire import Args, HandlerTable, Replies, args_or_defaults, done, grid_chunks

TABLE = HandlerTable()


def _commit(core: Core, address: str, session: Session) -> Replies:
    core.commit_session(session)
    return done(address, core.state.version)


def _region(session: Session, args: list) -> Region:
    l0, l1, f0, f1 = args[:4]
    return Region.of_levels(session.codes, l0, l1, f0, f1)


def _quick(address: str, use_case: Callable[[EditService, Session, Args], Session]) -> None:
    """A route whose use case is fast: run it on the dispatcher and commit the new session."""
    @TABLE.handles(address)
    def handler(core: Core, client: Client, args: Args) -> Replies:
        ed, s = service(core), core.state.require_session()
        return _commit(core, address, use_case(ed, s, args_or_defaults(address, args)))


_quick("/edit/set", lambda ed, s, a: ed.set_code(s, *a))
_quick("/edit/swap", lambda ed, s, a: ed.swap(s, a[4], a[5], _region(s, a)))
_quick("/edit/duplicate", lambda ed, s, a: ed.duplicate(s, _region(s, a)))
_quick("/edit/reverse", lambda ed, s, a: ed.reverse(s, _region(s, a)))
_quick("/edit/shift", lambda ed, s, a: ed.shift(s, a[4], _region(s, a)))
_quick("/edit/fill", lambda ed, s, a: ed.fill(s, a[4], _region(s, a)))
_quick("/edit/blend", lambda ed, s, a: ed.blend(s, a[4], _region(s, a)))
_quick("/edit/morph", lambda ed, s, a: ed.morph(s, _region(s, a)))
_quick("/edit/copy", lambda ed, s, a: ed.copy(s, _region(s, a)))
_quick("/edit/paste", lambda ed, s, a: ed.paste(s, a[1], a[0]))
_quick("/edit/lock", lambda ed, s, a: ed.lock(s, a[0], bool(a[1])))
_quick("/undo", lambda ed, s, a: ed.undo(s))
_quick("/redo", lambda ed, s, a: ed.redo(s))


def _sampling_setter(address: str, key: str) -> None:
    @TABLE.handles(address)
    def handler(core: Core, client: Client, args: Args) -> Replies:
        core.commit_session(service(core).set_sampling(core.state.require_session(), **{key: args[0]}))
        return done(address)  # the grid did not change: no version


_sampling_setter("/sampling/creativity", "temperature")
_sampling_setter("/sampling/focus", "top_k")
_sampling_setter("/sampling/diversity", "top_p")


@TABLE.handles("/edit/select")
def edit_select(core: Core, client: Client, args: Args) -> Replies:
    s = core.state.require_session()
    r = _region(s, args)
    replies = _commit(core, "/edit/select", service(core).select(s, Selection(r.start, r.stop, r.levels or ())))
    core.notify("/selection", list(args))
    return replies


@TABLE.handles("/grid/get")
def grid_get(core: Core, client: Client, args: Args) -> Replies:
    codes, version = core.state.require_session().codes, core.state.version
    f0, f1 = args_or_defaults("/grid/get", args)
    f1 = codes.n_frames if f1 == 0 else f1
    if not 0 <= f0 < f1 <= codes.n_frames:
        raise InputError(f"frames [{f0}, {f1}) are out of range: the grid has {codes.n_frames} frames")
    info = ("/grid/info", [version, codes.levels, codes.n_frames, codes.codebook_size, float(codes.frame_rate_hz)])
    return [info, *grid_chunks(codes.indices, version, f0, f1), *done("/grid/get", version)]


@TABLE.handles("/sampling")
def sampling_get(core: Core, client: Client, args: Args) -> Replies:
    s = core.state.require_session().present.sampling
    return [("/sampling", [float(s["temperature"]), int(s["top_k"]), float(s["top_p"])])]


# ------------------------------------------------------------ slow use cases (jobs)
def slow_job(core: Core, address: str, work: Callable[[Session, Callable, Callable], Session],
             same_grid: bool = True, reply: Callable[[Session], list] = lambda s: []) -> Job:
    """A job that runs `work(base, progress, cancelled)` on the worker and commits its session
    onto the current one (`commit_onto`); replies `/done address [reply(new)...] version`."""
    base = core.state.require_session()

    def commit(new: Session) -> Replies:
        core.commit_session(commit_onto(core.state.session, base, new, same_grid))
        return done(address, *reply(new), core.state.version)
    return Job(address, lambda progress, cancelled: work(base, progress, cancelled), commit)


@TABLE.handles("/generate")
def generate(core: Core, client: Client, args: Args) -> Job:
    ed = service(core)
    core.state.require_prior()
    seconds, seed = args_or_defaults("/generate", args)
    return slow_job(core, "/generate", lambda s, p, c: generate_session(ed, s, seconds, seed, p, c),
                    same_grid=False, reply=lambda new: [new.codes.n_frames])


@TABLE.handles("/edit/regenerate")
def edit_regenerate(core: Core, client: Client, args: Args) -> Job:
    ed, s = service(core), core.state.require_session()
    core.state.require_prior()
    a = args_or_defaults("/edit/regenerate", args)
    region = _region(s, a)
    return slow_job(core, "/edit/regenerate", lambda base, p, c: ed.regenerate(base, region, a[4]))


@TABLE.handles("/edit/encode")
def edit_encode(core: Core, client: Client, args: Args) -> Job:
    ed = service(core)
    path = confine(core.roots.inputs, args[0], "audio file")
    if not path.exists() and not path.is_symlink():
        raise InputError(f"no audio file {args[0]!r} in {core.roots.inputs}")
    from engine.signal.audio import check_audio_path
    check_audio_path(path)  # a pipe, device, folder or loop: its reason now, never a blocked worker
    return slow_job(core, "/edit/encode", lambda base, p, c: ed.encode(base, str(path)), same_grid=False)


def _move(name: str) -> None:
    address = f"/move/{name}"

    @TABLE.handles(address)
    def handler(core: Core, client: Client, args: Args) -> Job:
        ed, s = service(core), core.state.require_session()
        a = args_or_defaults(address, args)
        region = _region(s, a)
        # decodes candidates: milliseconds to a second, so off the dispatcher
        return slow_job(core, address, lambda base, p, c: ed.move(base, name, region, a[4]).session)


for _name in protocol.MOVES:
    _move(_name)


@TABLE.handles("/labels/get")
def labels_get(core: Core, client: Client, args: Args) -> Replies:
    from engine.edit.labels import code_label
    labels = service(core).resources.labels()
    if labels is None:
        raise InputError(f"model {core.state.model_name!r} has no code labels: run `distill export` on it")
    only = args[0] if args else None
    out: Replies = []
    for level, entry in enumerate(labels["levels"]):
        if only is not None and level != only:
            continue
        for code in range(len(entry["names"])):
            c = code_label(labels, level, code)
            out.append(("/label", [level, code, str(c["name"]), int(c["family"]), str(c["family_name"])]))
    return out + done("/labels/get", len(out))
