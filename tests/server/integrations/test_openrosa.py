"""OpenRosa intake over HTTP (openrosa.md), on SQLite and PostgreSQL: what ODK Collect does and sees."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import uuid
import xml.etree.ElementTree as ET
import zlib
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from server.integrations.openrosa.forms import served_form
from server.models import (
    Conflict,
    Device,
    Item,
    OpenRosaAttachment,
    OpenRosaSubmission,
    QuarantinedMutation,
    Record,
    RecordRevision,
    Site,
)
from server.operations.reference import set_site_active
from tests.factories import EnrolledDevice, auth_headers, make_device, make_token, make_user
from tests.openrosa_instances import (
    consultation_values,
    distribution_values,
    fill,
    multipart,
    outreach_values,
    training_values,
)

RESPONSE = "{http://openrosa.org/http/response}"
FORMLIST = "{http://openrosa.org/xforms/xformsList}"
MANIFEST = "{http://openrosa.org/xforms/xformsManifest}"


def count(session: Session, model: type, *where: Any) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def base(device: EnrolledDevice) -> str:
    return f"/openrosa/v1/key/{device.token}"


def message(response) -> tuple[str | None, str]:  # type: ignore[no-untyped-def]
    root = ET.fromstring(response.data)
    assert root.tag == f"{RESPONSE}OpenRosaResponse"
    node = root.find(f"{RESPONSE}message")
    assert node is not None
    return node.get("nature"), node.text or ""


def assert_openrosa_headers(response) -> None:  # type: ignore[no-untyped-def]
    assert response.headers["X-OpenRosa-Version"] == "1.0"
    assert response.headers["Date"]


def submit(client: FlaskClient, device: EnrolledDevice, xml: bytes, **options: Any):  # type: ignore[no-untyped-def]
    return client.post(f"{base(device)}/submission", data=multipart(xml, **options),
                       content_type="multipart/form-data")


def form_xml(form_id: str) -> bytes:
    return served_form(form_id).xml


# --- forms, manifest, media --------------------------------------------------------------------


def test_form_list_download_manifest_and_media(client: FlaskClient, device: EnrolledDevice) -> None:
    response = client.get(f"{base(device)}/formList", base_url="https://tablets.example.org")
    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    assert_openrosa_headers(response)
    root = ET.fromstring(response.data)
    assert root.tag == f"{FORMLIST}xforms"
    forms = {x.findtext(f"{FORMLIST}formID"): x for x in root.findall(f"{FORMLIST}xform")}
    assert set(forms) == {"fieldsync_consultation", "fieldsync_distribution", "fieldsync_outreach",
                          "fieldsync_training",
                          "fieldsync_status"}  # the last shows what became of what was sent (issue 30)
    for entry in forms.values():
        download = entry.findtext(f"{FORMLIST}downloadUrl") or ""
        assert download.startswith(f"https://tablets.example.org/openrosa/v1/key/{device.token}/")
        assert entry.findtext(f"{FORMLIST}name") and entry.findtext(f"{FORMLIST}version")
        xform = client.get(download.removeprefix("https://tablets.example.org"))
        assert xform.status_code == 200 and xform.mimetype == "text/xml"
        assert_openrosa_headers(xform)
        assert entry.findtext(f"{FORMLIST}hash") == "md5:" + hashlib.md5(xform.data).hexdigest()
        manifest_url = (entry.findtext(f"{FORMLIST}manifestUrl") or "").removeprefix("https://tablets.example.org")
        manifest = client.get(manifest_url)
        assert manifest.status_code == 200
        assert_openrosa_headers(manifest)
        media = ET.fromstring(manifest.data)
        assert media.tag == f"{MANIFEST}manifest"
        files = media.findall(f"{MANIFEST}mediaFile")
        wanted = "quarantine.csv" if entry.findtext(f"{FORMLIST}formID") == "fieldsync_status" else "sites.csv"
        assert wanted in [f.findtext(f"{MANIFEST}filename") for f in files]
        for media_file in files:
            url = (media_file.findtext(f"{MANIFEST}downloadUrl") or "").replace("http://localhost", "")
            served = client.get(url)
            assert served.status_code == 200
            assert media_file.findtext(f"{MANIFEST}hash") == "md5:" + hashlib.md5(served.data).hexdigest()
            assert served.data.splitlines()[0].startswith(b"name,label")


def test_form_list_filters_by_form_id(client: FlaskClient, device: EnrolledDevice) -> None:
    response = client.get(f"{base(device)}/formList?formID=fieldsync_outreach")
    ids = [x.findtext(f"{FORMLIST}formID") for x in ET.fromstring(response.data).findall(f"{FORMLIST}xform")]
    assert ids == ["fieldsync_outreach"]


def _sites_csv(client: FlaskClient, device: EnrolledDevice) -> bytes:
    return client.get(f"{base(device)}/forms/fieldsync_consultation/media/sites.csv").data


def _manifest_hash(client: FlaskClient, device: EnrolledDevice) -> str:
    manifest = ET.fromstring(client.get(f"{base(device)}/forms/fieldsync_consultation/manifest").data)
    (sites,) = [f for f in manifest.findall(f"{MANIFEST}mediaFile") if f.findtext(f"{MANIFEST}filename") == "sites.csv"]
    return sites.findtext(f"{MANIFEST}hash") or ""


def test_sites_csv_holds_the_teams_active_sites_and_a_change_changes_the_manifest_hash(
    client: FlaskClient, session: Session, device: EnrolledDevice
) -> None:
    before = _manifest_hash(client, device)
    rows = _sites_csv(client, device).decode().splitlines()[1:]
    site_ids = [row.split(",")[0] for row in rows]
    assert "ly-mp-tripoli" in site_ids
    assert "ly-mp-benghazi" not in site_ids  # another team's site

    set_site_active(session, "ly-mp-tripoli", False)
    session.commit()
    assert "ly-mp-tripoli" not in _sites_csv(client, device).decode()
    assert _manifest_hash(client, device) != before


def test_media_csvs_are_name_and_label_and_a_rename_changes_the_manifest_hash(
    client: FlaskClient, session: Session, device: EnrolledDevice
) -> None:
    # ODK's column for translated external choices is `label::<the form's language name>`.
    site = session.get(Site, "ly-mp-tripoli")
    assert site is not None
    site.name_ar = "مستشفى طرابلس، المركزي"  # a comma: the CSV must quote it
    site.name = "Tripoli central"
    item = session.execute(select(Item).order_by(Item.code).limit(1)).scalar_one()
    item.name_ar = None
    session.commit()

    rows = list(csv.reader(io.StringIO(_sites_csv(client, device).decode("utf-8"))))
    assert rows[0] == ["name", "label"]  # no Arabic column: it broke ODK Web Forms, and Collect ignores it
    # So the Arabic name shares the one label Collect shows, in either form language (issue 30 §5).
    assert ["ly-mp-tripoli", "Tripoli central / مستشفى طرابلس، المركزي"] in rows
    # The bytes are deterministic: a renamed site changes them, so it reaches tablets via the manifest hash.
    before = _manifest_hash(client, device)
    site.name = "Tripoli central hospital"
    session.commit()
    assert _manifest_hash(client, device) != before

    items = client.get(f"{base(device)}/forms/fieldsync_distribution/media/items.csv").data.decode("utf-8")
    item_rows = list(csv.reader(io.StringIO(items)))
    assert item_rows[0] == ["name", "label"]
    assert [item.code, item.name] in item_rows  # no Arabic name: the English one alone


def test_unknown_form_and_media_are_openrosa_404s(client: FlaskClient, device: EnrolledDevice) -> None:
    for path in ("/forms/nope.xml", "/forms/nope/manifest", "/forms/fieldsync_outreach/media/items.csv",
                 "/no/such/thing"):
        response = client.get(base(device) + path)
        assert response.status_code == 404, path
        assert message(response)[0] == "error"
        assert_openrosa_headers(response)


# --- keys ----------------------------------------------------------------------------------------


def test_unknown_key_is_401_in_openrosa_words(client: FlaskClient) -> None:
    for method, path in (("GET", "formList"), ("HEAD", "submission"), ("POST", "submission")):
        response = client.open(f"/openrosa/v1/key/fsd_not-a-key/{path}", method=method)
        assert response.status_code == 401, path
        assert "WWW-Authenticate" not in response.headers  # Collect would ask for a password
        assert_openrosa_headers(response)
        if method != "HEAD":
            assert message(response)[0] == "error"


def test_a_json_device_token_cannot_call_openrosa_routes_with_a_bearer_header_only(
    client: FlaskClient, device: EnrolledDevice
) -> None:
    response = client.get("/openrosa/v1/key/x/formList", headers=device.headers)
    assert response.status_code == 401


# --- submissions ---------------------------------------------------------------------------------


def test_head_then_post_creates_the_record_like_a_push(
    client: FlaskClient, session: Session, device: EnrolledDevice
) -> None:
    head = client.head(f"{base(device)}/submission")
    assert head.status_code == 204
    assert int(head.headers["X-OpenRosa-Accept-Content-Length"]) > 0
    assert_openrosa_headers(head)

    instance_id, xml = fill(form_xml("fieldsync_consultation"),
                            consultation_values(beneficiary_ref="B-17", referral="yes"),
                            end="2026-03-02T10:15:30.123+02:00")
    response = submit(client, device, xml)
    assert response.status_code == 201, response.data
    assert message(response)[0] == "submit_success"
    assert_openrosa_headers(response)

    record = session.get(Record, instance_id)
    assert record is not None
    assert (record.entity, record.team_id, record.site_id, record.version) == (
        "consultation", "ly-mmt-tripoli", "ly-mp-tripoli", 1)
    assert record.recorded_at.startswith("2026-03-02T")
    assert record.data["referral"] is True
    assert record.beneficiary_ref == "B-17"
    assert count(session, RecordRevision, RecordRevision.record_id == instance_id) == 1


@pytest.mark.parametrize(("form_id", "values"), [
    ("fieldsync_distribution", distribution_values()),
    ("fieldsync_outreach", outreach_values()),
    ("fieldsync_training", training_values()),
    ("fieldsync_training", training_values(title="", participants={"f": "4", "m": "0", "x": ""})),
])
def test_distribution_outreach_and_training_map_to_their_fields(client, session, device, form_id, values) -> None:
    instance_id, xml = fill(form_xml(form_id), values)
    response = submit(client, device, xml)
    assert response.status_code == 201, response.data
    record = session.get(Record, instance_id)
    assert record is not None
    if form_id == "fieldsync_distribution":
        assert record.data["quantity"] == 2 and record.data["age_years"] == 34
        assert record.data["age_band"] == "18-59"  # derived, as for a push
    elif form_id == "fieldsync_outreach":
        assert record.data["reached"] == {"f": {"18-59": 12}, "m": {"5-17": 3}}
    elif values["title"]:
        assert record.entity == "training" and record.population_group is None
        assert record.data == {"topic": "mhpss", "participant_type": "moh_staff", "days": 3,
                               "title": "PFA refresher", "participants": {"f": 12, "m": 7}}
    else:  # empty counts and an empty title are left out, as Collect means them
        assert record.data["participants"] == {"f": 4} and "title" not in record.data


def test_identical_resend_is_answered_again_and_counted_once(client, session, device) -> None:
    instance_id, xml = fill(form_xml("fieldsync_consultation"), consultation_values())
    first = submit(client, device, xml)
    again = submit(client, device, xml)
    assert first.status_code == 201 and again.status_code in (201, 202)
    assert count(session, Record, Record.id == instance_id) == 1
    assert count(session, RecordRevision, RecordRevision.record_id == instance_id) == 1
    assert session.get(Record, instance_id).seq == session.get(Record, instance_id).seq  # type: ignore[union-attr]


def test_changed_resend_without_deprecated_id_is_409(client, session, device) -> None:
    instance_id, xml = fill(form_xml("fieldsync_consultation"), consultation_values())
    assert submit(client, device, xml).status_code == 201
    _, changed = fill(form_xml("fieldsync_consultation"), consultation_values(sex="m"), instance_id=instance_id)
    response = submit(client, device, changed)
    assert response.status_code == 409
    assert message(response)[0] == "error"
    assert session.get(Record, instance_id).data["sex"] == "f"  # type: ignore[union-attr]


def test_another_tablets_instance_id_is_409_whatever_it_sends(client, session, device) -> None:
    instance_id, xml = fill(form_xml("fieldsync_consultation"), consultation_values())
    assert submit(client, device, xml).status_code == 201
    other = make_device(session)
    session.commit()
    _, changed = fill(form_xml("fieldsync_consultation"), consultation_values(sex="m"), instance_id=instance_id)
    for sent in (xml, changed):  # the very same XML, or other XML, under the first tablet's instanceID
        response = submit(client, other, sent)
        assert response.status_code == 409
        assert "Another tablet" in message(response)[1]
    assert session.get(OpenRosaSubmission, instance_id).device_id == device.device.id  # type: ignore[union-attr]
    assert session.get(Record, instance_id).data["sex"] == "f"  # type: ignore[union-attr]


def test_a_training_edited_in_collect_is_corrected_with_its_new_counts_and_an_emptied_title(
        client, session, device) -> None:
    original, xml = fill(form_xml("fieldsync_training"), training_values())
    assert submit(client, device, xml).status_code == 201
    _, edited = fill(form_xml("fieldsync_training"), training_values(title="", participants={"f": "5", "m": ""}),
                     deprecated_id=original)
    response = submit(client, device, edited)
    assert response.status_code == 201, response.data
    record = session.get(Record, original)
    assert record is not None and record.version == 2
    assert record.data["participants"] == {"f": 5}  # the whole count group is the edit's
    assert "title" not in record.data  # emptied in the edit


def test_deprecated_id_edit_is_a_correction_in_the_records_history(client, session, device) -> None:
    original, xml = fill(form_xml("fieldsync_consultation"), consultation_values(beneficiary_ref="B-1"))
    assert submit(client, device, xml).status_code == 201
    edit, edited = fill(form_xml("fieldsync_consultation"), consultation_values(sex="m", beneficiary_ref=""),
                        deprecated_id=original)
    response = submit(client, device, edited)
    assert response.status_code == 201, response.data
    record = session.get(Record, original)
    assert record is not None and record.version == 2
    assert record.data["sex"] == "m"
    assert record.beneficiary_ref is None  # emptied in the edit
    assert session.get(Record, edit) is None  # an edit is not a second record
    kinds = session.scalars(select(RecordRevision.kind).where(RecordRevision.record_id == original)
                            .order_by(RecordRevision.version)).all()
    assert kinds == ["create", "correct"]
    # An edit of the edit builds on version 2.
    _, again = fill(form_xml("fieldsync_consultation"), consultation_values(sex="x"), deprecated_id=edit)
    assert submit(client, device, again).status_code == 201
    assert session.get(Record, original).version == 3  # type: ignore[union-attr]


def test_a_stale_edit_overlapping_a_server_change_is_a_conflict(client, session, device) -> None:
    from tests.factories import correct_mutation, push_body, push_headers

    original, xml = fill(form_xml("fieldsync_consultation"), consultation_values())
    assert submit(client, device, xml).status_code == 201
    body = push_body([correct_mutation(original, 1, {"sex": "x"})])
    assert client.post("/api/v1/sync/push", json=body, headers=push_headers(device, body)).status_code == 200
    _, edited = fill(form_xml("fieldsync_consultation"), consultation_values(sex="m"), deprecated_id=original)
    response = submit(client, device, edited)
    assert response.status_code == 202
    assert "conflict" in message(response)[1]
    assert count(session, Conflict, Conflict.record_id == original) == 1
    assert session.get(Record, original).data["sex"] == "x"  # type: ignore[union-attr]


def test_split_submission_is_one_record_once_the_last_part_arrives(client, session, device) -> None:
    instance_id, xml = fill(form_xml("fieldsync_consultation"), consultation_values())
    part1 = submit(client, device, xml, incomplete=True, attachments={"photo1.jpg": b"\xff\xd8one"})
    assert part1.status_code == 201
    assert session.get(Record, instance_id) is None
    part2 = submit(client, device, xml, incomplete=True, attachments={"photo2.jpg": b"\xff\xd8two"})
    assert part2.status_code == 201
    assert session.get(Record, instance_id) is None
    last = submit(client, device, xml, attachments={"photo3.jpg": b"\xff\xd8three"})
    assert last.status_code == 201
    assert session.get(Record, instance_id) is not None
    assert count(session, OpenRosaAttachment, OpenRosaAttachment.instance_id == instance_id) == 3
    assert submit(client, device, xml).status_code == 201  # resent after completion: nothing new
    assert count(session, RecordRevision, RecordRevision.record_id == instance_id) == 1


def test_revoked_tablet_is_403_and_its_submission_waits_in_quarantine(client, session, device) -> None:
    coordinator = make_user(session)
    token = make_token(session, coordinator)
    session.commit()
    assert client.post(f"/api/v1/devices/{device.device.id}/revoke", headers=auth_headers(token)).status_code == 200

    assert client.get(f"{base(device)}/formList").status_code == 403
    assert client.head(f"{base(device)}/submission").status_code == 403
    instance_id, xml = fill(form_xml("fieldsync_consultation"), consultation_values())
    response = submit(client, device, xml)
    assert response.status_code == 403
    assert "revoked" in message(response)[1]
    assert session.get(Record, instance_id) is None
    kept = session.scalars(select(QuarantinedMutation).where(QuarantinedMutation.device_id == device.device.id)).all()
    assert [(row.reason, row.op_id) for row in kept] == [("device_revoked", instance_id)]
    assert submit(client, device, xml).status_code == 403  # sent again: kept once
    assert count(session, QuarantinedMutation, QuarantinedMutation.device_id == device.device.id) == 1


def test_site_deactivated_while_offline_is_202_and_quarantined(client, session, device) -> None:
    instance_id, xml = fill(form_xml("fieldsync_consultation"), consultation_values())
    set_site_active(session, "ly-mp-tripoli", False)
    session.commit()
    response = submit(client, device, xml)
    assert response.status_code == 202
    nature, text = message(response)
    assert "site_id" in text and "not active" in text
    assert ".." not in text  # the engine's message ends with a full stop; the sentence gets one
    assert session.get(Record, instance_id) is None
    (row,) = session.scalars(select(QuarantinedMutation).where(QuarantinedMutation.op_id == instance_id)).all()
    assert row.reason == "rejected" and "data.site_id" in row.errors
    assert submit(client, device, xml).status_code == 202  # resent: same answer, kept once
    assert count(session, QuarantinedMutation, QuarantinedMutation.op_id == instance_id) == 1
    # A coordinator sees it, with the reasons, to fix or discard.
    token = make_token(session, make_user(session))
    session.commit()
    listed = client.get("/api/v1/quarantine", headers=auth_headers(token)).get_json()["items"]
    (item,) = [item for item in listed if item["op_id"] == instance_id]
    assert item["errors"]["data.site_id"] and item["mutation"]["kind"] == "create"
    assert item["mutation"]["data"]["team_id"] == "ly-mmt-tripoli"


def test_domain_rule_failures_are_202_with_reasons(client, session, device) -> None:
    cases = [
        consultation_values(site_id="ly-mp-benghazi"),  # another team's site
        consultation_values(occurred_on="2999-01-01"),
        consultation_values(service="astrology"),
        consultation_values(sex="q"),
        {**consultation_values(), "shoe_size": "44"},
    ]
    for values in cases:
        _, xml = fill(form_xml("fieldsync_consultation"), values)
        response = submit(client, device, xml)
        assert response.status_code == 202, values
        assert message(response)[0] == "submit_success"
    assert count(session, QuarantinedMutation, QuarantinedMutation.device_id == device.device.id) == len(cases)
    assert count(session, Record, Record.team_id == "ly-mmt-tripoli", Record.device_id == device.device.id) == 0


def test_the_record_reaches_the_pull_stream_and_aggregates_like_a_pushed_one(client, session, device) -> None:
    instance_id, xml = fill(form_xml("fieldsync_consultation"), consultation_values())
    assert submit(client, device, xml).status_code == 201
    pull = client.get("/api/v1/sync/pull?stream=records", headers=device.headers).get_json()
    assert instance_id in [change["id"] for change in pull["changes"]]


# --- bad input: OpenRosa errors, never a 500 -----------------------------------------------------

BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<data id="fieldsync_consultation"><site_id>&lol2;</site_id></data>"""
XXE = b"""<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<data id="fieldsync_consultation"><site_id>&x;</site_id><meta><instanceID>uuid:%s</instanceID></meta></data>"""


@pytest.mark.parametrize(("xml", "status"), [
    (b"<data id='fieldsync_consultation'><site_id>", 400),
    (BOMB, 400),
    (XXE % str(uuid.uuid4()).encode(), 400),
    (b"<data id='fieldsync_consultation'><site_id>x</site_id></data>", 400),  # no instanceID
    (b"<data id='fieldsync_consultation'><meta><instanceID>uuid:nope</instanceID></meta></data>", 400),
    (b"<data id='fieldsync_nothing'><meta><instanceID>uuid:%s</instanceID></meta></data>"
     % str(uuid.uuid4()).encode(), 400),
    ("<data id='fieldsync_consultation'>é</data>".encode("latin-1"), 400),
    (b"", 400),
])
def test_bad_instances_are_openrosa_errors(client, session, device, xml: bytes, status: int) -> None:
    response = submit(client, device, xml)
    assert response.status_code == status, response.data
    assert message(response)[0] == "error"
    assert_openrosa_headers(response)
    assert count(session, OpenRosaSubmission) == 0


def test_wrong_content_type_and_missing_part_are_400(client, device) -> None:
    url = f"{base(device)}/submission"
    for response in (
        client.post(url, data=b"<data/>", content_type="text/xml"),
        client.post(url, json={"xml_submission_file": "x"}),
        client.post(url, data={"other": (io.BytesIO(b"<data/>"), "a.xml")}, content_type="multipart/form-data"),
        client.post(url),
    ):
        assert response.status_code == 400, response.data
        assert message(response)[0] == "error"


def test_a_body_over_the_advertised_size_is_413(client, device) -> None:
    limit = int(client.head(f"{base(device)}/submission").headers["X-OpenRosa-Accept-Content-Length"])
    _, xml = fill(form_xml("fieldsync_consultation"), consultation_values())
    # Encoded here, in memory: the test client would spool a body this large to a file it never closes.
    boundary, body = encode_multipart(MultiDict([
        ("xml_submission_file", FileStorage(io.BytesIO(xml), "submission.xml", content_type="text/xml")),
        ("big.jpg", FileStorage(io.BytesIO(b"x" * (limit + 1)), "big.jpg", content_type="image/jpeg")),
    ]))
    response = client.post(f"{base(device)}/submission", data=body,
                           content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 413
    assert message(response)[0] == "error"


# --- enrolment -----------------------------------------------------------------------------------


def test_collect_device_enrolment_returns_settings_and_a_qr_and_is_an_ordinary_device(client, session) -> None:
    coordinator = make_user(session)
    token = make_token(session, coordinator)
    worker = make_user(session, role="field_worker", team_id="ly-mmt-tripoli")
    session.commit()
    response = client.post("/api/v1/teams/ly-mmt-tripoli/collect-devices", headers=auth_headers(token),
                           json={"username": worker.username, "label": "Tablet 7"},
                           base_url="https://fieldsync.example.org")
    assert response.status_code == 201, response.data
    body = response.get_json()
    assert set(body) == {"device_id", "team_id", "server_url", "settings", "qr_png"}
    assert body["team_id"] == "ly-mmt-tripoli"
    assert body["server_url"].startswith("https://fieldsync.example.org/openrosa/v1/key/")
    general = body["settings"]["general"]
    assert general["server_url"] == body["server_url"]
    assert general["form_update_mode"] == "match_exactly" and general["autosend"] == "wifi_and_cellular"
    assert body["settings"]["project"]["name"]
    assert body["qr_png"].startswith("data:image/png;base64,")
    png = base64.b64decode(body["qr_png"].split(",", 1)[1])
    assert png.startswith(b"\x89PNG")

    key = body["server_url"].rsplit("/", 1)[1]
    device = session.get(Device, body["device_id"])
    assert device is not None and device.kind == "collect" and key not in device.token_hash
    listed = client.get("/api/v1/devices", headers=auth_headers(token)).get_json()["items"]
    assert body["device_id"] in [item["id"] for item in listed]
    assert client.get(f"/openrosa/v1/key/{key}/formList").status_code == 200
    assert client.post(f"/api/v1/devices/{body['device_id']}/revoke", headers=auth_headers(token)).status_code == 200
    assert client.get(f"/openrosa/v1/key/{key}/formList").status_code == 403


def test_qr_payload_is_base64_zlib_json_settings() -> None:
    import segno  # noqa: F401 - the library the QR is built with

    from server.integrations.openrosa.enrolment import collect_settings

    settings = collect_settings("https://x.example/openrosa/v1/key/fsd_abc", "Team")
    payload = base64.b64encode(zlib.compress(json.dumps(settings, separators=(",", ":")).encode()))
    assert json.loads(zlib.decompress(base64.b64decode(payload))) == settings


def test_enrolment_refuses_other_countries_and_non_workers(client, session) -> None:
    from tests.factories import make_team

    make_team(session)
    coordinator = make_user(session)
    token = make_token(session, coordinator)
    worker = make_user(session, role="field_worker", team_id="ly-mmt-tripoli")
    session.commit()
    url = "/api/v1/teams/{}/collect-devices"
    assert client.post(url.format("tn-mmt-tunis"), headers=auth_headers(token),
                       json={"username": worker.username, "label": "T"}).status_code == 403
    assert client.post(url.format("ly-mmt-tripoli"), headers=auth_headers(token),
                       json={"username": coordinator.username, "label": "T"}).status_code == 422
    assert client.post(url.format("nope"), headers=auth_headers(token),
                       json={"username": worker.username, "label": "T"}).status_code == 404
    assert client.post(url.format("ly-mmt-tripoli"), headers=auth_headers(token),
                       json={"username": worker.username}).status_code == 422


# --- every key route, from the route map (test_security_routes.py's checks, in OpenRosa's words) ----


def _key_routes(app) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    import re

    from server.web.auth import DEVICE_KEY

    found = []
    for rule in app.url_map.iter_rules():
        if DEVICE_KEY in app.view_functions[rule.endpoint]._fieldsync_access.audiences:
            for method in sorted((rule.methods or set()) - {"OPTIONS"}):
                found.append((method, re.sub(r"<(?!key>)[^>]+>", "fieldsync_outreach", rule.rule)))
    return found


def test_every_key_route_refuses_unknown_keys_user_tokens_and_revoked_tablets(app, client, session) -> None:
    routes = _key_routes(app)
    assert len(routes) >= 7
    revoked = make_device(session, revoked=True)
    user_token = make_token(session, make_user(session))
    session.commit()
    for method, rule in routes:
        for key, status in (("fsd_unknown", 401), (user_token, 401), ("' OR 1=1 --", 401), (revoked.token, 403)):
            response = client.open(rule.replace("<key>", key), method=method)
            assert response.status_code == status, (method, rule, key, response.data)
            assert_openrosa_headers(response)
            if method != "HEAD":
                assert message(response)[0] == "error"


def test_a_json_push_repeating_what_collect_sent_is_a_duplicate(client, session, device) -> None:
    from tests.factories import push_body, push_headers

    end = "2026-11-30T09:00:00.000+00:00"
    values = consultation_values()
    instance_id, xml = fill(form_xml("fieldsync_consultation"), values, end=end)
    assert submit(client, device, xml).status_code == 201
    data = {**values, "referral": False, "team_id": "ly-mmt-tripoli", "recorded_at": end}
    body = push_body([{"op_id": str(uuid.uuid4()), "kind": "create", "entity": "consultation", "id": instance_id,
                       "data": data}])
    (result,) = client.post("/api/v1/sync/push", json=body, headers=push_headers(device, body)).get_json()["results"]
    assert result["status"] == "duplicate"
    assert count(session, RecordRevision, RecordRevision.record_id == instance_id) == 1


def test_a_chunked_body_over_the_size_is_413_while_it_is_read(client, device) -> None:
    limit = int(client.head(f"{base(device)}/submission").headers["X-OpenRosa-Accept-Content-Length"])
    boundary, body = encode_multipart(MultiDict([
        ("xml_submission_file", FileStorage(io.BytesIO(b"<data/>"), "submission.xml", content_type="text/xml")),
        ("big.jpg", FileStorage(io.BytesIO(b"x" * (limit + 1)), "big.jpg", content_type="image/jpeg")),
    ]))
    # No Content-Length: a chunked body as gunicorn hands it on (wsgi.input_terminated).
    response = client.post(f"{base(device)}/submission", input_stream=io.BytesIO(body),
                           environ_overrides={"wsgi.input_terminated": True},
                           headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert response.status_code == 413
    assert message(response)[0] == "error"


def test_an_edit_of_a_quarantined_submission_creates_the_original_record(client, session, device) -> None:
    set_site_active(session, "ly-mp-tripoli", False)
    session.commit()
    original, xml = fill(form_xml("fieldsync_consultation"), consultation_values())
    assert submit(client, device, xml).status_code == 202
    set_site_active(session, "ly-mp-tripoli", True)
    session.commit()
    edit, edited = fill(form_xml("fieldsync_consultation"), consultation_values(sex="m"), deprecated_id=original)
    assert submit(client, device, edited).status_code == 201
    record = session.get(Record, original)
    assert record is not None and record.version == 1 and record.data["sex"] == "m"
    assert session.get(Record, edit) is None


def test_a_submission_kept_while_revoked_is_applied_when_sent_again_after_reinstatement(
    client, session, device
) -> None:
    row = session.get(Device, device.device.id)
    row.status = "revoked"
    session.commit()
    instance_id, xml = fill(form_xml("fieldsync_consultation"), consultation_values())
    assert submit(client, device, xml).status_code == 403
    row = session.get(Device, device.device.id)
    row.status = "active"  # revoked by mistake, undone by hand
    session.commit()
    response = client.post(f"{base(device)}/submission", data=multipart(xml), content_type="multipart/form-data",
                           headers={"User-Agent": "Dalvik/2.1.0 (Linux) org.odk.collect.android/v2024.2.4"})
    assert response.status_code == 201
    assert session.get(Record, instance_id) is not None
    assert session.get(Device, device.device.id).app_version == "collect/v2024.2.4"  # type: ignore[union-attr]
