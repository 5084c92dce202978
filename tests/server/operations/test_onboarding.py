"""`GET /` takes a new coordinator to the dashboard (api.md v1.1)."""

from __future__ import annotations


def test_the_root_redirects_to_the_dashboard(client) -> None:
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"] == "/dashboard"
    assert client.get("/?lang=ar").headers["Location"] == "/dashboard?lang=ar"
    assert client.get("/?lang=<script>").headers["Location"] == "/dashboard"  # only known languages travel
    assert client.get("/", follow_redirects=True).status_code == 200
