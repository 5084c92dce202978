"""User administration at the server's shell: `flask --app server users list|edit|deactivate|activate|
reset-password|unlock`. Each command is one transaction, written to the audit log as actor `cli`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup

from server.commands.cli import Refused
from server.extensions import db
from server.operations import users
from server.operations.audit import CLI_ACTOR
from server.persistence.timeutil import utcnow
from server.web.errors import ApiError

group = AppGroup("users", help="List users, deactivate them, reset their password, lift a login lock.")


def _run(operation: Callable[[], Any]) -> Any:
    """One transaction: commit on success, roll back and print the reason (exit 1) on refusal."""
    try:
        result = operation()
    except ApiError as error:
        db.session.rollback()
        raise Refused(error) from None
    db.session.commit()
    return result


@group.command("list")
@click.option("--country", default=None, metavar="CODE", help="Only users of this country.")
def list_users(country: str | None) -> None:
    """One line per user: username, role, countries, team, active/deactivated, locked."""
    now = utcnow()
    rows = users.all_users(db.session)
    if country:
        rows = [user for user in rows if country.upper() in user.countries]
    if not rows:
        click.echo("no users")
    for user in rows:
        state = "active" if user.active else "deactivated"
        locked = "\tlocked" if users.is_locked(db.session, user.username, now) else ""
        click.echo(f"{user.username}\t{user.role}\t{','.join(user.countries) or '*'}\t{user.team_id or '-'}"
                   f"\t{state}{locked}")


@group.command("edit")
@click.argument("username")
@click.option("--role", default=None, help="field_worker, coordinator or admin.")
@click.option("--country", "countries", multiple=True, metavar="CODE",
              help="The user's countries (repeat for several); replaces the list.")
@click.option("--team", default=None, metavar="TEAM_ID", help="A field worker's team (its id).")
@click.option("--no-team", is_flag=True, help="Leave the team (when no longer a field worker).")
def edit(username: str, role: str | None, countries: tuple[str, ...], team: str | None, no_team: bool) -> None:
    """Change a user's role, countries or team (as PATCH /api/v1/users/USERNAME); a field worker moved
    to another team keeps no tablet of the old one."""
    changes: dict[str, Any] = {}
    if role is not None:
        changes["role"] = role
    if countries:
        changes["countries"] = list(countries)
    if team is not None or no_team:
        changes["team_id"] = None if no_team else team
    if not changes:
        raise click.UsageError("Give --role, --country or --team.")
    user = _run(lambda: users.update_user(db.session, None, CLI_ACTOR, username, changes, utcnow()))
    click.echo(f"{user.username}\t{user.role}\t{','.join(user.countries) or '*'}\t{user.team_id or '-'}")


@group.command("deactivate")
@click.argument("username")
def deactivate(username: str) -> None:
    """Refuse the user's tokens from now on and revoke their tablets."""
    user, revoked = _run(lambda: users.set_active(db.session, None, CLI_ACTOR, username, False, utcnow()))
    click.echo(f"{user.username} deactivated" + (f"; {revoked} tablet(s) revoked" if revoked else ""))


@group.command("activate")
@click.argument("username")
def activate(username: str) -> None:
    """Let a deactivated user sign in again (revoked tablets stay revoked: enrol them anew)."""
    user, _ = _run(lambda: users.set_active(db.session, None, CLI_ACTOR, username, True, utcnow()))
    click.echo(f"{user.username} active")


@group.command("reset-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True,
              help="Read the new password from the first line of standard input (else prompt for it).")
def reset_password(username: str, password_stdin: bool) -> None:
    """Set a new password; the user's open sessions end and any login lock is lifted."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True, default="",
                                show_default=False)
    user = _run(lambda: users.reset_password(db.session, None, CLI_ACTOR, username, password, utcnow()))
    click.echo(f"password of {user.username} reset")


@group.command("unlock")
@click.argument("username")
def unlock(username: str) -> None:
    """Forget the failed logins that keep this user from signing in."""
    cleared = _run(lambda: users.unlock(db.session, None, CLI_ACTOR, username, utcnow()))
    click.echo(f"{users.accounts.normalise_username(username)} unlocked ({cleared} failed attempt(s) forgotten)")


def register(app: Flask) -> None:
    app.cli.add_command(group)
