"""Request bodies for the whole app: gzip, size limits, content type, JSON (api.md "Errors").

One before_request hook (after authentication, so an anonymous client cannot make the server
decompress anything) reads every POST/PUT/PATCH body:

- `Content-Encoding: gzip` is decompressed as a stream with a bound on the *output*: a gzip bomb
  (1 GB of zeros is ~1 MB on the wire) is refused with 413 once the limit is passed, having held
  at most the limit plus one chunk in memory.
- The limit (`FIELDSYNC_LIMITS.push_max_bytes`, the largest body any route accepts) applies after
  decompression, as api.md says; an honest `Content-Length` beyond it is refused before reading.
- A body must be `application/json` (or `+json`) in UTF-8, else 415; an unknown content coding
  is 415 too. Invalid UTF-8, malformed JSON, absurd nesting, and what the one JSON decode policy
  (`decode_json`) refuses: lone UTF-16 surrogates, numbers beyond a double, NaN/Infinity, duplicate
  keys: 400 `malformed_request`.
- A revoked device hears 403 `device_revoked` + wipe instead of any of these (`_wipe_revoked`).
- A NUL character (`\u0000`) can be in no Fieldsync value (ids, codes, dates, short texts), and
  PostgreSQL refuses NUL in text columns, so letting it through turned a client's bad byte into a 500
  (tests/server/web/test_hostile_input.py). In a body it is a 422 naming the field, except where a view
  checks it itself (`nul_tolerated_within`: push rejects that one mutation, keeps the rest); in the
  path, 404 (no id holds one); in the query, a 422 naming the parameter.

The parsed value is kept for `json_body()`, and the decompressed bytes replace Werkzeug's cached
request data, so `request.get_json()` and webargs/flask-smorest schemas see plain JSON as well.
"""

from __future__ import annotations

import functools
import json
import math
import re
import sys
import zlib
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, g, request

from server.extensions import db
from server.web.auth import current_principal, device_revoked_error
from server.web.errors import ApiError, validation_error
from sync.text import NUL, NUL_MESSAGE, nul_path

F = TypeVar("F", bound=Callable[..., Any])

CHUNK = 64 * 1024
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_MISSING = object()
# gzip makes incompressible data slightly larger (5 bytes per 16 KB block plus a header), so a
# compressed body may be a little over the limit and still decompress within it.
_GZIP_SLACK = 1 / 100
# After a 413 the rest of the body is read and thrown away, up to this many times the limit, so the
# client sees the answer instead of a connection reset while it is still sending.
_DRAIN_FACTOR = 4
_MAX_DOUBLE = sys.float_info.max
# A surrogate code point, and the JSON escape that can produce one (\\uD800 to \\uDFFF).
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
LONE_SURROGATE_MESSAGE = "Must not contain a lone UTF-16 surrogate escape (\\ud800 to \\udfff without its pair)."


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"The request body is larger than {limit} bytes (after decompression).")


def _malformed(message: str) -> ApiError:
    return ApiError(400, "malformed_request", message)


def _unsupported(message: str) -> ApiError:
    return ApiError(415, "unsupported_media_type", message)


def _has_body() -> bool:
    if request.content_length:
        return True
    return "chunked" in request.headers.get("Transfer-Encoding", "").lower()


def _check_content_type() -> None:
    mimetype = request.mimetype
    if not (mimetype == "application/json" or (mimetype.startswith("application/") and mimetype.endswith("+json"))):
        raise _unsupported("Send the body as application/json.")
    charset = request.mimetype_params.get("charset")
    if charset is not None and charset.lower().replace("_", "-") not in ("utf-8", "utf8"):
        raise _unsupported("Send the body in UTF-8.")


def _content_coding() -> str:
    codings = [c.strip().lower() for c in request.headers.get("Content-Encoding", "").split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if not codings:
        return "identity"
    if codings in (["gzip"], ["x-gzip"]):
        return "gzip"
    raise _unsupported("Content-Encoding must be gzip or identity.")


def _drain(stream: Any, budget: int) -> None:
    while budget > 0:
        chunk = stream.read(min(CHUNK, budget))
        if not chunk:
            return
        budget -= len(chunk)


def _read_plain(stream: Any, limit: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            return b"".join(parts)
        size += len(chunk)
        if size > limit:
            _drain(stream, limit * _DRAIN_FACTOR)
            raise _too_large(limit)
        parts.append(chunk)


def _gunzip() -> Any:
    return zlib.decompressobj(16 + zlib.MAX_WBITS)


def _read_gzip(stream: Any, limit: int) -> bytes:
    """Decompress at most `limit` + 1 bytes, whatever the input claims to expand to."""
    parts: list[bytes] = []
    size = 0
    raw_size = 0
    raw_limit = limit + int(limit * _GZIP_SLACK) + 1024
    decompressor = _gunzip()
    try:
        while chunk := stream.read(CHUNK):
            raw_size += len(chunk)
            if raw_size > raw_limit:
                _drain(stream, limit * _DRAIN_FACTOR)
                raise _too_large(limit)
            pending = chunk
            while pending:
                # max_length (never 0, which would mean "unbounded") caps this call's output; input
                # not used yet waits in unconsumed_tail, so memory holds at most limit + 1 bytes.
                out = decompressor.decompress(pending, limit + 1 - size)
                size += len(out)
                if size > limit:
                    _drain(stream, limit * _DRAIN_FACTOR)
                    raise _too_large(limit)
                parts.append(out)
                if decompressor.eof:
                    # Concatenated gzip members are one valid body (RFC 1952).
                    pending = decompressor.unused_data
                    if pending:
                        decompressor = _gunzip()
                else:
                    pending = decompressor.unconsumed_tail
    except zlib.error:
        raise _malformed("The body is not valid gzip.") from None
    if not decompressor.eof:
        raise _malformed("The gzip body is truncated.")
    return b"".join(parts)


class JsonPolicyError(ValueError):
    """A body that is JSON by the grammar but that Fieldsync refuses (see `decode_json`)."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


def _reject_constant(name: str) -> Any:
    raise JsonPolicyError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 parses as inf: a number no double can hold
        raise JsonPolicyError(f"the number {text[:40]} is outside the range of a double")
    return value


def _bounded_int(text: str) -> int:
    value = int(text)  # Python refuses more than 4300 digits by itself (ValueError)
    if len(text) >= 300 and abs(value) > _MAX_DOUBLE:  # no double holds it either: same rule as 1e400
        raise JsonPolicyError(f"the number {text[:40]}... is outside the range of a double")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise JsonPolicyError(f"the key {key[:60]!r} appears twice in one object")
            seen.add(key)
    return obj


def _lone_surrogate_path(value: Any) -> str | None:
    """The dotted path of the first key or string holding a lone UTF-16 surrogate, or None.

    Iterative, so a body nested as deep as the parser allows cannot exhaust the stack here."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return path or "_request"
        elif isinstance(item, dict):
            for key, child in item.items():
                where = f"{path}.{key}" if path else str(key)
                if _SURROGATE.search(key):
                    return where.encode("utf-8", "backslashreplace").decode("utf-8")
                stack.append((where, child))
        elif isinstance(item, list):
            stack.extend((f"{path}.{index}" if path else str(index), child) for index, child in enumerate(item))
    return None


def decode_json(text: str) -> Any:
    """The one JSON decode policy for everything a client sends (bodies, and JSON inside cursors).

    Beyond the grammar it refuses, with JsonPolicyError (a ValueError):
    - a lone UTF-16 surrogate escape (`"\\ud800"`, or a low one without its high half): Python
      would keep it as a str that no UTF-8 encoder, database driver or JSON writer accepts; a valid
      pair (`"\\ud83d\\ude00"`) is one character and is fine;
    - a number outside the range of a double (`1e400`, `-1e400`, a 400-digit integer) and the
      non-standard NaN/Infinity: every client and database column holds doubles at most;
    - a key twice in one object: which value wins is a parser's whim, so one request could mean
      two different things to two readers (say, a proxy and this server).
    """
    # Every integer goes through `_bounded_int`: ~0.25 us each. A regex search for a 300-digit run,
    # to skip the hook when there is none, cost 4.5 ms on a 200 KB push body, far more than the hook.
    value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float, parse_int=_bounded_int,
                       object_pairs_hook=_unique_keys)
    # Only an escape can make a surrogate (UTF-8 cannot encode one), so walk the value only then.
    if _SURROGATE_ESCAPE.search(text) and (where := _lone_surrogate_path(value)) is not None:
        raise JsonPolicyError("a string holds a lone UTF-16 surrogate (half of an escaped pair)", where)
    return value


def parse_json(body: bytes) -> Any:
    """Strict JSON from UTF-8 bytes under `decode_json`'s policy; raises the 400 for anything else."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _malformed("The body is not valid UTF-8.") from None
    try:
        return decode_json(text)
    except RecursionError:
        raise _malformed("The JSON body is nested too deeply.") from None
    except JsonPolicyError as exc:
        fields = {exc.path: [LONE_SURROGATE_MESSAGE]} if exc.path else None
        raise ApiError(400, "malformed_request", f"The body is not acceptable JSON: {exc}.", fields) from None
    except ValueError as exc:  # JSONDecodeError, integers beyond the digit limit
        raise _malformed(f"The body is not valid JSON: {exc}.") from None


def nul_tolerated_within(prefix: str, *, otherwise: int = 422) -> Callable[[F], F]:
    """Declare that a view checks NULs under `prefix` of its body itself (the push engine rejects
    such a mutation item by item, so one bad string never blocks the rest of a batch); a NUL
    elsewhere in the body is answered with `otherwise` (400 for a malformed envelope)."""

    def decorate(view: F) -> F:
        view._fieldsync_nul_within = (prefix, otherwise)  # type: ignore[attr-defined]
        return view

    return decorate


def _refuse_nul(value: Any) -> None:
    """A NUL is well-formed JSON but no Fieldsync value can hold one: 422 naming the field."""
    where = nul_path(value)
    if where is None:
        return
    view = current_app.view_functions.get(request.endpoint or "")
    prefix, status = getattr(view, "_fieldsync_nul_within", (None, 422))
    if prefix is not None and where.startswith(prefix + "."):
        return
    code = "malformed_request" if status == 400 else "validation_failed"
    raise ApiError(status, code, "The request may not contain NUL characters.", {where: [NUL_MESSAGE]})


def _wipe_revoked(hook: Callable[[], None]) -> Callable[[], None]:
    """A revoked device hears 403 `device_revoked` + wipe whatever it sends (api.md v1.1): every
    refusal of its request (415, 413, 400, 422) is answered with that instead, so a tablet with a
    broken outbox is still told to wipe. A well-formed body goes on to the view, which keeps its
    mutations in quarantine before answering the same 403."""

    @functools.wraps(hook)
    def checked() -> None:
        try:
            hook()
        except ApiError:
            if current_principal().revoked:
                raise device_revoked_error() from None
            raise

    return checked


@_wipe_revoked
def reject_nul_in_url() -> None:
    """before_request: a NUL in the path or the query string is refused before any view reads it.

    No id holds a NUL, so such a path names nothing (404); a query parameter is a 422 naming it."""
    if NUL in request.path:
        raise ApiError(404, "not_found", "Nothing is found at this address.")
    for name, value in request.args.items(multi=True):
        if NUL in name or NUL in value:
            raise validation_error({name.replace(NUL, "\\u0000"): [NUL_MESSAGE]})


def reads_own_body(view: F) -> F:
    """Declare that a view reads and bounds its body itself (OpenRosa's multipart submissions)."""
    view._fieldsync_own_body = True  # type: ignore[attr-defined]
    return view


def _throttle_revoked() -> None:
    """A revoked device is rate-limited before its body is read (server/intake/quarantine.py)."""
    principal = current_principal()
    if not principal.revoked or principal.device_id is None:
        return
    g.commit_on_error = True  # the count of reads must survive the 403
    guard = current_app.extensions.get(REVOKED_BODY_GUARD)
    if guard is None:  # fail closed: a revoked device's body is never read unthrottled
        raise RuntimeError("no revoked-device guard registered (server/intake/envelope.py init_app)")
    guard(db.session(), principal.device_id)


@_wipe_revoked
def read_body() -> None:
    """before_request: read, bound, decompress and parse the body of a write request."""
    if request.method not in _BODY_METHODS or not _has_body():
        return
    if getattr(current_app.view_functions.get(request.endpoint or ""), "_fieldsync_own_body", False):
        return
    _throttle_revoked()
    _check_content_type()
    coding = _content_coding()
    limit = int(current_app.config["FIELDSYNC_LIMITS"].push_max_bytes)
    stream = request.stream
    declared = request.content_length
    if coding == "identity" and declared is not None and declared > limit:
        _drain(stream, limit * _DRAIN_FACTOR)
        raise _too_large(limit)
    body = _read_gzip(stream, limit) if coding == "gzip" else _read_plain(stream, limit)
    g.json_body = parse_json(body)
    if b"\\u0000" in body:  # JSON can only carry a NUL escaped; walk the value only then
        _refuse_nul(g.json_body)
    # Werkzeug's cache of the request data: whoever reads the body next gets the plain JSON.
    request._cached_data = body  # type: ignore[attr-defined]


def json_body(*, required: bool = True) -> Any:
    """The parsed JSON body of this request; without one, 400 (or None if not `required`)."""
    value = g.get("json_body", _MISSING)
    if value is _MISSING:
        if required:
            raise _malformed("A JSON body is required.")
        return None
    return value


# The write envelope's throttle for a revoked device, run before its body is read. Registered by the
# intake layer at start-up (server/intake/envelope.py `init_app`): the body is read here, but the
# throttle is one of the envelope's guarantees, and the web layer does not import the layers above it.
REVOKED_BODY_GUARD = "fieldsync.revoked_body_guard"


def init_app(app: Flask) -> None:
    app.before_request(reject_nul_in_url)
    app.before_request(read_body)
