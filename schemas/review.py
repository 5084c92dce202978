"""Wire contract of the coordinator review lists: conflicts, quarantine, a record's history."""

from __future__ import annotations

from marshmallow import Schema, fields


class ConflictSchema(Schema):
    id = fields.Integer(required=True)
    record_id = fields.String(required=True)
    entity = fields.String(required=True)
    team_id = fields.String(required=True)
    device_id = fields.String(allow_none=True)
    op_id = fields.String(required=True)
    base_version = fields.Integer(required=True)
    current_version = fields.Integer(required=True, metadata={"description": "the record's version at the time"})
    mutation = fields.Dict(required=True, metadata={"description": "the correction as the device sent it"})
    current = fields.Dict(required=True, metadata={"description": "the server's values of the disputed fields"})
    status = fields.String(required=True)
    created_at = fields.String(required=True)


class QuarantinedSchema(Schema):
    id = fields.Integer(required=True)
    device_id = fields.String(allow_none=True)
    team_id = fields.String(allow_none=True)
    batch_id = fields.String(allow_none=True)
    op_id = fields.String(allow_none=True, metadata={"description": "as sent, if the item had one"})
    reason = fields.String(required=True, metadata={"description": "`rejected` or `device_revoked`"})
    mutation = fields.Raw(required=True, metadata={"description": "the item exactly as received"})
    errors = fields.Dict(required=True, metadata={"description": "messages by field path (empty for device_revoked)"})
    status = fields.String(required=True)
    created_at = fields.String(required=True)


class RevisionSchema(Schema):
    version = fields.Integer(required=True)
    kind = fields.String(required=True, metadata={"description": "create, correct or void"})
    changes = fields.Dict(required=True, metadata={"description": "new value of each changed field (null: removed)"})
    reason = fields.String(allow_none=True)
    device_id = fields.String(allow_none=True)
    username = fields.String(allow_none=True, metadata={"description": "the field worker of that device"})
    op_id = fields.String(allow_none=True)
    at = fields.String(required=True)


class RecordHistorySchema(Schema):
    id = fields.String(required=True)
    entity = fields.String(required=True)
    team_id = fields.String(required=True)
    version = fields.Integer(required=True)
    seq = fields.Integer(required=True)
    status = fields.String(required=True)
    clock_suspect = fields.Boolean(required=True)
    received_at = fields.String(required=True)
    data = fields.Dict(required=True, metadata={"description": "the current content, with status and clock_suspect"})
    revisions = fields.List(fields.Nested(RevisionSchema), required=True, metadata={"description": "oldest first"})
