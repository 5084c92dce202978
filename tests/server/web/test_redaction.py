"""server/web/redaction.py: what a log line may not hold, whichever logger writes it (issue 29 item 1).

The live proof is tests/e2e/test_secrets_in_logs.py; here, the patterns one by one, a logger created
after the app (it reaches the handler of last resort), and a CLI error line."""

from __future__ import annotations

import logging

import click
import pytest

from server.web.redaction import redact


@pytest.mark.parametrize(("line", "secret"), [
    ('127.0.0.1 "GET /openrosa/v1/key/fsd_AbC-_9/formList HTTP/1.1" 200', "AbC-_9"),
    ('"GET /openrosa/v1/key/plain-key-123/submission HTTP/1.1"', "plain-key-123"),
    ("GET /api/v1/devices/enroll?code=7K2MQ-9XD4H HTTP/1.1", "7K2MQ-9XD4H"),
    ("request_id=fsu_secretusertoken", "secretusertoken"),
    ("secret whsec_ab+/cd==x", "ab+/cd==x"),
    ("DHIS2 not reachable at https://admin:hunter2@hmis.example/api", "hunter2"),
    ("Authorization: ApiToken d2pat_123456", "d2pat_123456"),
    ("Authorization: Bearer abc.def", "abc.def"),
    ("password=correct-horse", "correct-horse"),
    ('{"token": "tok123"}', "tok123"),
])
def test_each_kind_of_secret_is_redacted(line: str, secret: str) -> None:
    assert secret not in redact(line)


def test_ordinary_lines_keep_their_meaning() -> None:
    line = '127.0.0.1 "POST /api/v1/auth/token HTTP/1.1" 200 111 15ms pid=<42>'
    assert redact(line) == line
    assert redact("GET /api/v1/sync/pull?stream=records") == "GET /api/v1/sync/pull?stream=[redacted]"


def test_a_logger_created_after_the_app_is_redacted(app, capsys) -> None:
    logger = logging.getLogger(f"fieldsync.later.{id(app)}")
    logger.propagate = False  # no handler anywhere: logging's handler of last resort writes it to stderr
    try:
        raise ValueError("failed at /openrosa/v1/key/fsd_leakedkey/submission")
    except ValueError:
        logger.exception("Exception on /openrosa/v1/key/fsd_leakedkey/submission [POST]")
    written = capsys.readouterr().err
    assert "Exception on /openrosa/v1/key/" in written and "leakedkey" not in written


def test_cli_error_lines_are_redacted(app) -> None:
    @app.cli.command("fail-with-url")
    def fail() -> None:
        raise click.ClickException("cannot reach https://user:pw-in-url@example.org/x?token=abc")

    from server.commands.cli import _guard

    _guard(app.cli.commands["fail-with-url"])
    result = app.test_cli_runner().invoke(args=["fail-with-url"])
    assert result.exit_code == 1 and "pw-in-url" not in result.output and "abc" not in result.output
    del app.cli.commands["fail-with-url"]


def test_a_refusals_field_messages_are_kept_and_their_secrets_are_not(app) -> None:
    """`  password: Use at least 10 characters.` is the CLI's own line (a field and its validation
    message), not a `password: <value>` pair; a secret quoted inside a message is still redacted."""
    from server.commands.cli import Refused, _guard
    from server.web.errors import validation_error

    @app.cli.command("refuse-fields")
    def refuse() -> None:
        raise Refused(validation_error({"password": ["Use at least 10 characters."],
                                        "url": ["cannot reach https://user:pw-in-url@example.org/x?token=abc"]},
                                       "Not saved (token=tok123)."))

    _guard(app.cli.commands["refuse-fields"])
    result = app.test_cli_runner().invoke(args=["refuse-fields"])
    assert result.exit_code == 1 and "  password: Use at least 10 characters.\n" in result.output
    assert "pw-in-url" not in result.output and "abc" not in result.output and "tok123" not in result.output
    del app.cli.commands["refuse-fields"]
