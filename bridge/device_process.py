"""The device side in a process of its own: `DeviceProcess` here, a `PlayerHost` in the child.

`DeviceProcess` has `PlayerHost`'s methods; each call goes over a private socket pair to the child
(`python -m bridge.device_process FD`), which runs it on its one call thread and answers. Only
control crosses the pipe (a voice's samples when it is replaced, a splice's few thousand samples,
a transport command): the audio path — producer → ring → callback — lives entirely in the child,
so nothing is pickled, locked or shared per block, and no thread of the engine's process can hold
the GIL the callback needs (bridge/host.py says why that matters). The pipe is a socketpair
between this process and the child it started: nothing else can reach it.

Time: a call made inside `with device.at(unix_s):` carries `unix_s` and runs inside the child's
`with host.at(unix_s):`; both processes read the same clocks (CLOCK_MONOTONIC, the Unix time).

Failure: the child's errors come back as the same `InputError` sentence. A call the child does
not answer within its timeout fails with a sentence saying so (its late answer is recognised by
its number and dropped); at close, a child that does not end (PortAudio waiting for a JACK server
that went away) is killed, and the engine's process is never left waiting: it never loaded
PortAudio. The child ignores Ctrl-C (the terminal sends it to the whole group: the engine closes
the device in order) and ends when its pipe closes, or with the engine (PR_SET_PDEATHSIG).

Written by hand rather than with `multiprocessing.Manager` or a `Pool`: those fork or re-import the
engine's main module (torch and all) in the child, proxy attributes lazily and hide timeouts.
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection

from bridge.device_journal import RESTART_NOTE, DeviceJournal
from bridge.player_config import PlayerConfig
from bridge.priority import DEVICE_CALLS_RT_PRIORITY, GcPauses, raise_thread_priority
from bridge.plugins import PluginFolders
from bridge.schedule import AtTime
from engine.errors import InputError

log = logging.getLogger("distill.bridge")
CALL_TIMEOUT_S = 10.0     # a control call; VST3 loading can take a few seconds
START_TIMEOUT_S = 30.0    # the child's imports and PortAudio's device scan
RESTARTS_PER_MINUTE = 3   # a child dying again at once (a broken device) is left gone after these
# calls after which the child's objects are frozen out of the garbage collector's sight (GcPauses):
# they import modules, open PortAudio or load plugins, whose objects live as long as the child
FREEZE_AFTER = ("init", "find_device", "open_stream", "add_effect", "effects_from_dict")
CALLS = ("find_device", "open_stream", "set_audio", "apply_splice", "set_voices", "set_voice_gain",
         "set_loop_frames", "play", "stop", "seek_frames", "align_frames", "set_gain_db", "mix_voices",
         "add_effect", "remove_effect", "move_effect", "set_effect_param", "set_effect_bypass",
         "effects_to_dict", "effects_from_dict", "effects", "reset_callback_timer")  # PlayerHost's methods


class DeviceGone(InputError):
    """The device process ended or stopped answering."""


class _ChildDied(Exception):
    """The child's pipe closed under a call (it crashed or was killed): DeviceProcess restarts it."""


class DeviceProcess:
    """A `PlayerHost` in a child process, with the same methods (see CALLS) and `at(unix_s)`."""

    def __init__(self, config: PlayerConfig, plugin_folders: PluginFolders | None = None) -> None:
        self.config = config
        self.plugin_folders = plugin_folders or PluginFolders.make()
        self.at = AtTime()
        self.stuck = False
        self.pid: int | None = None
        self._lock = threading.Lock()  # one call at a time: the child answers in order
        self._sequence = 0  # each call's number, echoed in its answer
        self._journal = DeviceJournal()  # what a restarted child is told (bridge/device_journal.py)
        self._restarted_s: list[float] = []  # monotonic times of the restarts, for the budget
        self.restarts = 0
        self._closing = False  # close() never starts a new child
        with self._lock:
            try:
                self._spawn()
            except _ChildDied:
                raise DeviceGone(f"the audio device process ended while starting ({self._gone})") from None

    def _spawn(self) -> None:
        """Starts a child and initialises its PlayerHost (the caller holds the lock)."""
        ours, theirs = socket.socketpair()
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        self._proc = subprocess.Popen([sys.executable, "-m", "bridge.device_process", str(theirs.fileno())],
                                      pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, env=env)
        theirs.close()
        self.pid = self._proc.pid
        self._conn = Connection(ours.detach())
        self._gone: str | None = None
        self._call_locked("init", (self.config, self.plugin_folders), {}, START_TIMEOUT_S)

    def __getattr__(self, name: str):
        if name in CALLS:
            return lambda *args, **kwargs: self._call(name, *args, **kwargs)
        raise AttributeError(name)

    def state(self) -> dict:
        """The child's `PlayerHost.state()` (a child that died is restarted first); when there is
        none, a silent state saying so (/status answers). `device_restarts`: children replaced."""
        try:
            state = self._call("state", timeout_s=2.0)
        except DeviceGone as e:
            from bridge.host import PlayerHost
            state = PlayerHost.silent_state(self.config, str(e))
        return {**state, "device_restarts": self.restarts}

    @property
    def alive(self) -> bool:
        return self._gone is None and self._proc.poll() is None

    def _call(self, name: str, *args, timeout_s: float = CALL_TIMEOUT_S, **kwargs):
        with self._lock:
            if self._gone is not None and not self._restart():
                raise DeviceGone(f"the audio device process has ended ({self._gone})")
            try:
                value = self._call_locked(name, args, kwargs, timeout_s)
            except _ChildDied:
                try:
                    if not self._restart():
                        raise _ChildDied()
                    value = self._call_locked(name, args, kwargs, timeout_s)  # once, on the new child
                except _ChildDied:
                    raise DeviceGone(f"the audio device process has ended ({self._gone})") from None
            self._journal.record(name, args, kwargs)
            return value

    def _call_locked(self, name: str, args: tuple, kwargs: dict, timeout_s: float):
        self._sequence += 1
        try:
            self._conn.send((self._sequence, name, args, kwargs, self.at.current))
            deadline = time.monotonic() + timeout_s
            while True:  # answers to calls that timed out earlier arrive first: skip them
                if not self._conn.poll(max(0.0, deadline - time.monotonic())):
                    raise DeviceGone(f"the audio device process did not answer {name} within "
                                     f"{timeout_s:.0f} s (is the machine overloaded, or a plugin stuck?)")
                sequence, kind, value = self._conn.recv()
                if sequence == self._sequence:
                    break
        except (EOFError, OSError) as e:
            self._end(f"{type(e).__name__} on its pipe, exit code {self._proc.poll()}")
            raise _ChildDied() from None
        if kind == "ok":
            return value
        if kind == "input":
            raise InputError(value)
        raise RuntimeError(f"audio device process, {name}: {value}")

    def _restart(self) -> bool:
        """A child that died (not one closed) is replaced and told the journal's state, at most
        RESTARTS_PER_MINUTE times a minute (a child that dies at once each time stays gone).
        The caller holds the lock; False when no new child could be had."""
        now = time.monotonic()
        self._restarted_s = [t for t in self._restarted_s if now - t < 60.0]
        if self._closing or len(self._restarted_s) >= RESTARTS_PER_MINUTE:
            return False
        self._restarted_s.append(now)
        died = self._gone
        try:
            self._spawn()
            for name, args, kwargs in self._journal.replay():
                self._call_locked(name, args, kwargs, START_TIMEOUT_S if name == "find_device" else CALL_TIMEOUT_S)
        except (_ChildDied, DeviceGone, InputError, RuntimeError) as e:
            if self._gone is None:
                self._end(f"restarting it failed: {e}")
            log.warning("the audio device process could not be restarted: %s", e)
            return False
        self.restarts += 1
        log.warning("the audio device process ended (%s); %s", died, RESTART_NOTE)
        return True

    def _end(self, why: str) -> None:
        self._gone = why
        if self._proc.poll() is None:
            self._proc.kill()
            try:
                self._proc.wait(timeout=2.0)
            except subprocess.TimeoutExpired:
                pass
        self._conn.close()

    def close(self, timeout_s: float = 2.0) -> bool:
        """Closes the stream and the child within about 2 × `timeout_s`. A child that does not end
        in time (PortAudio waiting for a vanished JACK server) is killed and `stuck` set; this
        process is never left waiting. Returns whether the device stopped cleanly."""
        self._closing = True
        if self._gone is not None:
            return not self.stuck
        clean = False
        try:
            clean = bool(self._call("close", timeout_s, timeout_s=timeout_s + 1.0))
        except (DeviceGone, RuntimeError) as e:
            log.warning("closing the audio device process: %s", e)
        with self._lock:
            try:
                self._proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                clean = False
            if self._gone is None:
                self._end("closed")
        self.stuck = not clean
        return clean


# ---------------------------------------------------------------- the child
def _serve(fd: int) -> int:
    conn = Connection(fd)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the engine closes us in order (see the docstring)
    _die_with_parent()
    raise_thread_priority(DEVICE_CALLS_RT_PRIORITY)
    from bridge.host import PlayerHost
    gc_pauses = GcPauses()
    host = None
    clean = True
    while True:
        try:
            sequence, name, args, kwargs, at_s = conn.recv()
        except (EOFError, OSError):  # the engine went away: close the device, bounded, and end
            clean = host is None or host.close(2.0)
            break
        try:
            if name == "init":
                host, value = PlayerHost(*args, **kwargs), None
            elif name == "close":
                clean = value = host.close(*args)
            else:
                with host.at(at_s):
                    value = getattr(host, name)(*args, **kwargs)
                if name == "state":
                    value = {**value, **gc_pauses.state()}
                elif name == "reset_callback_timer":
                    gc_pauses.reset()
            if name in FREEZE_AFTER:
                gc_pauses.freeze()
            reply = ("ok", value)
        except InputError as e:
            reply = ("input", str(e))
        except Exception as e:  # noqa: BLE001 - the engine gets one sentence; the child lives on
            reply = ("error", f"{type(e).__name__}: {e}")
        try:
            conn.send((sequence, *reply))
        except (EOFError, OSError):
            clean = host is None or host.close(2.0)
            break
        if name == "close":
            break
    sys.stdout.flush()
    sys.stderr.flush()
    if clean and "sounddevice" in sys.modules:
        from bridge import devices
        devices.terminate()  # PortAudio's JACK client goes before the interpreter does
    if not clean:
        os._exit(0)  # threads stuck in PortAudio would hang the interpreter's exit
    return 0


def _die_with_parent() -> None:
    """Linux: SIGKILL this process when the engine's process dies, even by SIGKILL."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:
            os._exit(0)  # the parent already went before prctl took effect
    except (OSError, AttributeError):
        pass


if __name__ == "__main__":
    sys.exit(_serve(int(sys.argv[1])))
