"""The editor's use cases, once: every edit the OSC handlers, the WebSocket and `distill edit` offer
is one method here, taking a `Session` value and returning the next one (undo is keeping the old
value). Front ends only translate their arguments (OSC level ranges, CLI strings, the selection)
into a `Region` and the result into replies or a file.

The pure grid operations live in `engine/edit/ops.py` and `engine/edit/moves.py`; this module adds what a
use case needs around them: the locked levels, the clipboard rules, the sampling settings of the
session, the op name each history step gets, and the model resources (model, prior, code vectors,
labels), loaded lazily through `Resources` so that grid edits never load torch.

Methods marked *slow* decode or sample (milliseconds to seconds): the server runs them on its
worker with the session they started from and commits with `commit_onto`.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from engine.codes import Codes
from engine.edit import ops as edits
from engine.edit.session import Selection, Session
from engine.errors import InputError

if TYPE_CHECKING:
    from engine.codec.model import Model
    from engine.edit.moves import MoveResult
    from engine.prior.network import Prior
    from engine.prior.sampling import Sampling

EMPTY_CLIPBOARD = "the clipboard is empty: copy a region first (/edit/copy, distill edit ... copy)"
DEFAULT_HOLD_FRAMES = 24  # how long a held code sounds when the caller gives no length


@dataclass(frozen=True)
class Region:
    """Code frames `[start, stop)` (half-open) over `levels` (None: every level)."""

    start: int
    stop: int
    levels: tuple[int, ...] | None = None

    @classmethod
    def of_levels(cls, codes: Codes, level_start: int, level_stop: int, start: int, stop: int) -> "Region":
        """A region given as level and frame ranges (the OSC convention), checked against the grid
        field by field, so that the error names the one that is wrong."""
        for name, value, low, high in (("level_start", level_start, 0, codes.levels - 1),
                                       ("level_stop", level_stop, level_start + 1, codes.levels),
                                       ("frame_start", start, 0, codes.n_frames - 1),
                                       ("frame_stop", stop, start + 1, codes.n_frames)):
            if not low <= value <= high:
                raise InputError(f"{name} {value} is out of range: need {low}..{high} for this grid")
        return cls(start, stop, tuple(range(level_start, level_stop)))

    @classmethod
    def of_selection(cls, session: Session, start: int | None = None, stop: int | None = None) -> "Region":
        """The explicit frames, else the selection, else the whole grid (the CLI convention);
        levels: the selection's."""
        s, e = session.present.region(start, stop)
        edits.check_region(session.codes, s, e)
        return cls(s, e, session.present.selected_levels())

    def level_tuple(self, n_levels: int) -> tuple[int, ...]:
        return tuple(range(n_levels)) if self.levels is None else self.levels


class Resources:
    """The model side of editing, loaded on first use: `load_model()` gives the model; the prior,
    the code vectors and the labels are read from it unless given (the server has them loaded)."""

    def __init__(self, load_model: Callable[[], "Model"], prior: "Prior | None" = None,
                 codebooks: np.ndarray | None = None) -> None:
        self._load_model, self._model = load_model, None
        self._prior, self._codebooks = prior, codebooks

    def model(self) -> "Model":
        if self._model is None:
            self._model = self._load_model()
        return self._model

    def prior(self) -> "Prior":
        if self._prior is None:
            model = self.model()
            if "prior" not in model.bundle.tensors:
                raise InputError("this model has no prior: retrain it without --no-prior to generate")
            from engine.prior.network import Prior
            self._prior = Prior.from_bundle(model.bundle)
        return self._prior

    def codebooks(self) -> np.ndarray:  # [Q, K, d]
        if self._codebooks is None:
            try:
                self._codebooks = self.model().codebook_vectors()
            except InputError:
                raise
            except Exception as e:  # an older bundle
                raise InputError(f"this model's code vectors could not be read ({e}); blend and morph need them") from None
        return self._codebooks

    def labels(self) -> dict | None:
        from engine.edit.labels import model_labels
        return model_labels(self.model())


@dataclass(frozen=True)
class MoveOutcome:
    session: Session
    result: MoveResult
    labels_note: str  # "" or how the labels were obtained


def sampling_of(session: Session) -> Sampling:
    """The session's sampling settings (Creativity, Focus, Diversity) as the prior takes them."""
    from engine.prior.sampling import Sampling
    s = session.present.sampling
    return Sampling(temperature=float(s["temperature"]), top_k=int(s["top_k"]), top_p=float(s["top_p"]))


def seed_of(session: Session, seed: int | None) -> int:
    return int(session.present.sampling.get("seed", 0)) if seed is None else int(seed)


def clipboard_of(session: Session, all_levels: bool = False) -> np.ndarray:
    """The clipboard [Q', F'], or InputError; blend and morph need one of every level."""
    clip = session.clipboard
    if clip is None:
        raise InputError(EMPTY_CLIPBOARD)
    if all_levels and clip.shape[0] != session.codes.levels:
        raise InputError("blend and morph need a clipboard of all levels (copy without a level selection)")
    return clip


def commit_onto(current: Session | None, base: Session, new: Session, same_grid: bool = True) -> Session:
    """`new`, computed from `base` while `current` may have moved on, as the next step of `current`.
    Refused when the model changed, or (with `same_grid`) the grid changed: a slow edit must not
    overwrite edits made while it ran."""
    if current is None or current.model_id != base.model_id:
        raise InputError("the model changed while the job ran; its result was dropped")
    if current is base:
        return new
    if same_grid and not np.array_equal(current.codes.indices, base.codes.indices):
        raise InputError("the grid changed while the job ran; its result was dropped (send it again)")
    return current.edit(new.codes, new.present.op)


class EditService:
    """Every editing use case (module docstring). Stateless apart from `resources`."""

    def __init__(self, resources: Resources | None = None) -> None:
        self.resources = resources

    def _res(self) -> Resources:
        if self.resources is None:
            raise InputError("this operation needs the model")
        return self.resources

    # ------------------------------------------------------------ grid edits
    def set_code(self, s: Session, level: int, frame: int, code: int) -> Session:
        new = edits.set_code(s.codes, level, frame, code, s.present.locked_levels)
        return s.edit(new, f"set {level} {frame} {code}")

    def swap(self, s: Session, code_a: int, code_b: int, r: Region) -> Session:
        new = edits.swap_codes(s.codes, code_a, code_b, r.start, r.stop, r.levels, s.present.locked_levels)
        return s.edit(new, f"swap {code_a} {code_b} {r.start} {r.stop}")

    def duplicate(self, s: Session, r: Region) -> Session:
        new = edits.duplicate_region(s.codes, r.start, r.stop, r.levels, s.present.locked_levels)
        return s.edit(new, f"duplicate {r.start} {r.stop}")

    def reverse(self, s: Session, r: Region) -> Session:
        new = edits.reverse_region(s.codes, r.start, r.stop, r.levels, s.present.locked_levels)
        return s.edit(new, f"reverse {r.start} {r.stop}")

    def shift(self, s: Session, offset_frames: int, r: Region) -> Session:
        new = edits.shift_region(s.codes, r.start, r.stop, offset_frames, r.levels, s.present.locked_levels)
        return s.edit(new, f"shift {offset_frames} {r.start} {r.stop}")

    def fill(self, s: Session, code: int, r: Region) -> Session:
        edits.check_code(s.codes, code)
        new = edits.fill(s.codes, code, r.start, r.stop, r.levels, s.present.locked_levels)
        return s.edit(new, f"fill {code} {r.start} {r.stop}")

    def copy(self, s: Session, r: Region) -> Session:
        """The region to the clipboard: not a history step (the grid did not change)."""
        return replace(s, clipboard=edits.copy_region(s.codes, r.start, r.stop, r.levels))

    def paste(self, s: Session, at_frame: int, at_level: int = 0) -> Session:
        new = edits.paste(s.codes, clipboard_of(s), at_frame, at_level, None, s.present.locked_levels)
        return s.edit(new, f"paste {at_frame} {at_level}")

    def blend(self, s: Session, amount: float, r: Region) -> Session:
        new = edits.blend(s.codes, clipboard_of(s, all_levels=True), amount, self._res().codebooks(), r.start,
                          r.stop, r.levels, s.present.locked_levels)
        return s.edit(new, f"blend {amount:g} {r.start} {r.stop}")

    def morph(self, s: Session, r: Region) -> Session:
        new = edits.morph(s.codes, clipboard_of(s, all_levels=True), self._res().codebooks(), r.start, r.stop,
                          r.levels, s.present.locked_levels)
        return s.edit(new, f"morph {r.start} {r.stop}")

    def lock(self, s: Session, level: int, locked: bool = True) -> Session:
        q = edits.check_level(s.codes, level)
        current = set(s.present.locked_levels)
        levels = current | {q} if locked else current - {q}
        return s.push(replace(s.present.with_locked_levels(levels), op=f"{'lock' if locked else 'unlock'} {q}"))

    def select(self, s: Session, selection: Selection | None) -> Session:
        """Sets (or clears) the selection: not an undo step. All levels are stored as ()."""
        if selection is not None:
            edits.check_region(s.codes, selection.start_frame, selection.end_frame)
            if selection.levels and tuple(selection.levels) == tuple(range(s.codes.levels)):
                selection = replace(selection, levels=())
        return s.replace_present(selection=selection)

    def loop(self, s: Session, frames: tuple[int, int] | None) -> Session:
        return s.replace_present(loop=frames)

    def undo(self, s: Session) -> Session:
        return s.undo()

    def redo(self, s: Session) -> Session:
        return s.redo()

    def set_sampling(self, s: Session, **settings: Any) -> Session:
        """temperature / top_k / top_p / seed (checked by the session); an undo step. Floats keep 6
        significant digits: OSC sends float32, and 0.7 must stay 0.7 (not 0.699999988)."""
        settings = {k: float(f"{v:.6g}") if isinstance(v, float) else v for k, v in settings.items()}
        op = "sampling " + " ".join(f"{k}={v}" for k, v in settings.items())
        return s.push(replace(s.present.with_sampling(**settings), op=op))

    def set_effects(self, s: Session, chain: dict, op: str = "effects") -> Session:
        """The effect chain (opaque JSON for the bridge); an undo step when it differs."""
        state = s.present.with_effects(chain)
        return s if state.effects_json == s.present.effects_json else s.push(replace(state, op=op))

    # ------------------------------------------------------------ model-backed (slow)
    def regenerate(self, s: Session, r: Region, seed: int | None = None) -> Session:
        """*slow* The region re-sampled by the prior; levels outside `r` and locked levels stay."""
        seed = seed_of(s, seed)
        keep = set(s.present.locked_levels) | (set(range(s.codes.levels)) - set(r.level_tuple(s.codes.levels)))
        new = edits.regenerate(s.codes, self._res().prior(), r.start, r.stop, sampling_of(s), seed,
                               tuple(sorted(keep)))
        return s.edit(new, f"regenerate {r.start} {r.stop} seed {seed}")

    def generate(self, s: Session, duration_s: float, seed: int | None = None, progress=None,
                 cancel=None) -> Session:
        """*slow* A new grid of `duration_s` sampled by the prior from nothing."""
        from engine.prior.generate import frames_for_seconds
        from engine.prior.generate import generate as run_generate
        seed, base = seed_of(s, seed), s.codes
        frames = frames_for_seconds(duration_s, base.frame_rate_hz)
        indices = run_generate(self._res().prior(), frames, sampling_of(s), seed, progress, cancel)
        codes = Codes(np.asarray(indices, np.int64), base.codebook_size, base.frame_rate_hz, base.model_id)
        return s.edit(codes, f"generate {duration_s:g} seed {seed}")

    def encode(self, s: Session, path: str) -> Session:
        """*slow* An audio file encoded into a new grid."""
        from pathlib import Path
        return s.edit(edits.encode_audio(self._res().model(), str(path)), f"encode {Path(path).name}")

    def move(self, s: Session, name: str, r: Region, amount: float = 1.0) -> MoveOutcome:
        """*slow* A perceptual move (engine/edit/moves.py). A model without stored labels has its codes
        measured in this session's grid instead (slower, and only as good as this grid's context).
        InputError when no code change moves the region the named way."""
        from engine.edit.labels import compute_labels
        from engine.edit.moves import apply_move, check_move
        check_move(name)
        model, note = self._res().model(), ""
        labels = self._res().labels()
        if labels is None:
            labels = compute_labels(model, codes=[s.codes])
            note = "measured in this session's grid (the model has none: run distill export)"
        result = apply_move(model, s.codes, name, r.start, r.stop, amount, r.levels, s.present.locked_levels,
                            labels=labels)
        if not result.moved:
            raise InputError(f"no code change makes region [{r.start}, {r.stop}) {name}: it is already at the "
                             "end of what this model's codes do (nothing changed)")
        return MoveOutcome(s.edit(result.codes, f"move {name} {r.start} {r.stop}"), result, note)

    # ------------------------------------------------------------ audition: what to play
    def audition_code(self, s: Session, level: int, code: int, n_frames: int = DEFAULT_HOLD_FRAMES) -> Codes:
        """One code held in context: the grid's column at the region start (the selection's, else
        frame 0) with `level` set to `code`, repeated `n_frames` times. # -> [Q, n_frames]"""
        return edits.held_code(s.codes, level, code, n_frames, s.present.region()[0])

    def audition_region(self, s: Session, r: Region) -> Codes:
        """The grid with the levels outside the region at code 0 (RVQ sums levels, so they must
        exist); play or render frames [r.start, r.stop) of it. # -> [Q, F]"""
        indices = np.array(s.codes.indices)
        outside = [q for q in range(s.codes.levels) if q not in r.level_tuple(s.codes.levels)]
        indices[outside, :] = 0
        return s.codes.with_indices(indices)


def levels_arg(text: str, n_levels: int) -> tuple[int, ...]:
    """'0,1' -> (0, 1), for the CLI."""
    try:
        levels = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise InputError(f"LEVELS must be whole numbers separated by commas, got {text!r}") from None
    bad = [q for q in levels if not 0 <= q < n_levels]
    if bad:
        raise InputError(f"level {bad[0]} is out of range: the grid has levels 0..{n_levels - 1}")
    return levels
