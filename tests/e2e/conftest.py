"""End-to-end fixtures: a migrated, seeded database per test module and engine, devices, a live server."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from server.extensions import db
from tests.e2e.live_server import LiveServer, direct_app, live_server, prepare_database
from tests.factories import make_device


@dataclass(frozen=True)
class Tablet:
    device_id: str
    team_id: str
    token: str
    username: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def enrol_tablets(database_url: str, teams: list[str]) -> list[Tablet]:
    """One committed, active device per entry of `teams`."""
    app = direct_app(database_url)
    with app.app_context():
        enrolled = [make_device(db.session, team_id=team) for team in teams]
        tablets = [Tablet(e.device.id, e.device.team_id, e.token, e.user.username) for e in enrolled]
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return tablets


@dataclass(frozen=True)
class Site:
    server: LiveServer
    database_url: str
    engine: str


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
def site(request: pytest.FixtureRequest, make_database_url) -> Iterator[Site]:  # type: ignore[no-untyped-def]
    """A real gunicorn (2 workers, as `make run`) on a fresh database of each engine, shared by a module's tests."""
    url = make_database_url(request.param)
    prepare_database(url)
    with live_server(url, workers=2) as server:
        yield Site(server=server, database_url=url, engine=request.param)
