"""Strict JSON decoding for documents that come from the network.

Registries, token servers and layouts hand us JSON that later decides what is
fetched and written, so decoding refuses what ``json.loads`` lets through:
duplicate keys (two parsers could disagree on the value), ``NaN`` / ``Infinity``
(not JSON), nesting deep enough to exhaust the stack, input over a size cap, and
bytes that are not UTF-8.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

from ._errors import InvalidResponse, RegistryError

__all__ = ["MAX_DEPTH", "parse_json", "parse_json_object"]

MAX_DEPTH = 64
"""No registry document nests anywhere near this deep."""


def _no_constants(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _depth_ok(data: bytes, max_depth: int) -> bool:
    """Bracket depth outside strings, checked before decoding so recursion stays bounded."""
    if data.count(b"[") + data.count(b"{") <= max_depth:
        return True  # cannot nest deeper than it has brackets (a tag list has 2): no byte loop
    depth = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > max_depth:
                return False
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return True


def parse_json(
    data: bytes,
    *,
    limit: int,
    what: str = "document",
    error: type[RegistryError] = InvalidResponse,
    max_depth: int = MAX_DEPTH,
) -> Any:
    """Decode ``data`` strictly; any failure raises ``error`` naming ``what``."""
    if len(data) > limit:
        raise error(f"{what}: {len(data)} bytes is over the {limit}-byte limit")
    if not _depth_ok(data, max_depth):
        raise error(f"{what}: nested deeper than {max_depth} levels")
    try:
        text = data.decode("utf-8")
        return json.loads(
            text, object_pairs_hook=_unique_keys, parse_constant=_no_constants
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        # json.JSONDecodeError is a ValueError; its message carries the position.
        raise error(f"{what}: invalid JSON: {exc}") from None


def parse_json_object(
    data: bytes,
    *,
    limit: int,
    what: str = "document",
    error: type[RegistryError] = InvalidResponse,
) -> dict[str, Any]:
    """Like :func:`parse_json`, and the top level must be an object."""
    value = parse_json(data, limit=limit, what=what, error=error)
    if not isinstance(value, dict):
        raise error(f"{what}: expected a JSON object, got {type(value).__name__}")
    return value
