"""Reading an OpenRosa submission's multipart body, bounded.

The `multipart` package parses it rather than Werkzeug's form parser: Werkzeug compiles two regular
expressions from each request's boundary, and Collect sends a new random boundary every time, so
that was half a millisecond of every submission's CPU (and it churned Python's regex cache). The
limits are the same: the stream is capped at the advertised size by Werkzeug (413 while reading,
chunked bodies too), and the parser refuses more parts than `max_parts`.
"""

from __future__ import annotations

from dataclasses import dataclass

import multipart
from flask import Request

from server.integrations.openrosa.responses import OpenRosaError

# Parts kept in memory up to this size; larger attachments spool to a temporary file.
_SPOOL_BYTES = 1024 * 1024
# The multipart package's own per-part limits (its defaults), named here so the answer can say them.
MAX_PART_HEADER_BYTES = 4096 + 128
MAX_PART_HEADERS = 8
MAX_PARTS = 1000


def _limit_error(error: multipart.ParserLimitReached, limit: int, max_parts: int) -> OpenRosaError:
    """The OpenRosa answer naming the limit the body actually exceeded (issue 29 item 7): 1,100 tiny
    parts or one 2 MB part header used to be told the body was larger than its byte limit."""
    reason = str(error).lower()
    if "segment count" in reason or "part limit" in reason:
        return OpenRosaError(413, f"The submission has more than {max_parts} parts.")
    if "header length" in reason:
        return OpenRosaError(413, f"A part's header is longer than {MAX_PART_HEADER_BYTES} bytes.")
    if "header count" in reason:
        return OpenRosaError(413, f"A part has more than {MAX_PART_HEADERS} headers.")
    return OpenRosaError(413, f"The submission is larger than {limit} bytes.")


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None  # None for a plain form field
    content_type: str
    content: bytes


def read_parts(request: Request, limit: int, *, max_parts: int = MAX_PARTS) -> list[Part]:
    """The parts of a `multipart/form-data` body of at most `limit` bytes, in order."""
    boundary = request.mimetype_params.get("boundary", "")
    if not boundary:
        raise OpenRosaError(400, "The multipart body has no boundary.")
    # Werkzeug raises RequestEntityTooLarge while reading past this, chunked bodies included.
    request.max_content_length = limit
    try:
        parser = multipart.MultipartParser(
            request.stream, boundary, content_length=request.content_length or -1,
            part_limit=max_parts, partsize_limit=limit, memory_limit=limit, disk_limit=limit,
            spool_limit=_SPOOL_BYTES, header_limit=MAX_PART_HEADERS, headersize_limit=MAX_PART_HEADER_BYTES,
        )
        parts = []
        for part in parser:
            parts.append(Part(part.name or "", part.filename, part.content_type, part.raw))
            part.close()
        return parts
    except multipart.ParserLimitReached as error:
        raise _limit_error(error, limit, max_parts) from None
    except multipart.MultipartError:
        raise OpenRosaError(400, "The multipart body is malformed.") from None
