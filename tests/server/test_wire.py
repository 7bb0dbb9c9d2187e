"""OSC wire format, argument coercion and path confinement: the parts every message goes through."""
from __future__ import annotations

import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import InputError
from engine.protocol import ROUTES_BY_ADDRESS, Arg
from engine.server.args import ArgError, coerce, coerce_args
from engine.server.osc import (MalformedPacket, TimedMessage, build_bundle, build_message, message_builder,
                               parse_datagram, parse_packet)
from engine.server.paths import PathRefused, confine


# ------------------------------------------------------------ OSC
def test_round_trip_of_every_type_we_send():
    data = build_message("/x/y", [1, -2**31, 2**40, 0.5, "héllo", "", True])
    assert parse_datagram(data) == [("/x/y", [1, -2**31, 2**40, 0.5, "héllo", "", 1])]


def test_bundles_are_unpacked_in_order():
    a, b = build_message("/a", [1]), build_message("/b", ["x"])
    bundle = b"#bundle\x00" + b"\x00" * 8 + struct.pack(">i", len(a)) + a + struct.pack(">i", len(b)) + b
    assert parse_datagram(bundle) == [("/a", [1]), ("/b", ["x"])]


def test_liblo_types_are_read():
    # what oscsend writes for `ifsTFN` plus d and h
    data = b"/t\x00\x00" + b",ihdTFN\x00" + struct.pack(">i", 3) + struct.pack(">q", 5) + struct.pack(">d", 0.25)
    assert parse_datagram(data) == [("/t", [3, 5, 0.25, True, False, None])]


def test_messages_are_python_osc_messages_both_ways():
    from pythonosc.osc_message import OscMessage
    args = [1, 2**40, 0.5, "héllo", b"\x01\x02", True]
    data = build_message("/x", args)
    assert data == message_builder("/x", args).build().dgram  # the fast path writes the builder's bytes
    assert OscMessage(data).params == [1, 2**40, 0.5, "héllo", b"\x01\x02", 1]


def test_bundle_time_tags_are_read_and_immediate_is_none():
    at = 1_900_000_000.25  # Unix seconds
    packet = parse_packet(build_bundle([("/a", [1]), ("/b", ["x"])], at))
    assert [(m.address, m.args) for m in packet] == [("/a", [1]), ("/b", ["x"])]
    assert all(abs(m.timetag_s - at) < 1e-6 for m in packet)
    assert parse_packet(build_bundle([("/a", [])])) == [TimedMessage(None, "/a", [])]
    assert parse_packet(build_message("/a", [2])) == [TimedMessage(None, "/a", [2])]
    inner = build_bundle([("/in", [])], at + 1)
    outer = b"#bundle\x00" + b"\x00" * 7 + b"\x01" + struct.pack(">i", len(inner)) + inner
    assert parse_packet(outer)[0].timetag_s == pytest.approx(at + 1)  # an inner bundle keeps its own time


def test_liblo_symbols_read_as_strings():
    data = b"/t\x00\x00" + b",Si\x00" + b"ab\x00\x00" + struct.pack(">i", 7)
    assert parse_datagram(data) == [("/t", ["ab", 7])]


@pytest.mark.parametrize("data,address", [
    (b"/a\x00\x00,c\x00\x00\x00\x00\x00A", "/a"),  # a type python-osc would skip with a log line
    (b"/a\x00\x00,i\x00\x00\x00\x00", "/a"),  # arguments run past the datagram
    (b"/ab\x00\x00\x00,i", "/ab"),  # not a multiple of 4
    (b"/a\x00\x00,[i]\x00\x00\x00\x00\x00\x00\x00\x01", "/a"),  # arrays are not taken
])
def test_malformed_messages_name_their_address(data, address):
    with pytest.raises(MalformedPacket) as e:
        parse_datagram(data)
    assert e.value.address == address


def test_bundle_framing_python_osc_trusts_is_checked():
    a = build_message("/a", [1])
    head = b"#bundle\x00" + b"\x00" * 8
    for bad in (head + struct.pack(">i", -4) + a,  # python-osc loops forever on a negative size
                head + struct.pack(">i", len(a)) + a + b"\x00\x00",  # a size cut short
                head + struct.pack(">i", 8) + b"junk\x00\x00\x00\x00"):  # neither message nor bundle
        with pytest.raises(MalformedPacket):
            parse_packet(bad)


@pytest.mark.parametrize("data", [
    b"", b"/a", b"noslash\x00", b"/a\x00\x00,i\x00\x00", b"/a\x00\x00,s\x00\x00abc", b"/a\x00\x00,q\x00\x00",
    b"/a\x00\x00,b\x00\x00\x7f\xff\xff\xff", b"#bundle\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff",
    b"/\xff\xfe\x00", b"#bundle\x00",
])
def test_malformed_datagrams_raise_one_error_type(data):
    with pytest.raises(MalformedPacket):
        parse_datagram(data)


def test_deeply_nested_bundles_are_refused():
    inner = build_message("/a")
    for _ in range(10):
        inner = b"#bundle\x00" + b"\x00" * 8 + struct.pack(">i", len(inner)) + inner
    with pytest.raises(MalformedPacket, match="nested"):
        parse_datagram(inner)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=256))
def test_parser_never_raises_anything_but_malformed(data):
    try:
        parse_datagram(data)
    except MalformedPacket:
        pass


# ------------------------------------------------------------ arguments
def test_max_and_pd_numbers_are_coerced_when_exact():
    route = ROUTES_BY_ADDRESS["/edit/set"]
    assert coerce_args(route, [0.0, 12.0, 5.0]) == [0, 12, 5]
    assert all(type(v) is int for v in coerce_args(route, [0.0, 12.0, 5.0]))
    assert coerce_args(ROUTES_BY_ADDRESS["/gain"], [-6]) == [-6.0]
    assert type(coerce_args(ROUTES_BY_ADDRESS["/gain"], [-6])[0]) is float


@pytest.mark.parametrize("address,args,match", [
    ("/edit/set", [0, 1.5, 2], "whole number"),
    ("/edit/set", [0, 1], "takes 3"),
    ("/edit/set", [0, 1, 2, 3], "takes 3"),
    ("/edit/set", [0, "1", 2], "string"),
    ("/edit/set", [-1, 1, 2], "at least 0"),
    ("/edit/set", [0, 2**40, 2], "32-bit"),
    ("/gain", [float("nan")], "finite"),
    ("/gain", [50.0], "at most"),
    ("/model/load", [3], "must be a string"),
    ("/model/load", ["x" * 2000], "longer than"),
    ("/generate", [True], "must be"),
    ("/generate", [None], "nil"),
    ("/render/settings", ["mp3", 16, 48000, 0], "one of"),
    ("/model/load", [b"blob"], "blob"),
])
def test_bad_arguments_name_the_argument(address, args, match):
    with pytest.raises(ArgError, match=match):
        coerce_args(ROUTES_BY_ADDRESS[address], args)


def test_optional_arguments_may_be_left_out():
    assert coerce_args(ROUTES_BY_ADDRESS["/generate"], [4]) == [4.0]
    assert coerce_args(ROUTES_BY_ADDRESS["/generate"], [4, 7.0]) == [4.0, 7]
    assert coerce_args(ROUTES_BY_ADDRESS["/ping"], []) == []
    assert coerce(Arg("t", "*", ""), 3.5) == 3.5


# ------------------------------------------------------------ paths
@pytest.fixture
def root(tmp_path):
    r = tmp_path / "models"
    r.mkdir()
    (r / "a.distill").write_bytes(b"x")
    (tmp_path / "secret.distill").write_bytes(b"x")
    return r


def test_names_inside_the_root_resolve(root):
    assert confine(root, "a", suffix=".distill") == (root / "a.distill").resolve()
    assert confine(root, str(root / "a.distill")) == (root / "a.distill").resolve()
    assert confine(root, "sub/new.wav") == (root / "sub" / "new.wav").resolve()


@pytest.mark.parametrize("name", ["../secret.distill", "a/../../secret.distill", "..", "x\x00y", "", "..\\secret"])
def test_escapes_are_refused(root, name):
    with pytest.raises(PathRefused):
        confine(root, name)


def test_absolute_paths_outside_and_symlinks_out_are_refused(root, tmp_path):
    with pytest.raises(PathRefused, match="outside"):
        confine(root, str(tmp_path / "secret.distill"))
    with pytest.raises(PathRefused, match="outside"):
        confine(root, "/etc/passwd")
    os.symlink(tmp_path / "secret.distill", root / "link.distill")
    with pytest.raises(PathRefused, match="symlink"):
        confine(root, "link.distill")
    os.symlink(tmp_path, root / "dirlink")
    with pytest.raises(PathRefused, match="symlink"):
        confine(root, "dirlink/secret.distill")
    assert issubclass(PathRefused, InputError)


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_subnormal=False) | st.text(max_size=20),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                     max_leaves=6)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(ROUTES_BY_ADDRESS)), st.lists(_json, max_size=7))
def test_coercion_of_any_json_raises_only_arg_errors(address, args):
    try:
        out = coerce_args(ROUTES_BY_ADDRESS[address], args)
    except ArgError:
        return
    for arg, value in zip(ROUTES_BY_ADDRESS[address].args, out):
        assert type(value) is {"i": int, "f": float, "s": str}.get(arg.type, type(value))
