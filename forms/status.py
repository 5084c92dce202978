"""`fieldsync_status`: an ODK Collect form that only shows what became of the tablet's forms.

ODK Collect has no channel for a server to tell a tablet that a submission it sent was quarantined,
then fixed or discarded (issue 30 §4). What Collect does fetch on its own is form media: with
`form_update_mode: match_exactly` it checks the manifests on a schedule and downloads a media file
whose hash changed. So the server serves `quarantine.csv` (server/integrations/openrosa/media.py): this device's
quarantined submissions and their state, and this form shows it, one note per submission, in
English and Arabic. The field worker opens "Fieldsync: my forms' status" to read it.

The form has nothing to send: a required read-only question keeps it from being finalized (the
server has no record type for it and would refuse it), and its message says to leave without
saving.
"""

from __future__ import annotations

from typing import Any

from forms.definitions import AR, CHOICE_COLUMNS, EN, SETTINGS_COLUMNS, SURVEY_COLUMNS, _row

STATUS_FORM_ID = "fieldsync_status"
# Bumped whenever this form changes (its own version: the record forms' VERSION is theirs).
STATUS_VERSION = "2026120701"
TITLE = "Fieldsync: my forms' status"
MEDIA = "quarantine.csv"
STATUS_COLUMNS = (*SURVEY_COLUMNS, f"required_message::{EN}", f"required_message::{AR}", "repeat_count",
                  "read_only")

_ITEMS = "instance('quarantine')/root/item"


def _rtl(text: str) -> str:
    """An Arabic label as a right-to-left isolate: ODK clients lay labels out left to right, which
    scattered a sentence's numbers and punctuation (issue 30 §5)."""
    return f"\u2067{text}\u2069"


def _survey() -> list[dict[str, str]]:
    return [
        _row("csv-external", "quarantine"),
        _row("calculate", "waiting", calculation=f"count({_ITEMS}[state = 'open'])"),
        _row("calculate", "listed", calculation=f"count({_ITEMS})"),
        _row("note", "summary",
             "Forms waiting for a coordinator: ${waiting}. Below, every form the server could not accept as "
             "sent in the last 90 days, and what became of it.",
             _rtl("نماذج بانتظار المنسق: ${waiting}. أدناه كل نموذج لم يقبله الخادم كما أُرسل خلال آخر 90 يومًا، "
                  "وما آل إليه.")),
        _row("note", "nothing", "Nothing to report: every form you sent was accepted.",
             _rtl("لا شيء للإبلاغ عنه: قُبلت جميع النماذج التي أرسلتها."), relevant="${listed} = 0"),
        {**_row("begin_repeat", "sent", "Form", "نموذج"), "repeat_count": "${listed}"},
        _row("calculate", "position", calculation="position(..)"),
        _row("calculate", "line_en", calculation=f"{_ITEMS}[position() = ${{position}}]/label"),
        _row("calculate", "line_ar", calculation=f"{_ITEMS}[position() = ${{position}}]/label_ar"),
        _row("note", "line", "${line_en}", "${line_ar}"),
        _row("end_repeat", ""),
        {**_row("text", "leave", "Nothing to send from this form: go back without saving.",
                _rtl("لا شيء لإرساله من هذا النموذج: ارجع دون حفظ."), required="yes"),
         "read_only": "yes",
         f"required_message::{EN}": "Nothing to send from this form: go back without saving.",
         f"required_message::{AR}": _rtl("لا شيء لإرساله من هذا النموذج: ارجع دون حفظ.")},
    ]


def sheets() -> dict[str, list[dict[str, Any]]]:
    settings = [{"form_title": TITLE, "form_id": STATUS_FORM_ID, "version": STATUS_VERSION,
                 "default_language": EN, "instance_name": "'status'"}]
    return {"survey": _survey(), "choices": [], "settings": settings}


COLUMNS = {"survey": STATUS_COLUMNS, "choices": CHOICE_COLUMNS, "settings": SETTINGS_COLUMNS}
