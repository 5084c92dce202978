"""Wire contract of the sync endpoints (api.md "Sync").

The push envelope is loaded here; its ``mutations`` stay raw so that one bad
item is rejected on its own by the sync engine instead of failing the whole
envelope. The response schemas describe what the server dumps, for OpenAPI.
"""

from __future__ import annotations

from datetime import UTC

from marshmallow import RAISE, Schema, fields, validate

from sync.domain import ItemStatus

STREAMS = ("reference", "records", "quarantine")


class PushRequestSchema(Schema):
    class Meta:
        unknown = RAISE

    batch_id = fields.UUID(required=True)
    schema_version = fields.Integer(strict=True, required=True, validate=validate.Range(min=1))
    app_version = fields.String(required=True, validate=validate.Length(min=1, max=32))
    # Naive times are read as UTC, like recorded_at in the engine: refusing
    # the whole batch over a missing offset would strand the tablet's data.
    client_time = fields.AwareDateTime(required=True, default_timezone=UTC)
    # Raw items: the engine judges each one (rejected items are quarantined).
    # Size limits (push_max_mutations) are configuration, checked by the server.
    mutations = fields.List(fields.Raw(), required=True)


class PushItemResultSchema(Schema):
    """One item of ``results``; which keys appear depends on ``status``."""

    op_id = fields.String(allow_none=True, metadata={"description": "echo of the mutation's op_id"})
    status = fields.String(required=True, validate=validate.OneOf([s.value for s in ItemStatus]))
    id = fields.String(metadata={"description": "applied, duplicate, conflict"})
    version = fields.Integer(metadata={"description": "applied, duplicate"})
    seq = fields.Integer(metadata={"description": "applied, duplicate"})
    current_version = fields.Integer(metadata={"description": "conflict"})
    current = fields.Dict(
        keys=fields.String(),
        metadata={"description": "conflict: the server's values of the disputed fields"},
    )
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "rejected: messages by field path, e.g. data.sex"},
    )


class PushResponseSchema(Schema):
    batch_id = fields.String(required=True)
    server_time = fields.AwareDateTime(required=True)
    clock_offset_ms = fields.Integer(
        required=True, metadata={"description": "server_time minus client_time, in milliseconds"}
    )
    results = fields.List(fields.Nested(PushItemResultSchema), required=True)


class PullQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    stream = fields.String(required=True, validate=validate.OneOf(STREAMS))
    cursor = fields.String(load_default=None)
    limit = fields.Integer(load_default=500, validate=validate.Range(min=1, max=1000))


class PullChangeSchema(Schema):
    seq = fields.Integer(required=True)
    entity = fields.String(required=True)
    id = fields.String(required=True)
    op = fields.String(required=True, validate=validate.OneOf(["upsert", "remove"]))
    version = fields.Integer(metadata={"description": "records only"})
    data = fields.Dict(metadata={"description": "upsert only; records carry status and clock_suspect"})


class PullResponseSchema(Schema):
    stream = fields.String(required=True, validate=validate.OneOf(STREAMS))
    changes = fields.List(fields.Nested(PullChangeSchema), required=True)
    next_cursor = fields.String(required=True)
    has_more = fields.Boolean(required=True)


class HelloDeviceSchema(Schema):
    id = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["active", "revoked"]))
    team_id = fields.String(required=True)


class HelloSchemaVersionsSchema(Schema):
    min_supported = fields.Integer(required=True)
    current = fields.Integer(required=True)


class HelloLimitsSchema(Schema):
    push_max_mutations = fields.Integer(required=True)
    push_max_bytes = fields.Integer(required=True)
    pull_max_limit = fields.Integer(required=True)


class HelloResponseSchema(Schema):
    server_time = fields.AwareDateTime(required=True)
    device = fields.Nested(HelloDeviceSchema, required=True)
    schema = fields.Nested(HelloSchemaVersionsSchema, required=True)
    limits = fields.Nested(HelloLimitsSchema, required=True)
