"""The `reference` pull stream and the admin CLI that edits reference data (`flask reference ...`)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from server.models import Area, Country, Item, Site, Team
from server.operations import reference
from server.operations.seed import AREAS, ITEMS, SERVICES, SITES, TEAMS
from tests.factories import make_device, make_record
from tests.server.operations.test_pull import pull_all


def cli(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=["reference", *args])


def by_key(changes: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(c["entity"], c["id"]): c for c in changes}


def add_tunisia(session: Session) -> None:
    """A second country programme, to check a device sees only its own."""
    reference.upsert(session, Country, "TN", code="TN", name="Tunisia")
    reference.upsert(session, Area, "tn-tunis", id="tn-tunis", country_code="TN", name="Tunis", pcode=None)
    reference.upsert(session, Site, "tn-mp-tunis", id="tn-mp-tunis", area_id="tn-tunis", name="Mobile point Tunis",
                     site_type="mobile_point", active=True)
    team, _ = reference.upsert(session, Team, "tn-mmt", id="tn-mmt", country_code="TN", name="MMT Tunis",
                               team_type="mobile_medical")
    reference.set_team_sites(session, team, ["tn-mp-tunis"])


# --- the stream ------------------------------------------------------------------------------


def test_initial_reference_pull_has_the_whole_country(client: FlaskClient, session: Session) -> None:
    device = make_device(session)
    changes, _ = pull_all(client, device.headers, "reference", limit=7)

    seqs = [c["seq"] for c in changes]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    keys = by_key(changes)
    assert {entity for entity, _ in keys} == {"country", "area", "site", "team", "item", "service"}
    assert keys[("country", "LY")]["data"] == {"code": "LY", "name": "Libya", "name_ar": "ليبيا"}  # name_ar: issue 15
    assert len([k for k in keys if k[0] == "area"]) == len(AREAS)
    assert len([k for k in keys if k[0] == "site"]) == len(SITES)
    assert len([k for k in keys if k[0] == "team"]) == len(TEAMS)
    assert len([k for k in keys if k[0] == "item"]) >= len(ITEMS)
    assert len([k for k in keys if k[0] == "service"]) >= len(SERVICES)
    assert keys[("team", "ly-chw-tripoli")]["data"] == {
        "id": "ly-chw-tripoli", "country": "LY", "name": "Community health workers Tripoli", "team_type": "chw",
        "site_ids": ["ly-cdc-tripoli-1", "ly-cdc-tripoli-2", "ly-mp-tripoli"],
        "name_ar": "عاملو الصحة المجتمعية في طرابلس"}  # the demo's Arabic names: issue 30
    assert keys[("site", "ly-mp-tripoli")]["data"] == {
        "id": "ly-mp-tripoli", "area_id": "ly-tripoli", "name": "Mobile point for displaced people, Tripoli",
        "site_type": "mobile_point", "active": True, "name_ar": "نقطة متنقلة للنازحين، طرابلس"}
    assert keys[("area", "ly-sabha")]["data"] == {"id": "ly-sabha", "country": "LY", "name": "Sabha", "pcode": None,
                                                  "name_ar": "سبها"}
    assert keys[("item", "hk-family")]["data"] == {"code": "hk-family", "name": "Hygiene kit (family)",
                                                   "category": "hygiene_kit", "name_ar": "حقيبة نظافة (للأسرة)"}
    assert keys[("service", "mhpss")]["data"]["code"] == "mhpss"
    assert all(c["op"] == "upsert" and "version" not in c for c in changes)


def test_a_device_never_receives_another_countrys_reference_data(client: FlaskClient, session: Session) -> None:
    add_tunisia(session)
    libyan, tunisian = make_device(session), make_device(session, team_id="tn-mmt")
    # A Tunisian row deleted later leaves a Tunisian tombstone; an item tombstone is for everyone.
    reference.upsert(session, Area, "tn-sfax", id="tn-sfax", country_code="TN", name="Sfax", pcode=None)
    reference.delete(session, Area, "tn-sfax")
    reference.upsert(session, Item, "soap", code="soap", name="Soap", category="nfi")
    reference.delete(session, Item, "soap")

    ly_keys = set(by_key(pull_all(client, libyan.headers, "reference")[0]))
    tn_changes = pull_all(client, tunisian.headers, "reference")[0]
    tn_keys = set(by_key(tn_changes))

    assert not {key for key in ly_keys if key[1].startswith("tn") or key[1] == "TN"}
    assert {("country", "TN"), ("area", "tn-tunis"), ("site", "tn-mp-tunis"), ("team", "tn-mmt"),
            ("area", "tn-sfax")} <= tn_keys
    assert not {key for key in tn_keys if key[0] in ("area", "site", "team", "country") and key[1].lower()[:2] == "ly"}
    assert ("item", "soap") in ly_keys and ("item", "soap") in tn_keys
    assert by_key(tn_changes)[("area", "tn-sfax")] == {"seq": by_key(tn_changes)[("area", "tn-sfax")]["seq"],
                                                       "entity": "area", "id": "tn-sfax", "op": "remove"}


# --- edits through the CLI reach tablets ------------------------------------------------------


def test_a_deactivated_site_arrives_as_remove_and_leaves_its_teams(app: Flask, client: FlaskClient,
                                                                   session: Session) -> None:
    device = make_device(session)
    initial, cursor = pull_all(client, device.headers, "reference")
    cursor_seq = max(c["seq"] for c in initial)

    result = cli(app, "deactivate-site", "ly-mp-tripoli")
    assert result.exit_code == 0, result.output

    changes, cursor = pull_all(client, device.headers, "reference", cursor=cursor)
    keys = by_key(changes)
    assert keys[("site", "ly-mp-tripoli")] == {"seq": keys[("site", "ly-mp-tripoli")]["seq"], "entity": "site",
                                               "id": "ly-mp-tripoli", "op": "remove"}
    assert all(c["seq"] > cursor_seq for c in changes)
    # Both teams working there come again, without it.
    assert keys[("team", "ly-mmt-tripoli")]["data"]["site_ids"] == []
    assert keys[("team", "ly-chw-tripoli")]["data"]["site_ids"] == ["ly-cdc-tripoli-1", "ly-cdc-tripoli-2"]
    assert set(keys) == {("site", "ly-mp-tripoli"), ("team", "ly-mmt-tripoli"), ("team", "ly-chw-tripoli")}

    # Reactivated: an upsert again, at a higher seq.
    assert cli(app, "activate-site", "ly-mp-tripoli").exit_code == 0
    again = by_key(pull_all(client, device.headers, "reference", cursor=cursor)[0])
    assert again[("site", "ly-mp-tripoli")]["op"] == "upsert"
    assert again[("site", "ly-mp-tripoli")]["seq"] > keys[("site", "ly-mp-tripoli")]["seq"]


def test_a_renamed_area_arrives_as_an_upsert_with_a_higher_seq(app: Flask, client: FlaskClient,
                                                               session: Session) -> None:
    device = make_device(session)
    before, cursor = pull_all(client, device.headers, "reference")
    old_seq = by_key(before)[("area", "ly-tripoli")]["seq"]

    result = cli(app, "update-area", "ly-tripoli", "--name", "Tripoli (Greater)")
    assert result.exit_code == 0, result.output

    changes, _ = pull_all(client, device.headers, "reference", cursor=cursor)
    assert [(c["entity"], c["id"], c["op"], c["data"]["name"]) for c in changes] == [
        ("area", "ly-tripoli", "upsert", "Tripoli (Greater)")]
    assert changes[0]["seq"] > max(c["seq"] for c in before) > old_seq


def test_an_unchanged_edit_takes_no_seq(app: Flask, client: FlaskClient, session: Session) -> None:
    device = make_device(session)
    _, cursor = pull_all(client, device.headers, "reference")
    result = cli(app, "update-area", "ly-tripoli", "--name", "Tripoli")
    assert result.exit_code == 0 and "unchanged" in result.output
    assert pull_all(client, device.headers, "reference", cursor=cursor)[0] == []


def test_add_and_update_through_the_cli(app: Flask, client: FlaskClient, session: Session) -> None:
    device = make_device(session)
    _, cursor = pull_all(client, device.headers, "reference")
    for args in (
        ["add-site", "ly-hf-misrata", "--area", "ly-misrata", "--name", "Clinic Misrata", "--type", "health_facility"],
        ["add-team", "ly-sc-misrata", "--country", "LY", "--name", "Static clinic Misrata", "--type",
         "static_clinic", "--site", "ly-hf-misrata"],
        ["update-team", "ly-sc-misrata", "--site", "ly-hf-misrata", "--site", "ly-mp-misrata"],
        ["update-site", "ly-hf-misrata", "--name", "Health facility Misrata"],
        ["add-item", "soap", "--name", "Soap", "--category", "nfi"],
        ["update-item", "soap", "--name", "Soap bar"],
        ["add-service", "nutrition", "--name", "Nutrition"],
        ["update-service", "nutrition", "--name", "Nutrition screening"],
        ["add-area", "ly-sirte", "--country", "LY", "--name", "Sirte"],
    ):
        result = cli(app, *args)
        assert result.exit_code == 0, (args, result.output)

    keys = by_key(pull_all(client, device.headers, "reference", cursor=cursor)[0])
    assert keys[("site", "ly-hf-misrata")]["data"]["name"] == "Health facility Misrata"
    assert keys[("team", "ly-sc-misrata")]["data"]["site_ids"] == ["ly-hf-misrata", "ly-mp-misrata"]
    assert keys[("item", "soap")]["data"] == {"code": "soap", "name": "Soap bar", "category": "nfi"}
    assert keys[("service", "nutrition")]["data"] == {"code": "nutrition", "name": "Nutrition screening"}
    assert keys[("area", "ly-sirte")]["op"] == "upsert"


def test_a_deleted_row_arrives_as_remove(app: Flask, client: FlaskClient, session: Session) -> None:
    device = make_device(session)
    assert cli(app, "add-site", "ly-hf-zawiya", "--area", "ly-zawiya", "--name", "Clinic Zawiya", "--type",
               "health_facility").exit_code == 0
    assert cli(app, "update-team", "ly-dcmt-zawiya", "--site", "ly-dc-zawiya", "--site", "ly-hf-zawiya").exit_code == 0
    _, cursor = pull_all(client, device.headers, "reference")

    result = cli(app, "delete", "site", "ly-hf-zawiya")
    assert result.exit_code == 0, result.output

    changes, _ = pull_all(client, device.headers, "reference", cursor=cursor)
    keys = by_key(changes)
    assert keys[("site", "ly-hf-zawiya")]["op"] == "remove"
    assert keys[("team", "ly-dcmt-zawiya")]["data"]["site_ids"] == ["ly-dc-zawiya"]
    assert session.get(Site, "ly-hf-zawiya") is None


@pytest.mark.parametrize("args, message", [
    (["delete", "site", "ly-mp-tripoli"], "still in use"),  # a record was made there
    (["delete", "area", "ly-tripoli"], "still in use"),  # it has sites
    (["delete", "team", "nope"], "does not exist"),
    (["add-site", "ly-mp-tripoli", "--area", "ly-tripoli", "--name", "x", "--type", "mobile_point"], "already exists"),
    (["add-site", "ly-x", "--area", "nowhere", "--name", "x", "--type", "mobile_point"], "area 'nowhere'"),
    (["update-item", "nope", "--name", "x"], "does not exist"),
    (["update-site", "ly-mp-tripoli", "--area", "tn-tunis"], "cannot move from LY to TN"),
    (["update-team", "ly-mmt-tripoli", "--site", "tn-mp-tunis"], "cannot move from TN to LY"),
    (["add-team", "ly-t", "--country", "XX", "--name", "x", "--type", "chw"], "country 'XX'"),
])
def test_refused_edits_change_nothing(app: Flask, client: FlaskClient, session: Session, args: list[str],
                                      message: str) -> None:
    add_tunisia(session)
    make_record(session, site_id="ly-mp-tripoli")
    device = make_device(session)
    session.commit()
    _, cursor = pull_all(client, device.headers, "reference")

    result = cli(app, *args)

    assert result.exit_code != 0 and message in result.output, result.output
    assert pull_all(client, device.headers, "reference", cursor=cursor)[0] == []


def test_an_unknown_site_type_is_refused(app: Flask) -> None:
    result = cli(app, "add-site", "ly-x", "--area", "ly-tripoli", "--name", "x", "--type", "castle")
    assert result.exit_code != 0 and "castle" in result.output
