"""OSC over UDP on the asyncio loop: one datagram at a time, handled on the dispatcher thread (no
thread per datagram: handlers share the engine state). Replies go to the sender's host at its own
port, or at the reply port (`--reply-port`, or per client `/notify 1 PORT`)."""
from __future__ import annotations

import asyncio
import socket
from typing import Callable

from engine import trace
from engine.protocol import MAX_DATAGRAM_BYTES
from engine.server.core import Client, Core
from engine.server.osc import MalformedPacket, build_message, parse_packet


class OscProtocol(asyncio.DatagramProtocol):
    def __init__(self, core: Core, reply_port: int | None = None) -> None:
        self.core = core
        self.reply_port = reply_port
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP "port unreachable" from a client that went away: nothing to do

    def sender(self, dest: list) -> Callable[[str, list], None]:
        def send(address: str, args: list) -> None:
            if self.transport is not None and not self.transport.is_closing():  # shutting down: drop
                self.transport.sendto(build_message(address, args), (dest[0], dest[1]))
        return send

    def client_for(self, addr: tuple) -> Client:
        host, port = addr[0], addr[1]
        dest = [host, self.reply_port or port]

        client = self.core.client(("osc", host, port), lambda: self.sender(dest))
        if client.dest is None:
            client.dest = dest
            client.reply_port_hook = lambda p: dest.__setitem__(1, p)
        return client

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        if trace.ENABLED:
            trace.begin()
        client = self.client_for(addr)
        if len(data) > MAX_DATAGRAM_BYTES:
            self.core.fail(client, "?", f"datagram of {len(data)} bytes is over the {MAX_DATAGRAM_BYTES}-byte limit")
            return
        try:
            messages = parse_packet(data)
        except MalformedPacket as e:
            self.core.fail(client, getattr(e, "address", "?"), f"malformed OSC packet: {e}")
            return
        except Exception as e:  # the wrapper turns python-osc's errors into MalformedPacket; a bug must not stop us
            self.core.internal_errors += 1
            self.core.fail(client, "?", f"malformed OSC packet ({type(e).__name__})")
            return
        for m in messages:  # a bundle's time tag goes with each of its messages (None: now)
            self.core.receive(client, m.timetag_s, m.address, m.args)


async def open_osc(core: Core, host: str, port: int, reply_port: int | None) -> tuple[OscProtocol, int]:
    """Binds the OSC port; returns the protocol (its `transport`) and the bound port (for port 0)."""
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(lambda: OscProtocol(core, reply_port),
                                                              local_addr=(host, port))
    sock = transport.get_extra_info("socket")
    try:  # a burst of datagrams (fuzzing, 50 edits/s with grid replies) must not be dropped by the kernel
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    except OSError:
        pass
    return protocol, sock.getsockname()[1]
