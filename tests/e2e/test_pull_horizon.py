"""Pull cursors under concurrent writers of many teams, on PostgreSQL through a real gunicorn.

Writers of different teams share no lock on PostgreSQL (server/persistence/seq.py: each transaction's seqs come
from its own transaction id, and a pull serves only seqs below its snapshot's horizon). This checks
the guarantee that design must keep, with real transactions committing out of seq order: eight
tablets of eight teams and two more of one of those teams push JSON batches and send OpenRosa
submissions, while four pullers page through their teams' streams with random page sizes, random
pauses and a new connection per page; one more writer holds a transaction with a record in it and
is killed. Every puller ends with every committed record of its team exactly once, and the killed
writer's record reaches nobody (tests/e2e/horizon.py; `make bench` runs a longer version,
bench/pull_horizon.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from sqlalchemy import create_engine, text

from tests.e2e.conftest import Tablet, enrol_tablets
from tests.e2e.horizon import exercise
from tests.e2e.live_server import LiveServer, live_server, prepare_database
from tests.factories import consultation_data, create_mutation, push_body


@pytest.fixture(scope="module")
def server(make_database_url) -> Iterator[tuple[LiveServer, str]]:  # type: ignore[no-untyped-def]
    url = make_database_url("postgresql")
    prepare_database(url)
    with live_server(url, workers=2, threads=4) as live:
        yield live, url


def test_every_puller_gets_every_committed_change_exactly_once(server: tuple[LiveServer, str]) -> None:
    live, url = server
    run = exercise(live.url, url)
    assert all(pages > 10 for pages in run.pages.values()) and all(run.pulled.values())


def test_a_held_transaction_holds_back_later_seqs_until_it_ends(server: tuple[LiveServer, str]) -> None:
    # The horizon in one picture: while a write transaction is open, later commits of other teams'
    # tablets are not served yet (their seqs are above it); once it is rolled back they are.
    live, url = server
    (reader,) = enrol_tablets(url, ["ly-mmt-misrata"])
    (writer,) = enrol_tablets(url, ["ly-mmt-misrata"])
    engine = create_engine(url)
    try:
        with engine.connect() as holder:
            holder.execute(text("SELECT pg_current_xact_id()"))  # an id below every later writer's
            creates = [create_mutation(data=consultation_data(team_id="ly-mmt-misrata", site_id="ly-mp-misrata"))]
            body = push_body(creates)
            pushed = requests.post(live.url + "/api/v1/sync/push", json=body, timeout=60,
                                   headers={**writer.headers, "Idempotency-Key": body["batch_id"]})
            assert pushed.status_code == 200  # no wait: nothing the open transaction holds
            before = _all_ids(live.url, reader)
            assert creates[0]["id"] not in before
            holder.rollback()
        assert creates[0]["id"] in _all_ids(live.url, reader)
    finally:
        engine.dispose()


def _all_ids(base: str, tablet: Tablet) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        query = {"stream": "records", "limit": 500, **({"cursor": cursor} if cursor else {})}
        page = requests.get(base + "/api/v1/sync/pull", params=query, headers=tablet.headers, timeout=60).json()
        ids += [change["id"] for change in page["changes"]]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return ids
