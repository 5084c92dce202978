"""Posting a dataValueSets payload to DHIS2 and reading its ImportSummary.

Configuration comes from the environment only, read when a push runs (never at import):
`DHIS2_URL` (the instance's base URL, e.g. https://hmis.example.org), and either `DHIS2_TOKEN` (a
personal access token, sent as `Authorization: ApiToken ...`) or `DHIS2_USERNAME` +
`DHIS2_PASSWORD` (HTTP Basic); `DHIS2_TIMEOUT` (seconds, default 60). Credentials are never printed,
and a `DHIS2_URL` holding them (`https://user:password@host`) is refused without being repeated.

The request goes through server/integrations/outbound.py: a redirect is never followed (the token would go to the
redirect's host, and the POST would become a GET), and only the documented successes below count:
HTTP 200 (or 201/202) with an ImportSummary whose status is SUCCESS or WARNING, or HTTP 409 with one.
Anything else (a redirect, an HTML login page, a 2xx without an ImportSummary) is an ERROR.

Two response shapes are read (DHIS2 Web API, "Data values" import):
- up to 2.35, the ImportSummary itself: `{"responseType": "ImportSummary", "status", "importCount":
  {"imported", "updated", "ignored", "deleted"}, "conflicts": [{"object", "value"}], ...}`;
- from 2.36, a WebMessage wrapping it: `{"httpStatus", "httpStatusCode", "status", "message",
  "response": {ImportSummary}}`, answered with HTTP 409 when there are conflicts, whose entries
  may carry `errorCode`, `property` and `indexes` (positions in the posted dataValues).
"""

from __future__ import annotations

import base64
import json
import os
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from server.integrations import outbound

IMPORT_PATH = "/api/dataValueSets"


class Dhis2ConfigError(Exception):
    """DHIS2_URL or the credentials are missing or unusable."""


@dataclass(frozen=True)
class Settings:
    url: str
    authorization: str = field(repr=False)
    timeout: float = 60.0


def settings_from_environment(environ: dict[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    url = env.get("DHIS2_URL", "").strip()
    if not url:
        raise Dhis2ConfigError("DHIS2_URL is not set.")
    try:
        outbound.check_url(url, name="DHIS2_URL")
    except outbound.OutboundError as error:
        raise Dhis2ConfigError(str(error)) from None
    token = env.get("DHIS2_TOKEN", "").strip()
    username, password = env.get("DHIS2_USERNAME", ""), env.get("DHIS2_PASSWORD", "")
    if token:
        authorization = f"ApiToken {token}"
    elif username and password:
        authorization = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    else:
        raise Dhis2ConfigError("Set DHIS2_TOKEN, or DHIS2_USERNAME and DHIS2_PASSWORD.")
    try:
        timeout = float(env.get("DHIS2_TIMEOUT", "60"))
    except ValueError:
        raise Dhis2ConfigError("DHIS2_TIMEOUT must be a number of seconds.") from None
    return Settings(url.rstrip("/"), authorization, timeout)


@dataclass(frozen=True)
class Conflict:
    object: str | None
    value: str | None
    error_code: str | None = None
    property: str | None = None
    indexes: tuple[int, ...] = ()

    def describe(self) -> str:
        parts = [self.error_code or "conflict", f"object {self.object}" if self.object else "",
                 f"property {self.property}" if self.property else "",
                 f"at dataValues {', '.join(map(str, self.indexes))}" if self.indexes else ""]
        return " ".join(part for part in parts if part) + (f": {self.value}" if self.value else "")


@dataclass(frozen=True)
class ImportSummary:
    http_status: int
    status: str  # SUCCESS | WARNING | ERROR
    imported: int = 0
    updated: int = 0
    ignored: int = 0
    deleted: int = 0
    conflicts: tuple[Conflict, ...] = ()
    description: str | None = None

    @property
    def failed(self) -> bool:
        return self.status == "ERROR"

    def report(self) -> str:
        lines = [f"DHIS2 import: {self.status} (HTTP {self.http_status}): imported {self.imported}, "
                 f"updated {self.updated}, ignored {self.ignored}, deleted {self.deleted}, "
                 f"{len(self.conflicts)} conflict(s)"]
        if self.description:
            lines.append(f"  {self.description}")
        lines += [f"  {conflict.describe()}" for conflict in self.conflicts]
        return "\n".join(lines)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def parse_summary(http_status: int, body: bytes) -> ImportSummary:
    """An ImportSummary from either response shape; anything else is an ERROR naming the HTTP status."""
    try:
        document = json.loads(body.decode("utf-8")) if body else None
    except (UnicodeDecodeError, ValueError):
        document = None
    if 300 <= http_status < 400:
        return ImportSummary(http_status, "ERROR", description=f"DHIS2 answered a redirect (HTTP {http_status}), "
                             "which is not followed: set DHIS2_URL to the address DHIS2 is served at.")
    inner = document.get("response") if isinstance(document, dict) else None
    summary = inner if isinstance(inner, dict) and ("importCount" in inner or "status" in inner) else document
    if (not isinstance(summary, dict) or not ("importCount" in summary or summary.get("conflicts"))
            or http_status not in (200, 201, 202, 409)):
        if isinstance(document, dict) and http_status >= 400 and document.get("message"):
            return ImportSummary(http_status, "ERROR", description=_text(document.get("message")))
        return ImportSummary(http_status, "ERROR", description=f"DHIS2 answered HTTP {http_status} without an "
                                                               "ImportSummary.")
    counts = summary.get("importCount") if isinstance(summary.get("importCount"), dict) else {}
    conflicts = []
    for entry in summary.get("conflicts") or []:
        if not isinstance(entry, dict):
            continue
        indexes = tuple(i for i in entry.get("indexes") or [] if isinstance(i, int) and not isinstance(i, bool))
        conflicts.append(Conflict(_text(entry.get("object")), _text(entry.get("value")), _text(entry.get("errorCode")),
                                  _text(entry.get("property")), indexes))
    status = summary.get("status") or document.get("status")
    if status not in ("SUCCESS", "WARNING", "ERROR", "OK"):
        status = "ERROR" if http_status >= 400 else "SUCCESS"
    if status == "OK":  # a WebMessage status; the ImportSummary's own is SUCCESS
        status = "SUCCESS"
    if "importCount" not in summary and http_status >= 400 and not conflicts:
        status = "ERROR"  # e.g. 401/500 WebMessages with no import at all
    description = _text(summary.get("description")) or _text(document.get("message"))
    return ImportSummary(http_status, str(status), _int(counts.get("imported")), _int(counts.get("updated")),
                         _int(counts.get("ignored")), _int(counts.get("deleted")), tuple(conflicts), description)


def import_url(settings: Settings, *, id_scheme: str, dry_run: bool) -> str:
    query = {"importStrategy": "CREATE_AND_UPDATE", "idScheme": id_scheme, "dryRun": "true" if dry_run else "false"}
    return settings.url + IMPORT_PATH + "?" + urllib.parse.urlencode(query)


def post_data_values(settings: Settings, payload: bytes, *, id_scheme: str, dry_run: bool = False) -> ImportSummary:
    try:
        answer = outbound.send(
            "POST", import_url(settings, id_scheme=id_scheme, dry_run=dry_run), body=payload,
            headers={"Content-Type": "application/json", "Accept": "application/json",
                     "Authorization": settings.authorization},
            timeout=settings.timeout)
    except outbound.OutboundError as error:  # its message names the URL without credentials or query values
        return ImportSummary(0, "ERROR", description=f"DHIS2: {error}")
    return parse_summary(answer.status, answer.body)  # a 409 with conflicts is an ImportSummary too
