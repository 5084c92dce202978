"""Wire contract of the accounts and devices endpoints (api.md "Accounts and devices").

Request schemas refuse unknown fields and bound every string, so a 10 MB value is a 422 naming
the field before any work (hashing, lookups) is done on it.
"""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, fields, validate

from sync.utc import isoformat_z


class UtcDateTime(fields.DateTime):
    """Dumps the server's naive-UTC datetimes as `2026-03-02T09:58:11Z` (api.md's wire form)."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return isoformat_z(value)


# PostgreSQL refuses NUL in text (a driver error, so a 500), and no name or code needs control characters.
# Control characters, and the invisible format characters that reorder or hide text (U+202E RIGHT-TO-LEFT
# OVERRIDE shows "exe.txt" as "txt.exe"): refused in names, as the CLI's Name refuses them (issue 29
# item 9). ZWNJ and ZWJ (U+200C, U+200D) stay: Arabic-script and other writing needs them.
NO_CONTROL_CHARACTERS = validate.Regexp(r"\A[^\x00-\x1f\x7f-\x9f\u200b\u200e\u200f\u202a-\u202e\u2060-\u206f\ufeff"
                                        r"\ufff9-\ufffb]*\Z",
                                        error="Must not contain control characters or invisible formatting characters.")


def bounded_text(max_length: int, *, control_characters: bool = False, **kwargs: Any) -> fields.String:
    validators = [validate.Length(min=1, max=max_length)]
    if not control_characters:
        validators.append(NO_CONTROL_CHARACTERS)
    return fields.String(required=True, validate=validators, **kwargs)


class TokenRequestSchema(Schema):
    class Meta:
        unknown = RAISE

    username = bounded_text(64)
    # Bounded so a huge "password" cannot buy minutes of Argon2 work.
    # Any character: a password is only ever hashed, never sent to the database.
    password = bounded_text(1024, control_characters=True, load_only=True)


class TokenResponseSchema(Schema):
    token = fields.String(required=True, metadata={"description": "send as `Authorization: Bearer <token>`"})
    expires_at = UtcDateTime(required=True)
    role = fields.String(required=True, validate=validate.OneOf(["coordinator", "admin"]))


class EnrollmentRequestSchema(Schema):
    class Meta:
        unknown = RAISE

    username = bounded_text(64, metadata={"description": "a field worker of this team"})


class EnrollmentResponseSchema(Schema):
    code = fields.String(required=True, metadata={"description": "one-time code, e.g. 7K2MQ-9XD4H"})
    expires_at = UtcDateTime(required=True)


class EnrollDeviceRequestSchema(Schema):
    class Meta:
        unknown = RAISE

    code = bounded_text(64, metadata={"description": "case, spaces and dashes do not matter"})
    label = bounded_text(100, metadata={"description": "how coordinators will recognise the tablet"})
    app_version = bounded_text(32)


class EnrollDeviceResponseSchema(Schema):
    device_id = fields.String(required=True)
    token = fields.String(required=True, metadata={"description": "shown once; the device keeps it"})
    team_id = fields.String(required=True)


class TeamSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    name_ar = fields.String(allow_none=True, metadata={"description": "the Arabic name, if set"})
    active = fields.Boolean(metadata={"description": "false once deactivated (no new enrollments)"})
    team_type = fields.String(required=True)
    country = fields.String(required=True)
    site_ids = fields.List(fields.String(), required=True)


class DeviceSchema(Schema):
    id = fields.String(required=True)
    team_id = fields.String(required=True)
    username = fields.String(required=True, metadata={"description": "the field worker it was enrolled for"})
    label = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["active", "revoked"]))
    app_version = fields.String(allow_none=True)
    enrolled_at = UtcDateTime(required=True)
    last_seen_at = UtcDateTime(allow_none=True)
    revoked_at = UtcDateTime(allow_none=True)
    pending_conflicts = fields.Integer(required=True, metadata={"description": "open conflicts from this device"})
    quarantine_dropped = fields.Integer(
        required=True,
        metadata={"description": "mutations pushed while revoked that quarantine did not keep (past its bound)"},
    )
