"""OSC 1.0 wire format, strict and small: parse a datagram into messages, build a message.

Written here rather than taken from python-osc's packet classes so that every way a datagram can
be wrong raises one `MalformedPacket` (never IndexError, struct.error or a deep recursion), and so
that the reply path is a few `struct.pack` calls. Bundles are unpacked and their messages handled
at once (time tags are ignored: the engine has no scheduler).
"""
from __future__ import annotations

import math
import struct

from engine.errors import InputError

BUNDLE_TAG = b"#bundle\x00"
MAX_BUNDLE_DEPTH = 4
_INT32 = struct.Struct(">i")
_FLOAT32 = struct.Struct(">f")


class MalformedPacket(InputError):
    """A datagram that is not valid OSC (or uses types this server does not take)."""


def _read_string(data: bytes, pos: int) -> tuple[str, int]:
    end = data.find(b"\x00", pos)
    if end < 0:
        raise MalformedPacket("unterminated OSC string")
    try:
        text = data[pos:end].decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedPacket("OSC string is not UTF-8") from None
    return text, (end + 4) & ~3  # the string, its NUL and padding to 4 bytes


def parse_message(data: bytes) -> tuple[str, list]:
    """One OSC message -> (address, args). Types i f s d h T F N b are read; others are refused."""
    address, pos = _read_string(data, 0)
    if not address.startswith("/"):
        raise MalformedPacket(f"OSC address must start with '/', got {address[:40]!r}")
    try:
        return _parse_args(data, address, pos)
    except MalformedPacket as e:
        e.address = address[:200]  # so the /fail names the command
        raise


def _parse_args(data: bytes, address: str, pos: int) -> tuple[str, list]:
    if pos >= len(data):
        return address, []  # no type tag string: OSC 1.0 allows it for zero arguments
    tags, pos = _read_string(data, pos)
    if not tags.startswith(","):
        raise MalformedPacket(f"{address}: type tag string must start with ','")
    args: list = []
    for tag in tags[1:]:
        if tag == "i":
            args.append(_unpack(_INT32, data, pos, address))
            pos += 4
        elif tag == "f":
            args.append(float(_unpack(_FLOAT32, data, pos, address)))
            pos += 4
        elif tag == "s" or tag == "S":
            if pos >= len(data):
                raise MalformedPacket(f"{address}: missing string argument")
            text, pos = _read_string(data, pos)
            args.append(text)
        elif tag == "d":
            args.append(_unpack(struct.Struct(">d"), data, pos, address))
            pos += 8
        elif tag == "h":
            args.append(_unpack(struct.Struct(">q"), data, pos, address))
            pos += 8
        elif tag in "TF":
            args.append(tag == "T")
        elif tag == "N":
            args.append(None)
        elif tag == "b":
            size = _unpack(_INT32, data, pos, address)
            if size < 0 or pos + 4 + size > len(data):
                raise MalformedPacket(f"{address}: blob size {size} runs past the datagram")
            args.append(bytes(data[pos + 4:pos + 4 + size]))
            pos += 4 + ((size + 3) & ~3)
        else:
            raise MalformedPacket(f"{address}: unsupported OSC type tag {tag!r}")
    if pos > len(data) + 3:
        raise MalformedPacket(f"{address}: arguments run past the datagram")
    return address, args


def _unpack(fmt: struct.Struct, data: bytes, pos: int, address: str):
    if pos + fmt.size > len(data):
        raise MalformedPacket(f"{address}: arguments run past the datagram")
    return fmt.unpack_from(data, pos)[0]


def parse_datagram(data: bytes, depth: int = 0) -> list[tuple[str, list]]:
    """A datagram (message or bundle) -> its messages in order."""
    if not data:
        raise MalformedPacket("empty datagram")
    if data.startswith(BUNDLE_TAG):
        if depth >= MAX_BUNDLE_DEPTH:
            raise MalformedPacket(f"OSC bundles nested deeper than {MAX_BUNDLE_DEPTH}")
        pos, out = 16, []  # tag (8) + time tag (8)
        if len(data) < 16:
            raise MalformedPacket("truncated OSC bundle header")
        while pos < len(data):
            size = _unpack(_INT32, data, pos, "#bundle")
            if size <= 0 or size % 4 or pos + 4 + size > len(data):
                raise MalformedPacket(f"bundle element size {size} is invalid")
            out.extend(parse_datagram(data[pos + 4:pos + 4 + size], depth + 1))
            pos += 4 + size
        return out
    if len(data) % 4:
        error = MalformedPacket(f"OSC datagram size {len(data)} is not a multiple of 4")
        try:
            address = _read_string(data, 0)[0]
            if address.startswith("/"):
                error.address = address[:200]
        except MalformedPacket:
            pass
        raise error
    return [parse_message(data)]


def _pad_string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return raw + b"\x00" * (4 - len(raw) % 4)


def build_message(address: str, args: list | tuple = ()) -> bytes:
    """(address, args) -> OSC bytes. int -> i (h beyond int32), float -> f, str -> s, bool -> i."""
    tags, payload = [","], []
    for value in args:
        if isinstance(value, bool):
            value = int(value)
        if isinstance(value, int):
            if -2**31 <= value < 2**31:
                tags.append("i")
                payload.append(_INT32.pack(value))
            else:
                tags.append("h")
                payload.append(struct.pack(">q", value))
        elif isinstance(value, float):
            tags.append("f")
            if abs(value) > 3.4e38 and math.isfinite(value):
                value = math.copysign(math.inf, value)  # float32 cannot hold it
            payload.append(_FLOAT32.pack(value))
        elif isinstance(value, str):
            tags.append("s")
            payload.append(_pad_string(value))
        else:  # numpy scalars and the like
            if hasattr(value, "item"):
                return build_message(address, [v.item() if hasattr(v, "item") else v for v in args])
            raise TypeError(f"{address}: cannot send {type(value).__name__} over OSC")
    return _pad_string(address) + _pad_string("".join(tags)) + b"".join(payload)
