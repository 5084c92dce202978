"""Each gunicorn worker caches the reference data pushes are checked against (server/persistence/reference_cache.py).
A site deactivated outside the app (psql, here a plain SQL UPDATE from the test) must be refused by
every worker at once, however warm its cache: the triggers' stamp, not the process, decides."""

from __future__ import annotations

import re

import pytest
import requests
from sqlalchemy import create_engine, text

from tests.e2e.conftest import Tablet, enrol_tablets
from tests.e2e.live_server import LiveServer, live_server, prepare_database
from tests.factories import consultation_data, create_mutation, push_body

WORKERS = 2
# The kernel hands new connections to whichever worker accepts first; on a busy machine one worker
# can take many in a row. Push until every worker has answered, within this bound.
MAX_PUSHES = 200
PUSH_LOG = re.compile(r'"POST /api/v1/sync/push [^"]*" 200 .* pid=<?(\d+)')


def push_on_new_connection(url: str, tablet: Tablet) -> dict:
    body = push_body([create_mutation("consultation", consultation_data())])
    response = requests.post(url + "/api/v1/sync/push", json=body, timeout=30,
                             headers={**tablet.headers, "Idempotency-Key": body["batch_id"], "Connection": "close"})
    assert response.status_code == 200, response.text
    (result,) = response.json()["results"]
    return result


def push_until_every_worker_answered(server: LiveServer, tablet: Tablet) -> list[dict]:
    """Pushes, each on a new connection, until each worker has answered at least twice since the
    call began (its cache is warm, or has seen the change); returns every push's result."""
    start = len(server.log_path.read_bytes())
    results = []
    while len(results) < MAX_PUSHES:
        results.append(push_on_new_connection(server.url, tablet))
        answered = PUSH_LOG.findall(server.log_path.read_bytes()[start:].decode(errors="replace"))
        if len(set(answered)) == WORKERS and min(answered.count(pid) for pid in set(answered)) >= 2:
            return results
    pytest.fail(f"{MAX_PUSHES} pushes on new connections never reached all {WORKERS} workers")


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_a_site_deactivated_in_the_database_is_refused_by_every_warm_worker(make_database_url, engine: str) -> None:
    url = make_database_url(engine)
    prepare_database(url)
    (tablet,) = enrol_tablets(url, ["ly-mmt-tripoli"])
    with live_server(url, workers=WORKERS, threads=2) as server:
        warm = push_until_every_worker_answered(server, tablet)
        database = create_engine(url)
        with database.begin() as connection:
            connection.execute(text("UPDATE sites SET active = false WHERE id = 'ly-mp-tripoli'"))
        database.dispose()
        after = push_until_every_worker_answered(server, tablet)
    assert {result["status"] for result in warm} == {"applied"}
    assert {result["status"] for result in after} == {"rejected"}
    assert all(set(result["errors"]) == {"data.site_id"} for result in after)
