"""OSC 1.0 on the wire, through python-osc: parse a datagram into timed messages, build messages
and bundles.

python-osc (`OscMessage`, `OscBundle`, `OscMessageBuilder`, `OscBundleBuilder`) does the encoding;
this module is the strict wrapper the server needs around it, because python-osc 1.10 is lenient
where a server facing the network must not be: it skips unknown type tags with a log line (and then
misreads the arguments), loops forever on a bundle element of negative size, recurses without a
limit on nested bundles, and lets `UnicodeDecodeError` escape. So the framing (bundle element sizes,
depth, the 4-byte alignment, the address and the type tags) is checked here first, and whatever
python-osc still raises becomes the one error type `MalformedPacket`, carrying the address when it
could be read, so that the `/fail` names the command.

Bundle time tags are read, not acted on: each message comes out with `timetag_s` (Unix seconds, the
`time.time()` clock) or None for "immediately"; the core hands timed ones to its scheduler hook.
"""
from __future__ import annotations

import math
from typing import NamedTuple

from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.parsing import osc_types

from engine.errors import InputError

BUNDLE_TAG = b"#bundle\x00"
MAX_BUNDLE_DEPTH = 4
ACCEPTED_TYPE_TAGS = frozenset("ifsSdhTFNb")  # liblo's `S` (symbol) is read as a string
_INT32_MIN, _INT32_MAX = -2**31, 2**31 - 1
_FLOAT32_MAX = 3.4028234663852886e38


class MalformedPacket(InputError):
    """A datagram that is not valid OSC (or uses types this server does not take)."""

    def __init__(self, message: str, address: str | None = None) -> None:
        super().__init__(message)
        if address is not None:
            self.address = address[:200]  # so the /fail names the command


class TimedMessage(NamedTuple):
    """One message of a datagram. `timetag_s`: when its bundle asks it to run, in Unix seconds;
    None for a bare message, the "immediately" tag and tags before 1970 (a zero tag, which some
    senders write for "now")."""

    timetag_s: float | None
    address: str
    args: list


# ------------------------------------------------------------ parsing
def _read_string(data: bytes, pos: int) -> tuple[str, int]:
    try:
        return osc_types.get_string(data, pos)
    except UnicodeDecodeError:
        raise MalformedPacket("OSC string is not UTF-8") from None
    except osc_types.ParseError:
        raise MalformedPacket("unterminated OSC string") from None


def _check_message(data: bytes) -> tuple[str, bytes]:
    """The address of a message whose framing python-osc can be trusted with, and the datagram
    (liblo's `S` tags rewritten to `s`, the same bytes on the wire)."""
    if len(data) % 4:
        raise MalformedPacket(f"OSC datagram size {len(data)} is not a multiple of 4", _address_hint(data))
    address, pos = _read_string(data, 0)
    if not address.startswith("/"):
        raise MalformedPacket(f"OSC address must start with '/', got {address[:40]!r}")
    if pos >= len(data):
        return address, data  # no type tag string: OSC 1.0 allows it for zero arguments
    tags, end = _read_string(data, pos)
    if not tags.startswith(","):
        raise MalformedPacket(f"{address}: type tag string must start with ','", address)
    unknown = set(tags[1:]) - ACCEPTED_TYPE_TAGS
    if unknown:
        raise MalformedPacket(f"{address}: unsupported OSC type tag {sorted(unknown)[0]!r}", address)
    if "S" in tags:
        data = data[:pos] + tags.replace("S", "s").encode() + data[pos + len(tags):]
    return address, data


def _address_hint(data: bytes) -> str | None:
    """The address of a datagram too broken to parse, when it has a readable one."""
    end = data.find(b"\x00")
    try:
        address = data[:end].decode("utf-8") if end > 0 else ""
    except UnicodeDecodeError:
        return None
    return address if address.startswith("/") else None


def _check_bundle(data: bytes, depth: int) -> None:
    """Bundle framing, recursively: python-osc trusts element sizes (a negative one never ends)."""
    if depth >= MAX_BUNDLE_DEPTH:
        raise MalformedPacket(f"OSC bundles nested deeper than {MAX_BUNDLE_DEPTH}")
    if len(data) < 16:
        raise MalformedPacket("truncated OSC bundle header")
    pos = 16  # tag (8) + time tag (8)
    while pos < len(data):
        if pos + 4 > len(data):
            raise MalformedPacket("#bundle: element size runs past the datagram")
        size = int.from_bytes(data[pos:pos + 4], "big", signed=True)
        if size <= 0 or size % 4 or pos + 4 + size > len(data):
            raise MalformedPacket(f"bundle element size {size} is invalid")
        element = data[pos + 4:pos + 4 + size]
        if element.startswith(BUNDLE_TAG):
            _check_bundle(element, depth + 1)
        else:
            _check_message(element)
        pos += 4 + size


def _message(data: bytes, timetag_s: float | None) -> TimedMessage:
    address, data = _check_message(data)
    try:
        return TimedMessage(timetag_s, address, OscMessage(data).params)
    except Exception as e:  # python-osc's ParseError, or anything it lets escape
        raise MalformedPacket(f"{address}: arguments run past the datagram or are malformed ({_cause(e)})",
                              address) from None


def _timetag(bundle: OscBundle) -> float | None:
    t = bundle.timestamp
    return None if t == IMMEDIATELY or t <= 0 else float(t)


def _walk(bundle: OscBundle) -> list[TimedMessage]:
    out, when = [], _timetag(bundle)
    for content in bundle:
        if isinstance(content, OscBundle):
            out.extend(_walk(content))  # an inner bundle carries its own (later or equal) time
        else:
            out.append(_message(content.dgram, when))
    return out


def parse_packet(data: bytes) -> list[TimedMessage]:
    """A datagram (message or bundle) -> its messages in order, each with its bundle's time tag.
    Raises `MalformedPacket` (and nothing else) for anything that is not OSC this server takes."""
    if not data:
        raise MalformedPacket("empty datagram")
    if not data.startswith(BUNDLE_TAG):
        return [_message(data, None)]
    _check_bundle(data, 0)
    try:
        bundle = OscBundle(data)
    except Exception as e:
        raise MalformedPacket(f"malformed OSC bundle ({_cause(e)})") from None
    return _walk(bundle)


def parse_datagram(data: bytes) -> list[tuple[str, list]]:
    """A datagram -> its messages as (address, args), time tags dropped (clients and tests)."""
    return [(m.address, m.args) for m in parse_packet(data)]


def _cause(e: Exception) -> str:
    text = str(e.args[-1] if e.args else e)
    return f"{type(e).__name__}: {text[:120]}" if text else type(e).__name__


# ------------------------------------------------------------ building
def _typed(address: str, value) -> tuple[str, object]:
    """One argument's OSC type and value: int -> i (h beyond int32), float -> f (inf beyond
    float32), str -> s, bool -> i (Max and Pd have no booleans), bytes -> b, numpy scalars as theirs."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bool):
        return "i", int(value)
    if isinstance(value, int):
        return ("i" if _INT32_MIN <= value <= _INT32_MAX else "h"), value
    if isinstance(value, float):
        if abs(value) > _FLOAT32_MAX and math.isfinite(value):
            value = math.copysign(math.inf, value)  # float32 cannot hold it
        return "f", value
    if isinstance(value, str):
        return "s", value
    if isinstance(value, bytes) and value:
        return "b", value
    raise TypeError(f"{address}: cannot send {type(value).__name__} over OSC")


def message_builder(address: str, args: list | tuple = ()) -> OscMessageBuilder:
    """python-osc's builder for one message, with the argument types of `_typed`."""
    builder = OscMessageBuilder(address)
    for value in args:
        builder.add_arg(*reversed(_typed(address, value)))
    return builder


_WRITERS = {"i": osc_types.write_int, "h": osc_types.write_int64, "f": osc_types.write_float,
            "s": osc_types.write_string, "b": osc_types.write_blob}


def build_message(address: str, args: list | tuple = ()) -> bytes:
    """(address, args) -> OSC bytes: the same bytes as `message_builder(...).build().dgram`, from
    python-osc's type writers, but joined once and not parsed back (the builder's `build()` does
    both, 10x slower for a 200-code grid chunk, the reply the dispatcher sends most)."""
    typed = [_typed(address, v) for v in args]
    try:
        return b"".join([osc_types.write_string(address), osc_types.write_string("," + "".join(t for t, _ in typed)),
                         *[_WRITERS[t](v) for t, v in typed]])
    except osc_types.BuildError as e:
        raise TypeError(f"{address}: cannot send these arguments over OSC ({e})") from None


def build_bundle(messages: list[tuple[str, list]], timetag_s: float | None = None) -> bytes:
    """Messages -> one OSC bundle, to run at `timetag_s` (Unix seconds) or immediately (None)."""
    builder = OscBundleBuilder(IMMEDIATELY if timetag_s is None else timetag_s)
    for address, args in messages:
        builder.add_content(message_builder(address, args).build())
    return builder.build().dgram
