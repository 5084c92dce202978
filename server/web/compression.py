"""gzip responses for clients that ask (api.md: "responses are gzip-compressed when the client sends
`Accept-Encoding: gzip`"). Tablets pull over slow, metered links; JSON pages shrink ~10x.

One after_request hook for every response, so no endpoint can forget it.
"""

from __future__ import annotations

import gzip

from flask import Flask, request
from flask.wrappers import Response

# Below this, gzip's ~20-byte framing and the CPU are not worth it (errors, health probes).
MIN_SIZE = 512
# Level 6 (zlib's default) is within a few percent of 9 on JSON at a fraction of the CPU.
LEVEL = 6


# A gzipped body is another representation, so it may not share a strong ETag with the plain
# one (RFC 9110 8.8.3): it gets the same tag with this suffix. A handler answering If-None-Match
# accepts either form (see server.operations.public.etag_matches).
GZIP_ETAG_SUFFIX = "-gzip"


def will_compress(response: Response) -> bool:
    """Whether `compress_response` gzips this response (handlers choosing a 304's ETag ask)."""
    return not (
        response.direct_passthrough  # files streamed from disk
        or response.is_streamed
        or response.status_code < 200
        or response.status_code in (204, 304)
        or "Content-Encoding" in response.headers  # already encoded by the handler
        or request.method == "HEAD"
        or request.accept_encodings.quality("gzip") <= 0  # also honours `gzip;q=0` and `*`
        or (response.calculate_content_length() or 0) < MIN_SIZE
    )


def gzip_etag(etag: str) -> str:
    """The strong tag of the gzipped form of a representation tagged `etag` (weak ones stay)."""
    if etag.startswith("W/") or not etag.endswith('"') or etag.endswith(GZIP_ETAG_SUFFIX + '"'):
        return etag
    return etag[:-1] + GZIP_ETAG_SUFFIX + '"'


def compress_response(response: Response) -> Response:
    # Whether or not this one is compressed, the representation depends on the header: caches
    # must key on it.
    response.vary.add("Accept-Encoding")
    if not will_compress(response):
        return response
    body = response.get_data()
    response.set_data(gzip.compress(body, compresslevel=LEVEL))
    response.headers["Content-Encoding"] = "gzip"
    if "ETag" in response.headers:
        response.headers["ETag"] = gzip_etag(response.headers["ETag"])
    return response


def init_app(app: Flask) -> None:
    app.after_request(compress_response)
