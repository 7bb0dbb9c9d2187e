"""What the server holds between messages, as one typed value owned by the dispatcher thread.

`ServerState` is mutable on purpose (it is the one place that changes); the values in it are
immutable (`Session`, `Codes`, `RenderSettings`), so a handler that fails half-way has swapped in
nothing. Model types are imported for annotations only: `distill serve` must start without torch.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import InputError
from engine.server.ports import RenderSettings

if TYPE_CHECKING:  # annotations only: importing these would load torch
    import numpy as np

    from engine.codec.model import Model
    from engine.codes import Codes
    from engine.edit.session import Session
    from engine.prior.network import Prior
    from engine.server.handlers.midi import MidiRouter

NO_MODEL = "no model loaded: send /model/load NAME first"


@dataclass
class TrainStatus:
    """The training run `/train/start` began (one at a time), as `/train/progress` reports it."""

    state: str = "idle"  # idle | running | done | failed | cancelled
    epoch: int = 0
    epochs: int = 0
    train_loss: float = 0.0
    val_loss: float = 0.0  # the validation mel L1


@dataclass
class ServerState:
    model: Model | None = None
    model_name: str = ""
    model_path: Path | None = None
    prior: Prior | None = None  # None when the bundle has none
    labels: dict | None = None  # the code labels, read from the bundle on first use
    codebooks: np.ndarray | None = None  # [Q, K, d] code vectors, for blend and morph
    voices: list[tuple[Codes, float]] = field(default_factory=list)  # layers (codes, gain_db): voice i + 1
    midi: MidiRouter | None = None  # made by the first MIDI route
    session: Session | None = None
    version: int = 0  # bumped by every change of the session
    dirty: bool = False  # the session changed since it was last saved
    render_settings: RenderSettings = field(default_factory=RenderSettings)
    train_overrides: tuple[str, ...] = ()  # `--train-set` values for every /train/start
    train: TrainStatus = field(default_factory=TrainStatus)

    def require_model(self) -> Model:
        if self.model is None or self.session is None:
            raise InputError(NO_MODEL)
        return self.model

    def require_session(self) -> Session:
        self.require_model()
        assert self.session is not None
        return self.session

    def require_prior(self) -> Prior:
        self.require_model()
        if self.prior is None:
            raise InputError(f"model {self.model_name!r} has no prior: retrain it without --no-prior to generate")
        return self.prior
