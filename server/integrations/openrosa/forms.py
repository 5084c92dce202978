"""The XForms served to Collect: forms/<form_id>.xlsx converted with pyxform, once per process.

The XLSForm files are the source of truth (built from forms/definitions.py); conversion at first
use means a form cannot drift from the file in the repository. ODK Validate (Java) is not run here,
at request time: the tests run it on every served form.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

from forms import status
from forms.build import path_of
from forms.definitions import FORM_IDS, TITLES, VERSION
from sync.record_types import RECORD_TYPES

# Every form a tablet downloads: the record forms, and the one that shows what became of what it
# sent (forms/status.py; it has nothing to submit, so it is not in FORM_IDS, which submissions use).
SERVED_FORM_IDS = (*FORM_IDS, status.STATUS_FORM_ID)


@dataclass(frozen=True)
class ServedForm:
    form_id: str
    name: str
    version: str
    xml: bytes

    @property
    def md5(self) -> str:
        return "md5:" + hashlib.md5(self.xml).hexdigest()  # noqa: S324 - OpenRosa's hash, not security


@functools.cache
def served_form(form_id: str) -> ServedForm:
    """The form (KeyError for an unknown id)."""
    if form_id not in SERVED_FORM_IDS:
        raise KeyError(form_id)
    # Imported here: pyxform pulls in openpyxl and friends, which only this route needs.
    from pyxform.xls2xform import convert

    result = convert(str(path_of(form_id)), validate=False)
    if form_id == status.STATUS_FORM_ID:
        return ServedForm(form_id=form_id, name=status.TITLE, version=status.STATUS_VERSION,
                          xml=result.xform.encode("utf-8"))
    return ServedForm(form_id=form_id, name=TITLES[form_id], version=VERSION, xml=result.xform.encode("utf-8"))


def all_forms() -> list[ServedForm]:
    return [served_form(form_id) for form_id in SERVED_FORM_IDS]


# Which media files each form's XForm names (its `jr://file-csv/...` instances).
MEDIA_OF_FORM = {
    **{record_type.form_id: record_type.form.media for record_type in RECORD_TYPES.values()},
    status.STATUS_FORM_ID: (status.MEDIA,),
}
