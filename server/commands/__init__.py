"""CLI command modules. Each exposes `register(app)`; `server.commands.cli` calls them all."""
