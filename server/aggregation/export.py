"""CSV and HXL renderings of an aggregate result (api.md "Aggregates", "Details").

CSV columns: each group_by dimension, followed by its `<dim>_name` column where it has one, then
`value`; one line per JSON row. HXL is the same CSV with a hashtag row under the header, so a
tool that ignores HXL reads it as plain CSV.

HXL choices (https://hxlstandard.org/standard/dictionary): administrative areas are `#adm1`,
sites `#loc`, teams `#org`, time `#date+year|+quarter|+month`, the value
`#indicator+value+num`. HXL marks sex with the `+f`/`+m` attributes on the counted column, which
only fits when every row is about one sex: so the value tag gets `+f`/`+m` when the query is
filtered to that one sex, and a `sex` column (rows of several sexes) is tagged `#meta+sex`.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from server.aggregation.query import NAMED_DIMENSIONS, AggregateResult

HXL_TAGS: dict[str, str] = {
    "country": "#country+code",
    "area": "#adm1+code",
    "area_name": "#adm1+name",
    "site": "#loc+code",
    "site_name": "#loc+name",
    "site_type": "#loc+type",
    "team": "#org+code",
    "team_name": "#org+name",
    "year": "#date+year",
    "quarter": "#date+quarter",
    "month": "#date+month",
    "population_group": "#population+type",
    "sex": "#meta+sex",
    "age_band": "#meta+age",
    "service": "#service+code",
    "visit": "#meta+visit",
    "item": "#item+code",
    "activity": "#activity+code",
}


def columns(result: AggregateResult) -> list[str]:
    names: list[str] = []
    for dim in result.group_by:
        names.append(dim)
        if dim in NAMED_DIMENSIONS:
            names.append(f"{dim}_name")
    return [*names, "value"]


def value_tag(result: AggregateResult) -> str:
    sexes = result.filters.get("sex", [])
    attribute = f"+{sexes[0]}" if len(sexes) == 1 and sexes[0] in ("f", "m") and "sex" not in result.group_by else ""
    return "#indicator+value+num" + attribute


def to_csv(result: AggregateResult, *, hxl: bool = False) -> str:
    header = columns(result)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    if hxl:
        writer.writerow([HXL_TAGS.get(name, value_tag(result)) if name != "value" else value_tag(result)
                         for name in header])
    for row in result.rows:
        writer.writerow([_cell(row.get(name)) for name in header])
    return buffer.getvalue()


# OWASP "CSV injection": a spreadsheet runs a cell starting with one of these as a formula (tab and
# carriage return too, as some spreadsheets strip them first). Names come from reference data an
# admin typed, and any text may one day come from a tablet.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A number as text stays a number ("-3", "+2.5", "1e-3"): prefixing it would turn it into text.
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _cell(value: Any) -> str:
    """Every CSV and HXL data cell goes through here: text that a spreadsheet would run as a formula
    gets a leading `'` (shown, never evaluated); numbers are written as they are."""
    if value is None:
        return ""
    text = str(value)
    if isinstance(value, bool | int | float) or not text.startswith(_FORMULA_STARTS) or _NUMBER.fullmatch(text):
        return text
    return "'" + text
