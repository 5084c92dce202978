"""Security headers on every response (server/web/security_headers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from server.web.auth import PUBLIC, access
from server.web.security_headers import embeddable
from tests.conftest import build_app
from tests.factories import DEFAULT_PASSWORD, auth_headers, make_device, make_token, make_user


def assert_base_headers(response, *, framable: bool = False) -> None:  # type: ignore[no-untyped-def]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    if framable:
        assert "X-Frame-Options" not in response.headers
        assert "frame-ancestors 'none'" not in response.headers.get("Content-Security-Policy", "")
    else:
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/api/openapi.json", "/api/v1/teams", "/nope",
                                  "/api/docs", "/api/docs/init.js"])
def test_every_kind_of_response_carries_the_headers(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert_base_headers(response)


def test_api_answers_load_nothing_and_are_not_stored(client: FlaskClient, session) -> None:
    device = make_device(session)
    coordinator = make_token(session, make_user(session))
    for path, headers in (("/api/v1/sync/hello", device.headers), ("/api/v1/teams", auth_headers(coordinator))):
        response = client.get(path, headers=headers)
        assert response.status_code == 200
        assert_base_headers(response)
        assert response.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
        assert response.headers["Cache-Control"] == "no-store"


def test_the_responses_that_hand_out_secrets_are_not_stored(client: FlaskClient, session) -> None:
    user = make_user(session)
    response = client.post("/api/v1/auth/token", json={"username": user.username, "password": DEFAULT_PASSWORD})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    # Errors too, and a 405 raised by routing.
    assert client.post("/api/v1/devices/enroll", json={"code": "X", "label": "t", "app_version": "1"}
                       ).headers["Cache-Control"] == "no-store"
    assert client.delete("/api/v1/teams").headers["Cache-Control"] == "no-store"


def test_a_public_view_keeps_its_own_caching_and_the_dashboard_its_own_csp(app: Flask, client: FlaskClient) -> None:
    with client.get("/api/docs/assets/swagger-ui.css") as response:  # a file: close it
        assert response.status_code == 200
        assert "max-age=3600" in response.headers["Cache-Control"]
    if "dashboard.login" in app.view_functions:  # the dashboard's stricter policy is not replaced
        page = client.get("/dashboard/login")
        assert "default-src 'self'" in page.headers["Content-Security-Policy"]
        assert_base_headers(page)


def test_a_credentialed_request_is_never_cached_even_on_a_public_route(client: FlaskClient) -> None:
    with client.get("/api/docs/assets/swagger-ui.css", headers={"Authorization": "Bearer anything"}) as response:
        assert response.headers["Cache-Control"] == "no-store"


def test_only_the_public_impact_fragment_may_be_framed(tmp_path: Path) -> None:
    assert embeddable("/public/v1/countries/LY/impact.html")
    assert not embeddable("/public/v1/countries/LY/impact")
    assert not embeddable("/dashboard/impact.html")
    assert not embeddable("/api/v1/impact.html")

    # The fragment's route may not exist yet (or may need data): a stand-in on a throwaway app
    # checks the hook's behaviour for that path.
    flask_app = build_app(f"sqlite:///{tmp_path}/headers.db")

    @access(PUBLIC)
    def fragment(code: str) -> str:
        return f"<p>{code}</p>"

    flask_app.add_url_rule("/public/v1/countries/<code>/impact-test/impact.html", "fragment_stand_in", fragment)
    response = flask_app.test_client().get("/public/v1/countries/LY/impact-test/impact.html")
    assert response.status_code == 200
    assert_base_headers(response, framable=True)
