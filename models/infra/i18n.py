"""Picking the user's language: Russian for ru, English for every other code."""

from __future__ import annotations

from collections.abc import Mapping


def language(code: str | None) -> str:
    base = (code or "").split("-", 1)[0].lower()
    return "ru" if base == "ru" else "en"


def render(
    catalog: Mapping[str, Mapping[str, str]], code: str | None, key: str, **values: object
) -> str:
    """The text `key` in the user's language, with `values` filled in."""
    return catalog[language(code)][key].format(**values)
