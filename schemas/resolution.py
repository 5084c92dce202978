"""Wire contract of the coordinator resolution endpoints (server/intake/resolution.py).

Requests refuse unknown fields, so a misspelt `{"use_value": "device"}` is a 422, never a silent default.
"""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from schemas.review import ConflictSchema, QuarantinedSchema

_RESOLVED_ITEM_DOC = {
    "resolution": "`server` or `device` (conflicts), `discarded` or `applied` (quarantine)",
    "result": "the push result of the correction or mutation applied (null when nothing was applied)",
}


class ResolveConflictRequestSchema(Schema):
    class Meta:
        unknown = RAISE

    use = fields.String(required=True, validate=validate.OneOf(["server", "device"]))


class DiscardRequestSchema(Schema):
    class Meta:
        unknown = RAISE

    reason = fields.String(
        required=True,
        validate=[
            validate.Length(min=1, max=500),
            # PostgreSQL refuses NUL in text; newlines and tabs are fine in a reason.
            validate.Regexp(r"\A[^\x00]*\S[^\x00]*\Z", error="Give a reason (not blank)."),
        ],
    )


class ApplyRequestSchema(Schema):
    class Meta:
        unknown = RAISE

    mutation = fields.Dict(
        required=True,
        metadata={"description": "the fixed mutation, in the push item shape (op_id, kind, entity, id, data...)"},
    )


class _Resolved(Schema):
    resolution = fields.String(allow_none=True, metadata={"description": _RESOLVED_ITEM_DOC["resolution"]})
    resolved_at = fields.String(allow_none=True)
    resolved_by = fields.String(allow_none=True, metadata={"description": "username of the coordinator"})
    result = fields.Dict(allow_none=True, metadata={"description": _RESOLVED_ITEM_DOC["result"]})


class ResolvedConflictSchema(ConflictSchema, _Resolved):
    pass


class ResolvedQuarantinedSchema(QuarantinedSchema, _Resolved):
    note = fields.String(allow_none=True, metadata={"description": "the reason given when discarded"})
