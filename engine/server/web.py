"""The web endpoint: `plugin_ui/web/` over HTTP at `/`, the manifest at `/protocol.json`, and a
WebSocket at `/ws` that speaks the route table as JSON `{"address": "/edit/set", "args": [0, 12, 5]}`
both ways (replies and notifications have the same shape as over OSC). One port, one asyncio loop
shared with the OSC dispatcher, so a web edit and an OSC edit see the same state in the same order.

Origin policy (so a web page open in the musician's browser cannot drive the engine):
- bound to 127.0.0.1 by default;
- the `Host` header must be `127.0.0.1:<port>` or `localhost:<port>` (defeats DNS rebinding);
- a request that carries an `Origin` header (every browser WebSocket and cross-site fetch) must come
  from `http://127.0.0.1:<port>` or `http://localhost:<port>`, i.e. from the page this server served.
  Max's `jweb` loading `http://127.0.0.1:<port>/` is such a page and is allowed; a `file://` page
  (Origin `null`) or any other site is refused with 403.
- a WebSocket without an `Origin` header is a local program, not a browser, and is allowed: it
  could send OSC to the same engine anyway.
"""
from __future__ import annotations

import asyncio
import json
import mimetypes
import re
from http import HTTPStatus
from pathlib import Path

from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from engine.jsonfile import json_depth
from engine.protocol import MAX_DATAGRAM_BYTES, MAX_WEBSOCKET_JSON_DEPTH, SOUND_HTTP, WEBSOCKET_PATH
from engine.server.core import Core
from engine.server.paths import PathRefused, confine
from engine.server.reference import MANIFEST_PATH
from engine.server.sound import GridSound, SoundRefused

WEB_ROOT = MANIFEST_PATH.parent / "web"
MAX_QUEUED_MESSAGES = 10_000  # per web client; a stalled page is dropped rather than eating memory
SEGMENT_PATH = re.compile(re.escape(SOUND_HTTP["segment"]).replace(r"\{i\}", r"(\d{1,9})") + "$")


def allowed_hosts(port: int) -> set[str]:
    return {f"127.0.0.1:{port}", f"localhost:{port}"}


def allowed_origins(port: int) -> set[str]:
    return {f"http://{h}" for h in allowed_hosts(port)}


def _response(status: HTTPStatus, body: bytes, content_type: str, extra: dict | None = None) -> Response:
    headers = Headers({"Content-Type": content_type, "Content-Length": str(len(body)),
                       "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
                       "Connection": "close", **(extra or {})})
    return Response(status.value, status.phrase, headers, body)


def _text(status: HTTPStatus, text: str) -> Response:
    return _response(status, (text + "\n").encode(), "text/plain; charset=utf-8")


class WebEndpoint:
    def __init__(self, core: Core, host: str, port: int, web_root: Path = WEB_ROOT) -> None:
        self.core, self.host, self.port, self.web_root = core, host, port, web_root
        self._server = None
        self._next_id = 0
        self.sound = GridSound()

    async def start(self) -> int:
        self._server = await serve(self._connection, self.host, self.port, process_request=self._process_request,
                                   max_size=MAX_DATAGRAM_BYTES * 8, server_header="distill")
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        await asyncio.get_running_loop().run_in_executor(None, self.sound.close)

    # ------------------------------------------------------------ HTTP
    def check_request(self, request: Request) -> tuple[HTTPStatus, str] | None:
        """Why this request is refused (400 malformed, 403 not allowed), or None."""
        for name in ("Host", "Origin"):  # two of either cannot be judged: refuse, never guess which counts
            if len(request.headers.get_all(name)) > 1:
                return HTTPStatus.BAD_REQUEST, f"more than one {name} header"
        refused = self._check_origin(request)
        return None if refused is None else (HTTPStatus.FORBIDDEN, refused)

    def _check_origin(self, request: Request) -> str | None:
        host = request.headers.get("Host", "")
        if host not in allowed_hosts(self.port):
            return f"Host {host!r} refused: use http://127.0.0.1:{self.port}/"
        origin = request.headers.get("Origin")
        if origin is not None and origin not in allowed_origins(self.port):
            return f"Origin {origin!r} refused: only pages served by this engine may talk to it"
        return None

    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        refused = self.check_request(request)
        if refused:
            return _text(*refused)
        path = request.path.split("?", 1)[0]
        if path == WEBSOCKET_PATH:
            return None  # go on with the WebSocket handshake
        if path == SOUND_HTTP["index"] or SEGMENT_PATH.match(path):
            return await self._sound(path, request)
        if path == "/protocol.json":
            return _response(HTTPStatus.OK, MANIFEST_PATH.read_bytes(), "application/json")
        name = "index.html" if path in ("/", "") else path.lstrip("/")
        try:
            file = confine(self.web_root, name, "web path")
        except PathRefused:
            return _text(HTTPStatus.FORBIDDEN, f"{path} is outside the web folder")
        if not file.is_file():
            return _text(HTTPStatus.NOT_FOUND, f"{path} not found")
        kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind in ("application/javascript", "application/json"):
            kind += "; charset=utf-8"
        return _response(HTTPStatus.OK, file.read_bytes(), kind)

    async def _sound(self, path: str, request: Request) -> Response:
        """The grid's decoded sound: the index (JSON), or one segment's float32 samples."""
        index = path == SOUND_HTTP["index"]
        try:
            decoded = await self.sound.current(self.core)
            if index:
                body = json.dumps(decoded.index(self.sound.max_s)).encode()
                return _response(HTTPStatus.OK, body, "application/json")
            i = int(SEGMENT_PATH.match(path).group(1))
            samples = decoded.segment(i)
        except SoundRefused as e:
            if index:  # an answer, not an error: the page shows why and asks again at the next version
                body = json.dumps({"version": self.core.state.version, "samples": 0, "etags": [], "refused": str(e)})
                return _response(HTTPStatus.OK, body.encode(), "application/json")
            return _text(HTTPStatus(e.status), str(e))
        etag = f'"{decoded.etags[i]}"'
        headers = {"ETag": etag, "X-Distill-Version": str(decoded.version)}
        if request.headers.get("If-None-Match") == etag:
            return _response(HTTPStatus.NOT_MODIFIED, b"", "application/octet-stream", headers)
        return _response(HTTPStatus.OK, samples.astype("<f4").tobytes(), "application/octet-stream", headers)

    # ------------------------------------------------------------ WebSocket
    async def _connection(self, ws: ServerConnection) -> None:
        self._next_id += 1
        key = ("ws", self._next_id)
        queue: asyncio.Queue[str] = asyncio.Queue()

        def send(address: str, args: list) -> None:
            if queue.qsize() < MAX_QUEUED_MESSAGES:
                queue.put_nowait(json.dumps({"address": address, "args": _jsonable(args)}))

        client = self.core.client(key, lambda: send, subscribed=True, pinned=True)
        writer = asyncio.create_task(self._writer(ws, queue))
        try:
            async for text in ws:
                self._receive(client, text)
        except ConnectionClosed:
            pass
        finally:
            writer.cancel()
            self.core.forget(key)

    @staticmethod
    async def _writer(ws: ServerConnection, queue: asyncio.Queue) -> None:
        try:
            while True:
                await ws.send(await queue.get())
        except ConnectionClosed:
            pass

    def _receive(self, client, text) -> None:
        if not isinstance(text, str):
            self.core.fail(client, "?", "send JSON text frames, not binary")
            return
        try:
            try:
                message = json.loads(text)
            except RecursionError:
                raise ValueError(f"JSON nested deeper than {MAX_WEBSOCKET_JSON_DEPTH} levels") from None
            if json_depth(message) > MAX_WEBSOCKET_JSON_DEPTH:
                raise ValueError(f"JSON nested deeper than {MAX_WEBSOCKET_JSON_DEPTH} levels")
            address, args = message["address"], message.get("args", [])
            if not isinstance(address, str) or not isinstance(args, list):
                raise TypeError("address must be a string and args a list")
        except (ValueError, KeyError, TypeError) as e:
            self.core.fail(client, "?", f"malformed message: expected {{\"address\": \"/...\", \"args\": [...]}} ({e})")
            return
        self.core.handle(client, address, args)


def _jsonable(args: list) -> list:
    out = []
    for a in args:
        if isinstance(a, float) and a != a:
            a = None  # NaN is not JSON
        out.append(a.item() if hasattr(a, "item") else a)
    return out
