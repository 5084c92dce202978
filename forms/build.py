"""Write forms/<form_id>.xlsx from forms/definitions.py, byte for byte the same on every run.

    python -m forms.build          # rewrite the .xlsx files
    python -m forms.build --check  # exit 1 if a committed .xlsx differs from the definitions

An .xlsx is a zip whose entries carry timestamps and whose properties carry a creation date; both
are fixed here, so a rebuild with unchanged definitions changes nothing in git. openpyxl writes its XML
with lxml when lxml is installed and with the standard library otherwise (the bytes differ: `<x/>` and
`<x />`), so build in the dev venv (`make install-dev`; requirements-dev.txt pins lxml).
"""

from __future__ import annotations

import io
import re
import sys
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

from forms import status
from forms.definitions import COLUMNS, FORM_IDS, sheets

FORMS_DIR = Path(__file__).resolve().parent
_FIXED_TIME = datetime(2026, 1, 1)
_ZIP_TIME = (2026, 1, 1, 0, 0, 0)
_MODIFIED = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)")


def _sheets(form_id: str) -> tuple[dict[str, list[dict[str, Any]]], dict[str, tuple[str, ...]]]:
    if form_id == status.STATUS_FORM_ID:
        return status.sheets(), status.COLUMNS
    return sheets(form_id), COLUMNS


def xlsx_bytes(form_id: str) -> bytes:
    # Imported here: the server imports this module for `path_of`, and openpyxl costs every process
    # that starts (each gunicorn worker, each CLI command) ~0.3 s it would never use.
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.remove(workbook.active)
    form_sheets, form_columns = _sheets(form_id)
    for name, rows in form_sheets.items():
        sheet = workbook.create_sheet(name)
        columns = form_columns[name]
        sheet.append(list(columns))
        for row in rows:
            sheet.append([row.get(column, "") or None for column in columns])
    workbook.properties.created = _FIXED_TIME
    workbook.properties.modified = _FIXED_TIME
    workbook.properties.creator = "forms/build.py"
    raw = io.BytesIO()
    workbook.save(raw)
    return _fixed_zip(raw.getvalue())


def _fixed_zip(data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=_ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                # openpyxl stamps the save time as "modified" whatever the properties say.
                content = _MODIFIED.sub(b"\\g<1>2026-01-01T00:00:00Z\\g<2>", content)
            target.writestr(entry, content)
    return out.getvalue()


def path_of(form_id: str) -> Path:
    return FORMS_DIR / f"{form_id}.xlsx"


def main(argv: list[str]) -> int:
    stale = []
    for form_id in (*FORM_IDS, status.STATUS_FORM_ID):
        data = xlsx_bytes(form_id)
        path = path_of(form_id)
        if "--check" in argv:
            if not path.exists() or path.read_bytes() != data:
                stale.append(path.name)
        else:
            path.write_bytes(data)
    if stale:
        print("out of date (run python -m forms.build):", ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
