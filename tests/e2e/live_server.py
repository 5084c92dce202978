"""A real Fieldsync server for end-to-end tests and benchmarks: gunicorn, several workers.

    with live_server(database_url, workers=4) as server:
        requests.post(server.url + "/api/v1/sync/push", ...)

It runs `gunicorn --config gunicorn.conf.py "server:create_app()"` exactly as `make run` does, on a
free port, against the given DATABASE_URL (which `prepare_database` migrates and seeds), waits for
`/readyz`, and stops the server (SIGTERM, then SIGKILL) afterwards. The server's log goes to a
file, whose tail is shown if the server fails to start.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests
from alembic import command
from flask import Flask

from config import engine_options
from server.persistence.migrations_state import PROJECT_ROOT, alembic_config
from tests.pg_cluster import free_port

STARTUP_TIMEOUT = 90.0  # generous: workers boot slowly on a loaded 2-core machine


@dataclass(frozen=True)
class LiveServer:
    url: str
    pid: int  # the gunicorn master
    log_path: Path
    environment: dict[str, str] = field(default_factory=dict, repr=False)  # what the server was started with
    webhook_worker_pid: int | None = None

    def worker_pids(self) -> list[int]:
        """The master's worker processes (Linux /proc)."""
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def direct_app(database_url: str) -> Flask:
    """An in-process app on the same database, for setting up data the server will see."""
    from server import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": database_url,
                       "SQLALCHEMY_ENGINE_OPTIONS": engine_options(database_url), "SECRET_KEY": "e2e"})


def prepare_database(database_url: str) -> None:
    """Migrate an empty database to head and load the demo reference data."""
    from server.extensions import db
    from server.operations.seed import seed_demo

    cfg = alembic_config(database_url)
    cfg.attributes["configure_logging"] = False
    command.upgrade(cfg, "head")
    app = direct_app(database_url)
    with app.app_context():
        seed_demo(db.session)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


WEBHOOK_WORKER = [sys.executable, "-m", "flask", "--app", "server", "webhooks", "worker"]


def start_webhook_worker(environment: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """`make run`'s webhook delivery worker (`flask --app server webhooks worker`), its own process group."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(WEBHOOK_WORKER, cwd=PROJECT_ROOT, env=environment, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)


@contextmanager
def live_server(database_url: str, *, workers: int = 4, threads: int = 4,
                env: dict[str, str] | None = None, app: str = "server:create_app()",
                config: str = "gunicorn.conf.py", webhook_worker: bool = False) -> Iterator[LiveServer]:
    """`make run`'s gunicorn serving `app` (Fieldsync unless a benchmark serves its reference); with
    `webhook_worker`, also the delivery worker `make run` starts beside it (`server.environment` and
    `start_webhook_worker` start another, e.g. after a test killed it)."""
    port = free_port()
    log_dir = Path(tempfile.mkdtemp(prefix="fieldsync-e2e-"))
    log_path = log_dir / "gunicorn.log"
    # No SECRET_KEY unless a test asks for one: the server runs as `make run` runs it by default.
    inherited = {name: value for name, value in os.environ.items() if name != "SECRET_KEY"}
    environment = {
        **inherited,
        "DATABASE_URL": database_url,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WORKERS": str(workers),
        "THREADS": str(threads),
        **(env or {}),
    }
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            # No control socket: its default path is shared, and tests may run several servers at once.
            [sys.executable, "-m", "gunicorn", "--config", str(PROJECT_ROOT / config), "--no-control-socket", app],
            cwd=PROJECT_ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT,
            # Its own process group, so stopping it never signals the test runner.
            start_new_session=True,
        )
    worker = start_webhook_worker(environment, log_dir / "webhooks.log") if webhook_worker else None
    server = LiveServer(url=f"http://127.0.0.1:{port}", pid=process.pid, log_path=log_path, environment=environment,
                        webhook_worker_pid=worker.pid if worker else None)
    try:
        _wait_ready(server, process)
        yield server
    finally:
        _stop(process)
        if worker is not None:
            _stop(worker)


def _wait_ready(server: LiveServer, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{server.log_tail()}")
        try:
            if requests.get(server.url + "/readyz", timeout=5).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or a worker still booting
            pass
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn not ready after {STARTUP_TIMEOUT}s:\n{server.log_tail()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)  # graceful: workers finish their requests
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
