"""`--host`: what the bind address means for the musician, and the addresses to print.

By default the engine listens on 127.0.0.1, this machine only. Another address (`0.0.0.0`, a LAN
address) opens the OSC port to the network, where nothing authenticates a sender: anyone who can
reach the port can drive the engine. `distill serve` then prints a warning, and the URLs it prints
are ones that work: `0.0.0.0` is a bind address, not one to send to, so the banner shows
127.0.0.1 for this machine and the machine's LAN address for the others. The web editor stays on
this machine whatever `--host` says (it answers only to 127.0.0.1 / localhost Host names, see
engine/server/web.py), so it binds 127.0.0.1.
"""
from __future__ import annotations

import ipaddress
import socket

LOOPBACK = "127.0.0.1"
_ANY = ("0.0.0.0", "::", "")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: loopback only if every address it resolves to is
        try:
            infos = socket.getaddrinfo(host, None)
        except OSError:
            return False
        return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def web_host(host: str) -> str:
    """Where the web endpoint binds: 127.0.0.1 (or localhost when named so), the Host names it answers to."""
    return "localhost" if host == "localhost" else LOOPBACK


def local_address(host: str) -> str:
    """An address this machine's programs can send to: 127.0.0.1 when bound to every interface."""
    return LOOPBACK if host in _ANY else host


def lan_address() -> str | None:
    """This machine's address on its network (the interface of the default route), if it has one."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: a UDP connect sends nothing, it only picks the route
            address = s.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def remote_address(host: str) -> str:
    """The address other machines send to."""
    if host in _ANY:
        return lan_address() or "THIS-MACHINE'S-ADDRESS"
    return host


def host_warning(host: str, osc_port: int, web_port: int | None) -> str | None:
    """The warning `distill serve --host HOST` prints, or None for a loopback address."""
    if is_loopback(host):
        return None
    web = f"; the web editor stays on this machine: http://{LOOPBACK}:{web_port}/" if web_port else ""
    return (f"distill serve: warning: --host {host} opens OSC port {osc_port} to the network and OSC has no "
            f"password: anyone who can reach udp://{remote_address(host)}:{osc_port} can load models, "
            f"write clips and read audio in --input-dir. Use it only on a network you trust{web}")
