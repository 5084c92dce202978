"""CSV and HXL renderings of an aggregate result (api.md "Aggregates", "Details").

CSV columns: each group_by dimension, followed by its `<dim>_name` column where it has one, then
`value`; one line per JSON row. HXL is CSV with a hashtag row under the header, so a
tool that ignores HXL reads it as plain CSV; it leads with an `indicator` and a `country` column
(the handler groups an HXL query by country, so every row names its country).

HXL choices (HXL core schema, https://hxlstandard.org/standard/dictionary), checked with libhxl's
`hxl.validate` and its default schema (tests/server/aggregation/test_export_hxl.py): administrative areas are
`#adm1`, sites `#loc`, teams `#org`, time `#date+year|+quarter|+month`, the indicator's code
`#indicator+code`, the value `#indicator+value+num`. The default schema requires a number in every
`#population` column, so the population group (a code such as `migrant`) is the text column
`#group+code`. HXL marks sex with the `+f`/`+m` attributes and population types with `+refugees`,
`+idps`, `+returnees` on the counted column, which only fits when every row is about one of them:
so the value tag gets those attributes when the query is filtered to one sex or one such group and
not grouped by it; a `sex` or `age_band` column (rows of several) is tagged `#meta+sex`/`#meta+age`.
The tags of the dimensions read from records' data are declared with them (sync/record_types.py).
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from flask import Response

from server.aggregation.query import NAMED_DIMENSIONS, AggregateResult
from sync.record_types import DATA_DIMENSIONS

# Excel opens a CSV as the machine's ANSI code page unless it starts with a UTF-8 byte-order mark.
BOM = "\ufeff"

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
    "indicator": "#indicator+code",
    # population_group, sex, age_band and each record type's own (sync/record_types.py).
    **{name: dim.hxl for name, dim in DATA_DIMENSIONS.items()},
}


def columns(result: AggregateResult) -> list[str]:
    names: list[str] = []
    for dim in result.group_by:
        names.append(dim)
        if dim in NAMED_DIMENSIONS:
            names.append(f"{dim}_name")
    return [*names, "value"]


# HXL attributes for a value column about one population group, where HXL defines one.
_GROUP_ATTRIBUTES = {"refugee": "+refugees", "idp": "+idps", "returnee": "+returnees"}


def hxl_columns(result: AggregateResult) -> list[str]:
    """The HXL file's columns: `indicator`, then `country` unless grouped by, then the CSV's."""
    lead = ["indicator"] if "country" in result.group_by else ["indicator", "country"]
    return [*lead, *columns(result)]


def value_tag(result: AggregateResult) -> str:
    tag = "#indicator+value+num"
    sexes = result.filters.get("sex", [])
    if len(sexes) == 1 and sexes[0] in ("f", "m") and "sex" not in result.group_by:
        tag += f"+{sexes[0]}"
    groups = result.filters.get("population_group", [])
    if len(groups) == 1 and groups[0] in _GROUP_ATTRIBUTES and "population_group" not in result.group_by:
        tag += _GROUP_ATTRIBUTES[groups[0]]
    return tag


def hashtags(result: AggregateResult, header: list[str]) -> list[str]:
    return [value_tag(result) if name == "value" else HXL_TAGS[name] for name in header]


def to_csv(result: AggregateResult, *, hxl: bool = False) -> str:
    header = hxl_columns(result) if hxl else columns(result)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    if hxl:
        writer.writerow(hashtags(result, header))
    for row in result.rows:
        writer.writerow([spreadsheet_cell(_value(result, row, name)) for name in header])
    return buffer.getvalue()


# OWASP "CSV injection": a spreadsheet runs a cell starting with one of these as a formula (tab and
# carriage return too, as some spreadsheets strip them first). Names come from reference data an
# admin typed, and any text may one day come from a tablet.
# Their full-width forms too (U+FF1D, U+FF0B, U+FF0D, U+FF20): spreadsheets with East Asian input
# settings read `＝SUM(...)` as a formula (issue 29 item 9).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
# A number as text stays a number ("-3", "+2.5", "1e-3"): prefixing it would turn it into text.
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def spreadsheet_cell(value: Any) -> str:
    """Every CSV and HXL data cell goes through here: text that a spreadsheet would run as a formula
    gets a leading `'` (shown, never evaluated); numbers are written as they are."""
    if value is None:
        return ""
    text = str(value)
    if isinstance(value, bool | int | float) or not text.startswith(_FORMULA_STARTS) or _NUMBER.fullmatch(text):
        return text
    return "'" + text


def _value(result: AggregateResult, row: dict[str, Any], name: str) -> Any:
    if name == "indicator":
        return result.indicator
    if name == "country" and name not in row:  # an HXL query is grouped by country; kept total
        countries = result.filters.get("country", [])
        return countries[0] if len(countries) == 1 else None
    return row.get(name)


def file_name(result: AggregateResult, output: str) -> str:
    """`<indicator>[_<from>][_<to>].csv` (`.hxl.csv` for HXL): ASCII only, the indicator being a known code."""
    parts = [result.indicator]
    parts += [day.isoformat() for day in (result.date_from, result.date_to) if day is not None]
    return "_".join(parts) + (".hxl.csv" if output == "hxl" else ".csv")


def attachment(text: str, filename: str, *, bom: bool = False, mimetype: str = "text/csv") -> Response:
    body = (BOM + text) if bom else text
    return Response(body, mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
