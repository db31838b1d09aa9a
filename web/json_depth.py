"""JSON documents nested deeper than anyone needs are refused before they are parsed.

Importing py_ecc (through eth_account, which the chain client needs) raises Python's recursion limit to
100,000, so the C JSON parser recurses on a 200 kB document of nested brackets until it overflows the C stack
and the whole server process dies. Counting the nesting first is linear, needs no recursion and stops the
document at the first bracket past the limit.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_DEPTH = 64
_QUOTE, _ESCAPE = ord('"'), ord("\\")
_OPEN_SET, _CLOSE_SET = {ord("{"), ord("[")}, {ord("}"), ord("]")}


class TooDeeplyNested(ValueError):
    """The document nests objects or arrays deeper than MAX_DEPTH."""


def check_depth(document: bytes | str, limit: int = MAX_DEPTH) -> None:
    """Raises TooDeeplyNested when brackets outside strings nest deeper than `limit`."""
    data = document.encode() if isinstance(document, str) else document
    depth, in_string, escaped = 0, False, False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == _ESCAPE:
                escaped = True
            elif byte == _QUOTE:
                in_string = False
        elif byte == _QUOTE:
            in_string = True
        elif byte in _OPEN_SET:
            depth += 1
            if depth > limit:
                raise TooDeeplyNested(f"JSON nested deeper than {limit} levels")
        elif byte in _CLOSE_SET:
            depth -= 1


class DepthLimitedJSONParser(JSONParser):
    """DRF's JSON parser behind the depth check: a too deeply nested body is a 400 with the reason."""

    def parse(self, stream, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        body = stream.read() if stream is not None else b""
        try:
            check_depth(body)
        except TooDeeplyNested as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        return super().parse(BytesIO(body), media_type, parser_context)
