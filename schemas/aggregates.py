"""Wire contract of the aggregate endpoints (api.md "Aggregates").

Dimension filters (`?population_group=refugee,migrant`) are open-ended query parameters: this
schema keeps every parameter it does not know as a filter, split on commas, and the aggregation
layer (which knows each indicator's dimensions and the reference data) judges their names and
values, reporting an unknown one under its own parameter name.
"""

from __future__ import annotations

from typing import Any

from marshmallow import INCLUDE, Schema, ValidationError, fields, post_load, validate

from schemas.pagination import page_schema
from sync.record_types import ALL_DIMENSIONS

FORMATS = ("json", "csv", "hxl")


def split_values(value: str) -> list[str]:
    """A comma-separated query value as its non-empty, stripped parts (`?sex=f, m` is f and m)."""
    return [part.strip() for part in value.split(",") if part.strip()]


class CommaList(fields.String):
    """`a,b,c` -> ["a", "b", "c"]."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[str]:
        return split_values(super()._deserialize(value, attr, data, **kwargs))


class _AggregateQueryBase(Schema):
    class Meta:
        unknown = INCLUDE

    indicator = fields.String(required=True, validate=validate.Length(min=1, max=64))
    group_by = CommaList(load_default=list)
    date_from = fields.Date(data_key="from", load_default=None)
    date_to = fields.Date(data_key="to", load_default=None)
    format = fields.String(load_default="json", validate=validate.OneOf(FORMATS),
                           metadata={"description": "`csv`, or `hxl` (CSV with an HXL hashtag row); "
                                                    "`Accept: text/csv` also answers CSV"})
    bom = fields.Boolean(load_default=False, metadata={
        "description": "csv/hxl: `1` starts the file with a UTF-8 byte-order mark (for Excel and Arabic names)"})

    @post_load
    def _filters(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        known = {"indicator", "group_by", "date_from", "date_to", "format", "bom"}
        filters: dict[str, list[str]] = {}
        errors: dict[str, list[str]] = {}
        for name, value in list(data.items()):
            if name in known:
                continue
            values = value if isinstance(value, list) else split_values(str(value))
            if values:
                filters[name] = values
            else:
                errors[name] = ["Must list at least one value."]
            del data[name]
        if errors:
            raise ValidationError(errors)
        data["filters"] = filters
        return data


class IndicatorSchema(Schema):
    code = fields.String()
    label = fields.String()
    entity = fields.String()
    measure = fields.String(metadata={"description": "count | sum | sum_reached | sum_participants | distinct_people"})
    field = fields.String(allow_none=True)
    item_category = fields.String(allow_none=True)
    dimensions = fields.List(fields.String())


IndicatorListSchema = page_schema(IndicatorSchema)


class AggregateResponseSchema(Schema):
    indicator = fields.String()
    filters = fields.Dict(metadata={"description": "the filters applied, `country` scope included"})
    group_by = fields.List(fields.String())
    rows = fields.List(fields.Dict(), metadata={"description": "each group's dimension keys, names, and value"})
    total = fields.Integer()


def _filter_fields() -> dict[str, fields.Field]:
    """Every dimension filter as a documented query parameter (OpenAPI, so /api/docs can send it).

    Still judged by the aggregation layer (which names an unknown code in its 422); undeclared
    names stay accepted (INCLUDE) and are answered 422 there too, naming them.
    """
    names = ALL_DIMENSIONS
    declared: dict[str, fields.Field] = {
        name: CommaList(metadata={"description": f"filter on `{name}`: comma-separated codes"
                                                 + (" or ids" if name in ("area", "site", "team") else "")})
        for name in names
    }
    declared["group_by"] = CommaList(load_default=list, metadata={
        "description": f"comma-separated dimensions to group by: {', '.join(names)}"})
    return declared


# The query schema: the base's parameters plus one declared field per dimension filter.
AggregateQuerySchema = type("AggregateQuerySchema", (_AggregateQueryBase,), _filter_fields())
