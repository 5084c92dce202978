"""Wire contract of the public impact endpoints (api.md "Public").

The query is strict like every other one (api.md: a wrong type or out-of-range value is a 422
naming it, never clamped); the response schemas document the shape for OpenAPI only: the
documents themselves are serialised once by `server.operations.public`, because their bytes are what the
strong ETag is computed from.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates

# domain.md: no record may have occurred before 2000-01-01.
MIN_YEAR = 2000
BY_VALUES = ("area",)


def max_year() -> int:
    """The latest year a record can be in: the server's date + 1 day (domain.md "Validation")."""
    return (datetime.now(UTC) + timedelta(days=1)).year


class ImpactQuerySchema(Schema):
    class Meta:
        # As for every list filter: a misspelt `by` silently answering totals is worse than a 422.
        unknown = RAISE

    year = fields.Integer(required=True, strict=False,
                          metadata={"description": f"calendar year, {MIN_YEAR} to the current year"})
    by = fields.String(load_default=None, validate=validate.OneOf(BY_VALUES),
                       metadata={"description": "`area`: add each statement's value per area"})
    lang = fields.String(load_default=None, validate=validate.OneOf(("en", "ar")),
                         metadata={"description": "language of `text` and names (default: Accept-Language, "
                                                  "else English)"})

    @validates("year")
    def _year_in_range(self, value: int, **kwargs: Any) -> None:
        latest = max_year()
        if not MIN_YEAR <= value <= latest:
            raise ValidationError(f"Must be between {MIN_YEAR} and {latest}.")


class AreaValueSchema(Schema):
    area = fields.String(metadata={"description": "area id"})
    area_name = fields.String()
    value = fields.Integer(allow_none=True, metadata={"description": "null when suppressed (1 to 9)"})
    suppressed = fields.Boolean()


class StatementSchema(Schema):
    indicator = fields.String()
    value = fields.Integer(allow_none=True, metadata={"description": "null when suppressed (1 to 9)"})
    suppressed = fields.Boolean()
    text = fields.String(metadata={"description": "the sentence after the number, `{year}` filled in"})
    areas = fields.List(fields.Nested(AreaValueSchema),
                        metadata={"description": "with `by=area` only: every area of the country"})


class ImpactSchema(Schema):
    country = fields.String()
    year = fields.Integer()
    as_of = fields.String(metadata={"description": "when the published figures last changed (UTC)"})
    statements = fields.List(fields.Nested(StatementSchema))
