"""Configuration classes. The environment is read inside `load_config`, never at import time,
so tests and CLI commands can set variables before the app is built."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent
DEFAULT_SQLITE_PATH = PROJECT_ROOT / "instance" / "fieldsync.db"


@dataclass(frozen=True)
class Limits:
    """Sync limits advertised by `GET /api/v1/sync/hello` and enforced by push/pull."""

    push_max_mutations: int = 500
    push_max_bytes: int = 5 * 1024 * 1024
    pull_max_limit: int = 1000
    pull_default_limit: int = 500
    # Not advertised: how many mutations a revoked device may leave in quarantine in all (one full
    # batch, so a tablet revoked by mistake loses nothing of the push that tells it to wipe).
    revoked_quarantine_max: int = 500
    # The largest OpenRosa submission (instance XML plus attachments), advertised to Collect as
    # X-OpenRosa-Accept-Content-Length.
    openrosa_max_bytes: int = 10 * 1024 * 1024


def default_database_url() -> str:
    return f"sqlite:///{DEFAULT_SQLITE_PATH}"


def normalise_database_url(url: str) -> str:
    """Accept the common `postgres://` and `postgresql://` spellings and use psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def load_config(env: dict[str, str] | None = None) -> dict[str, object]:
    """Build the Flask config mapping from environment variables (api.md "Operations")."""
    env = dict(os.environ if env is None else env)
    database_url = normalise_database_url(env.get("DATABASE_URL") or default_database_url())
    cors = env.get("CORS_ORIGINS", "*").strip() or "*"
    secret_key = env.get("SECRET_KEY") or ""
    read_url = env.get("DATABASE_READ_URL", "").strip()
    binds: dict[str, object] = {}
    if read_url:
        # A streaming replica for reads that may lag (server/persistence/read_replica.py).
        read_url = normalise_database_url(read_url)
        binds["read"] = {"url": read_url, **engine_options(read_url)}
    return {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(database_url),
        "SQLALCHEMY_BINDS": binds,
        "SECRET_KEY": secret_key,
        "CORS_ORIGINS": [origin.strip() for origin in cors.split(",") if origin.strip()],
        "HOST": env.get("HOST", "127.0.0.1"),
        "PORT": int(env.get("PORT", "5000")),
        "FIELDSYNC_LIMITS": Limits(
            revoked_quarantine_max=_non_negative_int(env, "REVOKED_QUARANTINE_MAX", Limits.revoked_quarantine_max)
        ),
        # Quarantined mutations older than this are deleted by `flask --app server quarantine purge`.
        "QUARANTINE_RETENTION_DAYS": _non_negative_int(env, "QUARANTINE_RETENTION_DAYS", 90),
        "TOKEN_TTL_HOURS": int(env.get("TOKEN_TTL_HOURS", "12")),
        # Reverse proxies in front of the app that append to X-Forwarded-For (0: clients connect
        # directly, and the header is ignored). Rate limits key on the client address it gives.
        "TRUSTED_PROXIES": _non_negative_int(env, "TRUSTED_PROXIES", 0),
        # The address tablets reach this server at (e.g. https://fieldsync.example.org), for the
        # ODK Collect server URL; unset, it is taken from the enrolment request's Host.
        "PUBLIC_BASE_URL": (env.get("PUBLIC_BASE_URL") or "").strip().rstrip("/") or None,
        **webhook_config(env),
        "MAX_CONTENT_LENGTH": None,  # enforced by our own gzip-aware reader (server/web/http_body.py)
        # flask-smorest / OpenAPI
        "API_TITLE": "Fieldsync",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": None,
        "OPENAPI_REDOC_PATH": None,
        "OPENAPI_RAPIDOC_PATH": None,
    }


def webhook_config(env: dict[str, str]) -> dict[str, object]:
    """Webhooks (server/integrations/webhooks/, docs/integrations.md). The timings are settable so that tests and
    benchmarks need not wait real seconds; production keeps the defaults (the contract's 10 s, 24 h)."""
    return {
        # http:// is refused except to these hosts (comma-separated); https always passes this check.
        "WEBHOOK_ALLOWED_HTTP_HOSTS": tuple(host.strip().lower() for host
                                            in env.get("WEBHOOK_ALLOWED_HTTP_HOSTS", "").split(",") if host.strip()),
        # Loopback, private and link-local receivers are refused unless this is 1 (a lab, the tests).
        "WEBHOOK_ALLOW_PRIVATE": env.get("WEBHOOK_ALLOW_PRIVATE", "").strip() == "1",
        "WEBHOOK_TIMEOUT_SECONDS": _positive_float(env, "WEBHOOK_TIMEOUT_SECONDS", 10.0),
        # Waits between attempts grow from the base, doubling, up to the cap; an event is `failed`
        # once it has failed for the whole window.
        "WEBHOOK_RETRY_BASE_SECONDS": _positive_float(env, "WEBHOOK_RETRY_BASE_SECONDS", 5.0),
        "WEBHOOK_RETRY_MAX_WAIT_SECONDS": _positive_float(env, "WEBHOOK_RETRY_MAX_WAIT_SECONDS", 3600.0),
        "WEBHOOK_RETRY_WINDOW_SECONDS": _positive_float(env, "WEBHOOK_RETRY_WINDOW_SECONDS", 24 * 3600.0),
        # Pending events one webhook may hold; past it the webhook is paused (docs/integrations.md).
        "WEBHOOK_MAX_PENDING": _non_negative_int(env, "WEBHOOK_MAX_PENDING", 10_000),
        "WEBHOOK_POLL_SECONDS": _positive_float(env, "WEBHOOK_POLL_SECONDS", 0.5),
        "WEBHOOK_LEASE_SECONDS": _positive_float(env, "WEBHOOK_LEASE_SECONDS", 60.0),
        "WEBHOOK_WORKER_THREADS": _non_negative_int(env, "WEBHOOK_WORKER_THREADS", 8) or 1,
        # The worker's CPU niceness (0-19): deliveries are background work, so on a busy machine the
        # tablets' syncs through gunicorn get the CPU first and deliveries wait (docs/integrations.md).
        "WEBHOOK_WORKER_NICE": min(19, _non_negative_int(env, "WEBHOOK_WORKER_NICE", 10)),
        "WEBHOOK_RETENTION_DAYS": _non_negative_int(env, "WEBHOOK_RETENTION_DAYS", 14),
    }


def _positive_float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError(f"{name} must be a number > 0, not {raw!r}")
    return value


def _non_negative_int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"{name} must be a whole number >= 0, not {raw!r}")
    return value


def engine_options(database_url: str) -> dict[str, object]:
    if database_url.startswith("sqlite"):
        # Waiting writers queue on SQLite's lock instead of failing with "database is locked".
        return {"connect_args": {"timeout": 60, "check_same_thread": False}}
    return {"pool_pre_ping": True, "pool_size": 5, "max_overflow": 5}
