"""DHIS2 reporting (issue 16): the LY mapping, `dhis2 export` JSON/ADX, and `dhis2 push` against a
real local HTTP server answering ImportSummary bodies of the documented shapes."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from lxml import etree
from sqlalchemy.orm import Session

from server.integrations.dhis2 import client, mapping, payload
from server.persistence.seq import next_seq
from sync.domain import Entity
from tests.bulk_records import make_state, write_record
from tests.factories import auth_headers, make_token, make_user

XSD = Path(__file__).parent.parent / "data" / "adx_structure.xsd"
LY = mapping.load("LY")
# 13 sites x (3 elements x 12 sex/age combos + 2 elements x 3 sexes + 1 default)
VALUES_PER_MONTH = len(LY.org_units) * (3 * 12 + 2 * 3 + 1)


def _consultation(session: Session, site: str, team: str, day: date, sex: str, age: str, ref: str | None = None,
                  group: str = "refugee") -> None:
    data = {"population_group": group, "sex": sex, "age_band": age, "visit": "new", "service": "general",
            "referral": False}
    if ref:
        data["beneficiary_ref"] = ref
    state = make_state(Entity.CONSULTATION, team, site, day, data)
    write_record(session, None, dataclasses.replace(state, seq=next_seq(session)))


@pytest.fixture
def records(session: Session) -> None:
    for n in range(5):
        _consultation(session, "ly-mp-tripoli", "ly-mmt-tripoli", date(2016, 1, 3 + n), "f", "18-59", ref="p1")
    _consultation(session, "ly-mp-tripoli", "ly-mmt-tripoli", date(2016, 1, 9), "m", "0-4", ref="p2")
    _consultation(session, "ly-dc-sabha", "ly-dcmt-sabha", date(2016, 1, 31), "x", "60+")
    _consultation(session, "ly-dc-sabha", "ly-dcmt-sabha", date(2016, 2, 1), "f", "5-17")  # February
    state = make_state(Entity.DISTRIBUTION, "ly-mmt-tripoli", "ly-mp-tripoli", date(2016, 1, 12),
                       {"population_group": "idp", "sex": "f", "age_band": "18-59", "item_code": "hk-family",
                        "quantity": 3, "beneficiary_ref": "p1"})
    write_record(session, None, dataclasses.replace(state, seq=next_seq(session)))
    state = make_state(Entity.OUTREACH, "ly-chw-tripoli", "ly-cdc-tripoli-1", date(2016, 1, 20),
                       {"population_group": "host", "activity": "screening",
                        "reached": {"f": {"18-59": 4}, "m": {"5-17": 3}}})
    write_record(session, None, dataclasses.replace(state, seq=next_seq(session)))
    state = make_state(Entity.TRAINING, "ly-chw-tripoli", "ly-cdc-tripoli-1", date(2016, 1, 22),
                       {"topic": "srh", "participant_type": "moh_staff", "days": 2, "participants": {"f": 11, "x": 2}})
    write_record(session, None, dataclasses.replace(state, seq=next_seq(session)))


def _run(app: Any, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=["dhis2", *args], catch_exceptions=False)


def _export_json(app: Any, *periods: str) -> dict[str, Any]:
    args = [part for period in periods for part in ("--period", period)]
    result = _run(app, "export", "--country", "LY", *args)
    assert result.exit_code == 0, result.output + result.stderr
    return json.loads(result.stdout)


def _by_key(document: dict[str, Any]) -> dict[tuple[str, str, str, str], int]:
    return {(v["dataElement"], v["period"], v["orgUnit"], v["categoryOptionCombo"]): int(v["value"])
            for v in document["dataValues"]}


# --- the mapping ------------------------------------------------------------------------------


def test_the_ly_mapping_is_versioned_and_covers_every_combination() -> None:
    assert LY.version >= 1 and LY.id_scheme == "CODE" and LY.org_unit_dimension == "site"
    consultations = next(e for e in LY.data_elements if e.indicator == "health_consultations")
    assert len(consultations.category_option_combos) == 12
    assert consultations.category_option_combos[("f", "18-59")] == "FEMALE_AGE_18_59"


@pytest.mark.parametrize(("change", "message"), [
    (lambda m: m["dataElements"][0]["categoryOptionCombos"].pop("f,0-4"), "no categoryOptionCombo for f,0-4"),
    (lambda m: m["dataElements"][0].update(indicator="nope"), "unknown indicator 'nope'"),
    (lambda m: m["dataElements"][0].update(disaggregation=["site"]), "site is not a fixed-value dimension"),
    (lambda m: m.update(version=0), "version must be a positive integer"),
    (lambda m: m.update(country="TN"), "country is 'TN', expected 'LY'"),
    (lambda m: m["categories"]["sex"]["options"].pop("x"), "categories.sex must map exactly f, m, x"),
])
def test_a_mapping_that_does_not_cover_the_numbers_is_refused(tmp_path, change, message) -> None:
    raw = json.loads(mapping.path_for("LY").read_text())
    change(raw)
    path = tmp_path / "LY.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(mapping.MappingError, match=message):
        mapping.load("LY", path)


def test_an_org_unit_outside_the_country_is_refused(app, session, tmp_path) -> None:
    raw = json.loads(mapping.path_for("LY").read_text())
    raw["orgUnit"]["codes"]["tn-somewhere"] = "TN_X"
    path = tmp_path / "LY.json"
    path.write_text(json.dumps(raw))
    result = _run(app, "export", "--country", "LY", "--period", "201601", "--mapping", str(path))
    assert result.exit_code == 1
    assert "tn-somewhere: not a site of LY" in result.stderr


def test_a_site_with_numbers_but_no_org_unit_fails_the_export(app, session, records, tmp_path) -> None:
    raw = json.loads(mapping.path_for("LY").read_text())
    del raw["orgUnit"]["codes"]["ly-dc-sabha"]
    path = tmp_path / "LY.json"
    path.write_text(json.dumps(raw))
    result = _run(app, "export", "--country", "LY", "--period", "201601", "--mapping", str(path))
    assert result.exit_code == 1
    assert "no orgUnit for site ly-dc-sabha" in result.stderr


def test_bad_periods_and_countries_are_refused(app) -> None:
    for args in (["--country", "LY", "--period", "2016-01"], ["--country", "LY", "--period", "201613"],
                 ["--country", "ZZ", "--period", "201601"], ["--country", "../x", "--period", "201601"]):
        result = _run(app, "export", *args)
        assert result.exit_code == 1, args
        assert "Error:" in result.stderr


# --- export -----------------------------------------------------------------------------------


def test_export_json_holds_the_aggregates_per_site_sex_and_age_zeros_included(app, client, session,
                                                                                records) -> None:
    document = _export_json(app, "201601")
    assert document["dataSet"] == "FS_LY_MONTHLY"
    values = _by_key(document)
    assert len(document["dataValues"]) == len(values) == VALUES_PER_MONTH
    assert {v["period"] for v in document["dataValues"]} == {"201601"}
    consult = "FS_HEALTH_CONSULTATIONS"
    assert values[(consult, "201601", "LY_MP_TRIPOLI", "FEMALE_AGE_18_59")] == 5
    assert values[(consult, "201601", "LY_MP_TRIPOLI", "MALE_AGE_0_4")] == 1
    assert values[(consult, "201601", "LY_DC_SABHA", "SEX_OTHER_AGE_60_PLUS")] == 1
    assert values[(consult, "201601", "LY_DC_SABHA", "FEMALE_AGE_5_17")] == 0  # that one is in February
    assert values[("FS_PEOPLE_CONSULTED", "201601", "LY_MP_TRIPOLI", "FEMALE_AGE_18_59")] == 1  # p1, 5 visits
    assert values[("FS_HYGIENE_KITS", "201601", "LY_MP_TRIPOLI", "default")] == 3
    assert values[("FS_HYGIENE_KIT_RECIPIENTS", "201601", "LY_MP_TRIPOLI", "FEMALE")] == 1
    assert values[("FS_PEOPLE_REACHED_CHW", "201601", "LY_CDC_TRIPOLI_1", "MALE_AGE_5_17")] == 3
    assert values[("FS_PEOPLE_TRAINED", "201601", "LY_CDC_TRIPOLI_1", "FEMALE")] == 11
    assert values[("FS_PEOPLE_TRAINED", "201601", "LY_CDC_TRIPOLI_1", "SEX_OTHER")] == 2
    assert values[("FS_PEOPLE_TRAINED", "201601", "LY_CDC_TRIPOLI_1", "MALE")] == 0

    # The same numbers as the aggregates API (one query path).
    coordinator = auth_headers(make_token(session, make_user(session, role="coordinator", countries=("LY",))))
    for element in LY.data_elements:
        total = client.get(f"/api/v1/aggregates?indicator={element.indicator}&country=LY&month=2016-01&"
                           f"group_by=site", headers=coordinator).get_json()
        exported = sum(v for k, v in values.items() if k[0] == element.data_element)
        assert exported == sum(row["value"] for row in total["rows"]), element.indicator


def test_export_is_deterministic_and_months_are_separate(app, session, records) -> None:
    first = _run(app, "export", "--country", "LY", "--period", "201601", "--period", "201602").stdout
    assert first == _run(app, "export", "--country", "LY", "--period", "201602", "--period", "201601").stdout
    document = json.loads(first)
    assert len(document["dataValues"]) == 2 * VALUES_PER_MONTH
    values = _by_key(document)
    assert values[("FS_HEALTH_CONSULTATIONS", "201602", "LY_DC_SABHA", "FEMALE_AGE_5_17")] == 1


def test_export_adx_validates_and_holds_the_json_values(app, session, records) -> None:
    result = _run(app, "export", "--country", "LY", "--period", "201601", "--format", "adx")
    assert result.exit_code == 0, result.stderr
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    document = etree.fromstring(result.stdout_bytes.strip())
    schema.assertValid(document)
    ns = {"adx": payload.ADX_NAMESPACE}
    groups = document.findall("adx:group", ns)
    assert len(groups) == len(LY.org_units)
    assert {g.get("period") for g in groups} == {"2016-01-01/P1M"}
    tripoli = next(g for g in groups if g.get("orgUnit") == "LY_MP_TRIPOLI")
    value = next(v for v in tripoli.findall("adx:dataValue", ns)
                 if v.get("dataElement") == "FS_HEALTH_CONSULTATIONS" and v.get("SEX") == "FEMALE"
                 and v.get("AGE") == "AGE_18_59")
    assert value.get("value") == "5"
    adx_total = sum(int(v.get("value")) for v in document.iter(f"{{{payload.ADX_NAMESPACE}}}dataValue"))
    json_total = sum(_by_key(_export_json(app, "201601")).values())
    assert adx_total == json_total > 0


# --- push against a local DHIS2 stand-in ------------------------------------------------------


@dataclasses.dataclass
class FakeDhis2:
    url: str
    answers: list[tuple[int, dict[str, Any]]]
    received: list[dict[str, Any]]


@pytest.fixture
def dhis2() -> Iterator[FakeDhis2]:
    fake = FakeDhis2("", [], [])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            fake.received.append({"path": self.path, "headers": dict(self.headers), "body": body})
            status, answer = fake.answers.pop(0)
            raw = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/hmis"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _summary(status: str, imported: int = 0, updated: int = 0, ignored: int = 0,
             conflicts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"responseType": "ImportSummary", "status": status, "importOptions": {"idSchemes": {}},
            "description": "Import process completed successfully",
            "importCount": {"imported": imported, "updated": updated, "ignored": ignored, "deleted": 0},
            "conflicts": conflicts or [], "dataSetComplete": "false"}


def _wrapped(http_status: int, status: str, summary: dict[str, Any]) -> dict[str, Any]:
    names = {200: "OK", 409: "Conflict"}
    return {"httpStatus": names[http_status], "httpStatusCode": http_status, "status": status,
            "message": "One more conflicts encountered, please check import summary." if http_status == 409
            else None, "response": summary}


@pytest.fixture
def dhis2_env(monkeypatch, dhis2) -> FakeDhis2:
    monkeypatch.setenv("DHIS2_URL", dhis2.url)
    monkeypatch.setenv("DHIS2_USERNAME", "fieldsync")
    monkeypatch.setenv("DHIS2_PASSWORD", "s3cret")
    monkeypatch.delenv("DHIS2_TOKEN", raising=False)
    return dhis2


def test_push_posts_the_export_and_reports_a_success(app, session, records, dhis2_env) -> None:
    dhis2_env.answers.append((200, _wrapped(200, "OK", _summary("SUCCESS", imported=VALUES_PER_MONTH))))
    result = _run(app, "push", "--country", "LY", "--period", "201601")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert f"SUCCESS (HTTP 200): imported {VALUES_PER_MONTH}, updated 0, ignored 0, deleted 0" in result.stdout
    (posted,) = dhis2_env.received
    url = urlsplit(posted["path"])
    assert url.path == "/hmis/api/dataValueSets"
    assert parse_qs(url.query) == {"importStrategy": ["CREATE_AND_UPDATE"], "idScheme": ["CODE"],
                                   "dryRun": ["false"]}
    assert posted["headers"]["Content-Type"] == "application/json"
    assert posted["headers"]["Authorization"] == "Basic ZmllbGRzeW5jOnMzY3JldA=="
    assert json.loads(posted["body"]) == _export_json(app, "201601")
    assert "s3cret" not in result.stdout + result.stderr


def test_pushing_a_month_again_sends_the_same_payload(app, session, records, dhis2_env) -> None:
    dhis2_env.answers.append((200, _wrapped(200, "OK", _summary("SUCCESS", imported=VALUES_PER_MONTH))))
    dhis2_env.answers.append((200, _wrapped(200, "OK", _summary("SUCCESS", updated=20, ignored=VALUES_PER_MONTH - 20))))
    assert _run(app, "push", "--country", "LY", "--period", "201601").exit_code == 0
    again = _run(app, "push", "--country", "LY", "--period", "201601")
    assert again.exit_code == 0
    assert f"imported 0, updated 20, ignored {VALUES_PER_MONTH - 20}" in again.stdout
    first, second = dhis2_env.received
    assert first["body"] == second["body"]


def test_a_409_with_conflicts_is_reported_with_codes_and_indexes(app, session, records, dhis2_env) -> None:
    conflicts = [{"object": "LY_DC_KUFRA", "objects": {"orgUnit": "LY_DC_KUFRA"},
                  "value": "Org unit not found or not accessible", "errorCode": "E7610", "property": "orgUnit",
                  "indexes": [40, 41]},
                 {"object": "FS_HYGIENE_KITS", "value": "Data element not found", "errorCode": "E7610",
                  "property": "dataElement", "indexes": [7]}]
    summary = _summary("WARNING", imported=VALUES_PER_MONTH - 3, conflicts=conflicts)
    dhis2_env.answers.append((409, _wrapped(409, "WARNING", summary)))
    result = _run(app, "push", "--country", "LY", "--period", "201601")
    assert result.exit_code == 0, "WARNING: imported what it could"
    assert "WARNING (HTTP 409)" in result.stdout and "2 conflict(s)" in result.stdout
    assert "E7610 object LY_DC_KUFRA property orgUnit at dataValues 40, 41: Org unit not found" in result.stdout


def test_an_error_exits_non_zero(app, session, records, dhis2_env) -> None:
    conflicts = [{"object": "FS_LY_MONTHLY", "value": "Data set not found or not accessible", "errorCode": "E7600",
                  "property": "dataSet", "indexes": []}]
    dhis2_env.answers.append((409, _wrapped(409, "ERROR", _summary("ERROR", ignored=VALUES_PER_MONTH,
                                                                      conflicts=conflicts))))
    result = _run(app, "push", "--country", "LY", "--period", "201601")
    assert result.exit_code == 1
    assert "ERROR (HTTP 409)" in result.stdout and "E7600" in result.stdout


def test_the_pre_236_shape_and_a_dry_run(app, session, records, dhis2_env, monkeypatch) -> None:
    monkeypatch.setenv("DHIS2_TOKEN", "d2pat_abc")
    dhis2_env.answers.append((200, _summary("SUCCESS", imported=0, ignored=10,
                                            conflicts=[{"object": "201601", "value": "Period is locked"}])))
    result = _run(app, "push", "--country", "LY", "--period", "201601", "--dry-run")
    assert result.exit_code == 0, result.stdout
    assert "SUCCESS (HTTP 200): imported 0, updated 0, ignored 10" in result.stdout
    assert "conflict object 201601: Period is locked" in result.stdout
    (posted,) = dhis2_env.received
    assert parse_qs(urlsplit(posted["path"]).query)["dryRun"] == ["true"]
    assert posted["headers"]["Authorization"] == "ApiToken d2pat_abc"


def test_push_without_configuration_or_a_reachable_server_fails(app, session, monkeypatch) -> None:
    for name in ("DHIS2_URL", "DHIS2_TOKEN", "DHIS2_USERNAME", "DHIS2_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    result = _run(app, "push", "--country", "LY", "--period", "201601")
    assert result.exit_code == 1 and "DHIS2_URL is not set" in result.stderr
    monkeypatch.setenv("DHIS2_URL", "http://127.0.0.1:9")
    result = _run(app, "push", "--country", "LY", "--period", "201601")
    assert result.exit_code == 1 and "DHIS2_TOKEN" in result.stderr
    monkeypatch.setenv("DHIS2_TOKEN", "t")
    result = _run(app, "push", "--country", "LY", "--period", "201601")
    assert result.exit_code == 1 and "not reachable" in result.stdout


@pytest.mark.parametrize(("status", "body", "expected"), [
    (401, b"<html>Unauthorized</html>", "ERROR"),
    (500, b'{"httpStatus":"Internal Server Error","httpStatusCode":500,"status":"ERROR","message":"boom"}', "ERROR"),
    (200, b'{"status":"SUCCESS","importCount":{"imported":1,"updated":0,"ignored":0,"deleted":0}}', "SUCCESS"),
])
def test_parse_summary_of_other_answers(status, body, expected) -> None:
    assert client.parse_summary(status, body).status == expected


# --- outbound HTTP that cannot be turned (issue 29 item 5) -----------------------------------------


@pytest.fixture
def other_host() -> Iterator[FakeDhis2]:
    """A second origin, where a redirect would send the token, the POST turned into a GET."""
    fake = FakeDhis2("", [], [])

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            fake.received.append({"method": self.command, "path": self.path, "headers": dict(self.headers)})
            raw = json.dumps(_summary("SUCCESS", imported=1)).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        do_GET = do_POST = _any  # noqa: N815 (http.server's names)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_followed_and_is_a_failure(app, session, records, monkeypatch, other_host, status) -> None:
    """The issue's reproduction: the token went to the redirect's host and a GET "succeeded"."""
    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(status)
            self.send_header("Location", other_host.url + "/api/dataValueSets")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("DHIS2_URL", f"http://127.0.0.1:{server.server_address[1]}")
        monkeypatch.setenv("DHIS2_TOKEN", "d2pat_secret_token")
        result = _run(app, "push", "--country", "LY", "--period", "201601")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert result.exit_code == 1
    assert other_host.received == []
    assert "SUCCESS" not in result.stdout and f"redirect (HTTP {status})" in result.stdout
    assert "d2pat_secret_token" not in result.stdout + result.stderr


def test_a_url_with_credentials_is_refused_without_printing_them(app, session, records, monkeypatch,
                                                                 other_host) -> None:
    monkeypatch.setenv("DHIS2_URL", other_host.url.replace("http://", "http://admin:hunter2pass@"))
    monkeypatch.setenv("DHIS2_TOKEN", "t")
    result = _run(app, "push", "--country", "LY", "--period", "201601")
    assert result.exit_code == 1 and "must not hold credentials" in result.stderr
    assert "hunter2pass" not in result.stdout + result.stderr
    assert other_host.received == []


def test_an_unreachable_url_is_reported_without_its_query_or_credentials(monkeypatch) -> None:
    from server.integrations import outbound

    with pytest.raises(outbound.OutboundError) as refused:
        outbound.send("GET", "http://127.0.0.1:9/x?token=abc123secret")
    assert "abc123secret" not in str(refused.value) and "not reachable" in str(refused.value)


@pytest.mark.parametrize(("status", "body"), [
    (200, b"{}"),
    (200, b'{"status":"OK"}'),
    (200, b"<html>login</html>"),
    (204, b""),
    (302, b""),
])
def test_anything_but_an_import_summary_is_an_error(status, body) -> None:
    assert client.parse_summary(status, body).status == "ERROR"
