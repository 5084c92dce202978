"""CLI command modules. Each exposes `register(app)`; `server.cli` calls them all."""
