"""Instances as ODK Collect writes them, made from the served XForms themselves (not hand-written XML).

`fill(form_xml, values)` takes the XForm's primary instance (the `<data id=... version=...>` element
pyxform generated), fills the given elements and `meta/instanceID`, and serialises it as Collect
does. Values are strings (Collect's wire form); the count groups take their children:
`reached` {"f_18_59": "12", ...}, `participants` {"f": "12", ...}.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

XF = "{http://www.w3.org/2002/xforms}"


def primary_instance(form_xml: bytes) -> ET.Element:
    root = ET.fromstring(form_xml)
    model = root.find(f".//{XF}model")
    assert model is not None
    instance = model.find(f"{XF}instance")
    assert instance is not None
    (data,) = list(instance)
    return data


def _strip_namespace(element: ET.Element) -> None:
    for node in element.iter():
        node.tag = node.tag.split("}", 1)[-1]


def fill(form_xml: bytes, values: dict[str, Any], *, instance_id: str | None = None,
         deprecated_id: str | None = None, end: str | None = None) -> tuple[str, bytes]:
    """(instance uuid, instance XML bytes)."""
    data = primary_instance(form_xml)
    _strip_namespace(data)
    instance_id = instance_id or str(uuid.uuid4())
    now = datetime.now(UTC)
    start = data.find("start")
    if start is not None:
        start.text = (now - timedelta(minutes=3)).isoformat(timespec="milliseconds")
    end_element = data.find("end")
    if end_element is not None:
        end_element.text = end if end is not None else now.isoformat(timespec="milliseconds")
    for name, value in values.items():
        if name in ("reached", "participants"):
            group = data.find(name)
            assert group is not None
            for child, count in value.items():
                node = group.find(child)
                assert node is not None, child
                node.text = str(count)
            continue
        node = data.find(name)
        if node is None:  # a field the form does not have: added, as a tampered client might
            node = ET.SubElement(data, name)
        node.text = "" if value is None else str(value)
    meta = data.find("meta")
    assert meta is not None
    meta.find("instanceID").text = f"uuid:{instance_id}"  # type: ignore[union-attr]
    if deprecated_id is not None:
        ET.SubElement(meta, "deprecatedID").text = f"uuid:{deprecated_id}"
    return instance_id, ET.tostring(data, encoding="utf-8", xml_declaration=False)


def yesterday() -> str:
    return (datetime.now(UTC) - timedelta(days=1)).date().isoformat()


def consultation_values(site_id: str = "ly-mp-tripoli", **overrides: Any) -> dict[str, Any]:
    return {"site_id": site_id, "occurred_on": yesterday(), "population_group": "idp", "sex": "f",
            "age_band": "18-59", "visit": "new", "service": "general", "referral": "no", **overrides}


def distribution_values(site_id: str = "ly-mp-tripoli", **overrides: Any) -> dict[str, Any]:
    return {"site_id": site_id, "occurred_on": yesterday(), "item_code": "hk-family", "quantity": "2",
            "population_group": "migrant", "sex": "m", "age_years": "34", **overrides}


def outreach_values(site_id: str = "ly-mp-tripoli", **overrides: Any) -> dict[str, Any]:
    return {"site_id": site_id, "occurred_on": yesterday(), "activity": "screening", "population_group": "refugee",
            "reached": {"f_18_59": "12", "m_5_17": "3"}, **overrides}


def training_values(site_id: str = "ly-mp-tripoli", **overrides: Any) -> dict[str, Any]:
    return {"site_id": site_id, "occurred_on": yesterday(), "topic": "mhpss", "participant_type": "moh_staff",
            "days": "3", "title": "PFA refresher", "participants": {"f": "12", "m": "7"}, **overrides}


VALUES = {
    "fieldsync_consultation": consultation_values,
    "fieldsync_distribution": distribution_values,
    "fieldsync_outreach": outreach_values,
    "fieldsync_training": training_values,
}


def multipart(xml: bytes, *, incomplete: bool = False, attachments: dict[str, bytes] | None = None) -> dict:
    """The form data of Collect's POST (for Flask's test client `data=`)."""
    import io

    data: dict[str, Any] = {"xml_submission_file": (io.BytesIO(xml), "submission.xml", "text/xml")}
    for name, content in (attachments or {}).items():
        data[name] = (io.BytesIO(content), name, "image/jpeg")
    if incomplete:
        data["*isIncomplete*"] = "yes"
    return data
