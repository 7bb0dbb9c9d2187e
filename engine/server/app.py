"""`distill serve`: options, and the `Server` that runs the OSC port, the web endpoint, the
heartbeat and the worker on one asyncio loop.

The composition root is `bridge/serve.py` (what the CLI runs for `distill serve`): it builds the
`AudioPort` (the real bridge with `--device`, else `OfflineAudio`) and calls `run_server`. The
engine never imports the bridge.
"""
from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from engine.server.core import Core
from engine.server.handlers import handler_table
from engine.server.hosts import host_warning, local_address, remote_address, web_host
from engine.server.paths import Roots
from engine.server.ports import AudioPort, OfflineAudio
from engine.server.udp import open_osc
from engine.server.wire import Handler

HEARTBEAT_S = 1.0
DEFAULT_OSC_PORT = 9000
DEFAULT_WEB_PORT = 9080


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    osc_port: int = DEFAULT_OSC_PORT  # 0: any free port (tests)
    reply_port: int | None = None
    web_port: int | None = DEFAULT_WEB_PORT  # None: no web endpoint; 0: any free port
    model: str | None = None
    models_dir: Path = Path("models")
    clips_dir: Path = Path("clips")
    input_dir: Path = Path.home()
    heartbeat_s: float = HEARTBEAT_S
    train_overrides: tuple[str, ...] = ()  # `--set` values for every /train/start


def add_arguments(p: argparse.ArgumentParser) -> None:
    from engine.server.library import models_dir
    p.add_argument("--model", metavar="NAME|PATH", help="model to load at start (a name in the models folder, or a path in it)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--osc-port", type=int, default=DEFAULT_OSC_PORT, help="OSC (UDP) port to listen on (default 9000)")
    p.add_argument("--reply-port", type=int, default=None,
                   help="send replies and notifications to this port on the sender's host (for Max udpreceive)")
    p.add_argument("--web-port", type=int, default=DEFAULT_WEB_PORT,
                   help="port of the web editor and its WebSocket (default 9080; -1 turns it off)")
    p.add_argument("--models-dir", type=Path, default=models_dir(), help="model library folder")
    p.add_argument("--clips-dir", type=Path, default=Path("clips"), help="folder rendered clips go to")
    p.add_argument("--input-dir", type=Path, default=Path.home(),
                   help="the one folder OSC clients may read audio and training folders from (default: home)")
    p.add_argument("--train-set", dest="train_overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override for models trained over OSC, e.g. codec.levels=2 (repeatable)")


def options_from_args(args: argparse.Namespace) -> ServeOptions:
    for name in ("osc_port", "reply_port"):
        value = getattr(args, name)
        if value is not None and not 0 <= value <= 65535:
            from engine.errors import InputError
            raise InputError(f"--{name.replace('_', '-')} {value} is not a port (0..65535)")
    return ServeOptions(args.host, args.osc_port, args.reply_port, None if args.web_port < 0 else args.web_port,
                        args.model, args.models_dir, args.clips_dir, args.input_dir,
                        train_overrides=tuple(args.train_overrides))


class Server:
    """Everything `distill serve` runs, on one asyncio loop (in the calling thread, or in a
    background thread for tests with `start_in_thread`)."""

    def __init__(self, options: ServeOptions, audio: AudioPort | None = None, log=print,
                 handlers: Mapping[str, Handler] | None = None) -> None:
        self.options = options
        self.audio = audio or OfflineAudio()
        self.handlers = handler_table() if handlers is None else handlers  # the routes' handlers, given to Core
        self.log = log
        self.loop: asyncio.AbstractEventLoop | None = None
        self.core: Core | None = None
        self.osc_port = self.web_port = 0
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def post(self, fn, *args) -> None:
        """Runs fn(*args) on the dispatcher thread; safe from any thread."""
        if self.loop is not None and not self.loop.is_closed():
            try:
                self.loop.call_soon_threadsafe(fn, *args)
            except RuntimeError:
                pass  # the loop closed while a job finished: nobody is left to tell

    async def serve(self) -> None:
        o = self.options
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        roots = Roots.make(o.models_dir, o.clips_dir, o.input_dir)
        self.core = Core(roots, self.audio, self.post, self.handlers, self.log)
        self.core.state.train_overrides = o.train_overrides
        from engine.server.clock import BundleClock
        self.core.scheduler = BundleClock(self.core, self.loop, self.audio)  # time-tagged bundles
        osc, self.osc_port = await open_osc(self.core, o.host, o.osc_port, o.reply_port)
        if o.reply_port:  # the reply port hears notifications without asking
            self._subscribe_reply_port(osc, o.reply_port)
        web = None
        if o.web_port is not None:
            from engine.server.web import WebEndpoint
            web = WebEndpoint(self.core, web_host(o.host), o.web_port)  # this machine only, whatever --host
            self.web_port = await web.start()
        if o.model:  # named on the command line by the user: a path anywhere, or a library name
            path = Path(o.model).expanduser()
            if path.is_file():
                from engine.server.handlers.model import load_job
                job = load_job(self.core, path.resolve())
                job.reply_to = self._console_client()
                self.core.worker.submit(job)
            else:
                self.core.handle(self._console_client(), "/model/load", [o.model])
        beat = asyncio.create_task(self._heartbeat())
        import gc
        gc.collect()
        gc.freeze()  # everything imported so far is permanent: collections stay short
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            beat.cancel()
            osc.transport.close()
            if web is not None:
                await web.close()
            await asyncio.get_running_loop().run_in_executor(None, self.core.close)

    def _subscribe_reply_port(self, osc, port: int) -> None:
        host = "127.0.0.1" if self.options.host in ("127.0.0.1", "0.0.0.0", "localhost") else self.options.host
        dest = [host, port]
        client = self.core.client(("reply-port", host, port), lambda: osc.sender(dest), subscribed=True,
                                  pinned=True)
        client.dest = dest

    def _console_client(self):
        """The `--model` load at start answers on the console."""
        def send(address: str, args: list) -> None:
            if address == "/fail":
                self.log(f"distill serve: {args[0]} failed: {args[1]}")
            elif address == "/done":
                self.log(f"distill serve: loaded model {args[1]} ({args[3]} levels x {args[4]} codes)")
        return self.core.client(("console",), lambda: send, pinned=True)

    async def _heartbeat(self) -> None:
        seq = 0
        while True:
            await asyncio.sleep(self.options.heartbeat_s)
            seq += 1
            try:
                self.core.heartbeat(seq)
            except Exception as e:  # the beat must go on
                self.log(f"distill serve: heartbeat: {type(e).__name__}: {e}")

    def inject(self, name: str, address: str, args: list, timetag_s: float | None = None) -> None:
        """A message from a local input (a MIDI port), from any thread: handled on the dispatcher as
        from a client `name` whose failures are logged (rate-limited like any client's). With
        `timetag_s` it goes through the bundle clock like a time-tagged OSC bundle."""
        def handle() -> None:
            def send(reply: str, reply_args: list) -> None:
                if reply == "/fail":
                    self.log(f"distill serve: {name}: {reply_args[0]} failed: {reply_args[1]}")
            self.core.receive(self.core.client(("local", name), lambda: send, pinned=True), timetag_s, address, args)
        self.post(handle)

    def stop(self) -> None:
        if self.loop is not None and self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)

    # ------------------------------------------------------------ background thread (tests, benches)
    def start_in_thread(self, timeout_s: float = 10.0) -> "Server":
        def main():
            try:
                asyncio.run(self.serve())
            except BaseException as e:
                self._error = e
                self._ready.set()
        self._thread = threading.Thread(target=main, name="distill-serve", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s) or self._error is not None:
            raise RuntimeError(f"server did not start: {self._error!r}")
        return self

    def join(self, timeout_s: float = 10.0) -> None:
        self.stop()
        if self._thread is not None:
            self._thread.join(timeout_s)


def connect_help(server: Server) -> str:
    """The banner: addresses that work (127.0.0.1 rather than a bind-everything 0.0.0.0)."""
    o = server.options
    host = local_address(o.host)
    elsewhere = remote_address(o.host)
    lines = [f"distill serve: OSC on udp://{host}:{server.osc_port}"
             + (f" (from other machines: udp://{elsewhere}:{server.osc_port})" if elsewhere != host else "")
             + (f", replies to port {o.reply_port}" if o.reply_port else ", replies to the sender's port"),
             f"  try:  oscsend {host} {server.osc_port} /ping s hello   (answers /pong hello)",
             f"  Max:  [udpsend {host} {server.osc_port}] and [udpreceive {o.reply_port or 9001}]"
             + ("" if o.reply_port else f" (start with --reply-port 9001, or send /notify 1 9001)"),
             f"  Pd:   [netsend -u -b] 'connect {host} {server.osc_port}', [oscformat], [netreceive -u -b] + /notify 1 PORT",
             f"  audio: {server.audio.describe() if server.audio.describe() != 'none' else 'no audio device (editing, effects and rendering; --device NAME to hear it)'}"]
    if server.web_port:
        lines.append(f"  web editor: http://{web_host(o.host)}:{server.web_port}/  (also for Max [jweb])")
    lines.append("  reference: docs/osc.md; Ctrl-C stops")
    return "\n".join(lines)


def run_server(options: ServeOptions, audio: AudioPort | None = None, on_ready=None) -> int:
    """Runs until Ctrl-C or SIGTERM; prints how to connect. `on_ready(server)` runs on the loop once
    it serves (the composition root attaches inputs such as a MIDI port there)."""
    server = Server(options, audio, log=lambda text: print(text, file=sys.stderr, flush=True))

    async def main():
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, server.stop)
        task = asyncio.create_task(server.serve())
        while not server._ready.is_set() and not task.done():
            await asyncio.sleep(0.01)
        if not task.done():
            warning = host_warning(options.host, server.osc_port, server.web_port)
            if warning:
                print(warning, file=sys.stderr, flush=True)
            print(connect_help(server), flush=True)
            if on_ready is not None:
                on_ready(server)
        await task
    try:
        asyncio.run(main())
    except OSError as e:
        from engine.errors import InputError
        raise InputError(f"cannot listen on {options.host} (OSC port {options.osc_port}, web port "
                         f"{options.web_port}): {e.strerror or e}") from None
    return 0
