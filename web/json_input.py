"""Request bodies are taken as the schema types them, not coerced: DRF's fields turn 12 into "12", 3.0 into 3
and "yes" into True, so a client's mistake would pass silently as some other value."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers

# Field class, the JSON types it accepts, how the error names them. First match wins (BooleanField is not an
# IntegerField, but bool is an int in Python, hence the explicit check below).
JSON_TYPES: list[tuple[type[serializers.Field], tuple[type, ...], str]] = [
    (serializers.BooleanField, (bool,), "a boolean"),
    (serializers.IntegerField, (int,), "an integer"),
    (serializers.FloatField, (int, float), "a number"),
    (serializers.CharField, (str,), "a string"),
    (serializers.ChoiceField, (str,), "a string"),
    (serializers.DateTimeField, (str,), "a string"),
    (serializers.SlugRelatedField, (str,), "a string"),
    (serializers.PrimaryKeyRelatedField, (int,), "an integer"),
]


def json_type_error(field: serializers.Field, value: Any) -> str | None:
    values = value if isinstance(value, list) else [value]
    if any(isinstance(item, str) and "\x00" in item for item in values):
        return "Must not contain NUL characters."  # PostgreSQL cannot even compare with such a string
    for field_class, types, described in JSON_TYPES:
        if isinstance(field, field_class):
            if isinstance(value, bool) and bool not in types or not isinstance(value, types):
                return f"Must be {described}."
            return None
    return None


class JsonInputSerializer(serializers.Serializer):
    """A serializer for a JSON request body: each field's value must have the JSON type the field documents."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            errors = {
                name: [error]
                for name, field in self.fields.items()
                if not field.read_only
                and data.get(name) is not None
                and (error := json_type_error(field, data[name])) is not None
            }
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)
