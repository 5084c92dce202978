"""A country's DHIS2 mapping: which Fieldsync numbers become which DHIS2 data values.

One versioned JSON file per country (server/integrations/dhis2/mappings/<CODE>.json, or any path given to the
CLI with `--mapping`):

- `version`: bumped with every change, and named in every report, so a payload can be traced to
  the mapping that made it;
- `idScheme`: the identifier scheme of every code below (`CODE` or `UID`), sent to DHIS2 as is;
- `dataSet` (ADX requires one; optional in JSON), `attributeOptionCombo` (optional);
- `orgUnit`: `{"dimension": "site" | "area", "codes": {<site or area id>: <orgUnit>}}`;
- `categories`: for ADX, each disaggregation dimension's DHIS2 category and option codes:
  `{"sex": {"category": "SEX", "options": {"f": "FEMALE", ...}}}`;
- `dataElements`: one entry per indicator: `{"indicator", "dataElement", "disaggregation": [dims],
  "categoryOptionCombos": {"<value>,<value>": <categoryOptionCombo>}}` (the key joins the
  disaggregation's values in order with commas; `""` when there is none).

`load` checks the file against the indicator registry: every disaggregation must be a dimension of
its indicator with a fixed set of values (sex, age_band, ...), and every combination of those
values must have a categoryOptionCombo, so no number can fall through the mapping unreported.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server.aggregation.indicators import BY_CODE

MAPPINGS_DIR = Path(__file__).resolve().parent / "mappings"
ID_SCHEMES = ("CODE", "UID")
ORG_UNIT_DIMENSIONS = ("site", "area")


class MappingError(Exception):
    """The mapping file is missing, malformed, or does not cover what it must."""


@dataclass(frozen=True)
class DataElementMapping:
    indicator: str
    data_element: str
    disaggregation: tuple[str, ...]
    category_option_combos: dict[tuple[str, ...], str]


@dataclass(frozen=True)
class Mapping:
    country: str
    version: int
    id_scheme: str
    data_set: str | None
    attribute_option_combo: str | None
    org_unit_dimension: str
    org_units: dict[str, str]
    categories: dict[str, tuple[str, dict[str, str]]]  # dim -> (category, {value: option})
    data_elements: tuple[DataElementMapping, ...]
    source: str


def _fixed_values() -> dict[str, tuple[str, ...]]:
    from server.aggregation.query import FIXED_VALUES

    return FIXED_VALUES


def path_for(country: str) -> Path:
    if not re.fullmatch(r"[A-Z]{2,3}", country):
        raise MappingError(f"Not a country code: {country!r}.")
    return MAPPINGS_DIR / f"{country}.json"


def load(country: str, path: Path | None = None) -> Mapping:
    source = path or path_for(country)
    try:
        raw = json.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MappingError(f"No DHIS2 mapping for {country}: {source} does not exist.") from None
    except (OSError, ValueError) as error:
        raise MappingError(f"{source}: not readable JSON ({error}).") from None
    try:
        return _parse(raw, country, str(source))
    except (KeyError, TypeError, ValueError) as error:
        raise MappingError(f"{source}: malformed mapping ({error!r}).") from None


def _parse(raw: dict[str, Any], country: str, source: str) -> Mapping:
    problems: list[str] = []
    if raw.get("country") != country:
        problems.append(f"country is {raw.get('country')!r}, expected {country!r}")
    version = raw["version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        problems.append("version must be a positive integer")
    id_scheme = raw.get("idScheme", "UID")
    if id_scheme not in ID_SCHEMES:
        problems.append(f"idScheme must be one of {', '.join(ID_SCHEMES)}")
    org_unit = raw["orgUnit"]
    if org_unit["dimension"] not in ORG_UNIT_DIMENSIONS:
        problems.append(f"orgUnit.dimension must be one of {', '.join(ORG_UNIT_DIMENSIONS)}")
    org_units = {str(k): str(v) for k, v in org_unit["codes"].items()}
    fixed = _fixed_values()
    categories: dict[str, tuple[str, dict[str, str]]] = {}
    for dim, category in raw.get("categories", {}).items():
        options = {str(k): str(v) for k, v in category["options"].items()}
        categories[dim] = (str(category["category"]), options)
        if dim in fixed and set(options) != set(fixed[dim]):
            problems.append(f"categories.{dim} must map exactly {', '.join(fixed[dim])}")
    elements: list[DataElementMapping] = []
    for index, entry in enumerate(raw["dataElements"]):
        where = f"dataElements[{index}]"
        spec = BY_CODE.get(entry["indicator"])
        dims = tuple(entry.get("disaggregation", []))
        if spec is None:
            problems.append(f"{where}: unknown indicator {entry['indicator']!r}")
            continue
        for dim in dims:
            if dim not in spec.dimensions or dim not in fixed:
                problems.append(f"{where}: {dim} is not a fixed-value dimension of {spec.code}")
        if any(dim not in fixed for dim in dims):
            continue
        combos = {tuple(key.split(",")) if key else (): str(value)
                  for key, value in entry["categoryOptionCombos"].items()}
        wanted = set(itertools.product(*(fixed[dim] for dim in dims)))
        missing = sorted(",".join(combo) for combo in wanted - set(combos))
        extra = sorted(",".join(combo) for combo in set(combos) - wanted)
        if missing:
            problems.append(f"{where}: no categoryOptionCombo for {'; '.join(missing)}")
        if extra:
            problems.append(f"{where}: categoryOptionCombos for unknown values {'; '.join(extra)}")
        elements.append(DataElementMapping(spec.code, str(entry["dataElement"]), dims, combos))
    if problems:
        raise MappingError(f"{source}: " + "; ".join(problems) + ".")
    return Mapping(country=country, version=version, id_scheme=id_scheme, data_set=raw.get("dataSet"),
                   attribute_option_combo=raw.get("attributeOptionCombo"),
                   org_unit_dimension=org_unit["dimension"], org_units=org_units, categories=categories,
                   data_elements=tuple(elements), source=source)
