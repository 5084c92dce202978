"""`flask --app server users list|deactivate|activate|reset-password|unlock` (issue 13 §5)."""

from __future__ import annotations

from sqlalchemy import select

from server.models import AuditEntry, Device, User
from server.operations.accounts import login_limits
from server.operations.passwords import verify_password
from server.operations.users import is_locked
from server.persistence.timeutil import utcnow
from server.web.ratelimit import record_failure
from tests.factories import auth_headers, make_device, make_team, make_token, make_user

NEW_PASSWORD = "a brand new passphrase"


def users(app, *args: str, stdin: str | None = None):
    return app.test_cli_runner().invoke(args=["users", *args], input=stdin)


def audit_entries(session, username: str) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).where(AuditEntry.target_id == username)
                                .order_by(AuditEntry.id)))


def test_list_shows_every_user_with_role_scope_team_and_state(app, session) -> None:
    make_team(session)
    make_user(session, username="amira", role="coordinator", countries=("LY", "TN"))
    make_user(session, username="omar", role="field_worker", team_id="ly-mmt-tripoli")
    gone = make_user(session, username="gone", role="coordinator", countries=("TN",))
    gone.active = False
    make_user(session, username="root", role="admin", countries=())
    session.commit()

    result = users(app, "list")

    assert result.exit_code == 0, result.stderr
    lines = {line.split("\t")[0]: line.split("\t") for line in result.stdout.splitlines()}
    assert lines["amira"] == ["amira", "coordinator", "LY,TN", "-", "active"]
    assert lines["omar"] == ["omar", "field_worker", "LY", "ly-mmt-tripoli", "active"]
    assert lines["gone"] == ["gone", "coordinator", "TN", "-", "deactivated"]
    assert lines["root"] == ["root", "admin", "*", "-", "active"]

    only_tn = users(app, "list", "--country", "tn")
    assert sorted(line.split("\t")[0] for line in only_tn.stdout.splitlines()) == ["amira", "gone"]


def test_deactivate_refuses_the_users_tokens_at_once_and_revokes_their_tablets(app, client, session) -> None:
    coordinator = make_user(session, username="leaving")
    token = make_token(session, coordinator)
    tablet = make_device(session)
    session.commit()
    assert client.get("/api/v1/teams", headers=auth_headers(token)).status_code == 200
    assert client.get("/api/v1/sync/hello", headers=tablet.headers).status_code == 200

    result = users(app, "deactivate", "LEAVING")
    worker = users(app, "deactivate", tablet.user.username)

    assert result.exit_code == 0, result.stderr
    assert "leaving deactivated" in result.stdout
    assert worker.exit_code == 0 and "1 tablet(s) revoked" in worker.stdout
    answer = client.get("/api/v1/teams", headers=auth_headers(token))
    assert answer.status_code == 401 and answer.get_json()["error"]["code"] == "invalid_token"
    refused = client.get("/api/v1/sync/hello", headers=tablet.headers)
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "device_revoked"
    assert session.get(Device, tablet.device.id).status == "revoked"
    entry = audit_entries(session, "leaving")[-1]
    assert (entry.actor, entry.action, entry.before["active"], entry.after["active"]) == (
        "cli", "deactivate", True, False)

    again = users(app, "activate", "leaving")
    assert again.exit_code == 0 and "leaving active" in again.stdout
    assert session.scalar(select(User.active).where(User.username == "leaving")) is True


def test_reset_password_reads_stdin_ends_sessions_and_lifts_the_lock(app, client, session) -> None:
    user = make_user(session, username="forgetful")
    token = make_token(session, user)
    record_failure(session, login_limits("forgetful", "192.0.2.1") * 5, utcnow())
    session.commit()
    assert is_locked(session, "forgetful", utcnow())

    result = users(app, "reset-password", "forgetful", "--password-stdin", stdin=NEW_PASSWORD + "\n")

    assert result.exit_code == 0, result.stderr
    assert "password of forgetful reset" in result.stdout
    session.expire_all()
    assert verify_password(session.get(User, user.id).password_hash, NEW_PASSWORD)
    assert client.get("/api/v1/teams", headers=auth_headers(token)).status_code == 401
    assert not is_locked(session, "forgetful", utcnow())
    login = client.post("/api/v1/auth/token", json={"username": "forgetful", "password": NEW_PASSWORD})
    assert login.status_code == 200
    entry = audit_entries(session, "forgetful")[-1]
    assert entry.action == "reset_password" and NEW_PASSWORD not in str(entry.before) + str(entry.after)


def test_reset_password_refuses_a_weak_password_and_changes_nothing(app, session) -> None:
    user = make_user(session, username="keeps-old")
    session.commit()
    old_hash = user.password_hash

    result = users(app, "reset-password", "keeps-old", "--password-stdin", stdin="short\n")

    assert result.exit_code == 1
    assert "password: Use at least 10 characters." in result.stderr
    session.expire_all()
    assert session.get(User, user.id).password_hash == old_hash
    assert audit_entries(session, "keeps-old") == []


def test_unlock_forgets_the_failed_logins(app, client, session) -> None:
    make_user(session, username="locked-out")
    # Five wrong passwords from this client's address (the test client's) lock that pair out.
    record_failure(session, login_limits("locked-out", "127.0.0.1") * 5, utcnow())
    session.commit()
    assert client.post("/api/v1/auth/token", json={"username": "locked-out", "password": "x" * 12}).status_code == 429
    listed = users(app, "list").stdout
    assert "locked-out\tcoordinator\tLY\t-\tactive\tlocked" in listed

    result = users(app, "unlock", "locked-out")

    assert result.exit_code == 0, result.stderr
    assert "locked-out unlocked" in result.stdout
    assert not is_locked(session, "locked-out", utcnow())
    from tests.factories import DEFAULT_PASSWORD
    assert client.post("/api/v1/auth/token",
                       json={"username": "locked-out", "password": DEFAULT_PASSWORD}).status_code == 200


def test_unknown_users_are_refused_with_exit_1(app) -> None:
    for args in (["deactivate", "nobody"], ["unlock", "nobody"], ["activate", "nobody"]):
        result = users(app, *args)
        assert result.exit_code == 1 and "Unknown user nobody" in result.stderr
    result = users(app, "reset-password", "nobody", "--password-stdin", stdin=NEW_PASSWORD + "\n")
    assert result.exit_code == 1 and "Unknown user nobody" in result.stderr


def test_the_commands_run_as_a_real_subprocess(project_root, tmp_path) -> None:
    """The documented command line, end to end: a fresh SQLite database, bootstrap, create, list."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/cli.db"}
    flask = [sys.executable, "-m", "flask", "--app", "server"]

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*flask, *args], input=stdin, capture_output=True, text=True, env=env,
                              cwd=project_root, timeout=120, check=False)

    assert run("bootstrap").returncode == 0
    assert run("create-user", "cli-coord", "--role", "coordinator", "--country", "LY", "--password-stdin",
               stdin=NEW_PASSWORD + "\n").returncode == 0
    listed = run("users", "list")
    assert listed.returncode == 0 and "cli-coord\tcoordinator\tLY" in listed.stdout
    # The real process hashes with argon2-cffi's recommended parameters (the in-process tests use cheap ones).
    import sqlite3

    with sqlite3.connect(tmp_path / "cli.db") as database:
        (stored,) = database.execute("SELECT password_hash FROM users WHERE username = 'cli-coord'").fetchone()
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert run("users", "deactivate", "cli-coord").returncode == 0
    assert "deactivated" in run("users", "list").stdout


def test_edit_gives_a_coordinator_a_second_country_and_moves_a_field_worker(app, client, session) -> None:
    make_team(session)
    make_user(session, username="amira", countries=("LY",))
    tablet = make_device(session)
    session.commit()

    widened = users(app, "edit", "amira", "--country", "LY", "--country", "tn")
    moved = users(app, "edit", tablet.user.username, "--team", "ly-mmt-benghazi")
    refused = users(app, "edit", "amira", "--team", "ly-mmt-tripoli")

    assert widened.exit_code == 0, widened.stderr
    assert widened.stdout.split("\t")[:3] == ["amira", "coordinator", "LY,TN"]
    assert moved.exit_code == 0, moved.stderr
    assert client.get("/api/v1/sync/hello", headers=tablet.headers).status_code == 403
    assert refused.exit_code == 1 and "team_id: Only field workers belong to a team." in refused.stderr
    assert [e.actor for e in audit_entries(session, "amira")] == ["cli"]
