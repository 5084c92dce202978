"""The OpenRosa routes under `/openrosa/v1/key/<key>/` (openrosa.md "Endpoints"): thin.

The key in the URL is the device's token, checked by `@access(DEVICE_KEY)` (server/web/auth.py) before
any view runs; views use it only to write the URLs they hand out. Every answer of
this blueprint, errors included, is OpenRosa's: `X-OpenRosa-Version: 1.0`, a `Date`, and errors as
an `<OpenRosaResponse>` message with the status, never the JSON envelope and never a 500 for
anything a client sent. The submission's multipart body is read here, bounded before parsing
(`@reads_own_body` keeps the app's JSON body reader away from it).
"""

from __future__ import annotations

import logging
import re
from xml.sax.saxutils import escape

from flask import Blueprint, Response, current_app, g, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.http import http_date

from server.extensions import db
from server.intake.envelope import refuse_throttled
from server.integrations.openrosa import media
from server.integrations.openrosa.body import read_parts
from server.integrations.openrosa.enrolment import server_url
from server.integrations.openrosa.forms import MEDIA_OF_FORM, SERVED_FORM_IDS, all_forms, served_form
from server.integrations.openrosa.instance import UNKNOWN_NAMED, parse_instance
from server.integrations.openrosa.responses import OpenRosaError, message_xml
from server.integrations.openrosa.submission import Attachment, Submission, submit
from server.web.auth import DEVICE_KEY, access, current_principal, device_revoked_error
from server.web.errors import ApiError
from server.web.http_body import reads_own_body
from server.web.transactions import reads_only
from sync.domain import DeviceContext

log = logging.getLogger(__name__)

bp = Blueprint("openrosa", __name__, url_prefix="/openrosa/v1/key/<key>")

XML = "text/xml; charset=utf-8"
FORMLIST_NS = "http://openrosa.org/xforms/xformsList"
MANIFEST_NS = "http://openrosa.org/xforms/xformsManifest"
SUBMISSION_PART = "xml_submission_file"
_DATING_SERVERS = ("gunicorn", "Werkzeug")
_COLLECT_VERSION = re.compile(r"collect\.android/(\S{1,24})")


@bp.after_request
def _openrosa_headers(response: Response) -> Response:
    response.headers["X-OpenRosa-Version"] = "1.0"
    # gunicorn and Werkzeug's server write Date themselves (a second one would be invalid HTTP);
    # under anything else (the test client, another WSGI server) the app writes it.
    if "Date" not in response.headers and not request.environ.get("SERVER_SOFTWARE", "").startswith(_DATING_SERVERS):
        response.headers["Date"] = http_date()
    return response


def _xml(body: bytes | str, status: int = 200) -> Response:
    return Response(body, status=status, content_type=XML)


def _message(status: int, message: str, nature: str = "error") -> Response:
    return _xml(message_xml(message, nature), status)


@bp.errorhandler(OpenRosaError)
def _openrosa_error(error: OpenRosaError) -> Response:
    return _message(error.status, error.message)


@bp.errorhandler(ApiError)
def _api_error(error: ApiError) -> Response:
    # Raised by authentication and the retry loop; said in OpenRosa's words. No WWW-Authenticate:
    # Collect would ask the worker for a password that does not exist.
    messages = {
        "invalid_token": "Unknown server key: this server address is not valid. "
        "Ask your coordinator for a new QR code.",
        "device_revoked": "This tablet was revoked; ask your coordinator.",
    }
    response = _message(error.status, messages.get(error.code, error.message))
    for name, value in error.headers.items():
        if name.lower() != "www-authenticate":
            response.headers[name] = value
    return response


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    if isinstance(error, RequestEntityTooLarge):
        limit = current_app.config["FIELDSYNC_LIMITS"].openrosa_max_bytes
        return _message(413, f"The submission is larger than {limit} bytes.")
    response = _message(status, error.description or "The request could not be served.")
    if status == 405 and getattr(error, "valid_methods", None):
        response.headers["Allow"] = ", ".join(error.valid_methods)  # type: ignore[attr-defined]
    return response


@bp.errorhandler(Exception)
def _unexpected(error: Exception) -> Response:
    log.exception("openrosa: unhandled error", exc_info=error)
    return _message(500, "The server could not complete the request; send it again later.")


def _device() -> DeviceContext:
    principal = current_principal()
    assert principal.device_id and principal.team_id and principal.countries
    (country,) = principal.countries
    return DeviceContext(device_id=principal.device_id, team_id=principal.team_id, country=country)


def _known_form(form_id: str) -> str:
    if form_id not in SERVED_FORM_IDS:
        raise OpenRosaError(404, "Unknown form.")
    return form_id


# --- forms -------------------------------------------------------------------------------------


@bp.route("/formList", methods=["GET"])
@access(DEVICE_KEY)
@reads_only
def form_list(key: str) -> Response:
    """The forms this device may fill in (all three; `?formID=` narrows the list, as Collect asks)."""
    wanted = request.args.get("formID")
    base = server_url(key)
    entries = []
    for form in all_forms():
        if wanted and wanted != form.form_id:
            continue
        entries.append(
            "<xform>"
            f"<formID>{escape(form.form_id)}</formID>"
            f"<name>{escape(form.name)}</name>"
            f"<version>{escape(form.version)}</version>"
            f"<hash>{form.md5}</hash>"
            f"<downloadUrl>{escape(f'{base}/forms/{form.form_id}.xml')}</downloadUrl>"
            f"<manifestUrl>{escape(f'{base}/forms/{form.form_id}/manifest')}</manifestUrl>"
            "</xform>"
        )
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<xforms xmlns="{FORMLIST_NS}">{"".join(entries)}</xforms>'
    return _xml(body)


@bp.route("/forms/<form_id>.xml", methods=["GET"])
@access(DEVICE_KEY)
@reads_only
def form_download(key: str, form_id: str) -> Response:
    return _xml(served_form(_known_form(form_id)).xml)


@bp.route("/forms/<form_id>/manifest", methods=["GET"])
@access(DEVICE_KEY)
@reads_only
def manifest(key: str, form_id: str) -> Response:
    base = server_url(key)
    files = []
    for filename in MEDIA_OF_FORM[_known_form(form_id)]:
        data = media.media_file(db.session, _device(), filename)
        files.append(
            "<mediaFile>"
            f"<filename>{escape(filename)}</filename>"
            f"<hash>{media.md5(data)}</hash>"
            f"<downloadUrl>{escape(f'{base}/forms/{form_id}/media/{filename}')}</downloadUrl>"
            "</mediaFile>"
        )
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<manifest xmlns="{MANIFEST_NS}">{"".join(files)}</manifest>'
    return _xml(body)


@bp.route("/forms/<form_id>/media/<filename>", methods=["GET"])
@access(DEVICE_KEY)
@reads_only
def media_download(key: str, form_id: str, filename: str) -> Response:
    if filename not in MEDIA_OF_FORM[_known_form(form_id)]:
        raise OpenRosaError(404, "Unknown media file.")
    data = media.media_file(db.session, _device(), filename)
    return Response(data, status=200, content_type="text/csv; charset=utf-8")


# --- submissions -------------------------------------------------------------------------------


@bp.route("/submission", methods=["HEAD", "POST"])
@access(DEVICE_KEY, allow_revoked_device=True)
@reads_own_body
def submission(key: str) -> Response:
    limit = current_app.config["FIELDSYNC_LIMITS"].openrosa_max_bytes
    if request.method == "HEAD":
        if _revoked():
            raise device_revoked_error()
        response = Response(status=204)
        response.headers["X-OpenRosa-Accept-Content-Length"] = str(limit)
        return response
    # Authentication read the key without the write lock (server/web/transactions.py `reading_only`) and
    # committed its once-a-minute last_seen_at touch: no transaction is open while the body is parsed,
    # so on SQLite other submissions write meanwhile.
    if _revoked():
        # Throttled as the JSON push is, before its body is read (the write envelope's gate); else
        # refused whatever was sent, what is well-formed kept in quarantine first (submit does).
        g.commit_on_error = True  # the count of reads must survive the 403
        refuse_throttled(db.session(), _device().device_id)
        try:
            parsed = _read_submission(limit)
        except (OpenRosaError, HTTPException):
            raise device_revoked_error() from None
    else:
        parsed = _read_submission(limit)
    answer = submit(db.session(), _device(), parsed,
                    revoked_quarantine_max=current_app.config["FIELDSYNC_LIMITS"].revoked_quarantine_max)
    if answer.revoked:
        g.commit_on_error = True  # what was kept in quarantine must survive the 403
    nature = "submit_success" if answer.status < 300 else "error"
    message = answer.message
    if parsed.instance.unknown_elements > UNKNOWN_NAMED:
        # The validator named the first few; the rest were counted, not kept (server/integrations/openrosa/instance.py).
        message += (f" The instance has {parsed.instance.unknown_elements} elements the form does not have; "
                    f"the first {UNKNOWN_NAMED} are named above.")
    return _message(answer.status, message, nature)


def _revoked() -> bool:
    # As authentication read it, just before; `submit` reads the device row again in its own
    # transaction, so a revocation in between is still honoured.
    return current_principal().revoked


def _read_submission(limit: int) -> Submission:
    """The multipart body, bounded before anything is parsed: 413 past `limit`, 400 if unusable."""
    if request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge()
    if request.mimetype != "multipart/form-data":
        raise OpenRosaError(400, f"Send the submission as multipart/form-data with the part {SUBMISSION_PART}.")
    if request.headers.get("Content-Encoding", "identity").strip().lower() not in ("", "identity"):
        raise OpenRosaError(400, "The submission may not be content-encoded.")
    parts = read_parts(request, limit)
    xml_part = next((part for part in parts if part.name == SUBMISSION_PART), None)
    if xml_part is None:
        raise OpenRosaError(400, f"The submission has no {SUBMISSION_PART} part.")
    # A client may send the instance as a plain field rather than a file: the bytes are the same.
    xml = xml_part.content
    try:
        xml.decode("utf-8")
    except UnicodeDecodeError:
        raise OpenRosaError(400, "The submission must be UTF-8 XML.") from None
    if b"\x00" in xml:
        raise OpenRosaError(400, "The submission is not well-formed XML.")
    instance = parse_instance(xml)
    attachments = tuple(
        Attachment(
            filename=part.filename or part.name,
            content_type=part.content_type.split(";")[0].strip() or "application/octet-stream",
            content=part.content,
        )
        for part in parts
        if part.name != SUBMISSION_PART and part.filename is not None
    )
    incomplete = any(
        part.filename is None and "isincomplete" in part.name.lower()
        and part.content.decode("utf-8", "replace").strip().lower() == "yes"
        for part in parts
    )
    version = _COLLECT_VERSION.search(request.headers.get("User-Agent", ""))
    return Submission(
        instance=instance,
        xml=xml,
        attachments=attachments,
        incomplete=incomplete,
        app_version=f"collect/{version.group(1)}" if version else None,
    )


# Anything else under a device's key: an OpenRosa 404, not the JSON one.
@bp.route("/<path:rest>", methods=["GET", "HEAD", "POST"])
@access(DEVICE_KEY)
def unknown(key: str, rest: str) -> Response:
    raise OpenRosaError(404, "Nothing is found at this address.")
