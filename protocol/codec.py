"""JSON for the protocol's dataclasses: typed decoding with errors that name the field, and the version check.

The portal and the hospital node exchange only these dataclasses (protocol.node_task, protocol.upload), so a
field added, renamed or retyped on one side fails loudly on the other instead of as a KeyError deep in a
training run. Decoding is strict about types (an int is not a str, a bool is not an int) and ignores fields it
does not know, so a portal may add an optional field without a new protocol version.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from functools import cache
from typing import Any, ClassVar, Self

# The version of the portal-to-node protocol this code speaks; a change a node cannot ignore bumps it.
# 2: the proof commitment carries the run's step count and sample count (protocol.node_task.ProofCommitment).
PROTOCOL_VERSION = 2
SUPPORTED_VERSIONS = frozenset({PROTOCOL_VERSION})


class ProtocolError(ValueError):
    """A message that does not follow the protocol; `field` is the dotted path of the offending field."""

    def __init__(self, field: str, problem: str):
        super().__init__(field, problem)  # the arguments, so that the error pickles (Celery results)
        self.field = field
        self.problem = problem

    def __str__(self) -> str:
        return f"node protocol: field {self.field!r} {self.problem}" if self.field else self.problem


class UnsupportedVersion(ProtocolError):
    """The other side speaks a protocol version this code does not: one of them must be updated."""

    def __init__(self, problem: str):
        ValueError.__init__(self, problem)
        self.field = "version"
        self.problem = problem

    def __str__(self) -> str:
        return self.problem


def check_version(version: Any) -> int:
    """The task's protocol version, if this node speaks it; else UnsupportedVersion saying what to update."""
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise ProtocolError("version", f"must be an integer, got {_describe(version)}")
    if version in SUPPORTED_VERSIONS:
        return version
    speaks = f"this node speaks node protocol version {', '.join(str(v) for v in sorted(SUPPORTED_VERSIONS))}"
    if version is None or version < min(SUPPORTED_VERSIONS):
        sent = "no protocol version" if version is None else f"protocol version {version}"
        raise UnsupportedVersion(
            f"The portal sent {sent} but {speaks}: the portal is older than this node software; update the "
            "portal, or run a node release that matches it"
        )
    raise UnsupportedVersion(
        f"The portal sent protocol version {version} but {speaks}: update the node software to a release "
        f"that supports version {version}"
    )


class Message:
    """Base of the protocol's dataclasses: to_json() gives plain JSON values, from_json() checks every field.
    A message with `versioned` set has its `version` checked first, since another version may differ anywhere."""

    versioned: ClassVar[bool] = False

    def to_json(self) -> dict[str, Any]:
        """The message as JSON-ready values (dicts, lists, str, int, float, bool, None)."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_json(cls, data: Any, field: str = "") -> Self:
        """The message from parsed JSON (or a JSON string); raises ProtocolError naming the first bad field."""
        if isinstance(data, str | bytes):
            try:
                data = json.loads(data)
            except ValueError as exc:
                raise ProtocolError(field, f"is not valid JSON ({exc})") from None
        if cls.versioned and isinstance(data, Mapping):
            check_version(data.get("version"))
        return _decode(cls, data, field)


@cache
def field_types(cls: type) -> dict[str, Any]:
    """The resolved type of each field of a protocol dataclass (its annotations are strings)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def optional_of(hint: Any) -> Any | None:
    """T for a `T | None` hint, else None."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        others = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(others) == 1 and len(typing.get_args(hint)) == 2:
            return others[0]
    return None


def _join(field: str, name: str) -> str:
    return f"{field}.{name}" if field else name


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def _decode(hint: Any, value: Any, field: str) -> Any:
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return _decode_dataclass(hint, value, field)
    inner = optional_of(hint)
    if inner is not None:
        return None if value is None else _decode(inner, value, field)
    if hint is Any:
        return value
    origin = typing.get_origin(hint)
    if origin is list:
        if not isinstance(value, list):
            raise ProtocolError(field, f"must be a list, got {_describe(value)}")
        (item,) = typing.get_args(hint)
        return [_decode(item, entry, f"{field}[{i}]") for i, entry in enumerate(value)]
    if origin is dict:
        if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
            raise ProtocolError(field, f"must be a JSON object, got {_describe(value)}")
        _, item = typing.get_args(hint)
        return {key: _decode(item, entry, _join(field, key)) for key, entry in value.items()}
    if hint is bool:
        if not isinstance(value, bool):
            raise ProtocolError(field, f"must be true or false, got {_describe(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ProtocolError(field, f"must be an integer, got {_describe(value)}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ProtocolError(field, f"must be a number, got {_describe(value)}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ProtocolError(field, f"must be a string, got {_describe(value)}")
        return value
    raise TypeError(f"the protocol cannot decode the type {hint!r} (field {field})")


def _decode_dataclass(cls: type, value: Any, field: str) -> Any:
    if not isinstance(value, Mapping):
        raise ProtocolError(field, f"must be a JSON object, got {_describe(value)}")
    values = {}
    for spec in dataclasses.fields(cls):
        path = _join(field, spec.name)
        if spec.name in value:
            values[spec.name] = _decode(field_types(cls)[spec.name], value[spec.name], path)
        elif spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
            raise ProtocolError(path, "is missing")
    try:
        return cls(**values)
    except ProtocolError as exc:  # a check across fields (__post_init__) names the field within this one
        raise ProtocolError(_join(field, exc.field), exc.problem) from None
