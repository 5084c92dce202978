"""Wire contract shared by every list endpoint (api.md "Lists").

`?limit=` (default 100, at most 1000) and `?cursor=` (opaque). A limit of the wrong type or out of
range is a 422 naming `limit`, never clamped. Endpoints with filters subclass `PageArgsSchema`;
responses use `page_schema(ItemSchema)` for the `{"items", "next_cursor"}` envelope.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# A cursor is a few short keys base64-encoded; anything much longer is not one of ours.
MAX_CURSOR_LENGTH = 512


class PageArgsSchema(Schema):
    """`limit` and `cursor`; subclasses add their filters. Unknown parameters are a 422 naming them."""

    class Meta:
        # A misspelt filter (`?team=` for `?team_id=`) silently widening a list is worse than a 422.
        unknown = RAISE

    limit = fields.Integer(
        load_default=DEFAULT_LIMIT,
        validate=validate.Range(min=1, max=MAX_LIMIT),
        metadata={"description": f"page size, 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT})"},
    )
    cursor = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=MAX_CURSOR_LENGTH),
        metadata={"description": "the `next_cursor` of the previous page"},
    )


    @validates_schema(pass_original=True)
    def _no_unknown_parameters(self, data: dict[str, Any], original: Any, **kwargs: Any) -> None:
        # webargs loads query strings with unknown=EXCLUDE whatever Meta says, so check here too.
        if not isinstance(original, Mapping):
            return
        known = {field.data_key or name for name, field in self.load_fields.items()}
        unknown = sorted(set(original) - known)
        if unknown:
            raise ValidationError({name: ["Unknown parameter."] for name in unknown})


_PAGE_SCHEMAS: dict[type[Schema], type[Schema]] = {}


def page_schema(item_schema: type[Schema]) -> type[Schema]:
    """The list envelope schema for `item_schema` (one class per item schema, for OpenAPI)."""
    if item_schema not in _PAGE_SCHEMAS:
        name = item_schema.__name__.removesuffix("Schema") + "PageSchema"
        _PAGE_SCHEMAS[item_schema] = Schema.from_dict(
            {
                "items": fields.List(fields.Nested(item_schema), required=True),
                "next_cursor": fields.String(
                    required=True, allow_none=True, metadata={"description": "null on the last page"}
                ),
            },
            name=name,
        )
    return _PAGE_SCHEMAS[item_schema]
