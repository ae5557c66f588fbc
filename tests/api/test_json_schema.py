"""Python types become the OpenAPI 3.0 schemas of /openapi.json, and a type it cannot
state is refused rather than described wrongly."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal, NotRequired, Required, TypedDict

import pytest

from api.json_schema import Meta, components, schema_of
from api.openapi import build_spec


class Colour(StrEnum):
    RED = "red"
    BLUE = "blue"


class Inner(TypedDict):
    """An inner shape."""

    name: str


class Outer(TypedDict):
    inner: Inner
    inners: list[Inner]
    count: Annotated[int, Meta(description="How many", minimum=1, maximum=9)]
    note: NotRequired[Annotated[str, Meta(min_length=1, max_length=5)]]


class Partial(TypedDict, total=False):
    must: Required[bool]
    may: int


class Other(TypedDict):
    inner: Inner


def one(hint: Any) -> dict[str, Any]:
    named: list[type] = []
    schema = schema_of(hint, named)
    assert named == []
    return schema


def test_scalars_lists_and_nulls() -> None:
    assert one(bool) == {"type": "boolean"}
    assert one(int) == {"type": "integer"}
    assert one(str) == {"type": "string"}
    assert one(list[int]) == {"type": "array", "items": {"type": "integer"}}
    assert one(str | None) == {"type": "string", "nullable": True}
    when = Annotated[str, Meta(format="date-time")]
    assert one(when | None) == {"type": "string", "format": "date-time", "nullable": True}
    assert one(Annotated[int | None, Meta(description="d")]) == {
        "type": "integer",
        "description": "d",
        "nullable": True,
    }


def test_literals_and_enums_list_their_values() -> None:
    assert one(Literal["a", "b"]) == {"type": "string", "enum": ["a", "b"]}
    assert one(Literal[1, 2]) == {"type": "integer", "enum": [1, 2]}
    assert one(Colour) == {"type": "string", "enum": ["red", "blue"]}


def test_a_typeddict_is_a_named_object_with_its_required_keys() -> None:
    schemas = components(Outer, Partial)
    assert list(schemas) == ["Outer", "Partial", "Inner"]
    assert schemas["Outer"] == {
        "type": "object",
        "required": ["inner", "inners", "count"],
        "properties": {
            "inner": {"$ref": "#/components/schemas/Inner"},
            "inners": {"type": "array", "items": {"$ref": "#/components/schemas/Inner"}},
            "count": {"type": "integer", "description": "How many", "minimum": 1, "maximum": 9},
            "note": {"type": "string", "minLength": 1, "maxLength": 5},
        },
    }
    assert schemas["Inner"] == {
        "type": "object",
        "description": "An inner shape.",
        "required": ["name"],
        "properties": {"name": {"type": "string"}},
    }
    assert schemas["Partial"]["required"] == ["must"]
    assert components(Outer, Other, Inner) == {
        "Outer": schemas["Outer"],
        "Other": {
            "type": "object",
            "required": ["inner"],
            "properties": {"inner": {"$ref": "#/components/schemas/Inner"}},
        },
        "Inner": schemas["Inner"],
    }


@pytest.mark.parametrize(
    "hint",
    [
        float,
        dict[str, int],
        int | str,
        int | str | None,
        Literal["a", 1],
        Inner | None,
        Annotated[Inner, Meta(description="a $ref takes no siblings in OpenAPI 3.0")],
    ],
)
def test_what_it_cannot_state_is_refused(hint: Any) -> None:
    with pytest.raises(TypeError):
        schema_of(hint, [])


def test_two_shapes_of_one_name_are_refused() -> None:
    class Inner(TypedDict):  # another shape of the same name
        other: int

    with pytest.raises(TypeError, match="named Inner"):
        components(Outer, Inner)


def refs(value: Any) -> set[str]:
    if isinstance(value, dict):
        found = {value["$ref"]} if "$ref" in value else set()
        return found.union(*(refs(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(refs(item) for item in value))
    return set()


@pytest.mark.parametrize("development", [False, True])
def test_every_reference_resolves_and_every_shape_is_used(development: bool) -> None:
    spec = build_spec(development=development, service=True)
    schemas = spec["components"]["schemas"]
    named = {ref.removeprefix("#/components/schemas/") for ref in refs(spec)}
    assert named == set(schemas)
