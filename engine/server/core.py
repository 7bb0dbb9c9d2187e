"""The server core: one dispatcher thread owns all engine state; transports feed it messages.

`Core.handle(client, address, args)` looks the route up in the table, coerces the arguments,
runs the handler and sends its replies, or answers `/fail <address> <reason>`. It never raises:
a bad message costs one (rate-limited) `/fail`, a bug in a handler costs one `/fail internal
error` and a traceback on stderr, and the state is what it was before the message.

Handlers change the session only through `commit_session`, which bumps the grid version, tells
the audio port what changed and broadcasts `/grid/changed` with the changed codes.

The handler table is given to `Core` by whoever builds it (`engine.server.app.Server`, from
`engine.server.handlers.handler_table()`): this module imports no handler, so there is no circle.
Messages of an OSC bundle with a time tag go through `receive`, which hands them to `scheduler`
when one is set (the audio side schedules them on its clock) and runs them at once otherwise.
"""
from __future__ import annotations

import sys
import time
import traceback
from typing import TYPE_CHECKING, Callable, Hashable, Mapping

from engine import protocol, trace
from engine.errors import InputError
from engine.facts import STATUS_KEYS
from engine.server.args import coerce_args
from engine.server.clients import Client, ClientTable, FailLimiter
from engine.server.jobs import Job, JobOutcome, Worker
from engine.server.paths import Roots
from engine.server.ports import AudioPort
from engine.server.state import ServerState
from engine.server.wire import Handler, changed_frames, grid_chunks

if TYPE_CHECKING:
    from engine.edit.session import Session

# Runs `run` at `timetag_s` (Unix seconds, the time.time() clock), on the dispatcher thread.
Scheduler = Callable[[float, Callable[[], None]], None]

class Core:
    def __init__(self, roots: Roots, audio: AudioPort, post: Callable[..., None],
                 handlers: Mapping[str, Handler], log: Callable[[str], None] = print) -> None:
        self.handlers = handlers
        self.roots = roots
        self.audio = audio
        self.log = log
        self.started = time.monotonic()
        self.clients = ClientTable()  # expiring OSC peers (least recent evicted) + pinned ones
        self.fail_limit = FailLimiter()  # per source, apart from the table (engine/server/clients.py)
        self.fails_dropped = 0
        self.internal_errors = 0  # bugs caught in handlers and jobs; the fuzz figure requires 0
        self.messages = 0
        self.state = ServerState()  # the engine state (dispatcher thread only)
        self.scheduler: Scheduler | None = None  # for time-tagged bundles; None: run them at once
        self.late_bundles = 0  # time-tagged bundles too late for their time (engine/server/clock.py)
        self._cpu = (time.monotonic(), time.process_time(), 0.0)
        self.post = post  # post(fn, *args): run fn on the dispatcher thread (from any thread)
        self.worker = Worker(post, self._job_done, self._job_progress)
        self.reader = Worker(post, self._job_done, self._job_progress)  # `quick` jobs: file reads off the dispatcher

    # ------------------------------------------------------------ clients
    def client(self, key: Hashable, make_send: Callable[[], Callable[[str, list], None]], subscribed: bool = False,
               pinned: bool = False) -> Client:
        """The peer for `key` (created if new), marked active now."""
        return self.clients.get(key, make_send, subscribed, pinned)

    def forget(self, key: Hashable) -> None:
        self.clients.forget(key)

    def notify(self, address: str, args: list, also: Client | None = None) -> None:
        """Sends a notification to every subscriber (and `also`), once per destination."""
        sent = []
        for c in self.clients:
            if (c.subscribed or c is also) and (c.dest is None or c.dest not in sent):
                if c.dest is not None:
                    sent.append(list(c.dest))
                self._send(c, address, args)

    def _send(self, client: Client, address: str, args: list) -> None:
        try:
            client.send(address, args)
        except Exception as e:  # a vanished peer must not stop the dispatcher
            self.log(f"distill serve: could not send {address} to {client.key}: {e}")

    # ------------------------------------------------------------ dispatch
    def receive(self, client: Client, timetag_s: float | None, address: str, args: list) -> None:
        """A message from a transport. `timetag_s`: its bundle's time tag (Unix seconds), or None
        for "now"; a timed message goes to the scheduler when there is one."""
        if timetag_s is None or self.scheduler is None:
            self.handle(client, address, args)
        else:
            self.scheduler(timetag_s, lambda: self.handle(client, address, args))

    def handle(self, client: Client, address: str, raw_args: list) -> None:
        self.messages += 1
        route = protocol.ROUTES_BY_ADDRESS.get(address)
        if route is None:
            self.fail(client, address, f"unknown address {address[:80]} (see docs/osc.md)")
            return
        if trace.ENABLED:
            trace.stamp("handler")
        try:
            out = self.handlers[address](self, client, coerce_args(route, raw_args))
        except InputError as e:
            self.fail(client, address, str(e))
            return
        except Exception as e:
            self.internal_errors += 1
            traceback.print_exc(file=sys.stderr)
            self.fail(client, address, f"internal error: {type(e).__name__}: {e}")
            return
        if isinstance(out, Job):
            out.reply_to = client
            (self.reader if out.quick else self.worker).submit(out)
            return
        for reply_address, reply_args in out or ():
            self._send(client, reply_address, reply_args)

    def fail(self, client: Client, address: str, reason: str) -> None:
        """Sends `/fail address reason`, at most FAIL_BURST at once and FAIL_PER_S per second per
        source (engine/server/clients.py); the rest are counted in `fails_dropped`."""
        if not self.fail_limit.allow(client.key):
            self.fails_dropped += 1
            return
        self._send(client, "/fail", [address[:200], reason[:600]])

    # ------------------------------------------------------------ jobs
    def _job_progress(self, job: Job, fraction: float, message: str) -> None:
        self.notify("/progress", [job.address, fraction, message], also=job.reply_to)

    def _job_done(self, outcome: JobOutcome) -> None:
        job, client = outcome.job, outcome.job.reply_to
        if outcome.error is not None:
            self.internal_errors += outcome.internal
            if job.on_fail is not None:
                job.on_fail(outcome.error)
            self.fail(client, job.address, outcome.error)
            return
        try:
            replies = job.commit(outcome.result) or []
        except InputError as e:
            self.fail(client, job.address, str(e))
            return
        except Exception as e:
            self.internal_errors += 1
            traceback.print_exc(file=sys.stderr)
            self.fail(client, job.address, f"internal error: {type(e).__name__}: {e}")
            return
        for reply_address, reply_args in replies:
            self._send(client, reply_address, reply_args)

    # ------------------------------------------------------------ state changes
    def commit_session(self, session: Session | None, restore_fx: bool = True) -> None:
        """Makes `session` current: bumps the version, tells the audio port and the subscribers.
        With `restore_fx`, an effect chain that differs (undo, load) is handed to the audio port."""
        st = self.state
        old = st.session
        if old is not None and session is not None and old.present is session.present:
            st.session = session
            return  # clipboard only
        if (restore_fx and old is not None and session is not None
                and old.present.effects_json != session.present.effects_json):
            self.audio.fx_restore(session.present.effects)  # first: a chain that cannot load changes nothing
        st.session = session
        st.version += 1
        st.dirty = True
        if session is None:
            return
        new = session.codes.indices
        region = changed_frames(None if old is None else old.codes.indices, new)
        if region is None:
            return
        self.audio.set_grid(session.codes, region)
        q, f = new.shape
        self.notify("/grid/changed", [st.version, q, f, 0, q, region[0], region[1]])
        for msg in grid_chunks(new, st.version, region[0], region[1]):
            self.notify(*msg)

    def status_pairs(self) -> list:
        audio, st = self.audio.status(), self.state
        s = st.session
        pairs = {
            "model": st.model_name or "none", "transport": audio.get("transport", "stopped"),
            "cpu": round(self.cpu_share(), 4), "underruns": int(audio.get("underruns", 0)),
            "jobs": len(self.worker.jobs), "model_id": st.model.model_id if st.model else "",
            "levels": s.codes.levels if s else 0, "frames": s.codes.n_frames if s else 0,
            "codebook_size": s.codes.codebook_size if s else 0, "version": st.version,
            "can_undo": int(bool(s and s.n_past)), "can_redo": int(bool(s and s.n_future)),
            "position_s": float(audio.get("position_s", 0.0)), "gain_db": float(audio.get("gain_db", 0.0)),
            "latency_ms": float(audio.get("latency_ms", 0.0)), "audio": self.audio.describe(),
            "fails_dropped": self.fails_dropped, "internal_errors": self.internal_errors,
            "late_bundles": self.late_bundles + int(audio.get("late_commands", 0)), "tempo_bpm": float(audio.get("tempo_bpm", 120.0)),
            "link": int(bool(audio.get("link"))),
            "host_underflows": int(audio.get("host_underflows", 0)), "idle_underruns": int(audio.get("idle_underruns", 0)),
            "edit_rewinds": int(audio.get("edit_rewinds", 0)),
            "device_restarts": int(audio.get("device_restarts", 0)),
        }
        # in the declared order; a key added here but not to engine/facts.py STATUS_KEYS is a KeyError
        # in tests/server (the drift test), not a silent undocumented key
        return [x for key in STATUS_KEYS for x in (key, pairs.pop(key))] + [x for kv in pairs.items() for x in kv]

    def cpu_share(self) -> float:
        """Share of one core this process used since the last heartbeat (about one second)."""
        return self._cpu[2]

    def heartbeat(self, seq: int) -> None:
        wall, cpu = time.monotonic(), time.process_time()
        last_wall, last_cpu, _ = self._cpu
        share = (cpu - last_cpu) / max(wall - last_wall, 1e-6)
        self._cpu = (wall, cpu, share)
        self.clients.expire()  # silent OSC peers stop getting heartbeats (engine/server/clients.py)
        self.notify("/heartbeat", [seq, round(wall - self.started, 3)])
        if self.state.dirty and seq % 5 == 0:
            self.autosave()

    def autosave(self) -> None:
        st = self.state
        if st.session is None or st.model_path is None or not st.dirty:
            return
        from engine.edit.session import default_session_path, save_session
        try:
            save_session(default_session_path(st.model_path), st.session)
            st.dirty = False
        except OSError as e:
            self.log(f"distill serve: could not save the session ({e})")

    def close(self) -> None:
        self.reader.close()
        self.worker.close()
        self.autosave()

