"""Issue 29 item 9: three observations, each decided (docs/reliability.md "Security decisions").

1. A deactivated team's tablets count nothing: their writes (push, OpenRosa submission) are refused
   with 403 `team_inactive` and no wipe, so each tablet keeps what it has not sent and sends it once
   the team is active again; reads go on.
2. (Collect's server_url and forwarded headers: tests/e2e/test_secrets_in_logs.py, through gunicorn.)
3. Names refuse invisible reordering characters (U+202E...), and exports neutralise full-width formula
   starts (`＝`, `＋`, `－`, `＠`) as they do the ASCII ones.
"""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.aggregation.export import spreadsheet_cell
from server.integrations.openrosa.forms import served_form
from server.models import Record
from tests.factories import (
    EnrolledDevice,
    auth_headers,
    consultation_data,
    create_mutation,
    make_token,
    make_user,
    push_body,
    push_headers,
)
from tests.openrosa_instances import consultation_values, fill
from tests.server.integrations.test_openrosa import submit


def _records(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Record)) or 0


def test_a_deactivated_teams_tablets_count_nothing_and_lose_nothing(client: FlaskClient, session: Session,
                                                                   device: EnrolledDevice) -> None:
    admin = auth_headers(make_token(session, make_user(session, role="admin", countries=())))
    session.commit()
    team = device.device.team_id
    assert client.post(f"/api/v1/teams/{team}/deactivate", headers=admin).status_code == 200
    before = _records(session)

    body = push_body([create_mutation(data=consultation_data(team_id=team))])
    refused = client.post("/api/v1/sync/push", json=body, headers=push_headers(device, body))
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "team_inactive" and "wipe" not in refused.get_json()
    _, xml = fill(served_form("fieldsync_consultation").xml, consultation_values())
    assert submit(client, device, xml).status_code == 403
    assert _records(session) == before
    assert client.get("/api/v1/sync/pull?stream=reference", headers=device.headers).status_code == 200

    assert client.post(f"/api/v1/teams/{team}/activate", headers=admin).status_code == 200
    assert client.post("/api/v1/sync/push", json=body, headers=push_headers(device, body)).status_code == 200
    assert submit(client, device, xml).status_code == 201
    assert _records(session) == before + 2


def test_names_refuse_invisible_reordering_characters(client: FlaskClient, session: Session) -> None:
    admin = auth_headers(make_token(session, make_user(session, role="admin", countries=())))
    session.commit()
    for name in ("Clinic \u202etxt.exe", "A\u2066B", "Zero\u200bwidth", "\ufeffBOM"):
        answer = client.post("/api/v1/areas", json={"id": "ly-bidi", "country": "LY", "name": name}, headers=admin)
        assert answer.status_code == 422, name
        assert "name" in answer.get_json()["error"]["fields"]
    # Arabic with a zero-width non-joiner is a name.
    assert client.post("/api/v1/areas", json={"id": "ly-zwnj", "country": "LY", "name": "طرابلس\u200cالغرب"},
                       headers=admin).status_code == 201


def test_full_width_formula_starts_are_neutralised_in_exports() -> None:
    for text in ("\uff1dHYPERLINK(\"http://x\")", "\uff0b1", "\uff0d1", "\uff20SUM(A1)"):
        assert spreadsheet_cell(text) == "'" + text
    assert spreadsheet_cell("-3") == "-3" and spreadsheet_cell("Tripoli") == "Tripoli"
