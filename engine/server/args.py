"""Argument checking and coercion, derived from the route table.

Max and Pd send every number as a float, and Max sends `1.` where a float is meant but `1` where
the user typed an int: an `i` argument takes a float that is a whole number, an `f` argument
takes an int. Everything else that does not fit (wrong type, arity, range, NaN, a string too long)
raises `ArgError` with a sentence naming the argument, and the server answers `/fail`.
"""
from __future__ import annotations

import math

from engine.errors import InputError
from engine.protocol import MAX_STRING_BYTES, Arg, Route

INT32_MIN, INT32_MAX = -2**31, 2**31 - 1


class ArgError(InputError):
    """An argument that does not fit its route."""


def _signature(route: Route) -> str:
    return " ".join(f"[{a.name}]" if a.optional else a.name for a in route.args) or "no arguments"


def coerce_args(route: Route, raw: list) -> list:
    """Checks `raw` against the route's arguments and returns them coerced (optional ones that were
    not sent are left out: handlers read defaults from the table through `with_defaults`)."""
    if not route.min_args <= len(raw) <= len(route.args):
        expected = (f"{len(route.args)}" if route.min_args == len(route.args)
                    else f"{route.min_args} to {len(route.args)}")
        raise ArgError(f"{route.address} takes {expected} argument(s) ({_signature(route)}), got {len(raw)}")
    return [coerce(arg, value, route.address) for arg, value in zip(route.args, raw)]


def with_defaults(route: Route, args: list) -> list:
    """Fills optional arguments that were not sent with their table default (or None)."""
    return list(args) + [a.default for a in route.args[len(args):]]


def coerce(arg: Arg, value, address: str = "") -> int | float | str:
    where = f"{address} {arg.name}".strip()
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):  # JSON may send anything
        raise ArgError(f"{where} must be {_kind(arg.type)}, got {_describe(value)}")
    if arg.type == "*":
        if isinstance(value, str):
            return _check_string(value, where)
        if isinstance(value, float) and not math.isfinite(value):
            raise ArgError(f"{where} must be a finite number, got {value}")
        if isinstance(value, int) and not -2**63 <= value < 2**63:
            raise ArgError(f"{where} {value} does not fit a 64-bit int")
        return value
    if arg.type == "s":
        if not isinstance(value, str):
            raise ArgError(f"{where} must be a string, got {_describe(value)}")
        value = _check_string(value, where)
        if arg.choices and value not in arg.choices:
            raise ArgError(f"{where} must be one of {', '.join(arg.choices)}, got {value!r}")
        if arg.max_chars is not None and len(value) > arg.max_chars:
            raise ArgError(f"{where} is {len(value)} characters long; use at most {arg.max_chars}")
        return value
    if isinstance(value, str):
        raise ArgError(f"{where} must be {_kind(arg.type)}, got the string {value[:40]!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ArgError(f"{where} must be a finite number, got {value}")
    if arg.type == "i":
        if isinstance(value, float):
            if not value.is_integer():
                raise ArgError(f"{where} must be a whole number, got {value}")
            value = int(value)
        if not INT32_MIN <= value <= INT32_MAX:
            raise ArgError(f"{where} {value} does not fit a 32-bit int")
    else:
        try:
            value = float(value)
        except OverflowError:
            raise ArgError(f"{where} is too large a number") from None
        if not math.isfinite(value):
            raise ArgError(f"{where} must be a finite number, got {value}")
    if arg.minimum is not None and value < arg.minimum:
        raise ArgError(f"{where} must be at least {arg.minimum}, got {value}")
    if arg.maximum is not None and value > arg.maximum:
        raise ArgError(f"{where} must be at most {arg.maximum}, got {value}")
    return value


def _check_string(value: str, where: str) -> str:
    if len(value.encode("utf-8")) > MAX_STRING_BYTES:
        raise ArgError(f"{where} is longer than {MAX_STRING_BYTES} bytes")
    if "\x00" in value:
        raise ArgError(f"{where} contains a NUL character")
    return value


def _kind(type_tag: str) -> str:
    return {"i": "a whole number", "f": "a number", "s": "a string", "*": "a number or string"}[type_tag]


def _describe(value) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes):
        return f"a {len(value)}-byte blob"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    if isinstance(value, (list, tuple, dict)):
        return f"a {type(value).__name__}"
    return f"{type(value).__name__} {value!r}"[:60]
