"""`impact.html` answers its errors as a small HTML page (api.md v1.1), not a JSON envelope;
the JSON route keeps the envelope."""

from __future__ import annotations

import pytest

BASE = "/public/v1/countries"


@pytest.mark.parametrize(("path", "status", "mentions"), [
    ("/XX/impact.html?year=2016", 404, "No country programme has this code."),
    ("/LY/impact.html?year=20x6", 422, "year"),
    ("/LY/impact.html?year=1999", 422, "Must be between 2000"),
    ("/LY/impact.html", 422, "year"),
    ("/LY/impact.html?year=2016&by=site", 422, "by"),
    ("/LY/impact.html?year=2016&colour=red", 422, "colour"),
    ("/LY/impact.html?year=2016&x=%00", 422, "x"),
    ("/%3Cscript%3E/impact.html?year=2016", 404, "No country programme"),
])
def test_impact_html_errors_are_html_pages(client, path: str, status: int, mentions: str) -> None:
    response = client.get(BASE + path)
    assert response.status_code == status
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert page.startswith("<!doctype html>") and mentions in page
    assert "<script>" not in page  # every message is escaped
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_the_json_route_keeps_the_envelope(client) -> None:
    for path, status in (("/XX/impact?year=2016", 404), ("/LY/impact?year=20x6", 422)):
        response = client.get(BASE + path)
        assert response.status_code == status and response.mimetype == "application/json"
        assert "error" in response.get_json()


def test_the_error_page_is_styled_and_in_the_readers_language(client) -> None:
    english = client.get(BASE + "/LY/impact.html?year=1999")
    assert "<style>" in english.text and "style-src 'sha256-" in english.headers["Content-Security-Policy"]
    assert "Unprocessable Entity" not in english.text  # a reader's title, not the HTTP phrase
    assert "This address asks for something the page cannot show" in english.text

    arabic = client.get(BASE + "/LY/impact.html?year=1999&lang=ar")
    assert arabic.status_code == 422 and '<html lang="ar" dir="rtl">' in arabic.text
    assert "يطلب هذا العنوان شيئًا لا تستطيع الصفحة عرضه" in arabic.text
    assert "Must be between" not in arabic.text and "not valid" not in arabic.text  # no English sentence
    assert '<code dir="ltr">year</code>' in arabic.text  # the parameter's name, isolated
    by_header = client.get(BASE + "/XX/impact.html?year=2016", headers={"Accept-Language": "ar"})
    assert by_header.status_code == 404 and "لا يُنشر شيء على هذا العنوان" in by_header.text


def test_the_page_carries_its_stylesheet_and_nothing_else() -> None:
    import base64
    import hashlib

    from server.web import error_pages

    digest = base64.b64encode(hashlib.sha256(error_pages._STYLE.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in error_pages.CONTENT_SECURITY_POLICY
