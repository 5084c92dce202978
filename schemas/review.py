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


class _Choice(Schema):
    value = fields.String(required=True)
    label = fields.String(required=True)
    label_ar = fields.String(required=True)


class _Message(Schema):
    message = fields.String(required=True)
    message_ar = fields.String(allow_none=True, metadata={"description": "null: no Arabic for this message"})


class _FormField(Schema):
    name = fields.String(required=True, metadata={"description": "the wire name in `data`"})
    label = fields.String(required=True)
    label_ar = fields.String(required=True)
    type = fields.String(required=True, metadata={
        "description": "choice, date, datetime, integer, boolean, text, counts (reached: by sex, then age band), "
                       "fixed (not editable), json"})
    required = fields.Boolean(required=True)
    value = fields.Raw(allow_none=True, metadata={"description": "as sent"})
    sent = fields.Boolean(required=True)
    choices = fields.List(fields.Nested(_Choice), metadata={"description": "type choice: the allowed values"})
    levels = fields.Dict(metadata={"description": "type counts: the choices of each key level (sex, age_band)"})
    min = fields.Integer(allow_none=True)
    max = fields.Integer(allow_none=True)
    max_length = fields.Integer(allow_none=True)
    errors = fields.List(fields.Nested(_Message), required=True)


class _UnknownField(Schema):
    name = fields.String(required=True)
    value = fields.Raw(allow_none=True)
    errors = fields.List(fields.Nested(_Message), required=True)


class _Reason(Schema):
    code = fields.String(required=True, metadata={"description": "`rejected` or `device_revoked`"})
    label = fields.String(required=True)
    label_ar = fields.String(required=True)


class _FormError(Schema):
    field = fields.String(required=True, metadata={"description": "path as in `errors`, e.g. data.sex"})
    label = fields.String(required=True)
    label_ar = fields.String(required=True)
    messages = fields.List(fields.String(), required=True)
    messages_ar = fields.List(fields.String(allow_none=True), required=True)


class QuarantineFormSchema(Schema):
    id = fields.Integer(required=True)
    team_id = fields.String(allow_none=True)
    country = fields.String(allow_none=True)
    status = fields.String(required=True)
    kind = fields.String(allow_none=True, metadata={"description": "create, correct or void, as sent"})
    entity = fields.String(allow_none=True)
    entity_label = fields.String(required=True)
    entity_label_ar = fields.String(required=True)
    record_id = fields.String(allow_none=True)
    reason = fields.Nested(_Reason, required=True)
    errors = fields.List(fields.Nested(_FormError), required=True)
    editable = fields.Boolean(required=True, metadata={
        "description": "false: not an object of a known entity (or a void): fix the raw JSON instead"})
    fields_ = fields.List(fields.Nested(_FormField), required=True, attribute="fields", data_key="fields",
                          metadata={"description": "a create: every field of the record; a correct: those it changes"})
    unknown_fields = fields.List(fields.Nested(_UnknownField), required=True)


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
    data = fields.Dict(required=True, metadata={"description": "the current content, with status and clock_suspect; "
                                                               "recorded_at in UTC with Z"})
    recorded_at_offset_minutes = fields.Integer(allow_none=True, metadata={
        "description": "the device's UTC offset when it recorded it (null: sent without one)"})
    revisions = fields.List(fields.Nested(RevisionSchema), required=True, metadata={"description": "oldest first"})
