"""The XLSForms and the XForms served from them (openrosa.md "The forms"): no database needed."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from pyxform.validators.odk_validate import check_xform

from forms import build
from forms.definitions import AGE_BANDS, CHOICES, FORM_IDS, HELPER_ELEMENTS, reached_names
from server.integrations.openrosa.forms import SERVED_FORM_IDS, served_form
from sync.domain import Activity, AgeBand, PopulationGroup, Sex, Visit
from tests.openrosa_instances import primary_instance

FIELDS = {
    "fieldsync_consultation": {"site_id", "occurred_on", "population_group", "sex", "age_band", "age_years", "visit",
                               "service", "referral", "beneficiary_ref"},
    "fieldsync_distribution": {"site_id", "occurred_on", "item_code", "quantity", "population_group", "sex",
                               "age_band", "age_years", "household_size", "beneficiary_ref"},
    "fieldsync_outreach": {"site_id", "occurred_on", "activity", "topic", "population_group", "reached"},
    "fieldsync_training": {"site_id", "occurred_on", "topic", "participant_type", "days", "title", "participants"},
}


def test_committed_xlsx_files_are_what_the_definitions_build() -> None:
    assert build.main(["--check"]) == 0, "run `python -m forms.build` and commit forms/*.xlsx"
    for form_id in FORM_IDS:
        assert build.xlsx_bytes(form_id) == build.xlsx_bytes(form_id)  # reproducible byte for byte


@pytest.mark.parametrize("form_id", SERVED_FORM_IDS)
def test_every_served_xform_passes_odk_validate(form_id: str, tmp_path: Path) -> None:
    path = tmp_path / f"{form_id}.xml"
    path.write_bytes(served_form(form_id).xml)
    # JavaRosa, the engine inside ODK Collect (pyxform bundles the jar); raises ODKValidateError on failure.
    warnings = check_xform(str(path))
    assert not [w for w in warnings if "error" in w.lower()], warnings


@pytest.mark.parametrize("form_id", FORM_IDS)
def test_instance_elements_are_the_record_fields(form_id: str) -> None:
    data = primary_instance(served_form(form_id).xml)
    assert data.get("id") == form_id
    names = {child.tag.split("}")[-1] for child in data}
    assert names - HELPER_ELEMENTS == FIELDS[form_id]
    meta = data.find("{http://www.w3.org/2002/xforms}meta")
    assert meta is not None and meta.find("{http://www.w3.org/2002/xforms}instanceID") is not None
    if form_id == "fieldsync_outreach":
        group = data.find("{http://www.w3.org/2002/xforms}reached")
        assert group is not None
        assert [child.tag.split("}")[-1] for child in group] == [
            "f_0_4", "f_5_17", "f_18_59", "f_60", "m_0_4", "m_5_17", "m_18_59", "m_60",
            "x_0_4", "x_5_17", "x_18_59", "x_60",
        ]
        assert [name for name, _, _ in reached_names()][:4] == ["f_0_4", "f_5_17", "f_18_59", "f_60"]
    if form_id == "fieldsync_training":
        group = data.find("{http://www.w3.org/2002/xforms}participants")
        assert group is not None
        assert [child.tag.split("}")[-1] for child in group] == ["f", "m", "x"]


def test_choice_values_are_the_domain_codes() -> None:
    def codes(list_name: str) -> list[str]:
        return [name for name, _, _ in CHOICES[list_name]]

    assert codes("population_group") == [m.value for m in PopulationGroup]
    assert codes("sex") == [m.value for m in Sex]
    assert codes("age_band") == [m.value for m in AgeBand] == [band for band, _ in AGE_BANDS]
    assert codes("visit") == [m.value for m in Visit]
    assert codes("activity") == [m.value for m in Activity]
    assert codes("topic") == ["srh", "mhpss", "gbv", "cmr", "first_aid", "ipc", "nutrition", "other"]
    assert codes("participant_type") == ["moh_staff", "chw", "volunteer", "staff"]


@pytest.mark.parametrize("form_id", FORM_IDS)
def test_labels_are_in_english_and_arabic_and_sites_come_from_the_media_csv(form_id: str) -> None:
    xml = served_form(form_id).xml
    root = ET.fromstring(xml)
    langs = [t.get("lang") for t in root.iter("{http://www.w3.org/2002/xforms}translation")]
    assert langs == ["English (en)", "Arabic (ar)"]
    assert b'src="jr://file-csv/sites.csv"' in xml
    assert b"today()" in xml  # occurred_on may not be in the future
    assert served_form(form_id).md5.startswith("md5:")
