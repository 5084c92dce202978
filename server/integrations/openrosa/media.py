"""Form media built from the reference data, per device team (openrosa.md "manifest").

`sites.csv` holds the team's active sites, `items.csv` and `services.csv` the country-wide lists,
as `name,label` (the value stored, the text shown). No `label::Arabic (ar)` column: Collect's JavaRosa
reads only `label` of an external CSV (getodk/collect#4266, XLSForm/pyxform#593), and ODK Web Forms
0.22 failed to render a form whose CSV had the extra column (tests/e2e/test_openrosa_webforms.py).
So a row with an Arabic name shows both in its one label, `English / العربية`: the only way Collect
shows a site's, item's or service's Arabic name, in either of the form's languages (issue 30 §5).
The bytes are deterministic (ordered, LF line ends), so the manifest's md5 changes exactly when the
list does: a new or deactivated site reaches the tablets at their next form update, without a new
form version.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable, Iterable
from datetime import timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from server.models import Item, QuarantinedMutation, Service, Site, team_sites
from server.operations.quarantine_form import ENTITY_LABELS, label, message_ar
from server.operations.quarantine_stream import state
from server.persistence.timeutil import utcnow
from sync.domain import DeviceContext

HEADER = ("name", "label")


def _csv(rows: Iterable[tuple[str, str, str | None]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows((name, bilingual(label, label_ar)) for name, label, label_ar in rows)
    return out.getvalue().encode("utf-8")


def bilingual(name: str, name_ar: str | None) -> str:
    """One label for both of the form's languages (Collect has one label per external choice)."""
    return f"{name} / {name_ar}" if name_ar and name_ar != name else name


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


# --- quarantine.csv: what became of this tablet's submissions (forms/status.py) ------------------

QUARANTINE_HEADER = ("name", "label", "label_ar", "state")
# Resolved items stay listed this long after their resolution, so the field worker sees the outcome.
RESOLVED_SHOWN = timedelta(days=90)
_STATES = {"open": ("waiting for a coordinator", "بانتظار المنسق"),
           "applied": ("fixed by a coordinator and counted", "صحّحه المنسق واحتُسب"),
           "discarded": ("discarded by a coordinator", "استبعده المنسق")}


def quarantine_csv(session: Session, device: DeviceContext) -> bytes:
    """This device's quarantined submissions, newest first: one line each, in English and Arabic,
    saying what it was, why it was not accepted, and its state (`open`, `applied`, `discarded`).
    Only what the device itself sent; the bytes change exactly when an item arrives or changes."""
    since = utcnow() - RESOLVED_SHOWN
    rows = session.execute(
        select(QuarantinedMutation.op_id, QuarantinedMutation.mutation, QuarantinedMutation.errors,
               QuarantinedMutation.status, QuarantinedMutation.resolution, QuarantinedMutation.note,
               QuarantinedMutation.created_at)
        .where(QuarantinedMutation.device_id == device.device_id,
               or_(QuarantinedMutation.status == "open", QuarantinedMutation.resolved_at >= since))
        .order_by(QuarantinedMutation.id.desc())
    ).all()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(QUARANTINE_HEADER)
    for op_id, mutation, errors, status, resolution, note, created_at in rows:
        entity = mutation.get("entity") if isinstance(mutation, dict) else None
        data = mutation.get("data") if isinstance(mutation, dict) else None
        when = data.get("occurred_on") if isinstance(data, dict) and isinstance(data.get("occurred_on"), str) else ""
        what_en, what_ar = ENTITY_LABELS.get(entity if isinstance(entity, str) else "", ("Form", "نموذج"))
        item_state = state(status, resolution)
        state_en, state_ar = _STATES[item_state]
        problems = [(label(path.removeprefix("data.")), message) for path, messages in (errors or {}).items()
                    for message in messages]
        why_en = "; ".join(f"{names['label']}: {message}" for names, message in problems)
        why_ar = "; ".join(f"{names['label_ar']}: {message_ar(message) or _ltr(message)}"
                           for names, message in problems)
        sent = created_at.strftime("%Y-%m-%d")
        label_en = f"{what_en} {when} (sent {sent}): {state_en}" + (f". {why_en}" if why_en else "")
        label_ar = f"{what_ar} {_ltr(when)} (أُرسل {_ltr(sent)}): {state_ar}" + (f". {why_ar}" if why_ar else "")
        if note and item_state == "discarded":
            label_en, label_ar = f"{label_en}. Coordinator: {note}", f"{label_ar}. المنسق: {note}"
        # Collect and Web Forms lay a label out left to right whatever its language: the Arabic line is
        # a right-to-left isolate, its dates left-to-right ones, so neither is reordered (issue 30 §5).
        writer.writerow((op_id or "", label_en, f"\u2067{label_ar}\u2069", item_state))
    return out.getvalue().encode("utf-8")


def _ltr(text: str) -> str:
    return f"\u2066{text}\u2069" if text else text


_TEAM_FILES: dict[str, Callable[[Session, str], bytes]] = {
    "sites.csv": sites_csv,
    "items.csv": items_csv,
    "services.csv": services_csv,
}


def media_file(session: Session, device: DeviceContext, filename: str) -> bytes:
    """The file's bytes for this device (KeyError for an unknown name): the team's reference lists,
    or the device's own quarantined submissions."""
    if filename == "quarantine.csv":
        return quarantine_csv(session, device)
    return _TEAM_FILES[filename](session, device.team_id)


def md5(data: bytes) -> str:
    return "md5:" + hashlib.md5(data).hexdigest()  # noqa: S324 - OpenRosa's hash, not security
