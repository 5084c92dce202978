"""HTTP behaviour of the public page: ETag, 304, gzip variants, Cache-Control, CORS, HEAD, OPTIONS,
and the embeddable HTML fragment."""

from __future__ import annotations

import gzip
import json
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import ImpactStatement
from server.operations.public import shown
from server.web.compression import gzip_etag
from tests.factories import EnrolledDevice, make_device
from tests.server.operations.test_public import (
    DAY,
    IMPACT,
    consultations,
    fresh_cache,  # noqa: F401  (autouse: clears the page cache here too)
    push,
    statement,
)

HTML = "/public/v1/countries/LY/impact.html?year=2016"


@pytest.fixture
def tripoli(session: Session) -> EnrolledDevice:
    enrolled = make_device(session, team_id="ly-mmt-tripoli")
    session.commit()
    return enrolled


@pytest.fixture
def sabha(session: Session) -> EnrolledDevice:
    enrolled = make_device(session, team_id="ly-dcmt-sabha")
    session.commit()
    return enrolled


def get(client: FlaskClient, url: str = IMPACT, **headers: str):
    return client.get(url, headers=headers)


# --- ETag -------------------------------------------------------------------------------------------


def test_etag_changes_exactly_when_a_published_number_changes(client: FlaskClient, tripoli) -> None:
    push(client, tripoli, consultations(tripoli, 12))
    first = get(client)
    etag = first.headers["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
    assert get(client).headers["ETag"] == etag  # stable between requests

    # Outside every statement's filters: the host population, another year.
    push(client, tripoli, consultations(tripoli, 1, population_group="host"))
    push(client, tripoli, consultations(tripoli, 5, day="2017-03-01"))
    unchanged = get(client)
    assert unchanged.headers["ETag"] == etag
    assert unchanged.data == first.data  # as_of included: the bytes are the same

    push(client, tripoli, consultations(tripoli, 1, population_group="migrant"))
    changed = get(client)
    assert changed.headers["ETag"] != etag
    assert statement(changed.get_json(), "health_consultations")["value"] == 13
    assert changed.get_json()["as_of"] >= first.get_json()["as_of"]


def test_a_suppressed_count_that_moves_changes_nothing_published(client: FlaskClient, tripoli) -> None:
    push(client, tripoli, consultations(tripoli, 3))
    before = get(client)
    assert statement(before.get_json(), "health_consultations")["suppressed"] is True
    push(client, tripoli, consultations(tripoli, 4))  # 7: still fewer than 10
    assert get(client).headers["ETag"] == before.headers["ETag"]
    push(client, tripoli, consultations(tripoli, 3))  # 10: published
    assert get(client).headers["ETag"] != before.headers["ETag"]


def test_each_view_has_its_own_etag(client: FlaskClient) -> None:
    tags = {get(client, url).headers["ETag"] for url in (IMPACT, IMPACT + "&by=area", HTML,
                                                         IMPACT.replace("2016", "2017"))}
    assert len(tags) == 4


def test_an_edited_sentence_changes_the_etag(client: FlaskClient, session: Session) -> None:
    etag = get(client).headers["ETag"]
    row = session.scalar(select(ImpactStatement).where(ImpactStatement.country_code == "LY",
                                                       ImpactStatement.position == 3))
    row.text = "people were reached by community health workers in {year}"
    session.commit()
    response = get(client)
    assert response.headers["ETag"] != etag
    assert statement(response.get_json(), "people_reached_by_chws")["text"].endswith("workers in 2016")


# --- conditional requests ----------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["{tag}", "W/{tag}", '"stale", {tag}', "*", "{gzip_tag}", '"x", W/{gzip_tag}'])
def test_if_none_match_gets_304(client: FlaskClient, header: str) -> None:
    tag = get(client).headers["ETag"]
    response = get(client, **{"If-None-Match": header.format(tag=tag, gzip_tag=gzip_etag(tag))})
    assert response.status_code == 304
    assert response.data == b""
    assert response.headers["ETag"] == tag  # this client takes no gzip: the plain form
    assert response.headers["Cache-Control"] == "public, max-age=60"
    assert response.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("header", ['"stale"', 'W/"stale", "older"', ""])
def test_a_stale_tag_gets_the_page(client: FlaskClient, header: str) -> None:
    response = get(client, **{"If-None-Match": header})
    assert response.status_code == 200
    assert response.get_json()["country"] == "LY"


def test_gzip_is_another_representation_with_its_own_strong_etag(client: FlaskClient) -> None:
    url = IMPACT + "&by=area"  # large enough to be compressed
    plain = get(client, url)
    zipped = get(client, url, **{"Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert "Content-Encoding" not in plain.headers
    assert zipped.headers["ETag"] == plain.headers["ETag"][:-1] + '-gzip"'
    assert json.loads(gzip.decompress(zipped.data)) == plain.get_json()

    for sent in (zipped.headers["ETag"], plain.headers["ETag"]):
        # Either form is current; the 304 carries the tag the 200 would have carried.
        again = get(client, url, **{"Accept-Encoding": "gzip", "If-None-Match": sent})
        assert again.status_code == 304, sent
        assert again.headers["ETag"] == zipped.headers["ETag"]
        again_plain = get(client, url, **{"If-None-Match": sent})
        assert again_plain.status_code == 304, sent
        assert again_plain.headers["ETag"] == plain.headers["ETag"]


def test_gzip_etag_leaves_weak_and_suffixed_tags_alone() -> None:
    assert gzip_etag('"abc"') == '"abc-gzip"'
    assert gzip_etag('"abc-gzip"') == '"abc-gzip"'
    assert gzip_etag('W/"abc"') == 'W/"abc"'


def test_head_answers_like_get_without_a_body(client: FlaskClient) -> None:
    full = get(client)
    head = client.head(IMPACT)
    assert head.status_code == 200
    assert head.data == b""
    assert head.headers["ETag"] == full.headers["ETag"]
    assert head.headers["Cache-Control"] == "public, max-age=60"
    assert client.head(IMPACT, headers={"If-None-Match": full.headers["ETag"]}).status_code == 304
    assert client.head("/public/v1/countries/XX/impact?year=2016").status_code == 404


def test_errors_are_not_cached_publicly(client: FlaskClient) -> None:
    for url in ("/public/v1/countries/XX/impact?year=2016", "/public/v1/countries/LY/impact?year=20x6"):
        response = get(client, url)
        assert response.status_code in (404, 422)
        assert "public" not in response.headers.get("Cache-Control", "")
        assert "ETag" not in response.headers


# --- CORS ----------------------------------------------------------------------------------------------


def test_any_origin_by_default(client: FlaskClient) -> None:
    response = get(client, Origin="https://www.example.org")
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "ETag" in response.headers["Access-Control-Expose-Headers"]
    assert "Origin" not in response.headers.get("Vary", "")


def test_configured_origins_are_echoed_and_others_refused(app: Flask, client: FlaskClient,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "CORS_ORIGINS", ["https://www.example.org", "https://staging.example.org"])
    allowed = get(client, Origin="https://staging.example.org")
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://staging.example.org"
    assert "Origin" in allowed.headers["Vary"]
    refused = get(client, Origin="https://evil.example.com")
    assert refused.status_code == 200  # the data is public; the browser just will not hand it over
    assert "Access-Control-Allow-Origin" not in refused.headers
    assert "Origin" in refused.headers["Vary"]
    not_modified = get(client, Origin="https://www.example.org", **{"If-None-Match": allowed.headers["ETag"]})
    assert not_modified.status_code == 304
    assert not_modified.headers["Access-Control-Allow-Origin"] == "https://www.example.org"
    assert "Origin" in not_modified.headers["Vary"]


@pytest.mark.parametrize("url", [IMPACT, HTML, "/public/v1/countries/LY/impact"])
def test_preflight_is_answered(client: FlaskClient, url: str) -> None:
    response = client.options(url, headers={"Origin": "https://www.example.org",
                                            "Access-Control-Request-Method": "GET",
                                            "Access-Control-Request-Headers": "if-none-match"})
    assert response.status_code == 204
    assert response.data == b""
    assert set(response.headers["Access-Control-Allow-Methods"].split(", ")) == {"GET", "HEAD", "OPTIONS"}
    assert "if-none-match" in response.headers["Access-Control-Allow-Headers"].lower()
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}


def test_writes_are_not_allowed(client: FlaskClient) -> None:
    assert client.post(IMPACT).status_code == 405
    assert client.delete(IMPACT).status_code == 405


# --- the embeddable page ------------------------------------------------------------------------------


def test_html_fragment_is_self_contained_and_accessible(client: FlaskClient, session: Session, tripoli) -> None:
    push(client, tripoli, consultations(tripoli, 12))
    response = get(client, HTML)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.mimetype_params["charset"] == "utf-8"
    page = response.get_data(as_text=True)
    assert page.startswith("<!doctype html>")
    assert '<html lang="en">' in page
    assert "<title>Our impact in Libya in 2016</title>" in page
    assert "<ul>" in page and '<li class="statement">' in page
    assert '<span class="value">12</span> health consultations were provided' in page
    # Nothing recorded for the other three: 0 is published as 0.
    assert page.count('<span class="value">0</span>') == 3
    assert "<script" not in page.lower()
    assert not re.search(r"\b(src|href)\s*=", page)  # no external asset of any kind
    assert "<style>" in page
    # Framable by the website: no X-Frame-Options, and a CSP that allows any ancestor and only its own style.
    assert "X-Frame-Options" not in response.headers
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors *" in csp and "default-src 'none'" in csp and "style-src 'sha256-" in csp
    assert response.headers["Cache-Control"] == "public, max-age=60"
    assert get(client, HTML, **{"If-None-Match": response.headers["ETag"]}).status_code == 304


def test_html_says_fewer_than_10_and_formats_large_numbers(client: FlaskClient, session: Session,
                                                           tripoli) -> None:
    push(client, tripoli, consultations(tripoli, 4))
    page = get(client, HTML).get_data(as_text=True)
    assert '<span class="value suppressed">fewer than 10</span> health consultations' in page
    assert shown(61234) == "61,234"


def test_html_escapes_statement_text(client: FlaskClient, session: Session) -> None:
    row = session.scalar(select(ImpactStatement).where(ImpactStatement.country_code == "LY",
                                                       ImpactStatement.position == 1))
    row.text = "consultations <script>alert(1)</script> & more in {year}"
    session.commit()
    page = get(client, HTML).get_data(as_text=True)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more in 2016" in page


def test_html_by_area_lists_the_areas(client: FlaskClient, tripoli) -> None:
    push(client, tripoli, consultations(tripoli, 10))
    page = get(client, HTML + "&by=area").get_data(as_text=True)
    assert '<ul class="areas" aria-label="By area">' in page
    assert "<li><span>Tripoli</span> <span>10</span></li>" in page
    assert "<li><span>Kufra</span> <span>0</span></li>" in page


def test_html_never_calls_a_complementary_suppressed_area_fewer_than_10(client: FlaskClient, tripoli,
                                                                         sabha) -> None:
    push(client, tripoli, consultations(tripoli, 30))
    push(client, sabha, consultations(sabha, 3))
    page = get(client, HTML + "&by=area").get_data(as_text=True)
    # Tripoli's 30 is withheld to protect Sabha's 3: "fewer than 10" would be false, and would tell which is which.
    assert "<li><span>Tripoli</span> <span>not shown</span></li>" in page
    assert "<li><span>Sabha</span> <span>not shown</span></li>" in page
    assert "cannot be worked out from the others" in page
    assert '<span class="value">33</span>' in page


def test_as_of_is_the_same_in_json_and_html(client: FlaskClient, tripoli) -> None:
    push(client, tripoli, consultations(tripoli, 10, day=DAY))
    as_of = get(client).get_json()["as_of"]
    assert f'<time datetime="{as_of}">' in get(client, HTML).get_data(as_text=True)
