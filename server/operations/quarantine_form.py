"""A quarantined mutation as a form a person can fix (issue 30 §3): `GET /api/v1/quarantine/<id>/form`.

The dashboard showed raw wire names (`site_id`, `population_group`) holding raw codes (`m`, `mhpss`)
in a JSON editor. This describes the same mutation field by field: a label in English and Arabic,
a type the form can render (`choice`, `date`, `datetime`, `integer`, `boolean`, `text`, `counts`,
`fixed`), the value sent, that field's errors (English and, for the messages the server makes,
Arabic), and for choices the allowed values by name: the team's active sites, the item catalogue,
the services, and the domain's codes (domain.md).

Nothing here is a second declaration of the record types: field names, types, required-ness, ranges
and codes are read from the wire schemas (schemas/records.py), labels from the ODK forms
(forms/definitions.py), which already carry both languages; reference choices from the database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from marshmallow import fields, validate
from sqlalchemy import select
from sqlalchemy.orm import Session

from forms.definitions import CHOICES, SURVEYS
from schemas.records import SCHEMAS, IsoDateTime, StrictBoolean, StrictInteger, TallyCounts
from server.models import Item, QuarantinedMutation, Service, Site, Team, team_sites
from sync.domain import Entity

# Labels the forms do not carry (fields a tablet fills itself, or the JSON API only).
_EXTRA_LABELS: dict[str, tuple[str, str]] = {
    "team_id": ("Team", "الفريق"),
    "recorded_at": ("Recorded at (device clock)", "وقت التسجيل (ساعة الجهاز)"),
    "referral": ("Referred elsewhere?", "هل تمت الإحالة؟"),
    "reached": ("People reached", "الأشخاص الذين تم الوصول إليهم"),
    "base_version": ("Version corrected", "النسخة المصحّحة"),
    "reason": ("Reason for the change", "سبب التغيير"),
    "id": ("Record", "السجل"),
    "entity": ("Record type", "نوع السجل"),
    "op_id": ("Operation", "العملية"),
    "kind": ("Change", "نوع التغيير"),
}
REASONS: dict[str, tuple[str, str]] = {
    "rejected": ("Rejected: the data broke a rule of the programme", "مرفوض: البيانات خالفت قاعدة من قواعد البرنامج"),
    "device_revoked": ("Sent by a tablet after it was revoked", "أرسله جهاز لوحي بعد إلغائه"),
}
ENTITY_LABELS: dict[str, tuple[str, str]] = {
    "consultation": ("Health consultation", "استشارة صحية"),
    "distribution": ("Distribution", "توزيع"),
    "outreach": ("Outreach", "توعية مجتمعية"),
    "training": ("Training", "تدريب"),
}
# Choice lists of the forms under another name than the field's.
_CHOICE_LISTS = {"referral": "yes_no"}

# The server's own messages (sync/push.py, schemas/records.py, marshmallow's defaults) in Arabic;
# an unknown message stays English only (messages_ar is then null).
_MESSAGES_AR: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"Missing data for required field\."), "حقل مطلوب غير موجود."),
    (re.compile(r"Unknown field\."), "حقل غير معروف."),
    (re.compile(r"Field may not be null\."), "لا يمكن أن يكون هذا الحقل فارغًا."),
    (re.compile(r"Not a valid (UUID|boolean|date|datetime|integer|string)\."), "قيمة غير صالحة."),
    (re.compile(r"Must be one of: (.*)\."), r"يجب أن تكون إحدى القيم: \1."),
    (re.compile(r"Unknown site for this team\."), "موقع غير معروف لهذا الفريق."),
    (re.compile(r"Site is not active\."), "الموقع غير نشط."),
    (re.compile(r"Unknown item\."), "مادة غير معروفة."),
    (re.compile(r"Unknown service\."), "خدمة غير معروفة."),
    (re.compile(r"Must be the team of this device\."), "يجب أن يكون فريق هذا الجهاز."),
    (re.compile(r"Must be between (\S+) and (\S+)\."), r"يجب أن تكون بين \1 و\2."),
    (re.compile(r"Must be greater than or equal to (\S+) and less than or equal to (\S+)\."),
     r"يجب أن تكون بين \1 و\2."),
    (re.compile(r"One of age_band or age_years is required\."), "يلزم إدخال الفئة العمرية أو العمر بالسنوات."),
    (re.compile(r"Unknown record\."), "سجل غير معروف."),
    (re.compile(r"Cannot be changed\."), "لا يمكن تغييره."),
]


def message_ar(message: str) -> str | None:
    for pattern, arabic in _MESSAGES_AR:
        if pattern.fullmatch(message):
            return pattern.sub(arabic, message)
    return None


def _form_labels() -> dict[str, tuple[str, str]]:
    labels: dict[str, tuple[str, str]] = {}
    for build in SURVEYS.values():
        for row in build():
            name, en = row.get("name"), row.get("label::English (en)")
            if name and en and name not in labels:
                labels[name] = (en, row.get("label::Arabic (ar)") or en)
    return {**labels, **_EXTRA_LABELS}


LABELS = _form_labels()


def label(name: str) -> dict[str, str]:
    en, ar = LABELS.get(name, (name, name))
    return {"label": en, "label_ar": ar}


def _choice(value: str, en: str, ar: str | None) -> dict[str, Any]:
    return {"value": value, "label": en, "label_ar": ar or en}


def _reference_choices(session: Session, team_id: str | None) -> dict[str, list[dict[str, Any]]]:
    sites = session.execute(
        select(Site.id, Site.name, Site.name_ar).join(team_sites, team_sites.c.site_id == Site.id)
        .where(team_sites.c.team_id == team_id, Site.active.is_(True)).order_by(Site.name, Site.id)
    ).all() if team_id else []
    items = session.execute(select(Item.code, Item.name, Item.name_ar).order_by(Item.name, Item.code)).all()
    services = session.execute(select(Service.code, Service.name, Service.name_ar)
                               .order_by(Service.name, Service.code)).all()
    return {"site_id": [_choice(*row) for row in sites], "item_code": [_choice(*row) for row in items],
            "service": [_choice(*row) for row in services]}


def _code_choices(name: str, codes: Iterable[str]) -> list[dict[str, Any]]:
    named = {code: (en, ar) for code, en, ar in CHOICES.get(_CHOICE_LISTS.get(name, name), [])}
    return [_choice(code, *named.get(code, (code, code))) for code in codes]


def _field_type(field: fields.Field) -> dict[str, Any]:
    """How the form renders a schema field, with its range or length where the schema has one."""
    described: dict[str, Any]
    if isinstance(field, StrictBoolean | fields.Boolean):
        described = {"type": "boolean"}
    elif isinstance(field, StrictInteger | fields.Integer):
        described = {"type": "integer"}
    elif isinstance(field, IsoDateTime | fields.DateTime):
        described = {"type": "datetime"}
    elif isinstance(field, fields.Date):
        described = {"type": "date"}
    elif isinstance(field, TallyCounts):
        # The tally's keys, in their nesting order: outreach's `reached` by sex then age band, a
        # training's `participants` by sex (sync/record_types.py).
        described = {"type": "counts", "levels": {key.name: _code_choices(key.name, list(key.values))
                                                  for key in field.tally.keys}}
    elif isinstance(field, fields.String):
        described = {"type": "text"}
    else:  # a structure this module does not know: the JSON editor edits it
        described = {"type": "json"}
    for validator in field.validators:
        if isinstance(validator, validate.OneOf):
            described = {"type": "choice", "choices": _code_choices(field.name or "", map(str, validator.choices))}
        elif isinstance(validator, validate.Range):
            described.update({"min": validator.min, "max": validator.max})
        elif isinstance(validator, validate.Length) and described["type"] == "text":
            described["max_length"] = validator.max
    return described


def _errors_of(errors: dict[str, list[str]], path: str) -> list[dict[str, Any]]:
    return [{"message": message, "message_ar": message_ar(message)}
            for key, messages in errors.items() if key == path or key.startswith(path + ".")
            for message in messages]


def quarantine_form(session: Session, row: QuarantinedMutation) -> dict[str, Any]:
    """The row as a form (see the module's docstring). `editable` is false when the item is not an
    object with a known entity: only the raw JSON can then be fixed."""
    mutation = row.mutation if isinstance(row.mutation, dict) else {}
    entity, kind = mutation.get("entity"), mutation.get("kind")
    data = mutation.get("data") if isinstance(mutation.get("data"), dict) else {}
    errors: dict[str, list[str]] = row.errors if isinstance(row.errors, dict) else {}
    schema = SCHEMAS.get(Entity(entity)) if entity in {e.value for e in Entity} else None
    team_country = session.scalar(select(Team.country_code).where(Team.id == row.team_id)) if row.team_id else None
    reason_en, reason_ar = REASONS.get(row.reason, (row.reason, row.reason))
    entity_en, entity_ar = ENTITY_LABELS.get(entity if isinstance(entity, str) else "", (str(entity), str(entity)))
    form: dict[str, Any] = {
        "id": row.id, "team_id": row.team_id, "country": team_country, "status": row.status,
        "kind": kind if isinstance(kind, str) else None, "entity": entity if isinstance(entity, str) else None,
        "entity_label": entity_en, "entity_label_ar": entity_ar,
        "record_id": mutation.get("id") if isinstance(mutation.get("id"), str) else None,
        "reason": {"code": row.reason, "label": reason_en, "label_ar": reason_ar},
        "errors": [{"field": path, **label(path.removeprefix("data.")), "messages": messages,
                    "messages_ar": [message_ar(m) for m in messages]} for path, messages in errors.items()],
        "editable": schema is not None and kind in ("create", "correct"),
        "fields": [], "unknown_fields": [],
    }
    if schema is None:
        return form
    declared = schema(today=row.created_at.date()).fields
    choices = _reference_choices(session, row.team_id)
    # A creation is the whole record; a correction only the fields it changes.
    names = list(declared) if kind == "create" else [name for name in declared if name in data]
    for name in names:
        described = _field_type(declared[name])
        if name in choices:
            described = {"type": "choice", "choices": choices[name]}
        if name == "team_id":  # the tablet's team; a fix cannot move a record to another team
            described = {"type": "fixed"}
        form["fields"].append({"name": name, **label(name), **described, "required": declared[name].required,
                               "value": data.get(name), "sent": name in data,
                               "errors": _errors_of(errors, f"data.{name}")})
    form["unknown_fields"] = [{"name": name, "value": value, "errors": _errors_of(errors, f"data.{name}")}
                              for name, value in data.items() if name not in declared]
    return form
