"""Account commands: `create-user` (audited, actor `cli`)."""

from __future__ import annotations

import sys

import click
from flask import Flask

from server.commands.cli import Refused
from server.extensions import db
from server.operations import users
from server.operations.audit import CLI_ACTOR
from server.persistence.timeutil import utcnow
from server.web.auth import ROLES
from server.web.errors import ApiError


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        # One line; only the line ending is dropped (spaces may be part of a passphrase).
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True, default="", show_default=False)


def register(app: Flask) -> None:
    @app.cli.command("create-user")
    @click.argument("username")
    @click.option("--role", required=True, type=click.Choice(ROLES), help="What the user may do.")
    @click.option("--country", "countries", multiple=True, metavar="CODE",
                  help="A country the user works in (repeat for several); admins see every country.")
    @click.option("--team", "team_id", metavar="TEAM_ID", help="The team's id (field workers only).")
    @click.option("--password-stdin", is_flag=True,
                  help="Read the password from the first line of standard input (else prompt for it).")
    def create_user_command(username: str, role: str, countries: tuple[str, ...], team_id: str | None,
                            password_stdin: bool) -> None:
        """Create a user. The password never appears on the command line."""
        password = _read_password(password_stdin)
        try:
            # server/operations/users.py, as the API's door: the user and its audit entry (actor `cli`) in one
            # transaction.
            user = users.create_user(db.session, None, CLI_ACTOR, username=username, role=role,
                                     countries=list(countries), team_id=team_id, password=password, now=utcnow())
        except ApiError as error:
            db.session.rollback()
            raise Refused(error) from None
        db.session.commit()
        scope = "all countries" if role == "admin" and not user.countries else ", ".join(user.countries)
        team = f", team {user.team_id}" if user.team_id else ""
        click.echo(f"created {user.role} {user.username} ({scope}{team})")
