"""Each gunicorn worker caches the reference data pushes are checked against (server/reference_cache.py).
A site deactivated outside the app (psql, here a plain SQL UPDATE from the test) must be refused by
every worker at once, however warm its cache: the triggers' stamp, not the process, decides."""

from __future__ import annotations

import re

import pytest
import requests
from sqlalchemy import create_engine, text

from tests.e2e.conftest import Tablet, enrol_tablets
from tests.e2e.live_server import live_server, prepare_database
from tests.factories import consultation_data, create_mutation, push_body

PUSHES = 12


def push_on_new_connection(url: str, tablet: Tablet) -> dict:
    body = push_body([create_mutation("consultation", consultation_data())])
    response = requests.post(url + "/api/v1/sync/push", json=body, timeout=30,
                             headers={**tablet.headers, "Idempotency-Key": body["batch_id"], "Connection": "close"})
    assert response.status_code == 200, response.text
    (result,) = response.json()["results"]
    return result


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_a_site_deactivated_in_the_database_is_refused_by_every_warm_worker(make_database_url, engine: str) -> None:
    url = make_database_url(engine)
    prepare_database(url)
    (tablet,) = enrol_tablets(url, ["ly-mmt-tripoli"])
    with live_server(url, workers=2, threads=2) as server:
        warm = [push_on_new_connection(server.url, tablet) for _ in range(PUSHES)]
        database = create_engine(url)
        with database.begin() as connection:
            connection.execute(text("UPDATE sites SET active = false WHERE id = 'ly-mp-tripoli'"))
        database.dispose()
        after = [push_on_new_connection(server.url, tablet) for _ in range(PUSHES)]
        log = server.log_path.read_text(errors="replace")
    assert [result["status"] for result in warm] == ["applied"] * PUSHES
    assert [result["status"] for result in after] == ["rejected"] * PUSHES
    assert all(set(result["errors"]) == {"data.site_id"} for result in after)
    # Both workers answered, so both had a warm cache to get wrong.
    assert len(set(re.findall(r'"POST /api/v1/sync/push [^"]*" 200 .* pid=<?(\d+)', log))) == 2
