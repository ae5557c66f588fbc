"""OpenAPI 3.0 schema objects from Python types, so each JSON shape is declared once
(api.shapes) and the document (api.openapi) cannot drift from what the views build.

It knows the types our shapes use and refuses any other: bool, int, str, None (as
`nullable`), list, Literal, enums, TypedDicts (as `$ref`s into components/schemas,
with NotRequired keys left out of `required`), and Annotated[..., Meta(...)] for
descriptions, formats, bounds and excluded values. A TypedDict's docstring describes its schema.

Not pydantic's `TypeAdapter(...).json_schema()`: that writes JSON Schema 2020-12
(`anyOf` with a null type, `$defs`, a `title` on every field), which is not how
OpenAPI 3.0.3 spells a null or a reference; rewriting its output would take as much
code as this, and on Python 3.11 it wants typing_extensions' TypedDict besides.
"""

from __future__ import annotations

import inspect
import types
from dataclasses import dataclass, fields
from enum import Enum
from typing import (
    Annotated,
    Any,
    Literal,
    NotRequired,
    Required,
    Union,
    get_args,
    get_origin,
    get_type_hints,
    is_typeddict,
)

REF = "#/components/schemas/"
_SCALARS: dict[object, str] = {bool: "boolean", int: "integer", str: "string"}
_KEYWORDS = {"min_length": "minLength", "max_length": "maxLength"}


@dataclass(frozen=True, slots=True)
class Meta:
    """What a type alone does not say: `Annotated[int, Meta(minimum=1)]`."""

    description: str | None = None
    format: str | None = None
    minimum: int | None = None
    maximum: int | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    # Values the bounds allow but the server refuses (`not: {enum: [...]}`; OpenAPI 3.0
    # has no `const`), e.g. an adjustment's amount of 0.
    excluded: tuple[Any, ...] | None = None

    def keywords(self) -> dict[str, Any]:
        given = ((field.name, getattr(self, field.name)) for field in fields(self))
        words = {
            _KEYWORDS.get(name, name): value
            for name, value in given
            if value is not None and name != "excluded"
        }
        if self.excluded is not None:
            words["not"] = {"enum": list(self.excluded)}
        return words


def ref(shape: type) -> dict[str, str]:
    """A reference to the schema of the TypedDict `shape` (see `components`)."""
    if not is_typeddict(shape):
        raise TypeError(f"{shape!r} is not a TypedDict")
    return {"$ref": REF + shape.__name__}


def components(*shapes: type) -> dict[str, Any]:
    """The schemas of `shapes` and of every TypedDict they contain, by class name."""
    schemas: dict[str, Any] = {}
    seen: dict[str, type] = {}
    waiting = list(shapes)
    while waiting:
        shape = waiting.pop(0)
        if seen.setdefault(shape.__name__, shape) is not shape:
            raise TypeError(f"two shapes are named {shape.__name__}")
        if shape.__name__ not in schemas:
            schemas[shape.__name__] = object_schema(shape, waiting)
    return schemas


def object_schema(shape: type, named: list[type]) -> dict[str, Any]:
    """The schema of a TypedDict; the TypedDicts it contains are appended to `named`."""
    schema: dict[str, Any] = {"type": "object"}
    if shape.__doc__:
        schema["description"] = inspect.cleandoc(shape.__doc__)
    required: list[str] = []
    properties: dict[str, Any] = {}
    total: bool = getattr(shape, "__total__", True)
    for name, hint in get_type_hints(shape, include_extras=True).items():
        qualifier = get_origin(hint)
        if qualifier is NotRequired or qualifier is Required:
            hint = get_args(hint)[0]
        if qualifier is Required or (qualifier is not NotRequired and total):
            required.append(name)
        properties[name] = schema_of(hint, named)
    if required:
        schema["required"] = required
    schema["properties"] = properties
    return schema


def schema_of(hint: Any, named: list[type]) -> dict[str, Any]:
    """The schema of one type; the TypedDicts it names are appended to `named`."""
    extra: dict[str, Any] = {}
    if get_origin(hint) is Annotated:
        for item in hint.__metadata__:
            if isinstance(item, Meta):
                extra.update(item.keywords())
        hint = hint.__origin__
    origin, args = get_origin(hint), get_args(hint)
    if origin is Union or origin is types.UnionType:
        present = [arg for arg in args if arg is not type(None)]
        if len(present) != 1 or len(args) != 2:
            raise TypeError(f"only `X | None` unions have a schema here, not {hint!r}")
        schema = schema_of(present[0], named)
        if "$ref" in schema:  # OpenAPI 3.0 ignores whatever stands beside a $ref
            raise TypeError(f"a reference cannot be nullable: {hint!r}")
        return {**schema, **extra, "nullable": True}
    if is_typeddict(hint):
        if extra:  # OpenAPI 3.0 ignores whatever stands beside a $ref
            raise TypeError(f"a reference to {hint.__name__} cannot carry {extra}")
        named.append(hint)
        return ref(hint)
    if origin is list:
        return {"type": "array", "items": schema_of(args[0], named), **extra}
    if origin is Literal:
        return {**_enum(args), **extra}
    if isinstance(hint, type) and issubclass(hint, Enum):
        return {**_enum(tuple(member.value for member in hint)), **extra}
    if hint in _SCALARS:
        return {"type": _SCALARS[hint], **extra}
    raise TypeError(f"no schema for {hint!r}")


def _enum(values: tuple[Any, ...]) -> dict[str, Any]:
    kinds = {_SCALARS.get(type(value)) for value in values}
    if len(kinds) != 1 or None in kinds:
        raise TypeError(f"enum values must share one JSON type: {values!r}")
    return {"type": kinds.pop(), "enum": list(values)}
