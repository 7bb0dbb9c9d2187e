"""distill edit SESSION OP [ARGS...] [--json]: one editing operation on a saved session.

The session file is read, the operation applied, the file rewritten atomically, and the new state
summarised. A failed operation (bad argument, nothing to undo, a model that is not the session's)
exits 2 with one sentence and leaves the file as it was. Region arguments START END are code
frames, half-open; left out, the selection is used, else the whole grid.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from engine import edits
from engine.commands.common import print_json
from engine.errors import InputError
from engine.session import Selection, Session, SessionError, load_session, save_session

HELP = "apply one edit (set, swap, reverse, move brighter, undo, ...) to a saved editing session"


@dataclass(frozen=True)
class Op:
    usage: str  # the arguments after OP
    doc: str
    run: Callable[["Context", list[str]], Session]
    needs_model: bool = False


class Context:
    """What an op sees: the session, its file, and the model (loaded only when an op needs it)."""

    def __init__(self, session: Session | None, path: Path, model_path: str | None):
        self.session = session
        self.path = path
        self._model_path = model_path
        self._model = None
        self.result: dict[str, Any] = {}

    @property
    def model(self) -> Any:
        if self._model is None:
            from engine.model import Model

            if self._model_path:
                path = Path(self._model_path)
            elif self.session is not None and self.session.model_path:
                path = (self.path.parent / self.session.model_path)
            else:
                raise InputError("this operation needs the model: give --model MODEL")
            self._model = Model.load(path)
            if self.session is not None and self._model.model_id != self.session.model_id:
                raise SessionError(f"{self.path}: this session belongs to model {self.session.model_id!r}, "
                                   f"not to {path} ({self._model.model_id!r})")
        return self._model


def _int(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InputError(f"{name} must be a whole number, got {value!r}") from None


def _float(value: str, name: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise InputError(f"{name} must be a number, got {value!r}") from None


def _count(args: list[str], low: int, high: int, usage: str) -> None:
    if not low <= len(args) <= high:
        raise InputError(f"expected arguments: {usage or '(none)'}; got {len(args)}")


def _region(ctx: Context, args: list[str]) -> tuple[int, int]:
    state = ctx.session.present
    if args:
        if len(args) != 2:
            raise InputError("a region is two frames, START END (half-open), or nothing for the selection")
        return edits.check_region(ctx.session.codes, _int(args[0], "START"), _int(args[1], "END"))
    return state.region()


def _grid_edit(ctx: Context, codes, op: str) -> Session:
    return ctx.session.edit(codes, op)


def _locked(ctx: Context) -> tuple[int, ...]:
    return ctx.session.present.locked_levels


def op_set(ctx, a):
    _count(a, 3, 3, "LEVEL FRAME CODE")
    q, f, c = (_int(v, n) for v, n in zip(a, ("LEVEL", "FRAME", "CODE")))
    return _grid_edit(ctx, edits.set_code(ctx.session.codes, q, f, c, _locked(ctx)), f"set {q} {f} {c}")


def op_swap(ctx, a):
    _count(a, 2, 4, "CODE_A CODE_B [START END]")
    s, e = _region(ctx, a[2:])
    c = ctx.session.codes
    new = edits.swap_codes(c, _int(a[0], "CODE_A"), _int(a[1], "CODE_B"), s, e,
                           ctx.session.present.selected_levels(), _locked(ctx))
    return _grid_edit(ctx, new, f"swap {a[0]} {a[1]} {s} {e}")


def op_copy(ctx, a):
    _count(a, 0, 2, "[START END]")
    s, e = _region(ctx, a)
    clip = edits.copy_region(ctx.session.codes, s, e, ctx.session.present.selected_levels())
    return replace(ctx.session, clipboard=clip)  # not a history step: the grid did not change


def op_paste(ctx, a):
    _count(a, 1, 2, "AT_FRAME [AT_LEVEL]")
    if ctx.session.clipboard is None:
        raise InputError("the clipboard is empty: copy a region first")
    at, level = _int(a[0], "AT_FRAME"), _int(a[1], "AT_LEVEL") if len(a) > 1 else 0
    new = edits.paste(ctx.session.codes, ctx.session.clipboard, at, level, None, _locked(ctx))
    return _grid_edit(ctx, new, f"paste {at} {level}")


def _region_op(name: str, fn: Callable) -> Callable:
    def run(ctx, a):
        _count(a, 0, 2, "[START END]")
        s, e = _region(ctx, a)
        new = fn(ctx.session.codes, s, e, ctx.session.present.selected_levels(), _locked(ctx))
        return _grid_edit(ctx, new, f"{name} {s} {e}")
    return run


def op_shift(ctx, a):
    _count(a, 1, 3, "FRAMES [START END]")
    s, e = _region(ctx, a[1:])
    new = edits.shift_region(ctx.session.codes, s, e, _int(a[0], "FRAMES"), ctx.session.present.selected_levels(),
                             _locked(ctx))
    return _grid_edit(ctx, new, f"shift {a[0]} {s} {e}")


def _clipboard_grid(ctx) -> np.ndarray:
    if ctx.session.clipboard is None:
        raise InputError("blend and morph use the clipboard: copy a region first")
    clip = ctx.session.clipboard
    if clip.shape[0] != ctx.session.codes.levels:
        raise InputError("blend and morph need a clipboard of all levels (copy without a level selection)")
    return clip


def op_blend(ctx, a):
    _count(a, 1, 3, "AMOUNT [START END]")
    s, e = _region(ctx, a[1:])
    amount = _float(a[0], "AMOUNT")
    new = edits.blend(ctx.session.codes, _clipboard_grid(ctx), amount, ctx.model.codebook_vectors(), s, e,
                      ctx.session.present.selected_levels(), _locked(ctx))
    return _grid_edit(ctx, new, f"blend {amount:g} {s} {e}")


def op_morph(ctx, a):
    _count(a, 0, 2, "[START END]")
    s, e = _region(ctx, a)
    new = edits.morph(ctx.session.codes, _clipboard_grid(ctx), ctx.model.codebook_vectors(), s, e,
                      ctx.session.present.selected_levels(), _locked(ctx))
    return _grid_edit(ctx, new, f"morph {s} {e}")


def _lock(locked: bool):
    def run(ctx, a):
        _count(a, 1, 1, "LEVEL")
        q = edits.check_level(ctx.session.codes, _int(a[0], "LEVEL"))
        levels = set(_locked(ctx)) | {q} if locked else set(_locked(ctx)) - {q}
        state = replace(ctx.session.present.with_locked_levels(levels), op=f"{'lock' if locked else 'unlock'} {q}")
        return ctx.session.push(state)
    return run


def op_select(ctx, a):
    _count(a, 1, 3, "START END [LEVELS e.g. 0,1] | none")
    if a == ["none"]:
        return ctx.session.replace_present(selection=None)
    _count(a, 2, 3, "START END [LEVELS]")
    levels = tuple(_int(v, "LEVELS") for v in a[2].split(",")) if len(a) > 2 else ()
    return ctx.session.replace_present(selection=Selection(_int(a[0], "START"), _int(a[1], "END"), levels))


def op_loop(ctx, a):
    _count(a, 1, 2, "START END | off")
    if a == ["off"]:
        return ctx.session.replace_present(loop=None)
    _count(a, 2, 2, "START END")
    return ctx.session.replace_present(loop=(_int(a[0], "START"), _int(a[1], "END")))


def op_regenerate(ctx, a):
    _count(a, 0, 3, "[START END] [SEED]")
    from engine.prior import Prior
    from engine.sampling import Sampling

    seed = _int(a[2], "SEED") if len(a) == 3 else ctx.session.present.sampling["seed"]
    s, e = _region(ctx, a[:2] if len(a) >= 2 else [])
    settings = ctx.session.present.sampling
    sampling = Sampling(settings["temperature"], settings["top_k"], settings["top_p"])
    new = edits.regenerate(ctx.session.codes, Prior.from_bundle(ctx.model.bundle), s, e, sampling, seed, _locked(ctx))
    return _grid_edit(ctx, new, f"regenerate {s} {e} seed {seed}")


def op_encode(ctx, a):
    _count(a, 1, 1, "AUDIO_FILE")
    return _grid_edit(ctx, edits.encode_audio(ctx.model, a[0]), f"encode {Path(a[0]).name}")


def op_move(ctx, a):
    from engine.labels import compute_labels, model_labels
    from engine.moves import MOVES, apply_move, check_move

    _count(a, 1, 4, f"{'|'.join(MOVES)} [START END] [AMOUNT]")
    check_move(a[0])
    amount = _float(a[3], "AMOUNT") if len(a) == 4 else 1.0
    s, e = _region(ctx, a[1:3])
    labels = model_labels(ctx.model)
    if labels is None:  # a model without labels: measure its codes in this grid's context instead
        labels = compute_labels(ctx.model, codes=[ctx.session.codes])
        ctx.result["labels"] = "measured in this session's grid (the model has none: run distill export)"
    result = apply_move(ctx.model, ctx.session.codes, a[0], s, e, amount,
                        ctx.session.present.selected_levels(), _locked(ctx), labels=labels)
    ctx.result["move"] = {"move": result.move, "level": result.level, "before": result.before,
                          "after": result.after, "moved": result.moved}
    if not result.moved:
        raise InputError(f"no code change makes region [{s}, {e}) {a[0]}: it is already at the end of "
                         "what this model's codes do (nothing changed)")
    return _grid_edit(ctx, result.codes, f"move {a[0]} {s} {e}")


def op_sampling(ctx, a):
    _count(a, 1, 4, "KEY=VALUE... (temperature, top_k, top_p, seed)")
    settings = {}
    for item in a:
        if "=" not in item:
            raise InputError(f"sampling setting {item!r} is not KEY=VALUE")
        key, value = item.split("=", 1)
        settings[key] = value
    state = ctx.session.present.with_sampling(**settings)
    return ctx.session.push(replace(state, op="sampling " + " ".join(a)))


def op_effects(ctx, a):
    _count(a, 1, 1, "JSON")
    try:
        chain = json.loads(a[0])
    except json.JSONDecodeError as e:
        raise InputError(f"effects must be JSON ({e})") from None
    return ctx.session.push(replace(ctx.session.present.with_effects(chain), op="effects"))


def op_audition(ctx, a):
    _count(a, 1, 3, "OUT.wav [START END]")
    from engine.audio import save_audio

    s, e = _region(ctx, a[1:])
    save_audio(a[0], edits.render_region(ctx.model, ctx.session.codes, s, e))
    ctx.result["audition"] = {"path": a[0], "start_frame": s, "end_frame": e}
    return ctx.session


def op_audition_code(ctx, a):
    _count(a, 3, 4, "LEVEL CODE OUT.wav [FRAMES]")
    frames = _int(a[3], "FRAMES") if len(a) == 4 else 24
    from engine.audio import save_audio

    at = ctx.session.present.region()[0]
    held = edits.held_code(ctx.session.codes, _int(a[0], "LEVEL"), _int(a[1], "CODE"), frames, at)
    save_audio(a[2], edits.render_region(ctx.model, held))
    ctx.result["audition"] = {"path": a[2], "level": int(a[0]), "code": int(a[1]), "frames": frames}
    return ctx.session


def op_show(ctx, a):
    _count(a, 0, 0, "")
    return ctx.session


def op_history(ctx, a):
    _count(a, 0, 0, "")
    ctx.result["history"] = [s.op for s in ctx.session.history()]
    return ctx.session


def op_undo(ctx, a):
    _count(a, 0, 0, "")
    return ctx.session.undo()


def op_redo(ctx, a):
    _count(a, 0, 0, "")
    return ctx.session.redo()


OPS: dict[str, Op] = {
    "set": Op("LEVEL FRAME CODE", "set one code", op_set),
    "swap": Op("CODE_A CODE_B [START END]", "swap two codes everywhere inside the region", op_swap),
    "copy": Op("[START END]", "copy the region (selected levels) to the clipboard", op_copy),
    "paste": Op("AT_FRAME [AT_LEVEL]", "paste the clipboard (cut at the grid's end)", op_paste),
    "duplicate": Op("[START END]", "repeat the region right after itself",
                    _region_op("duplicate", edits.duplicate_region)),
    "reverse": Op("[START END]", "reverse the region in time", _region_op("reverse", edits.reverse_region)),
    "shift": Op("FRAMES [START END]", "rotate the region's frames by FRAMES", op_shift),
    "blend": Op("AMOUNT [START END]", "blend the region with the clipboard (0..1), re-quantized", op_blend, True),
    "morph": Op("[START END]", "morph from the region into the clipboard over time", op_morph, True),
    "lock": Op("LEVEL", "lock a level: edits and regeneration leave it alone", _lock(True)),
    "unlock": Op("LEVEL", "unlock a level", _lock(False)),
    "select": Op("START END [LEVELS] | none", "set the selection (not an undo step)", op_select),
    "loop": Op("START END | off", "set the loop region (not an undo step)", op_loop),
    "regenerate": Op("[START END] [SEED]", "regenerate the region with the prior", op_regenerate, True),
    "encode": Op("AUDIO_FILE", "encode an audio file into a new grid", op_encode, True),
    "move": Op("NAME [START END] [AMOUNT]", "perceptual move: brighter, darker, louder, softer, noisier, "
               "tonal, punchier, smoother", op_move, True),
    "sampling": Op("KEY=VALUE...", "sampling settings for regeneration", op_sampling),
    "effects": Op("JSON", "replace the effect chain (opaque JSON for the bridge)", op_effects),
    "audition": Op("OUT.wav [START END]", "render the region (or grid) to a WAV file", op_audition, True),
    "audition-code": Op("LEVEL CODE OUT.wav [FRAMES]", "render one code held in context", op_audition_code, True),
    "undo": Op("", "undo the last change", op_undo),
    "redo": Op("", "redo the last undone change", op_redo),
    "history": Op("", "list the history's operations", op_history),
    "show": Op("", "print the state summary", op_show),
}


def add_arguments(p) -> None:
    p.add_argument("session", metavar="SESSION", help="session file (e.g. MODEL.distill.session.json)")
    p.add_argument("op", metavar="OP", choices=[*OPS, "new"],
                   help="new MODEL [AUDIO|CODES.json] | " + " | ".join(f"{n} {o.usage}".strip() for n, o in OPS.items()))
    p.add_argument("args", nargs="*", metavar="ARG", help="the operation's arguments")
    p.add_argument("--model", metavar="MODEL", help="the model (default: the one the session was made with)")
    p.add_argument("--json", action="store_true", help="print the new state summary as JSON")


def new_session(path: Path, args: list[str]) -> Session:
    """`new MODEL [SOURCE]`: a session of MODEL holding SOURCE's codes (an audio or codes file) or
    two seconds of silence."""
    _count(args, 1, 2, "MODEL [AUDIO|CODES.json]")
    from engine.audio import Audio
    from engine.codes import load_codes
    from engine.model import Model

    model = Model.load(args[0])
    if len(args) == 1:
        rate = model.config.audio.sample_rate
        codes = model.encode(Audio(np.zeros(2 * rate, dtype=np.float32), rate))
    elif args[1].endswith(".json"):
        codes = load_codes(args[1])
        model.check_codes(codes)
    else:
        codes = edits.encode_audio(model, args[1])
    try:
        model_path = str(Path(args[0]).resolve().relative_to(path.resolve().parent))
    except ValueError:
        model_path = str(Path(args[0]).resolve())
    return Session.new(codes, model_path=model_path)


def run(args) -> int:
    path = Path(args.session)
    if args.op == "new":
        session = new_session(path, args.args)
        result: dict[str, Any] = {}
    else:
        ctx = Context(load_session(path), path, args.model)
        if args.model:  # an explicit model must be the session's
            ctx.model  # noqa: B018 (loads and checks)
        session = OPS[args.op].run(ctx, list(args.args))
        result = ctx.result
    save_session(path, session)
    summary = {**session.summary(), "session": str(path), **result}
    if args.json:
        print_json(summary)
    else:
        print(f"{path}: {summary['op']}; {summary['levels']} levels x {summary['frames']} frames; "
              f"undo {summary['undo']}, redo {summary['redo']}")
    return 0
