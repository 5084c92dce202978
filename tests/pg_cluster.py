"""A throwaway PostgreSQL 15 cluster for tests and benchmarks.

Started only when TEST_DATABASE_URL names no server. initdb refuses to run as root, so as root
the cluster runs as the `postgres` system user; the application connects as an ordinary role
that owns its database (no superuser rights, no extensions), as in production.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Cluster:
    data_dir: Path
    port: int
    run_as: list[str]
    pg_bin: Path

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://fieldsync_admin@127.0.0.1:{self.port}/postgres"

    def create_database(self, name: str, owner: str = "fieldsync") -> str:
        """Create an ordinary role (once) and a database it owns; return its URL."""
        self._psql(f"DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{owner}') "
                   f"THEN CREATE ROLE {owner} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE; END IF; END$$;")
        self._psql(f"DROP DATABASE IF EXISTS {name}")
        self._psql(f"CREATE DATABASE {name} OWNER {owner}")
        return f"postgresql+psycopg://{owner}@127.0.0.1:{self.port}/{name}"

    def _psql(self, sql: str) -> None:
        self.query(sql)

    def query(self, sql: str) -> str:
        """Run SQL as the cluster's superuser; the unaligned output."""
        done = subprocess.run([str(self.pg_bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U",
                               "fieldsync_admin", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-q", "-A", "-t",
                               "-c", sql], check=True, capture_output=True, text=True)
        return done.stdout.strip()

    def url(self, database: str, user: str = "fieldsync") -> str:
        return f"postgresql+psycopg://{user}@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        subprocess.run([*self.run_as, str(self.pg_bin / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate",
                        "-w", "stop"], capture_output=True)
        shutil.rmtree(self.data_dir.parent, ignore_errors=True)


def find_pg_bin() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    found = shutil.which("initdb")
    if found:
        candidates.insert(0, os.path.realpath(found))
    if not candidates:
        raise RuntimeError("PostgreSQL binaries not found: run `apt-get install -y postgresql` (make test does)")
    return Path(candidates[0]).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _new_base() -> tuple[Path, list[str]]:
    base = Path(tempfile.mkdtemp(prefix="fieldsync-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        run_as = ["runuser", "-u", "postgres", "--"]
        shutil.chown(base, "postgres", "postgres")
        os.chmod(base, 0o700)
    return base, run_as


def start_cluster(durable: bool = False) -> Cluster:
    pg_bin = find_pg_bin()
    base, run_as = _new_base()
    data_dir = base / "data"
    subprocess.run([*run_as, str(pg_bin / "initdb"), "-D", str(data_dir), "-U", "fieldsync_admin",
                    "--auth=trust", "-E", "UTF8", "--no-sync", "--locale=C"], check=True, capture_output=True)
    port = free_port()
    settings = [f"-p {port}", f"-k {base}", "-c listen_addresses=127.0.0.1", "-c max_connections=200",
                "-c shared_buffers=256MB"]
    if not durable:
        # Tests throw the cluster away: durability would only cost time.
        settings += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
    subprocess.run([*run_as, str(pg_bin / "pg_ctl"), "-D", str(data_dir), "-l", str(base / "log"),
                    "-o", " ".join(settings), "-w", "start"], check=True, capture_output=True)
    cluster = Cluster(data_dir=data_dir, port=port, run_as=run_as, pg_bin=pg_bin)
    _wait_accepting(cluster)
    return cluster


def _wait_accepting(cluster: Cluster) -> None:
    for _ in range(100):
        try:
            cluster.query("SELECT 1")
            return
        except subprocess.CalledProcessError:
            time.sleep(0.1)


def start_replica(primary: Cluster) -> Cluster:
    """A hot-standby streaming replica of `primary`, made as an operator would: `pg_basebackup -R`.

    initdb's default pg_hba.conf trusts replication connections from 127.0.0.1, which is all a
    throwaway pair on one machine needs."""
    base, run_as = _new_base()
    data_dir = base / "data"
    subprocess.run([*run_as, str(primary.pg_bin / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port),
                    "-U", "fieldsync_admin", "-D", str(data_dir), "-R", "-X", "stream", "--no-sync",
                    # An immediate checkpoint: the default spread one can keep a backup waiting for minutes.
                    "--checkpoint=fast"],
                   check=True, capture_output=True, timeout=180)
    port = free_port()
    settings = [f"-p {port}", f"-k {base}", "-c listen_addresses=127.0.0.1", "-c hot_standby=on",
                "-c max_connections=200"]
    subprocess.run([*run_as, str(primary.pg_bin / "pg_ctl"), "-D", str(data_dir), "-l", str(base / "log"),
                    "-o", " ".join(settings), "-w", "start"], check=True, capture_output=True)
    replica = Cluster(data_dir=data_dir, port=port, run_as=run_as, pg_bin=primary.pg_bin)
    _wait_accepting(replica)
    return replica
