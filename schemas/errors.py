"""The error envelope of api.md "Errors": its field messages, and its schema as the OpenAPI document
describes every error response.

flask-smorest's default error schema (`{code: integer, status, message, errors}`, no other properties)
is not what the server sends; a generated client parsed every error into an empty object (issue 29
item 7). server/extensions.py makes `ErrorSchema` the API's ERROR_SCHEMA.
"""

from __future__ import annotations

from typing import Any

from marshmallow import INCLUDE, RAISE, Schema, fields


def flatten_messages(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn marshmallow's nested messages into `{"path.to.field": ["message"]}`: nested schemas and
    dicts join their keys with dots, list items their index; a message that is not a list of
    strings is kept as its text. The only flattener: the record validator, the push envelope and the
    HTTP error handler all report fields this way."""
    flat: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            for sub_path, sub_messages in flatten_messages(value, path).items():
                flat.setdefault(sub_path, []).extend(sub_messages)
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        flat[prefix or "_request"] = list(messages)
    elif isinstance(messages, list):
        for index, value in enumerate(messages):
            flat.update(flatten_messages(value, f"{prefix}.{index}" if prefix else str(index)))
    else:
        flat[prefix or "_request"] = [str(messages)]
    return flat


class ErrorBodySchema(Schema):
    class Meta:
        unknown = RAISE

    code = fields.String(required=True, metadata={"description": "stable snake_case code to branch on, "
                                                                 "e.g. validation_failed"})
    message = fields.String(required=True, metadata={"description": "a human sentence"})
    fields = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), required=True,
                         metadata={"description": "messages by field path (`path.to.field`); may be empty"})


class ErrorSchema(Schema):
    class Meta:
        # Some errors add top-level keys beside `error` (403 device_revoked: `"wipe": true`; a 409 conflict:
        # `current_version`, `current`).
        unknown = INCLUDE

    error = fields.Nested(ErrorBodySchema, required=True)
