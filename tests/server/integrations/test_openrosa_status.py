"""ODK Collect learns what became of what it sent (issue 30 §4): the `fieldsync_status` form
(forms/status.py) shows `quarantine.csv`, this tablet's quarantined submissions and their state,
which Collect fetches again whenever its manifest hash changes."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET

from flask.testing import FlaskClient

from forms.status import STATUS_FORM_ID
from server.integrations.openrosa.forms import served_form
from tests.factories import EnrolledDevice, auth_headers, make_device, make_token, make_user
from tests.openrosa_instances import consultation_values, fill
from tests.server.integrations.test_openrosa import MANIFEST, base, form_xml, message, submit

STATUS = f"/forms/{STATUS_FORM_ID}"


def _rows(client: FlaskClient, device: EnrolledDevice) -> list[dict[str, str]]:
    response = client.get(f"{base(device)}{STATUS}/media/quarantine.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(response.data.decode("utf-8"))))


def _hash(client: FlaskClient, device: EnrolledDevice) -> str:
    manifest = ET.fromstring(client.get(f"{base(device)}{STATUS}/manifest").data)
    [media] = manifest.findall(f"{MANIFEST}mediaFile")
    assert media.findtext(f"{MANIFEST}filename") == "quarantine.csv"
    return media.findtext(f"{MANIFEST}hash") or ""


def test_the_status_form_lists_this_tablets_quarantined_submissions_and_their_fate(client, session) -> None:
    tablet, other = make_device(session), make_device(session)
    coordinator = auth_headers(make_token(session, make_user(session)))
    session.commit()
    assert _rows(client, tablet) == []
    empty = _hash(client, tablet)

    instance_id, xml = fill(form_xml("fieldsync_consultation"), consultation_values(site_id="ly-mp-benghazi"))
    assert submit(client, tablet, xml).status_code == 202  # kept in quarantine, with the reason

    [row] = _rows(client, tablet)
    assert row["name"] == instance_id and row["state"] == "open"
    assert row["label"].startswith("Health consultation ") and "waiting for a coordinator" in row["label"]
    assert "Site: Unknown site for this team." in row["label"]  # the field by its label, not its wire name
    assert "بانتظار المنسق" in row["label_ar"] and "الموقع: موقع غير معروف لهذا الفريق." in row["label_ar"]
    # A right-to-left isolate, so Collect's left-to-right label layout keeps the Arabic (and its dates) in order.
    assert row["label_ar"].startswith("\u2067") and row["label_ar"].endswith("\u2069")
    assert _rows(client, other) == []  # only what this tablet sent
    waiting = _hash(client, tablet)
    assert waiting != empty  # Collect sees a new media file at its next form update

    [item] = client.get("/api/v1/quarantine", headers=coordinator).get_json()["items"]
    assert client.post(f"/api/v1/quarantine/{item['id']}/discard", json={"reason": "wrong team's site"},
                       headers=coordinator).status_code == 200

    [row] = _rows(client, tablet)
    assert row["state"] == "discarded" and row["label"].endswith("Coordinator: wrong team's site")
    assert _hash(client, tablet) != waiting


def test_the_status_form_cannot_be_sent(client, session) -> None:
    xml = served_form(STATUS_FORM_ID).xml
    # A required read-only question keeps Collect from finalizing it; the server has no record for it.
    assert b'nodeset="/data/leave" type="string" required="true()"' in xml and b'readonly="true()"' in xml
    assert b'src="jr://file-csv/quarantine.csv"' in xml
    tablet = make_device(session)
    session.commit()
    status_instance = (b'<data id="fieldsync_status" version="1"><meta><instanceID>uuid:'
                       b'6f1c1c4e-2a57-4c1e-9a53-0d5b8d6f5a10</instanceID></meta></data>')
    refused = submit(client, tablet, status_instance)
    assert refused.status_code == 400 and message(refused)[0] == "error"
