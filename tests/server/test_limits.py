"""Every bad input from the network is one sentence: over-long names, renders over the length cap
or the free disk, duplicate Host/Origin headers, JSON nested too deep, `--host` off this machine;
and a bug inside a job is counted in /status internal_errors."""
from __future__ import annotations

import json
import socket
import subprocess
import urllib.request

import pytest
from websockets.sync.client import connect

from osc_client import OscClient, wait_for
from engine.protocol import MAX_WEBSOCKET_JSON_DEPTH, MAX_NAME_CHARS


def status(client: OscClient) -> dict:
    pairs = client.answer("/status")[1]
    return dict(zip(pairs[::2], pairs[1::2]))


def test_over_long_names_are_refused_with_one_sentence(loaded):
    long = "n" * (MAX_NAME_CHARS + 1)
    for address, args in (("/render", [long]), ("/render/region", [long, 0, 1]), ("/session/save", [long]),
                          ("/session/load", [long]), ("/train/start", [".", long])):
        reply = loaded.answer(address, *args)
        assert reply == ("/fail", [address, f"{address} name is {len(long)} characters long; "
                                            f"use at most {MAX_NAME_CHARS}"]), reply
    assert loaded.answer("/render", "n" * MAX_NAME_CHARS)[0] == "/done"


def test_path_names_longer_than_a_file_system_takes_are_refused(loaded):
    """A 1000-byte file name made the kernel answer ENAMETOOLONG: an internal error, before."""
    long = "x" * 1000
    for address, args in (("/model/load", [long]), ("/edit/encode", [long]), ("/train/start", [long, "ok"])):
        reply = loaded.answer(address, *args)
        assert reply[0] == "/fail" and "bytes; file systems take at most 255" in reply[1][1], reply
    assert status(loaded)["internal_errors"] == 0


def test_a_render_over_the_length_cap_fails_at_once_without_writing(loaded, tiny_library):
    """The issue's probe: 600 s at 192 kHz wrote 439 MB and took +880 MB. Now it is refused on the
    dispatcher, before any job starts (no /progress), and nothing is written."""
    clips = tiny_library / "clips"
    before = sorted(clips.iterdir())
    assert loaded.answer("/render/settings", "wav", 16, 192000, 0)[0] == "/done"
    assert loaded.answer("/render/length", 600, 0)[0] == "/done"
    msgs = loaded.call("/render", "ten-minutes", skip=("/heartbeat",))
    assert [m[0] for m in msgs] == ["/fail"], msgs
    reason = msgs[0][1][1]
    assert "115,200,000 frames" in reason and "2.5 minutes at 192000 Hz" in reason, reason
    assert sorted(clips.iterdir()) == before
    assert loaded.answer("/render/length", 2, 0)[0] == "/done"  # under the cap, the same settings render
    assert loaded.answer("/render", "two-seconds")[0] == "/done"


def test_a_render_the_disk_has_no_room_for_is_refused(tiny_library, tmp_path):
    """The clips folder on a real 8 MB file system (tmpfs; needs root to mount, as ./run test has)."""
    from engine.server.app import Server, ServeOptions
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(small)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({mounted.stderr.strip()}): run as root")
    try:
        srv = Server(ServeOptions(osc_port=0, web_port=None, models_dir=tiny_library / "models", clips_dir=small,
                                  input_dir=tmp_path), log=lambda text: None).start_in_thread()
        client = OscClient(srv.osc_port)
        try:
            assert client.answer("/model/load", "tiny")[0] == "/done"
            reply = client.answer("/render", "take")
            assert reply[0] == "/fail" and f"the clips folder {small} has 8 MB free" in reply[1][1], reply
            assert list(small.iterdir()) == []
        finally:
            client.close()
            srv.join()
    finally:
        subprocess.run(["umount", str(small)], check=True)
        for f in (tiny_library / "models").glob("*.session.json"):
            f.unlink()


def raw_http(port: int, headers: list[str]) -> str:
    """The status line of a GET / carrying exactly these header lines (duplicates included)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(("GET / HTTP/1.1\r\n" + "".join(h + "\r\n" for h in headers) + "\r\n").encode())
        return s.recv(4096).split(b"\r\n", 1)[0].decode()


def test_duplicate_host_or_origin_headers_get_400_not_500(server):
    port = server.web_port
    host = f"Host: 127.0.0.1:{port}"
    origin = f"Origin: http://127.0.0.1:{port}"
    assert raw_http(port, [host]).startswith("HTTP/1.1 200")
    assert raw_http(port, [host, origin]).startswith("HTTP/1.1 200")
    assert raw_http(port, [host, host]).startswith("HTTP/1.1 400")
    assert raw_http(port, [host, "Host: evil.example"]).startswith("HTTP/1.1 400")
    assert raw_http(port, [host, origin, "Origin: http://evil.example"]).startswith("HTTP/1.1 400")


def test_json_nested_too_deep_over_the_websocket_gets_a_fail(server):
    port = server.web_port
    with connect(f"ws://127.0.0.1:{port}/ws", origin=f"http://127.0.0.1:{port}", open_timeout=5) as ws:
        def reply_to(text: str) -> dict:
            ws.send(text)
            while True:
                msg = json.loads(ws.recv(timeout=10))
                if msg["address"] in ("/fail", "/pong"):
                    return msg
        for depth in (30000, MAX_WEBSOCKET_JSON_DEPTH + 1):  # past Python's recursion limit, and just past the cap
            msg = reply_to('{"address": "/ping", "args": [' + "[" * depth + "]" * depth + "]}")
            assert msg["address"] == "/fail" and f"nested deeper than {MAX_WEBSOCKET_JSON_DEPTH}" in msg["args"][1], msg
        assert reply_to('{"address": "/ping", "args": ["still here"]}') == {"address": "/pong", "args": ["still here"]}


def test_a_bug_inside_a_job_is_counted_in_internal_errors(server, client):
    from engine.server.jobs import Job
    assert status(client)["internal_errors"] == 0
    failures = []
    job = Job("/generate", lambda progress, cancelled: 1 / 0)  # a planted bug
    job.reply_to = server.core.client(("test",), lambda: lambda address, args: failures.append(args), pinned=True)
    server.post(server.core.worker.submit, job)
    wait_for(lambda: failures)
    assert failures[0][0] == "/generate" and "internal error: ZeroDivisionError" in failures[0][1]
    assert status(client)["internal_errors"] == 1


def test_host_off_this_machine_warns_and_prints_urls_that_work(tiny_library, tmp_path):
    from serve_process import ServeProcess
    with ServeProcess("--host", "0.0.0.0", "--models-dir", str(tiny_library / "models"),
                      "--clips-dir", str(tmp_path), "--input-dir", str(tmp_path)) as proc:
        banner = "\n".join(proc.banner)
        assert "0.0.0.0" not in banner, banner
        assert f"udp://127.0.0.1:{proc.osc_port}" in banner and f"http://127.0.0.1:{proc.web_port}/" in banner
        warning = proc.stderr_text()
        assert "warning: --host 0.0.0.0" in warning and "network you trust" in warning, warning
        client = OscClient(proc.osc_port)  # the printed OSC address answers ...
        assert client.answer("/ping", "lan") == ("/pong", ["lan"])
        client.close()
        with urllib.request.urlopen(f"http://127.0.0.1:{proc.web_port}/", timeout=10) as page:  # ... and the page
            assert page.status == 200
