"""A NUL character (which PostgreSQL refuses in text) is refused precisely where it is, never as a
500 and never at the cost of the valid mutations sent beside it."""

from __future__ import annotations

import json

from sqlalchemy import select

from server.models import QuarantinedMutation, Record
from tests.factories import auth_headers, create_mutation, make_device, make_token, make_user, push_body, push_headers


def test_a_nul_rejects_only_its_own_mutation_and_is_kept_in_quarantine(client, session) -> None:
    device = make_device(session)
    session.commit()
    good = create_mutation()
    bad = create_mutation()
    bad["data"]["beneficiary_ref"] = "ab\x00cd"
    body = push_body([good, bad])

    response = client.post("/api/v1/sync/push", data=json.dumps(body), content_type="application/json",
                           headers=push_headers(device, body))

    assert response.status_code == 200
    applied, rejected = response.get_json()["results"]
    assert applied["status"] == "applied"
    assert rejected == {"op_id": bad["op_id"], "status": "rejected",
                        "errors": {"data.beneficiary_ref": ["Must not contain NUL characters."]}}
    assert session.scalar(select(Record.id).where(Record.id == good["id"])) == good["id"]
    kept = session.scalars(select(QuarantinedMutation).where(QuarantinedMutation.op_id == bad["op_id"])).one()
    assert kept.mutation["data"]["beneficiary_ref"] == "ab\\u0000cd"


def test_a_nul_in_the_push_envelope_is_a_malformed_envelope(client, session) -> None:
    device = make_device(session)
    session.commit()
    body = {**push_body([create_mutation()]), "app_version": "1.\x00"}
    response = client.post("/api/v1/sync/push", data=json.dumps(body), content_type="application/json",
                           headers=push_headers(device, body))
    assert response.status_code == 400
    assert response.get_json()["error"]["fields"] == {"app_version": ["Must not contain NUL characters."]}


def test_a_nul_elsewhere_is_a_422_naming_the_field_or_parameter_and_a_404_in_a_path(client, session) -> None:
    coordinator = auth_headers(make_token(session, make_user(session)))
    session.commit()
    body = client.post("/api/v1/auth/token", json={"username": "a\x00b", "password": "x"})
    assert body.status_code == 422
    assert body.get_json()["error"]["fields"] == {"username": ["Must not contain NUL characters."]}

    query = client.get("/api/v1/aggregates?indicator=health_consultations&area=ly-\x00", headers=coordinator)
    assert query.status_code == 422
    assert query.get_json()["error"]["fields"] == {"area": ["Must not contain NUL characters."]}

    path = client.post("/api/v1/devices/a%00b/revoke", headers=coordinator)
    assert path.status_code == 404
    assert path.get_json()["error"]["code"] == "not_found"
