"""Wire contract of `GET /api/v1/records` (api.md "Additions (v1.1)"): the line list.

Like the aggregates, every query parameter this schema does not know is a dimension filter
(`?population_group=refugee,migrant`), judged by the aggregation layer's validation.
"""

from __future__ import annotations

from typing import Any

from marshmallow import INCLUDE, Schema, ValidationError, fields, post_load, validate

from schemas.aggregates import split_values

FORMATS = ("jsonl", "csv", "xlsx")


class RecordQuerySchema(Schema):
    class Meta:
        unknown = INCLUDE

    indicator = fields.String(load_default=None, validate=validate.Length(min=1, max=64), metadata={
        "description": "optional: only the records this indicator counts, and only its dimensions as filters"})
    date_from = fields.Date(data_key="from", load_default=None)
    date_to = fields.Date(data_key="to", load_default=None)
    format = fields.String(load_default="jsonl", validate=validate.OneOf(FORMATS))
    since = fields.String(load_default=None, validate=validate.Length(min=1, max=200), metadata={
        "description": "the `X-Next-Cursor` of an earlier list: only records created or changed since"})
    bom = fields.Boolean(load_default=False, metadata={
        "description": "csv: `1` starts the file with a UTF-8 byte-order mark (for Excel and Arabic names)"})

    @post_load
    def _filters(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        known = {"indicator", "date_from", "date_to", "format", "since", "bom"}
        filters: dict[str, list[str]] = {}
        errors: dict[str, list[str]] = {}
        for name, value in list(data.items()):
            if name in known:
                continue
            values = split_values(str(value))
            if values:
                filters[name] = values
            else:
                errors[name] = ["Must list at least one value."]
            del data[name]
        if errors:
            raise ValidationError(errors)
        data["filters"] = filters
        return data
