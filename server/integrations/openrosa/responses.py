"""OpenRosa response bodies and the one error type every OpenRosa route answers with (openrosa.md)."""

from __future__ import annotations

from xml.sax.saxutils import escape

RESPONSE_NS = "http://openrosa.org/http/response"


class OpenRosaError(Exception):
    """A client error, answered as `<OpenRosaResponse><message nature="error">` with `status`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def message_xml(message: str, nature: str) -> bytes:
    """`<OpenRosaResponse>` holding one message; `nature` is `error` or `submit_success`."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<OpenRosaResponse xmlns="{RESPONSE_NS}"><message nature="{escape(nature)}">'
        f"{escape(message)}</message></OpenRosaResponse>"
    ).encode()
