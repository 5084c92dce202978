"""Click parameter types that check what an admin types before anything touches the database.

A reference id or code becomes a key tablets store and URLs carry, forever (domain.md: codes are
lower-case ASCII, stable once shipped), and the columns hold at most 64 characters: an id with a
space, an upper-case letter, a slash or 300 characters is refused here with the rule, instead of
being stored, or failing in the database with a traceback.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import click

ID_MAX_LENGTH = 64  # the reference tables' key columns (server/models/reference.py)


class Pattern(click.ParamType):
    """A string that must match `pattern` whole, at most `max_length` characters."""

    def __init__(self, name: str, pattern: str, rule: str, max_length: int, *, upper: bool = False) -> None:
        self.name = name
        self.pattern = re.compile(pattern)
        self.rule = rule
        self.max_length = max_length
        self.upper = upper

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value).strip()
        if self.upper:
            text = text.upper()
        if len(text) > self.max_length or not self.pattern.fullmatch(text):
            self.fail(f"{value!r} is not a valid {self.name}: {self.rule}", param, ctx)
        return text


class Name(click.ParamType):
    """A human-readable name: 1 to `max_length` characters, not blank, no control characters."""

    name = "name"

    def __init__(self, max_length: int) -> None:
        self.max_length = max_length

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value).strip()
        if not text:
            self.fail("must not be blank", param, ctx)
        if len(text) > self.max_length:
            self.fail(f"must be at most {self.max_length} characters (got {len(text)})", param, ctx)
        if any(unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn") for char in text):
            self.fail(f"{value!r} holds control, format or unassigned characters", param, ctx)
        return text


REFERENCE_ID = Pattern(
    "id", r"[a-z0-9][a-z0-9_-]*", f"1 to {ID_MAX_LENGTH} characters: a-z, 0-9, '-' or '_', starting with a letter "
    "or digit (e.g. ly-mp-tripoli)", ID_MAX_LENGTH)
COUNTRY_CODE = Pattern("country code", r"[A-Z]{2}", "two letters, ISO 3166-1 alpha-2 (e.g. LY)", 2, upper=True)
PCODE = Pattern("P-code", r"[A-Z]{2}[A-Z0-9]{0,18}", "an OCHA P-code: the country's two letters, then letters or "
                "digits, at most 20 (e.g. LY01)", 20, upper=True)
