"""Read a submitted instance (the XML Collect sends) into record fields, without the database.

The XML is parsed with defusedxml and DTDs are refused outright: no entity expansion (the
"billion laughs" bomb), no external entities, no network. The caller has already bounded its size.

Values are translated, not judged: `yes`/`no` become booleans and integer-looking text an int,
anything else is passed on as the text it is, so the sync engine's validator (the same one the JSON
push uses) names what is wrong and the submission lands in quarantine with its reasons instead of
being refused here. Only what makes a submission unaddressable is an error at this stage: XML that
does not parse, an unknown form id, a missing or malformed `meta/instanceID`.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from forms.definitions import FORM_IDS, HELPER_ELEMENTS, SURVEYS
from server.integrations.openrosa.responses import OpenRosaError
from sync.domain import Entity
from sync.record_types import RECORD_TYPES, Tally

ENTITY_OF_FORM = {record_type.form_id: record_type.entity for record_type in RECORD_TYPES.values()}
INTEGER_FIELDS = frozenset(name for record_type in RECORD_TYPES.values() for name in record_type.integer_fields)
BOOLEAN_FIELDS = frozenset(name for record_type in RECORD_TYPES.values() for name in record_type.boolean_fields)
# Optional fields a later edit may empty (sent as null in the correction so the value is removed).
# age_years/age_band are not there: the engine drops one when the other is corrected.
CLEARABLE_FIELDS = {entity: record_type.form.clearable for entity, record_type in RECORD_TYPES.items()}
_INTEGER = re.compile(r"-?[0-9]{1,9}")
# Elements the form does not have are passed on to the validator, which names each one and quarantines
# the submission; past the first UNKNOWN_NAMED they are only counted (issue 29 item 2: 300,000 distinct
# unknown elements were 300,000 messages, a 7.4 MB answer and ~50 MB stored in the quarantine).
UNKNOWN_NAMED = 5
KNOWN_NAMES = {form_id: frozenset(row["name"] for row in SURVEYS[form_id]() if row.get("name")) | HELPER_ELEMENTS
               for form_id in FORM_IDS}
# Per form, its tally group (`reached`, `participants`): the tally and its element names' key paths.
_TALLIES: dict[Entity, tuple[Tally, dict[str, tuple[str, ...]]]] = {
    entity: (tally, dict(tally.element_names()))
    for entity, tally in ((entity, record_type.tally) for entity, record_type in RECORD_TYPES.items())
    if tally is not None
}


@dataclass(frozen=True)
class Instance:
    form_id: str
    entity: Entity
    instance_id: str  # canonical UUID, without the "uuid:" prefix
    deprecated_id: str | None
    fields: dict[str, Any] = field(default_factory=dict)  # record fields, without team_id/recorded_at
    recorded_at: str | None = None  # the form's `end` (or meta/timeEnd), as sent
    unknown_elements: int = 0  # top-level elements the form does not have; the first UNKNOWN_NAMED are in fields


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _text(element: Element) -> str:
    return (element.text or "").strip()


def _value(name: str, text: str) -> Any:
    if name in INTEGER_FIELDS and _INTEGER.fullmatch(text):
        return int(text)
    if name in BOOLEAN_FIELDS and text in ("yes", "no"):
        return text == "yes"
    return text


def _instance_uuid(text: str, name: str) -> str:
    # Collect writes "uuid:<uuid>"; a bare UUID is accepted too (Enketo, older clients).
    try:
        return str(uuid.UUID(text.removeprefix("uuid:")))
    except ValueError:
        raise OpenRosaError(400, f"meta/{name} must be uuid:<a UUID>.") from None


def _tally(group: Element, tally: Tally, paths: dict[str, tuple[str, ...]]) -> dict[str, Any]:
    """`<reached><f_18_59>12</f_18_59>...` -> {"f": {"18-59": 12}}, `<participants><f>12</f>...` ->
    {"f": 12}; empty and 0 counts are left out."""
    counts: dict[str, Any] = {}
    for child in group:
        name, text = _local(child.tag), _text(child)
        if not text:
            continue
        if name not in paths:
            counts[name] = text  # the validator names the unknown key
            continue
        count: Any = int(text) if _INTEGER.fullmatch(text) else text
        if count == 0:
            continue
        *outer, last = paths[name]
        node = counts
        for key in outer:
            node = node.setdefault(key, {})
        node[last] = count
    return counts


def parse_instance(xml: bytes) -> Instance:
    """The instance's form, ids and fields; OpenRosaError(400) if it cannot be addressed."""
    try:
        root = fromstring(xml, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise OpenRosaError(400, "The submission may not contain a DTD or entities.") from None
    except (ParseError, ValueError):
        raise OpenRosaError(400, "The submission is not well-formed XML.") from None
    form_id = root.get("id")
    if form_id not in ENTITY_OF_FORM:
        shown = form_id if form_id and len(form_id) <= 64 and form_id.isprintable() else None
        raise OpenRosaError(400, f"Unknown form id {shown}." if shown else "The instance names no known form id.")
    entity = ENTITY_OF_FORM[form_id]

    seen: set[str] = set()
    fields: dict[str, Any] = {}
    meta: dict[str, str] = {}
    end = ""
    known = KNOWN_NAMES[form_id]
    unknown = 0
    for child in root:
        name = _local(child.tag)
        if name in seen:
            raise OpenRosaError(400, f"The element {name[:64]} appears more than once.")
        seen.add(name)
        if name not in known:
            unknown += 1
            if unknown > UNKNOWN_NAMED:
                continue  # counted, not kept: the validator names the first few
        if name == "meta":
            meta = {_local(item.tag): _text(item) for item in child}
        elif name == "end":
            end = _text(child)
        elif entity in _TALLIES and name == _TALLIES[entity][0].field:
            fields[name] = _tally(child, *_TALLIES[entity])
        elif name in HELPER_ELEMENTS:
            continue
        elif len(child):
            fields[name] = {_local(item.tag): _text(item) for item in child}  # refused by the validator
        elif text := _text(child):
            fields[name] = _value(name, text)

    if not meta.get("instanceID"):
        raise OpenRosaError(400, "The submission has no meta/instanceID.")
    instance_id = _instance_uuid(meta["instanceID"], "instanceID")
    deprecated = meta.get("deprecatedID") or None
    deprecated_id = _instance_uuid(deprecated, "deprecatedID") if deprecated else None
    if deprecated_id == instance_id:
        raise OpenRosaError(400, "meta/deprecatedID must differ from meta/instanceID.")
    return Instance(
        form_id=form_id,
        entity=entity,
        instance_id=instance_id,
        deprecated_id=deprecated_id,
        fields=fields,
        recorded_at=end or meta.get("timeEnd") or None,
        unknown_elements=unknown,
    )
