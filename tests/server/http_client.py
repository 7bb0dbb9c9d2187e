"""A plain HTTP GET to the engine's web port, with the Host header the origin policy expects."""
from __future__ import annotations

import http.client


def get(port: int, path: str, headers: dict | None = None, timeout_s: float = 30.0) -> tuple[int, bytes, dict]:
    """(status, body, headers) of GET `path` on 127.0.0.1:`port`."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    conn.request("GET", path, headers={"Host": f"127.0.0.1:{port}", **(headers or {})})
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, body, dict(r.getheaders())
