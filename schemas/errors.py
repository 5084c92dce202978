"""The error envelope's field messages (api.md "Errors"): `{"path.to.field": ["message"]}`."""

from __future__ import annotations

from typing import Any


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
