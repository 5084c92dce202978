"""Form media built from the reference data, per device team (openrosa.md "manifest").

`sites.csv` holds the team's active sites, `items.csv` and `services.csv` the country-wide lists,
as `name,label` (the value stored, the text shown). No `label::Arabic (ar)` column: Collect's JavaRosa
reads only `label` of an external CSV (getodk/collect#4266, XLSForm/pyxform#593), and ODK Web Forms
0.22 failed to render a form whose CSV had the extra column (tests/e2e/test_openrosa_webforms.py).
The bytes are deterministic (ordered, LF line ends), so the manifest's md5 changes exactly when the
list does: a new or deactivated site reaches the tablets at their next form update, without a new
form version.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Item, Service, Site, team_sites

HEADER = ("name", "label")


def _csv(rows: Iterable[tuple[str, str, str | None]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows((name, label) for name, label, _label_ar in rows)
    return out.getvalue().encode("utf-8")


def sites_csv(session: Session, team_id: str) -> bytes:
    rows = session.execute(
        select(Site.id, Site.name, Site.name_ar)
        .join(team_sites, team_sites.c.site_id == Site.id)
        .where(team_sites.c.team_id == team_id, Site.active.is_(True))
        .order_by(Site.name, Site.id)
    ).all()
    return _csv((row.id, row.name, row.name_ar) for row in rows)


def items_csv(session: Session, team_id: str) -> bytes:
    rows = session.execute(select(Item.code, Item.name, Item.name_ar).order_by(Item.name, Item.code)).all()
    return _csv((row.code, row.name, row.name_ar) for row in rows)


def services_csv(session: Session, team_id: str) -> bytes:
    rows = session.execute(
        select(Service.code, Service.name, Service.name_ar).order_by(Service.name, Service.code)
    ).all()
    return _csv((row.code, row.name, row.name_ar) for row in rows)


BUILDERS: dict[str, Callable[[Session, str], bytes]] = {
    "sites.csv": sites_csv,
    "items.csv": items_csv,
    "services.csv": services_csv,
}


def media_file(session: Session, team_id: str, filename: str) -> bytes:
    """The file's bytes for this team (KeyError for an unknown name)."""
    return BUILDERS[filename](session, team_id)


def md5(data: bytes) -> str:
    return "md5:" + hashlib.md5(data).hexdigest()  # noqa: S324 - OpenRosa's hash, not security
