"""DHIS2 payloads of a country's months: dataValueSets JSON and ADX XML.

The numbers come from the aggregation query (server/aggregation/query.py `aggregate`), the same
one behind /api/v1/aggregates and the dashboard: one query per mapped indicator and month, grouped
by the mapping's org unit dimension and the data element's disaggregation. No second aggregation.

Every mapped org unit x categoryOptionCombo is sent, zeros included, and in a fixed order: a month
exported twice gives byte-identical JSON, and a value that fell to 0 since the last push (a voided
record) overwrites the number DHIS2 holds instead of leaving it behind.
"""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from xml.etree import ElementTree

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.aggregation.query import aggregate
from server.integrations.dhis2.mapping import Mapping, MappingError
from server.models import Area, Site

PERIOD = re.compile(r"^(\d{4})(0[1-9]|1[0-2])$")
ADX_NAMESPACE = "urn:ihe:qrph:adx:2015"


@dataclass(frozen=True)
class DataValue:
    data_element: str
    period: str  # yyyyMM
    org_unit: str
    category_option_combo: str
    value: int
    options: tuple[tuple[str, str], ...]  # (category, option) for ADX


def check_period(period: str) -> str:
    if not PERIOD.match(period):
        raise MappingError(f"Not a monthly DHIS2 period (yyyyMM): {period!r}.")
    return period


def _places_of_country(session: Session, mapping: Mapping) -> set[str]:
    if mapping.org_unit_dimension == "site":
        statement = select(Site.id).join(Area, Area.id == Site.area_id).where(Area.country_code == mapping.country)
    else:
        statement = select(Area.id).where(Area.country_code == mapping.country)
    return set(session.execute(statement).scalars())


def data_values(session: Session, mapping: Mapping, periods: Sequence[str]) -> list[DataValue]:
    """The data values of these months, zeros included; MappingError if some number has no org unit."""
    places = _places_of_country(session, mapping)
    foreign = sorted(set(mapping.org_units) - places)
    if foreign:
        raise MappingError(f"orgUnit.codes names {', '.join(foreign)}: not a {mapping.org_unit_dimension} "
                           f"of {mapping.country}.")
    out: list[DataValue] = []
    dim = mapping.org_unit_dimension
    wanted = sorted(set(map(check_period, periods)))
    months = [f"{period[:4]}-{period[4:]}" for period in wanted]
    # One query per data element for all the months: grouped by month, a distinct count is per month
    # (its finest time dimension), as DHIS2's monthly periods want. The date range lets the query read
    # only those months' rollups.
    first = date(int(months[0][:4]), int(months[0][5:]), 1)
    last_year, last_month = int(months[-1][:4]), int(months[-1][5:])
    last = date(last_year, last_month, calendar.monthrange(last_year, last_month)[1])
    for element in mapping.data_elements:
        result = aggregate(session, element.indicator, [dim, "month", *element.disaggregation],
                           {"country": [mapping.country], "month": months}, first, last)
        values = {(row["month"].replace("-", ""), row[dim], *(str(row[d]) for d in element.disaggregation)):
                  int(row["value"]) for row in result.rows}
        unmapped = sorted({key[1] for key in values if key[1] not in mapping.org_units})
        if unmapped:
            raise MappingError(f"{element.indicator}: no orgUnit for {dim} {', '.join(unmapped)} "
                               f"(mapping {mapping.country} v{mapping.version}).")
        for period in wanted:
            for place, org_unit in sorted(mapping.org_units.items()):
                for combo, option_combo in sorted(element.category_option_combos.items()):
                    options = tuple((mapping.categories[d][0], mapping.categories[d][1][v])
                                    for d, v in zip(element.disaggregation, combo, strict=True)
                                    if d in mapping.categories)
                    out.append(DataValue(element.data_element, period, org_unit, option_combo,
                                         values.get((period, place, *combo), 0), options))
    out.sort(key=lambda v: (v.period, v.data_element, v.org_unit, v.category_option_combo))
    return out


def to_json(mapping: Mapping, values: Sequence[DataValue]) -> bytes:
    """A dataValueSets document (POST /api/dataValueSets), deterministic for the same values."""
    document: dict[str, object] = {}
    if mapping.data_set:
        document["dataSet"] = mapping.data_set
    rows = []
    for value in values:
        row = {"dataElement": value.data_element, "period": value.period, "orgUnit": value.org_unit,
               "categoryOptionCombo": value.category_option_combo, "value": str(value.value)}
        if mapping.attribute_option_combo:
            row["attributeOptionCombo"] = mapping.attribute_option_combo
        rows.append(row)
    document["dataValues"] = rows
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def adx_period(period: str) -> str:
    """yyyyMM -> ADX's ISO 8601 start/duration, e.g. `2016-01-01/P1M`."""
    year, month = int(period[:4]), int(period[4:])
    calendar.monthrange(year, month)  # validates
    return f"{year:04d}-{month:02d}-01/P1M"


def to_adx(mapping: Mapping, values: Sequence[DataValue], *, exported: datetime | None = None) -> bytes:
    """An ADX message: one `group` per org unit and period; disaggregations as category attributes."""
    if not mapping.data_set:
        raise MappingError(f"ADX needs a dataSet: the {mapping.country} mapping has none.")
    ElementTree.register_namespace("", ADX_NAMESPACE)
    root = ElementTree.Element(f"{{{ADX_NAMESPACE}}}adx")
    if exported is not None:
        root.set("exported", exported.replace(microsecond=0).isoformat() + ("" if exported.tzinfo else "Z"))
    groups: dict[tuple[str, str], ElementTree.Element] = {}
    for value in values:
        key = (value.org_unit, value.period)
        group = groups.get(key)
        if group is None:
            attributes = {"dataSet": mapping.data_set, "orgUnit": value.org_unit, "period": adx_period(value.period)}
            if mapping.attribute_option_combo:
                attributes["attributeOptionCombo"] = mapping.attribute_option_combo
            group = groups[key] = ElementTree.SubElement(root, f"{{{ADX_NAMESPACE}}}group", attributes)
        attributes = {"dataElement": value.data_element, **dict(value.options), "value": str(value.value)}
        ElementTree.SubElement(group, f"{{{ADX_NAMESPACE}}}dataValue", attributes)
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
