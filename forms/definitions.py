"""The XLSForms as data: `python -m forms.build` writes them to forms/*.xlsx.

Instance element names are the record field names of domain.md (openrosa.md "The forms"), choice
values its wire codes, and constraints mirror the server's rules so Collect refuses what the server
would. Site, item and service choices come from the form media CSVs the server builds from the
reference data (server/integrations/openrosa/media.py), so a new site needs no new form version.

Changing a form: edit this file, bump VERSION, run `python -m forms.build`;
tests/server/integrations/test_openrosa_forms.py checks the committed .xlsx files match this file and
that every served XForm passes ODK Validate.
"""

from __future__ import annotations

from typing import Any

from sync.domain import Entity
from sync.record_types import AGE_BAND, CHOICE_LISTS, RECORD_TYPES, SEX
from sync.record_types import FORM_IDS as _FORM_IDS

# Bumped whenever a form changes: Collect's "match exactly" update mode compares it.
VERSION = "2026120101"

EN = "English (en)"
AR = "Arabic (ar)"

# The forms, their titles, choice lists and media are declared with their record types.
FORM_IDS = _FORM_IDS

SURVEY_COLUMNS = (
    "type",
    "name",
    f"label::{EN}",
    f"label::{AR}",
    f"hint::{EN}",
    f"hint::{AR}",
    "required",
    "relevant",
    "constraint",
    f"constraint_message::{EN}",
    f"constraint_message::{AR}",
    "default",
    "calculation",
    "appearance",
)
CHOICE_COLUMNS = ("list_name", "name", f"label::{EN}", f"label::{AR}")
SETTINGS_COLUMNS = ("form_title", "form_id", "version", "default_language", "instance_name")

# domain.md age bands and the element-name form of each (non-alphanumerics as "_", trimmed).
AGE_BANDS = tuple((band, "_".join(band.replace("+", "").split("-"))) for band in AGE_BAND.values)
SEXES = tuple((code.code, code.en, code.ar) for code in SEX.codes)

# Each choice list (a dimension's codes, or yes/no) as (value, English label, Arabic label).
CHOICES: dict[str, list[tuple[str, str, str]]] = {
    name: [(code.code, code.en, code.ar) for code in codes] for name, codes in CHOICE_LISTS.items()
}

_TYPES = {record_type.form_id: record_type for record_type in RECORD_TYPES.values()}
# Which choice lists each form uses (a form lists only its own, so ODK Validate sees no unused list).
FORM_CHOICES = {form_id: record_type.form.choice_lists for form_id, record_type in _TYPES.items()}
TITLES = {form_id: record_type.form.title for form_id, record_type in _TYPES.items()}

# Elements the forms add that are not record fields; the server reads `end` as recorded_at and
# ignores the rest (server/integrations/openrosa/instance.py).
HELPER_ELEMENTS = frozenset({"start", "end", "reached_total", "reached_note", "participants_total",
                             "participants_note", "meta"})


def _row(type_: str, name: str, en: str = "", ar: str = "", **extra: str) -> dict[str, str]:
    row = {"type": type_, "name": name, f"label::{EN}": en, f"label::{AR}": ar}
    for key, value in extra.items():
        column = {
            "hint_en": f"hint::{EN}",
            "hint_ar": f"hint::{AR}",
            "message_en": f"constraint_message::{EN}",
            "message_ar": f"constraint_message::{AR}",
        }.get(key, key)
        row[column] = value
    return row


def _common_head() -> list[dict[str, str]]:
    return [
        _row("start", "start"),
        _row("end", "end"),
        _row(
            "select_one_from_file sites.csv", "site_id", "Site", "الموقع", required="yes",
            hint_en="Only your team's active sites are listed.", hint_ar="تظهر فقط المواقع النشطة لفريقك.",
        ),
        _row(
            "date", "occurred_on", "Date it happened", "تاريخ النشاط", required="yes", default="today()",
            constraint=". >= date('2000-01-01') and . <= today() + 1",
            message_en="The date may not be in the future nor before 2000.",
            message_ar="لا يمكن أن يكون التاريخ في المستقبل أو قبل عام 2000.",
        ),
    ]


def _population_group() -> dict[str, str]:
    return _row("select_one population_group", "population_group", "Population group", "الفئة السكانية",
                required="yes")


def _person() -> list[dict[str, str]]:
    """sex, and age in years or (when unknown) the age band: one of them is required."""
    return [
        _row("select_one sex", "sex", "Sex", "الجنس", required="yes"),
        _row(
            "integer", "age_years", "Age in years", "العمر بالسنوات",
            hint_en="Leave empty if the exact age is not known.", hint_ar="اتركه فارغاً إذا كان العمر غير معروف.",
            constraint=". >= 0 and . <= 130",
            message_en="Age must be between 0 and 130.", message_ar="يجب أن يكون العمر بين 0 و130.",
        ),
        _row("select_one age_band", "age_band", "Age band", "الفئة العمرية", required="yes",
             relevant="string-length(${age_years}) = 0"),
    ]


def _beneficiary_ref() -> dict[str, str]:
    return _row(
        "text", "beneficiary_ref", "Beneficiary reference", "الرقم المرجعي للمستفيد",
        hint_en="Optional pseudonymous ID, never a name.", hint_ar="معرّف مستعار اختياري، وليس اسماً أبداً.",
        constraint="string-length(.) <= 64",
        message_en="At most 64 characters.", message_ar="64 حرفاً كحد أقصى.",
    )


def _consultation() -> list[dict[str, str]]:
    return [
        *_common_head(),
        _population_group(),
        *_person(),
        _row("select_one visit", "visit", "Visit", "نوع الزيارة", required="yes"),
        _row("select_one_from_file services.csv", "service", "Service", "الخدمة", required="yes"),
        _row("select_one yes_no", "referral", "Referred elsewhere?", "هل تمت الإحالة؟", required="yes"),
        _beneficiary_ref(),
    ]


def _distribution() -> list[dict[str, str]]:
    return [
        *_common_head(),
        _row("select_one_from_file items.csv", "item_code", "Item", "المادة", required="yes"),
        _row(
            "integer", "quantity", "Quantity", "الكمية", required="yes",
            constraint=". >= 1 and . <= 10000",
            message_en="Between 1 and 10000.", message_ar="بين 1 و10000.",
        ),
        _population_group(),
        *_person(),
        _row(
            "integer", "household_size", "Household size", "حجم الأسرة",
            constraint=". >= 1 and . <= 50", message_en="Between 1 and 50.", message_ar="بين 1 و50.",
        ),
        _beneficiary_ref(),
    ]


def reached_names() -> list[tuple[str, str, str]]:
    """(element name, sex code, age band) for each count of the outreach form's `reached` group."""
    tally = RECORD_TYPES[Entity.OUTREACH].tally
    assert tally is not None  # noqa: S101 - outreach declares `reached`
    return [(name, sex, band) for name, (sex, band) in tally.element_names()]


def _outreach() -> list[dict[str, str]]:
    counts = []
    sex_labels = {code: (en, ar) for code, en, ar in SEXES}
    for name, sex, band in reached_names():
        en, ar = sex_labels[sex]
        counts.append(
            _row(
                "integer", name, f"{en}, {band}", f"{ar}، {band}",
                constraint=". >= 0 and . <= 5000 and ${reached_total} <= 5000",
                message_en="Counts are 0 or more, at most 5000 in all.",
                message_ar="الأعداد 0 أو أكثر، وبحد أقصى 5000 إجمالاً.",
            )
        )
    total = " + ".join(f"coalesce(${{{name}}}, 0)" for name, _, _ in reached_names())
    return [
        *_common_head(),
        _row("select_one activity", "activity", "Activity", "النشاط", required="yes"),
        _row(
            "text", "topic", "Topic", "الموضوع", constraint="string-length(.) <= 200",
            message_en="At most 200 characters.", message_ar="200 حرف كحد أقصى.",
        ),
        _population_group(),
        _row("begin_group", "reached", "People reached", "الأشخاص الذين تم الوصول إليهم",
             hint_en="Leave empty for none.", hint_ar="اتركه فارغاً إذا لم يكن هناك أحد."),
        *counts,
        _row("end_group", ""),
        _row("calculate", "reached_total", calculation=total),
        _row(
            "note", "reached_note", "People reached in all: ${reached_total}",
            "مجموع الأشخاص الذين تم الوصول إليهم: ${reached_total}",
        ),
    ]


def _training() -> list[dict[str, str]]:
    tally = RECORD_TYPES[Entity.TRAINING].tally
    assert tally is not None  # noqa: S101 - training declares `participants`
    high = tally.total[1]  # at least one participant in all is the server's check (a quarantine reason)
    sex_labels = {code: (en, ar) for code, en, ar in SEXES}
    counts = [
        _row(
            "integer", name, *sex_labels[sex],
            constraint=f". >= 0 and . <= {high} and ${{participants_total}} <= {high}",
            message_en=f"Counts are 0 or more, at most {high} in all.",
            message_ar=f"الأعداد 0 أو أكثر، وبحد أقصى {high} إجمالاً.",
        )
        for name, (sex,) in tally.element_names()
    ]
    total = " + ".join(f"coalesce(${{{name}}}, 0)" for name, _ in tally.element_names())
    return [
        *_common_head(),
        _row("select_one topic", "topic", "Topic", "الموضوع", required="yes"),
        _row("select_one participant_type", "participant_type", "Participants were", "المشاركون هم", required="yes"),
        _row(
            "integer", "days", "Days of training", "أيام التدريب", required="yes",
            constraint=". >= 1 and . <= 60", message_en="Between 1 and 60.", message_ar="بين 1 و60.",
        ),
        _row(
            "text", "title", "Title", "العنوان", constraint="string-length(.) <= 200",
            message_en="At most 200 characters.", message_ar="200 حرف كحد أقصى.",
        ),
        _row("begin_group", "participants", "Participants", "المشاركون",
             hint_en="Leave empty for none.", hint_ar="اتركه فارغاً إذا لم يكن هناك أحد."),
        *counts,
        _row("end_group", ""),
        _row("calculate", "participants_total", calculation=total),
        _row(
            "note", "participants_note", "Participants in all: ${participants_total}",
            "مجموع المشاركين: ${participants_total}",
        ),
    ]


# Each form's questions (the record type's fields, in the order a field worker answers them).
SURVEYS = {
    "fieldsync_consultation": _consultation,
    "fieldsync_distribution": _distribution,
    "fieldsync_outreach": _outreach,
    "fieldsync_training": _training,
}


def sheets(form_id: str) -> dict[str, list[dict[str, Any]]]:
    """The XLSForm of one form as {sheet name: rows}."""
    choices = [
        {"list_name": list_name, "name": name, f"label::{EN}": en, f"label::{AR}": ar}
        for list_name in FORM_CHOICES[form_id]
        for name, en, ar in CHOICES[list_name]
    ]
    settings = [{
        "form_title": TITLES[form_id],
        "form_id": form_id,
        "version": VERSION,
        "default_language": EN,
        "instance_name": "concat(${occurred_on}, ' ', ${site_id})",
    }]
    return {"survey": SURVEYS[form_id](), "choices": choices, "settings": settings}


COLUMNS = {"survey": SURVEY_COLUMNS, "choices": CHOICE_COLUMNS, "settings": SETTINGS_COLUMNS}
