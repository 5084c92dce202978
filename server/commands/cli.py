"""Flask CLI commands (`flask --app server <command>`), one module per area in server/commands.

Every command registered here is guarded once (`_guard`), so no command has to remember it:
an argument that is not valid UTF-8 (Python hands undecodable argv bytes over as lone surrogates,
`\\udcff` for a byte 0xff) is refused with a usage error naming the parameter and exit status 2,
before the command runs; it used to reach the database driver and end in a traceback.
A database that has no Fieldsync tables yet (`DATABASE_URL` pointing at a new database) or cannot be
opened is answered the same way, with what to do, not a driver's traceback.
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Callable
from typing import Any

import click
from flask import Flask
from sqlalchemy.exc import DBAPIError

from server.web.errors import ApiError
from server.web.redaction import redact

COMMAND_MODULES = [
    "server.commands.accounts",
    "server.commands.database",
    "server.commands.quarantine",
    "server.commands.rollups",
    "server.commands.reference",
    "server.commands.countries",
    "server.commands.statements",
    "server.integrations.dhis2.cli",
    "server.commands.users",
    "server.integrations.webhooks.cli",
]

_SURROGATE = re.compile("[\ud800-\udfff]")


def register_commands(app: Flask) -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)
    _guard(app.cli)


def _shown(value: str) -> str:
    """The argument as the bytes that were typed, e.g. b'ly-\\xff' (a lone surrogate itself cannot
    be printed in any terminal encoding)."""
    return repr(value.encode("utf-8", "surrogateescape"))


def _checked_parse(parse_args: Callable[[click.Context, list[str]], list[str]]) -> Callable[..., list[str]]:
    """Refuse undecodable arguments before any parameter type or callback sees them."""

    @functools.wraps(parse_args)
    def parse(ctx: click.Context, args: list[str]) -> list[str]:
        bad = [arg for arg in args if _SURROGATE.search(arg)]
        if bad:
            raise click.UsageError(
                f"{', '.join(_shown(arg) for arg in bad)}: not valid UTF-8 text; check the terminal's encoding "
                "(e.g. LANG=C.UTF-8).", ctx)
        return parse_args(ctx, args)

    return parse


class Refused(click.ClickException):
    """An operation's refusal (an ApiError) as a command prints it: the summary, then one
    `  <field>: <message>` line per field message (e.g. `  password: Use at least 10 characters.`).

    Each part is redacted on its own (a message may quote a URL or a path), but the lines are composed
    after that: the `<field>: ` label is this command's own, not a `name: value` pair of free text, so
    a field named `password` does not make its validation message look like a password to hide."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(error.message)
        self.lines = [f"  {redact(field)}: {redact(message)}"
                      for field, messages in error.fields.items() for message in messages]

    def format_message(self) -> str:
        # `message` is redacted again by the guard (_checked_run); the lines already are.
        return "\n".join([redact(self.message), *self.lines])


def _checked_run(callback: Callable[..., Any]) -> Callable[..., Any]:
    """Text read while the command runs (a --password-stdin line, an environment variable) in another
    encoding arrives the same way; it fails where it is encoded, and is answered as an error too."""

    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return callback(*args, **kwargs)
        except click.ClickException as exc:
            # A command's error line may quote a URL, a path or a driver's message: it is printed
            # without secrets, as every log line is (server/web/redaction.py).
            exc.message = redact(exc.message)
            raise
        except UnicodeError as exc:
            text = getattr(exc, "object", "")
            if isinstance(exc, UnicodeDecodeError) or (isinstance(text, str) and _SURROGATE.search(text)):
                raise click.ClickException("The input is not valid UTF-8 text; check the terminal's encoding "
                                           "(e.g. LANG=C.UTF-8).") from None
            raise
        except DBAPIError as exc:
            problem = _database_problem(exc)
            if problem is None:
                raise
            raise click.ClickException(problem) from None

    return run


# How SQLite and libpq (through psycopg) say the database itself could not be opened.
_UNREACHABLE = ("unable to open database file", "connection failed", "connection to server")


def _database_problem(exc: DBAPIError) -> str | None:
    """What an operator should do about a database that is not there or not migrated; None otherwise."""
    detail = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else ""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate in ("42P01", "42703") or detail.startswith(("no such table", "no such column")):
        return (f"The database is not migrated to this version of Fieldsync ({detail}): run "
                "`flask --app server db-upgrade` with the same DATABASE_URL first (`make run` does).")
    if exc.connection_invalidated or any(text in detail.lower() for text in _UNREACHABLE):
        return f"Cannot open the database that DATABASE_URL names: {detail}"
    return None


def _guard(command: click.Command) -> None:
    if getattr(command, "_fieldsync_utf8_checked", False):
        return
    command._fieldsync_utf8_checked = True  # type: ignore[attr-defined]
    command.parse_args = _checked_parse(command.parse_args)  # type: ignore[method-assign]
    if command.callback is not None:
        command.callback = _checked_run(command.callback)
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _guard(sub)
