"""What several handler modules share: the editor service over the loaded model, and generation
with the worker's progress and cancellation."""
from __future__ import annotations

from typing import Callable

from engine.edit.service import EditService, Resources
from engine.edit.session import Session
from engine.server.core import Core
from engine.server.jobs import Cancelled


def service(core: Core) -> EditService:
    """The editor over the loaded model (InputError when none is loaded)."""
    st = core.state
    st.require_model()
    return EditService(Resources(st.require_model, st.prior, st.codebooks))


def generation_progress(progress: Callable[[float, str], None]) -> Callable[[int, int], None]:
    return lambda done_frames, total: progress(done_frames / max(total, 1), f"{done_frames}/{total} frames")


def generate_session(ed: EditService, base: Session, seconds: float, seed: int | None,
                     progress: Callable, cancelled: Callable[[], bool]) -> Session:
    """`EditService.generate` with the worker's progress and cancellation."""
    from engine.prior.generate import GenerationCancelled
    try:
        return ed.generate(base, seconds, seed, generation_progress(progress), cancelled)
    except GenerationCancelled:
        raise Cancelled() from None
