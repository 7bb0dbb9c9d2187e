"""The web endpoint: static page and manifest over HTTP, the route table over a WebSocket, and
the origin policy that keeps other web pages out."""
from __future__ import annotations

import json

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from engine.server.reference import MANIFEST_PATH
from http_client import get  # noqa: E402  (tests/server is on the path)


def test_page_and_manifest_are_served(server):
    status, body, headers = get(server.web_port, "/")
    assert status == 200 and b"<html" in body.lower() and headers["Content-Type"].startswith("text/html")
    status, body, headers = get(server.web_port, "/protocol.json")
    assert status == 200 and json.loads(body) == json.loads(MANIFEST_PATH.read_text())
    assert get(server.web_port, "/nope.js")[0] == 404
    assert get(server.web_port, "/../engine/protocol.py")[0] in (403, 404)
    assert get(server.web_port, "/%2e%2e/pyproject.toml")[0] in (403, 404)


def test_other_origins_and_hosts_are_refused(server):
    port = server.web_port
    assert get(port, "/", {"Origin": "http://evil.example"})[0] == 403
    assert get(port, "/", {"Origin": "null"})[0] == 403
    assert get(port, "/", {"Host": "evil.example"})[0] == 403  # DNS rebinding
    assert get(port, "/", {"Origin": f"http://localhost:{port}"})[0] == 200
    with pytest.raises(InvalidStatus) as e:
        connect(f"ws://127.0.0.1:{port}/ws", origin="http://evil.example", open_timeout=5)
    assert e.value.response.status_code == 403


def test_websocket_speaks_the_table(server):
    port = server.web_port
    with connect(f"ws://127.0.0.1:{port}/ws", origin=f"http://127.0.0.1:{port}", open_timeout=5) as ws:
        def call(address, *args):
            ws.send(json.dumps({"address": address, "args": list(args)}))
            while True:
                msg = json.loads(ws.recv(timeout=30))
                if msg["address"] in ("/pong", "/status") or (msg["address"] in ("/done", "/fail")
                                                               and msg["args"][0] == address):
                    return msg
        assert call("/ping", "w") == {"address": "/pong", "args": ["w"]}
        assert call("/model/load", "tiny")["address"] == "/done"
        assert call("/edit/set", 0, 3, 6)["address"] == "/done"
        ws.send(json.dumps({"address": "/grid/get", "args": [0, 5]}))
        chunks = []
        while True:
            msg = json.loads(ws.recv(timeout=10))
            if msg["address"] == "/grid/chunk" and msg["args"][2] == 0 and len(msg["args"]) == 8:
                chunks.append(msg["args"])
            if msg["address"] == "/done" and msg["args"][0] == "/grid/get":
                break
        assert chunks[0][3:] == [0, 0, 0, 6, 0]
        assert call("/undo")["address"] == "/done"
        assert call("/edit/set", "x")["address"] == "/fail"
        ws.send("not json")
        assert json.loads(ws.recv(timeout=5))["address"] == "/fail"
        assert call("/ping")["address"] == "/pong"
