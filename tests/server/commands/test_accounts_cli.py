"""`flask --app server create-user`: users with Argon2 password hashes, clear refusals."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from server.models import User
from server.operations.passwords import verify_password
from tests.factories import make_team, make_user

PASSWORD = "a long enough passphrase"


def create_user(app, *args: str, password: str | None = PASSWORD):
    arguments = ["create-user", *args]
    if password is not None:
        arguments.append("--password-stdin")
    return app.test_cli_runner().invoke(args=arguments, input=None if password is None else password + "\n")


def user(session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def test_creates_a_coordinator_with_an_argon2_hash(app, session) -> None:
    make_team(session)
    result = create_user(app, "Amira.K", "--role", "coordinator", "--country", "ly", "--country", "TN")

    assert result.exit_code == 0, result.stderr
    assert "created coordinator amira.k" in result.stdout
    created = user(session, "amira.k")
    assert created.role == "coordinator" and created.countries == ["LY", "TN"] and created.team_id is None
    assert created.password_hash.startswith("$argon2id$")
    assert PASSWORD not in created.password_hash
    assert verify_password(created.password_hash, PASSWORD)


def test_creates_a_field_worker_of_a_team(app, session) -> None:
    result = create_user(app, "worker.one", "--role", "field_worker", "--country", "LY", "--team", "ly-mmt-tripoli")
    assert result.exit_code == 0, result.stderr
    created = user(session, "worker.one")
    assert (created.role, created.team_id, created.countries) == ("field_worker", "ly-mmt-tripoli", ["LY"])


def test_creates_an_admin_without_countries(app, session) -> None:
    result = create_user(app, "root-admin", "--role", "admin")
    assert result.exit_code == 0, result.stderr
    assert "all countries" in result.stdout
    assert user(session, "root-admin").countries == []


def test_the_password_line_keeps_its_spaces_but_not_its_line_ending(app, session) -> None:
    result = create_user(app, "spacey", "--role", "admin", password="  spaced passphrase  \r")
    assert result.exit_code == 0, result.stderr
    assert verify_password(user(session, "spacey").password_hash, "  spaced passphrase  ")


def test_without_password_stdin_it_prompts_twice(app, session) -> None:
    result = app.test_cli_runner().invoke(args=["create-user", "prompted", "--role", "admin"],
                                          input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.stderr
    assert verify_password(user(session, "prompted").password_hash, PASSWORD)


@pytest.mark.parametrize(
    ("args", "password", "field", "message"),
    [
        (["new-user", "--role", "coordinator", "--country", "XX"], PASSWORD, "country", "Unknown country XX"),
        (["new-user", "--role", "coordinator"], PASSWORD, "country", "at least one country"),
        (["new-user", "--role", "field_worker", "--country", "LY", "--team", "ly-nope"], PASSWORD, "team",
         "Unknown team ly-nope"),
        (["new-user", "--role", "field_worker", "--country", "LY"], PASSWORD, "team", "needs a team"),
        (["new-user", "--role", "field_worker", "--country", "LY", "--team", "tn-mmt-tunis"], PASSWORD, "team",
         "is in TN"),
        (["new-user", "--role", "coordinator", "--country", "LY", "--team", "ly-mmt-tripoli"], PASSWORD, "team",
         "Only field workers"),
        (["new user!", "--role", "admin"], PASSWORD, "username", "3 to 64 characters"),
        (["new-user", "--role", "admin"], "", "password", "empty"),
        (["new-user", "--role", "admin"], "short", "password", "at least 10"),
        (["new-user", "--role", "admin"], "Password123", "password", "too common"),
        (["new-user", "--role", "admin"], "aaaaaaaaaaaaaaa", "password", "too common"),
        (["new-user", "--role", "admin"], "my new-user secret", "password", "username"),
    ],
    ids=["unknown-country", "no-country", "unknown-team", "worker-without-team", "team-in-other-country",
         "coordinator-with-team", "bad-username", "empty-password", "short-password", "common-password",
         "repetitive-password", "password-has-username"],
)
def test_refusals_exit_non_zero_with_the_reason_on_stderr(app, session, args, password: str, field: str,
                                                          message: str) -> None:
    make_team(session)
    session.commit()  # the command rolls back on refusal: keep the Tunisian team for the test
    result = create_user(app, *args, password=password)

    assert result.exit_code != 0
    assert f"{field}: " in result.stderr and message in result.stderr
    assert result.stdout == ""
    assert user(session, args[0]) is None


def test_a_duplicate_username_is_refused_whatever_its_case(app, session) -> None:
    make_user(session, username="taken")
    session.commit()
    result = create_user(app, "TAKEN", "--role", "admin")
    assert result.exit_code != 0
    assert "already exists" in result.stderr


def test_an_unknown_role_is_refused_by_the_option(app) -> None:
    result = create_user(app, "new-user", "--role", "superuser", "--country", "LY")
    assert result.exit_code == 2
    assert "superuser" in result.stderr
