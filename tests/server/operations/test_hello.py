"""GET /api/v1/sync/hello."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.factories import make_device, make_token, make_user


def test_hello_describes_the_device_and_the_limits(app: Flask, client: FlaskClient, session: Session) -> None:
    device = make_device(session, team_id="ly-chw-tripoli")
    response = client.get("/api/v1/sync/hello", headers=device.headers)

    assert response.status_code == 200
    body = response.get_json()
    limits = app.config["FIELDSYNC_LIMITS"]
    assert body["device"] == {"id": device.device.id, "status": "active", "team_id": "ly-chw-tripoli"}
    assert body["schema"] == {"min_supported": 1, "current": 1}
    assert body["limits"] == {"push_max_mutations": limits.push_max_mutations,
                              "push_max_bytes": limits.push_max_bytes, "pull_max_limit": limits.pull_max_limit}
    server_time = datetime.fromisoformat(body["server_time"])
    assert server_time.tzinfo is not None
    assert abs(server_time - datetime.now(UTC)) < timedelta(minutes=1)


def test_hello_tells_a_revoked_device_to_wipe(client: FlaskClient, session: Session) -> None:
    device = make_device(session, revoked=True)
    response = client.get("/api/v1/sync/hello", headers=device.headers)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "device_revoked"
    assert response.get_json()["wipe"] is True


def test_hello_is_for_devices_only(client: FlaskClient, session: Session) -> None:
    assert client.get("/api/v1/sync/hello").status_code == 401
    token = make_token(session, make_user(session))
    assert client.get("/api/v1/sync/hello", headers={"Authorization": f"Bearer {token}"}).status_code == 403


def test_hello_and_pull_are_in_the_openapi_document(client: FlaskClient) -> None:
    paths = client.get("/api/openapi.json").get_json()["paths"]
    assert "/api/v1/sync/hello" in paths
    parameters = {p["name"] for p in paths["/api/v1/sync/pull"]["get"]["parameters"]}
    assert {"stream", "cursor", "limit"} <= parameters
