"""Flask CLI commands (`flask --app server <command>`), one module per area in server/commands."""

from __future__ import annotations

import importlib

from flask import Flask

COMMAND_MODULES = [
    "server.commands.accounts",
    "server.commands.database",
    "server.commands.rollups",
    "server.commands.reference",
    "server.commands.countries",
    "server.commands.statements",
    "server.commands.users",
]


def register_commands(app: Flask) -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)
