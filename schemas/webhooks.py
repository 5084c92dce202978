"""Wire contract of the webhooks endpoints (api.md v1.2, Webhooks)."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from schemas.accounts import UtcDateTime
from schemas.pagination import PageArgsSchema

EVENT_TYPES = ("record.created", "record.corrected", "record.voided")
# A URL has no spaces or control characters (PostgreSQL refuses NUL in text, and a header must not
# carry a line break).
_NO_SPACE_OR_CONTROL = validate.Regexp(r"\A[^\x00-\x20\x7f]*\Z", error="Must not contain spaces or control characters.")
_COUNTRY = validate.Regexp(r"\A[A-Za-z]{2}\Z", error="Use a two-letter ISO 3166-1 code, e.g. LY.")


class WebhookCreateSchema(Schema):
    class Meta:
        unknown = RAISE

    url = fields.String(required=True, validate=[validate.Length(min=1, max=2048), _NO_SPACE_OR_CONTROL],
                        metadata={"description": "https://..., or http:// to a host the operator allows"})
    countries = fields.List(fields.String(validate=_COUNTRY), required=True, validate=validate.Length(min=1, max=50))
    events = fields.List(fields.String(validate=validate.OneOf(EVENT_TYPES)), required=True,
                         validate=validate.Length(min=1, max=len(EVENT_TYPES)))


class WebhookSchema(Schema):
    id = fields.Integer(required=True)
    url = fields.String(required=True, metadata={"description": "a password in the URL is shown as ***"})
    countries = fields.List(fields.String(), required=True)
    events = fields.List(fields.String(), required=True)
    active = fields.Boolean(required=True, metadata={
        "description": "false once the webhook's pending backlog reached its bound: no new events are queued"})
    created_at = UtcDateTime(required=True)


class WebhookCreatedSchema(WebhookSchema):
    secret = fields.String(required=True, metadata={"description": "whsec_<base64>; shown only in this answer"})


class DeliverySchema(Schema):
    id = fields.String(required=True, metadata={"description": "the event's webhook-id header"})
    type = fields.String(required=True)
    record_id = fields.String(required=True)
    version = fields.Integer(required=True)
    status = fields.String(required=True, metadata={"description": "pending, delivered or failed"})
    attempts = fields.Integer(required=True)
    last_status_code = fields.Integer(required=True, allow_none=True)
    last_error = fields.String(required=True, allow_none=True)
    created_at = UtcDateTime(required=True)
    next_attempt_at = UtcDateTime(required=True, allow_none=True)


class DeliveryArgsSchema(PageArgsSchema):
    status = fields.String(load_default=None, validate=validate.OneOf(("pending", "delivered", "failed")))
