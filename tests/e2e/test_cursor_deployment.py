"""Pull cursors in the default deployment: several gunicorn workers, no SECRET_KEY, restarts.

A tablet on a flaky link opens a new connection for every page, so consecutive pages land on
different worker processes; before the key was stored with the data, each worker signed with its
own random key and about half the pages were answered 410 reset_required.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest
import requests

from tests.e2e.conftest import enrol_tablets
from tests.e2e.device_sim import PULL, DeviceSim
from tests.e2e.live_server import live_server, prepare_database

PAGES = 100


def pull_one_page_per_connection(url: str, token: str, cursor: str) -> tuple[list[dict], str, bool, int]:
    """One page on a connection of its own (`Connection: close`), as a tablet on a dropped link does."""
    response = requests.get(url + PULL, params={"stream": "records", "cursor": cursor, "limit": 1},
                            headers={"Authorization": f"Bearer {token}", "Connection": "close"}, timeout=30)
    if response.status_code != 200:
        return [], cursor, True, response.status_code
    page = response.json()
    return page["changes"], page["next_cursor"], page["has_more"], 200


def pull_to_end(url: str, token: str, cursor: str) -> tuple[list[str], str, Counter[int]]:
    ids: list[str] = []
    statuses: Counter[int] = Counter()
    while True:
        changes, cursor, has_more, status = pull_one_page_per_connection(url, token, cursor)
        statuses[status] += 1
        if status != 200:
            return ids, cursor, statuses
        ids.extend(change["id"] for change in changes)
        if not has_more:
            return ids, cursor, statuses


def pids_serving_pulls(log: str) -> set[str]:
    return set(re.findall(r'"GET /api/v1/sync/pull\?[^"]*" 200 .* pid=<?(\d+)', log))


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_cursors_hold_across_workers_and_restarts_without_secret_key(make_database_url, engine: str) -> None:
    url = make_database_url(engine)
    prepare_database(url)
    (tablet,) = enrol_tablets(url, ["ly-mmt-tripoli"])

    with live_server(url, workers=2, threads=2) as server:
        device = DeviceSim(server.url, tablet.token, tablet.team_id, "ly-mp-tripoli", seed=13, batch_size=50)
        made = [device.create("consultation") for _ in range(PAGES)]
        device.sync()
        ids, cursor, statuses = pull_to_end(server.url, tablet.token, "")
        log = server.log_path.read_text(errors="replace")
    assert statuses == Counter({200: PAGES}), statuses  # 100 pages, 0 resets
    assert sorted(ids) == sorted(made)
    assert len(pids_serving_pulls(log)) == 2, "both workers should have served pages"

    # A restart (a new master, new workers, still no SECRET_KEY): the saved cursor still serves.
    with live_server(url, workers=2, threads=2) as server:
        device = DeviceSim(server.url, tablet.token, tablet.team_id, "ly-mp-tripoli", seed=14, batch_size=50)
        later = [device.create("distribution") for _ in range(10)]
        device.sync()
        ids, _, statuses = pull_to_end(server.url, tablet.token, cursor)
    assert statuses == Counter({200: 10}), statuses
    assert sorted(ids) == sorted(later)  # only what changed since, exactly once
