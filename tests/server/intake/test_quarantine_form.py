"""`GET /api/v1/quarantine/<id>/form` (issue 30 §3): a quarantined mutation as a form a person can
fix, in English and Arabic: labelled fields, the team's sites and the domain's codes by name, the
reasons translated."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from tests.factories import (
    auth_headers,
    consultation_data,
    correct_mutation,
    create_mutation,
    make_device,
    make_team,
    make_token,
    make_user,
    push_body,
    push_headers,
)


def _quarantine(client, session: Session, mutation: dict[str, Any]) -> tuple[int, dict[str, str]]:
    tablet = make_device(session)
    coordinator = auth_headers(make_token(session, make_user(session)))
    session.commit()
    body = push_body([mutation])
    assert client.post("/api/v1/sync/push", json=body, headers=push_headers(tablet, body)).get_json()[
        "results"][0]["status"] == "rejected"
    [item] = client.get("/api/v1/quarantine", headers=coordinator).get_json()["items"]
    return item["id"], coordinator


def _field(form: dict[str, Any], name: str) -> dict[str, Any]:
    [found] = [f for f in form["fields"] if f["name"] == name]
    return found


def test_a_rejected_creation_is_a_form_of_labelled_fields_with_choices_by_name(client, session) -> None:
    data = consultation_data(site_id="ly-mp-benghazi", sex="q", population_group="idp", service="mhpss")
    data["patient_name"] = "Fatima"
    quarantine_id, coordinator = _quarantine(client, session, create_mutation(data=data))

    answer = client.get(f"/api/v1/quarantine/{quarantine_id}/form", headers=coordinator)

    assert answer.status_code == 200, answer.get_json()
    form = answer.get_json()
    assert (form["entity"], form["kind"], form["editable"], form["team_id"], form["country"]) == (
        "consultation", "create", True, "ly-mmt-tripoli", "LY")
    assert form["entity_label_ar"] == "استشارة صحية"
    assert form["reason"]["code"] == "rejected" and form["reason"]["label_ar"].startswith("مرفوض")

    site = _field(form, "site_id")
    assert (site["label"], site["label_ar"], site["type"], site["value"]) == ("Site", "الموقع", "choice",
                                                                              "ly-mp-benghazi")
    # The team's active sites, by name in both languages: not free text.
    assert {c["value"] for c in site["choices"]} == {"ly-mp-tripoli"}
    assert site["choices"][0]["label_ar"] == "نقطة متنقلة للنازحين، طرابلس"
    assert site["errors"] == []  # the site is checked once the fields' own rules pass

    sex = _field(form, "sex")
    assert sex["type"] == "choice" and sex["value"] == "q"
    assert {(c["value"], c["label"], c["label_ar"]) for c in sex["choices"]} >= {("f", "Female", "أنثى")}
    assert sex["errors"][0]["message_ar"] == "يجب أن تكون إحدى القيم: f, m, x."
    group = _field(form, "population_group")
    assert ("idp", "Internally displaced person", "نازح داخلياً") in {
        (c["value"], c["label"], c["label_ar"]) for c in group["choices"]}
    service = _field(form, "service")
    assert {"value": "mhpss", "label": "Mental health and psychosocial support",
            "label_ar": "الصحة النفسية والدعم النفسي الاجتماعي"} in service["choices"]
    assert _field(form, "referral")["type"] == "boolean"
    assert _field(form, "occurred_on")["type"] == "date"
    assert _field(form, "recorded_at")["type"] == "datetime"
    assert _field(form, "team_id")["type"] == "fixed"
    age = _field(form, "age_years")
    assert (age["type"], age["min"], age["max"], age["required"], age["sent"]) == ("integer", 0, 130, False, False)
    assert form["unknown_fields"] == [{"name": "patient_name", "value": "Fatima", "errors": [
        {"message": "Unknown field.", "message_ar": "حقل غير معروف."}]}]
    assert {e["field"] for e in form["errors"]} == {"data.sex", "data.patient_name"}
    assert [e["label_ar"] for e in form["errors"] if e["field"] == "data.sex"] == ["الجنس"]


def test_a_rejected_correction_lists_only_the_fields_it_changes(client, session) -> None:
    record_id = "7b0cf7cf-4a9e-4b53-a1c7-0b3c0a9d1e11"
    quarantine_id, coordinator = _quarantine(client, session, correct_mutation(record_id, 1, {"sex": "q"}))
    form = client.get(f"/api/v1/quarantine/{quarantine_id}/form", headers=coordinator).get_json()
    assert form["kind"] == "correct" and form["record_id"] == record_id
    assert [f["name"] for f in form["fields"]] == ["sex"]


def test_a_site_of_another_team_is_explained_in_both_languages(client, session) -> None:
    quarantine_id, coordinator = _quarantine(client, session,
                                             create_mutation(data=consultation_data(site_id="ly-mp-benghazi")))
    site = _field(client.get(f"/api/v1/quarantine/{quarantine_id}/form", headers=coordinator).get_json(), "site_id")
    assert site["errors"] == [{"message": "Unknown site for this team.", "message_ar": "موقع غير معروف لهذا الفريق."}]


def test_scope_and_unknown_items(client, session) -> None:
    quarantine_id, _ = _quarantine(client, session, create_mutation(data=consultation_data(sex="q")))
    make_team(session)
    tunisian = auth_headers(make_token(session, make_user(session, countries=("TN",))))
    session.commit()
    assert client.get(f"/api/v1/quarantine/{quarantine_id}/form", headers=tunisian).status_code == 404
    root = auth_headers(make_token(session, make_user(session, role="admin", countries=())))
    session.commit()
    assert client.get(f"/api/v1/quarantine/{quarantine_id + 999}/form", headers=root).status_code == 404
    assert client.get(f"/api/v1/quarantine/{quarantine_id}/form", headers=root).status_code == 200
