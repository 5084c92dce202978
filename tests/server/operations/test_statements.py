"""`flask --app server statements list|set|remove`: admins edit a country's public statements."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import ImpactStatement
from tests.server.operations.test_public import (
    IMPACT,
    fresh_cache,  # noqa: F401  (autouse: clears the page cache here too)
)


def run(app: Flask, *args: str):
    return app.test_cli_runner().invoke(args=["statements", *args])


def rows(session: Session, country: str = "LY") -> list[tuple[int, str, dict, str]]:
    session.expire_all()
    return [(r.position, r.indicator, r.filters, r.text) for r in session.scalars(
        select(ImpactStatement).where(ImpactStatement.country_code == country).order_by(ImpactStatement.position))]


def test_list_shows_the_seeded_statements(app: Flask) -> None:
    result = run(app, "list", "ly")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 4
    assert lines[0].split("\t")[:2] == ["1", "health_consultations"]
    assert '"population_group": ["refugee", "asylum_seeker", "migrant", "idp"]' in lines[0]
    assert lines[2].endswith("people were reached by our community health workers in {year}")
    assert lines[3].split("\t")[:2] == ["4", "people_trained"]
    assert '{"participant_type": ["moh_staff"], "topic": ["srh", "mhpss"]}' in lines[3]


def test_set_adds_a_statement_that_the_page_publishes(app: Flask, session: Session) -> None:
    result = run(app, "set", "LY", "5", "--indicator", "hygiene_kits_distributed", "--filter",
                 "population_group=idp,returnee", "--filter", "item=hk-family", "--text",
                 "hygiene kits were handed out to displaced families in {year}")
    assert result.exit_code == 0, result.output
    assert "LY statement 5 added" in result.stdout
    assert rows(session)[4] == (5, "hygiene_kits_distributed", {"population_group": ["idp", "returnee"],
                                                                 "item": ["hk-family"]},
                                "hygiene kits were handed out to displaced families in {year}")
    body = app.test_client().get(IMPACT).get_json()
    assert body["statements"][4] == {"indicator": "hygiene_kits_distributed", "value": 0, "suppressed": False,
                                     "text": "hygiene kits were handed out to displaced families in 2016"}


def test_set_changes_only_what_is_given(app: Flask, session: Session) -> None:
    before = rows(session)[0]
    etag = app.test_client().get(IMPACT).headers["ETag"]
    result = run(app, "set", "LY", "1", "--text", "consultations were given to people on the move in {year}")
    assert result.exit_code == 0, result.output
    assert "updated" in result.stdout
    assert rows(session)[0] == (1, before[1], before[2], "consultations were given to people on the move in {year}")
    assert app.test_client().get(IMPACT).headers["ETag"] != etag

    assert run(app, "set", "LY", "1", "--no-filters").exit_code == 0
    assert rows(session)[0][2] == {}


def test_refusals_change_nothing(app: Flask, session: Session) -> None:
    before = rows(session)
    refused = [
        (["set", "LY", "1", "--indicator", "lives_saved"], "unknown indicator"),
        (["set", "LY", "1", "--filter", "site=ly-mp-tripoli"], "not allowed on a public statement"),
        (["set", "LY", "1", "--filter", "team=ly-mmt-tripoli"], "not allowed on a public statement"),
        (["set", "LY", "1", "--filter", "population_group=martians"], "Unknown value: martians"),
        (["set", "LY", "1", "--filter", "item=hk-family"], "has no dimension 'item'"),
        (["set", "LY", "1", "--filter", "population_group"], "expected DIMENSION=CODE"),
        (["set", "LY", "1", "--text", "{count} consultations in {year}"], "no braces other than"),
        (["set", "LY", "1", "--text", "   "], "the text is empty"),
        (["set", "LY", "1", "--text", "x" * 301], "longer than 300"),
        (["set", "LY", "1", "--filter", "sex=f", "--no-filters"], "exclude each other"),
        (["set", "LY", "7", "--text", "only a text"], "needs --indicator and --text"),
        (["set", "ZZ", "1", "--text", "t"], "country 'ZZ' does not exist"),
        (["set", "LY", "0", "--text", "t"], "0"),
        (["remove", "LY", "7"], "LY has no statement 7"),
    ]
    for args, message in refused:
        result = run(app, *args)
        assert result.exit_code != 0, args
        assert message in result.output, (args, result.output)
    assert rows(session) == before


def test_remove_takes_the_statement_off_the_page(app: Flask, session: Session) -> None:
    result = run(app, "remove", "LY", "2")
    assert result.exit_code == 0, result.output
    assert [row[0] for row in rows(session)] == [1, 3, 4]
    body = app.test_client().get(IMPACT).get_json()
    assert [s["indicator"] for s in body["statements"]] == ["health_consultations", "people_reached_by_chws",
                                                            "people_trained"]
