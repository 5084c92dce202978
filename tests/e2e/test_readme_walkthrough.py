"""The README's "From zero to a first synced record", run as written against a live gunicorn: to a
first counted record in Libya, then a second country (add-country TN, the coordinator edited to
it) whose public page fills from its first tablet's records (issue 30 §7).

The shell between the README's `walkthrough:start` and `walkthrough:end` markers is extracted and
run by bash (`set -euo pipefail`, so any failing command fails the test) with `BASE` pointing at a
real server on a fresh database prepared the way `make run` prepares one (`flask bootstrap`).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.live_server import live_server

README = Path(__file__).resolve().parents[2] / "README.md"


def walkthrough_script() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("<!-- walkthrough:start -->", 1)[1].split("<!-- walkthrough:end -->", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    assert len(blocks) >= 6, "the walkthrough lost its steps"
    return "\n".join(blocks)


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_the_readme_walkthrough_reaches_a_first_synced_record(make_database_url, engine: str) -> None:
    root = README.parent
    database_url = make_database_url(engine)
    env = {**os.environ, "DATABASE_URL": database_url}
    flask = str(Path(sys.executable).with_name("flask"))
    bootstrap = subprocess.run([flask, "--app", "server", "bootstrap"], cwd=root, env=env, capture_output=True,
                               text=True, timeout=120, check=False)
    assert bootstrap.returncode == 0, bootstrap.stderr

    with live_server(database_url, workers=2) as server:
        started = time.monotonic()
        # Exactly as written (`.venv/bin/...` is the project's venv, which `make test` runs from too).
        script = "set -euo pipefail\n" + walkthrough_script()
        run = subprocess.run(["bash", "-c", script], cwd=root, env={**env, "BASE": server.url},
                             capture_output=True, text=True, timeout=300, check=False)
        elapsed = time.monotonic() - started
        assert run.returncode == 0, f"{run.stdout}\n{run.stderr}\n{server.log_tail()}"
        assert '"status": "applied"' in run.stdout.replace('"status":"applied"', '"status": "applied"')
        lines = run.stdout.strip().splitlines()
        assert "1" in lines  # the Libyan consultation is counted (step 7)
        assert "default statements in English and Arabic" in run.stdout  # add-country says so (step 8)
        assert any(line.startswith("amira\tcoordinator\tLY,TN") for line in lines)  # users edit (step 8)
        assert lines[-1] == "12"  # Tunisia's public page shows its first records (step 10)
        print(f"walkthrough against live gunicorn ({engine}): {elapsed:.1f} s")
