"""Secrets out of every log line, by construction (issue 29).

`redact(text)` replaces, wherever they appear in a line:
- Fieldsync's own tokens by their prefix: user (`fsu_`), device (`fsd_`), and webhook signing secrets
  (`whsec_`), so a token is caught in a path, a header echoed in an error, or a client's request id;
- the OpenRosa key segment of a Collect path (`/openrosa/v1/key/<key>/...`), whatever the key looks like;
- the userinfo of any URL (`https://user:password@host` → `https://[redacted]@host`);
- the values of a query string (`?cursor=…&code=…` → `?cursor=[redacted]&code=[redacted]`): a client
  may put anything there (an enrolment code, a token), and no value is worth the risk in a log;
- `Authorization: <scheme> <credentials>`, `ApiToken <...>`, `Bearer <...>`, `Basic <...>`;
- `password=...`, `token=...`, `secret=...` style pairs in free text.

`RedactingFilter` applies it to the formatted message of every record a handler emits; `install`
puts it on the handlers of the app's loggers, and gunicorn's logger class (server/web/serving.py) puts it
on the access and error logs, so a log line written by any code path is redacted once it is formatted.
"""

from __future__ import annotations

import logging
import re

MARK = "[redacted]"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Prefixed tokens (server/web/auth.py new_token: prefix + token_urlsafe; webhook secrets `whsec_`).
    # Device and user tokens are URL-safe base64; webhook secrets standard base64 (with + / =).
    (re.compile(r"(fs[ud]_)[A-Za-z0-9_\-%]+"), r"\1" + MARK),
    (re.compile(r"(whsec_)[A-Za-z0-9_\-+/=%]+"), r"\1" + MARK),
    # Collect's key is a path segment (openrosa.md: server_url = <base>/openrosa/v1/key/<token>).
    (re.compile(r"(/openrosa/v1/key/)[^/?#\s\"']+", re.IGNORECASE), r"\1" + MARK),
    # URL userinfo.
    (re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://)[^/@\s\"']+@"), r"\1" + MARK + "@"),
    # Query values: ?a=1&b=2 → ?a=[redacted]&b=[redacted] (names kept: they help reading a log).
    (re.compile(r"([?&;][^=&;#\s\"']*=)[^&;#\s\"']*"), r"\1" + MARK),
    # Credentials after an HTTP auth scheme.
    (re.compile(r"\b(ApiToken|Bearer|Basic|Digest|bearer|basic)\s+[^\s,\"']+"), r"\1 " + MARK),
    # name=value / name: value pairs naming a secret.
    (re.compile(r"\b((?:password|passwd|secret|token|api[_-]?key|code|authorization)[\"']?\s*[:=]\s*[\"']?)"
                r"[^\s,\"'&;}]+", re.IGNORECASE), r"\1" + MARK),
)


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Formats the record's message, redacts it, and keeps the result as the message (args cleared)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 (a malformed record: let logging report it as it always has)
            return True
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            # The traceback's text (exception messages may hold a URL or a path) is redacted too.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_FILTER = RedactingFilter()


def protect(logger: logging.Logger) -> None:
    """The redacting filter on the logger and on each of its handlers (idempotent)."""
    for target in (logger, *logger.handlers):
        if _FILTER not in target.filters:
            target.addFilter(_FILTER)


def protect_all() -> None:
    """Every logger configured so far, the root's handlers included, and the handler of last resort
    (what writes a record to stderr when no handler is configured, as under gunicorn for the app's own
    loggers: a logger created later, with no handler of its own, reaches it)."""
    protect(logging.getLogger())
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            protect(logger)
    if logging.lastResort is not None and _FILTER not in logging.lastResort.filters:
        logging.lastResort.addFilter(_FILTER)
