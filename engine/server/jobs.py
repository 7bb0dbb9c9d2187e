"""Long jobs (train, generate, regenerate, encode, export, render, model load) on one worker thread.

A job is split in two: `work(progress, cancelled)` runs on the worker and must not touch engine
state (it gets the values it needs when it is made); `commit(result)` runs back on the dispatcher
thread and is the only part that changes state. So a cancelled or failed job leaves the session
exactly as it was, and the dispatcher never waits for a job.
"""
from __future__ import annotations

import itertools
import queue
import threading
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

from engine.errors import InputError

ProgressFn = Callable[[float, str], None]


class Cancelled(Exception):
    """Raised inside a job's work when its cancel flag is set."""


@dataclass
class Job:
    """One unit of long work. `address` is the command it answers; `reply_to` the client key."""

    address: str
    work: Callable[[ProgressFn, Callable[[], bool]], Any]
    commit: Callable[[Any], list] = lambda result: []
    id: int = field(default_factory=itertools.count(1).__next__)
    reply_to: Any = None
    cancel_event: threading.Event = field(default_factory=threading.Event)
    fraction: float = 0.0
    on_fail: Callable[[str], None] | None = None  # dispatcher thread, with the reason
    quick: bool = False  # short and read-only (the model list): runs on the reader, never behind a training run

    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def check(self) -> None:
        if self.cancel_event.is_set():
            raise Cancelled()


@dataclass(frozen=True)
class JobOutcome:
    job: Job
    result: Any = None
    error: str | None = None  # one sentence, or "cancelled"
    internal: bool = False  # the error is a bug (counted in /status internal_errors), not bad input


class Worker:
    """One background thread running jobs in order. `post(fn, *args)` must hand a call to the
    dispatcher thread (e.g. `loop.call_soon_threadsafe`); outcomes and progress go through it."""

    def __init__(self, post: Callable[..., None], on_done: Callable[[JobOutcome], None],
                 on_progress: Callable[[Job, float, str], None]) -> None:
        self._post, self._on_done, self._on_progress = post, on_done, on_progress
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._pending: list[Job] = []  # queued or running, in order
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="distill-worker", daemon=True)
        self._thread.start()

    @property
    def jobs(self) -> list[Job]:
        with self._lock:
            return list(self._pending)

    def submit(self, job: Job) -> None:
        with self._lock:
            self._pending.append(job)
        self._queue.put(job)

    def cancel(self, address: str | None = None) -> int:
        """Flags matching jobs; each answers /fail <address> cancelled when it stops."""
        n = 0
        for job in self.jobs:
            if address is None or job.address == address:
                job.cancel_event.set()
                n += 1
        return n

    def close(self, timeout_s: float = 5.0) -> None:
        self.cancel()
        self._queue.put(None)
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            outcome = self._execute(job)
            with self._lock:
                if job in self._pending:
                    self._pending.remove(job)
            self._post(self._on_done, outcome)

    def _execute(self, job: Job) -> JobOutcome:
        if job.cancelled():
            return JobOutcome(job, error="cancelled")

        def progress(fraction: float, message: str = "") -> None:
            job.check()
            job.fraction = float(fraction)
            self._post(self._on_progress, job, float(fraction), str(message))

        try:
            return JobOutcome(job, result=job.work(progress, job.cancelled))
        except Cancelled:
            return JobOutcome(job, error="cancelled")
        except InputError as e:
            return JobOutcome(job, error=str(e))
        except Exception as e:  # a bug in a job must not kill the worker; the client hears it
            traceback.print_exc()
            return JobOutcome(job, error=f"internal error: {type(e).__name__}: {e}", internal=True)
