"""`POST /api/v1/auth/logout` (api.md v1.1): 204, and that token gets 401 from then on."""

from __future__ import annotations

from sqlalchemy import select

from server.models import ApiToken
from tests.factories import DEFAULT_PASSWORD, auth_headers, make_device, make_token, make_user

LOGOUT = "/api/v1/auth/logout"


def test_logout_revokes_only_the_token_it_is_sent_with(client, session) -> None:
    user = make_user(session)
    session.commit()
    tokens = [client.post("/api/v1/auth/token", json={"username": user.username, "password": DEFAULT_PASSWORD})
              .get_json()["token"] for _ in range(2)]
    first, second = (auth_headers(token) for token in tokens)
    assert client.get("/api/v1/teams", headers=first).status_code == 200

    response = client.post(LOGOUT, headers=first)
    assert response.status_code == 204 and response.get_data() == b""

    for path in ("/api/v1/teams", "/api/v1/devices", "/api/v1/quarantine"):
        refused = client.get(path, headers=first)
        assert refused.status_code == 401
        assert refused.get_json()["error"]["code"] == "token_revoked"
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.post(LOGOUT, headers=first).status_code == 401  # logging out twice: the token is gone
    assert client.get("/api/v1/teams", headers=second).status_code == 200  # the other session stays
    session.expire_all()
    revoked = session.scalars(select(ApiToken.revoked_at).where(ApiToken.user_id == user.id)).all()
    assert sorted(value is None for value in revoked) == [False, True]


def test_logout_works_for_every_role_that_gets_a_token_and_takes_a_body_or_none(client, session) -> None:
    for role in ("coordinator", "admin"):
        headers = auth_headers(make_token(session, make_user(session, role=role)))
        session.commit()
        assert client.post(LOGOUT, headers=headers, json={}).status_code == 204, role
        assert client.get("/api/v1/teams", headers=headers).status_code == 401
    # A field worker's token is never issued; one made by mistake opens nothing, logout included.
    worker = auth_headers(make_token(session, make_user(session, role="field_worker", team_id="ly-mmt-tripoli")))
    session.commit()
    assert client.post(LOGOUT, headers=worker).status_code == 403


def test_logout_needs_a_user_token(client, session) -> None:
    device = make_device(session)
    session.commit()
    assert client.post(LOGOUT).status_code == 401
    assert client.post(LOGOUT, headers=auth_headers("fsu_not-a-token")).status_code == 401
    refused = client.post(LOGOUT, headers=device.headers)
    assert refused.status_code == 403
    assert client.get("/api/v1/sync/hello", headers=device.headers).status_code == 200


def test_logout_is_in_the_openapi_document(client) -> None:
    spec = client.get("/api/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/auth/logout"]["post"]
    assert "204" in operation["responses"]
