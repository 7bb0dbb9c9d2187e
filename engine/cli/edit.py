"""distill edit SESSION OP [ARGS...] [--json]: one editing operation on a saved session.

The session file is read, the operation applied, the file rewritten atomically, and the new state
summarised. A failed operation (bad argument, nothing to undo, a model that is not the session's)
exits 2 with one sentence and leaves the file as it was. Region arguments START END are code
frames, half-open; left out, the selection is used, else the whole grid.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from engine.cli.common import print_json
from engine.edit import ops as edits
from engine.edit.service import DEFAULT_HOLD_FRAMES, EditService, Region, Resources, levels_arg
from engine.edit.session import Selection, Session, SessionError, load_session, save_session
from engine.errors import InputError

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
        self.editor = EditService(Resources(lambda: self.model))

    @property
    def model(self) -> Any:
        if self._model is None:
            from engine.codec.model import Model

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


def _region(ctx: Context, args: list[str]) -> Region:
    """START END, or nothing for the selection (else the whole grid); levels: the selection's."""
    if args:
        if len(args) != 2:
            raise InputError("a region is two frames, START END (half-open), or nothing for the selection")
        return Region.of_selection(ctx.session, _int(args[0], "START"), _int(args[1], "END"))
    return Region.of_selection(ctx.session)


def _region_op(usage: str, use_case: Callable, n_values: int = 0, kinds: tuple = ()) -> Callable:
    """An op `VALUES... [START END]`: the first `n_values` arguments (parsed by `kinds`), then a region."""
    def run(ctx: Context, a: list[str]) -> Session:
        _count(a, n_values, n_values + 2, usage)
        values = [kind(v, name) for v, (kind, name) in zip(a[:n_values], kinds)]
        return use_case(ctx.editor, ctx.session, *values, _region(ctx, a[n_values:]))
    return run


def op_set(ctx, a):
    _count(a, 3, 3, "LEVEL FRAME CODE")
    return ctx.editor.set_code(ctx.session, *(_int(v, n) for v, n in zip(a, ("LEVEL", "FRAME", "CODE"))))


def op_paste(ctx, a):
    _count(a, 1, 2, "AT_FRAME [AT_LEVEL]")
    return ctx.editor.paste(ctx.session, _int(a[0], "AT_FRAME"), _int(a[1], "AT_LEVEL") if len(a) > 1 else 0)


def _lock(locked: bool):
    def run(ctx, a):
        _count(a, 1, 1, "LEVEL")
        return ctx.editor.lock(ctx.session, _int(a[0], "LEVEL"), locked)
    return run


def op_select(ctx, a):
    _count(a, 1, 3, "START END [LEVELS e.g. 0,1] | none")
    if a == ["none"]:
        return ctx.editor.select(ctx.session, None)
    _count(a, 2, 3, "START END [LEVELS]")
    levels = levels_arg(a[2], ctx.session.codes.levels) if len(a) > 2 else ()
    return ctx.editor.select(ctx.session, Selection(_int(a[0], "START"), _int(a[1], "END"), levels))


def op_loop(ctx, a):
    _count(a, 1, 2, "START END | off")
    if a == ["off"]:
        return ctx.editor.loop(ctx.session, None)
    _count(a, 2, 2, "START END")
    return ctx.editor.loop(ctx.session, (_int(a[0], "START"), _int(a[1], "END")))


def op_regenerate(ctx, a):
    _count(a, 0, 3, "[START END] [SEED]")
    seed = _int(a[2], "SEED") if len(a) == 3 else None
    return ctx.editor.regenerate(ctx.session, _region(ctx, a[:2] if len(a) >= 2 else []), seed)


def op_encode(ctx, a):
    _count(a, 1, 1, "AUDIO_FILE")
    return ctx.editor.encode(ctx.session, a[0])


def op_move(ctx, a):
    from engine.edit.moves import MOVES, check_move
    _count(a, 1, 4, f"{'|'.join(MOVES)} [START END] [AMOUNT]")
    check_move(a[0])
    amount = _float(a[3], "AMOUNT") if len(a) == 4 else 1.0
    outcome = ctx.editor.move(ctx.session, a[0], _region(ctx, a[1:3]), amount)
    r = outcome.result
    if outcome.labels_note:
        ctx.result["labels"] = outcome.labels_note
    ctx.result["move"] = {"move": r.move, "level": r.level, "before": r.before, "after": r.after, "moved": r.moved}
    return outcome.session


def op_sampling(ctx, a):
    _count(a, 1, 4, "KEY=VALUE... (temperature, top_k, top_p, seed)")
    settings = {}
    for item in a:
        if "=" not in item:
            raise InputError(f"sampling setting {item!r} is not KEY=VALUE")
        key, value = item.split("=", 1)
        settings[key] = value
    return ctx.editor.set_sampling(ctx.session, **settings)


def op_effects(ctx, a):
    _count(a, 1, 1, "JSON")
    try:
        chain = json.loads(a[0])
    except json.JSONDecodeError as e:
        raise InputError(f"effects must be JSON ({e})") from None
    return ctx.editor.set_effects(ctx.session, chain)


def op_audition(ctx, a):
    _count(a, 1, 3, "OUT.wav [START END]")
    from engine.signal.audio import save_audio
    r = _region(ctx, a[1:])
    held = ctx.editor.audition_region(ctx.session, r)
    save_audio(a[0], edits.render_region(ctx.model, held, r.start, r.stop))
    ctx.result["audition"] = {"path": a[0], "start_frame": r.start, "end_frame": r.stop}
    return ctx.session


def op_audition_code(ctx, a):
    _count(a, 3, 4, "LEVEL CODE OUT.wav [FRAMES]")
    from engine.signal.audio import save_audio
    frames = _int(a[3], "FRAMES") if len(a) == 4 else DEFAULT_HOLD_FRAMES
    level, code = _int(a[0], "LEVEL"), _int(a[1], "CODE")
    save_audio(a[2], edits.render_region(ctx.model, ctx.editor.audition_code(ctx.session, level, code, frames)))
    ctx.result["audition"] = {"path": a[2], "level": level, "code": code, "frames": frames}
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
    return ctx.editor.undo(ctx.session)


def op_redo(ctx, a):
    _count(a, 0, 0, "")
    return ctx.editor.redo(ctx.session)


_CODE = (_int, "CODE")
OPS: dict[str, Op] = {
    "set": Op("LEVEL FRAME CODE", "set one code", op_set),
    "swap": Op("CODE_A CODE_B [START END]", "swap two codes everywhere inside the region",
               _region_op("CODE_A CODE_B [START END]", EditService.swap, 2, ((_int, "CODE_A"), (_int, "CODE_B")))),
    "fill": Op("CODE [START END]", "set every code of the region to CODE",
               _region_op("CODE [START END]", EditService.fill, 1, (_CODE,))),
    "copy": Op("[START END]", "copy the region (selected levels) to the clipboard",
               _region_op("[START END]", EditService.copy)),
    "paste": Op("AT_FRAME [AT_LEVEL]", "paste the clipboard (cut at the grid's end)", op_paste),
    "duplicate": Op("[START END]", "repeat the region right after itself",
                    _region_op("[START END]", EditService.duplicate)),
    "reverse": Op("[START END]", "reverse the region in time", _region_op("[START END]", EditService.reverse)),
    "shift": Op("FRAMES [START END]", "rotate the region's frames by FRAMES",
                _region_op("FRAMES [START END]", EditService.shift, 1, ((_int, "FRAMES"),))),
    "blend": Op("AMOUNT [START END]", "blend the region with the clipboard (0..1), re-quantized",
                _region_op("AMOUNT [START END]", EditService.blend, 1, ((_float, "AMOUNT"),)), True),
    "morph": Op("[START END]", "morph from the region into the clipboard over time",
                _region_op("[START END]", EditService.morph), True),
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
    from engine.codec.model import Model
    from engine.codes import load_codes
    from engine.signal.audio import Audio

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
