"""Generators of hostile request bodies, by class, for the in-process and the live-server tests.

The classes of issue 13 §2, each produced for every field of every JSON body, so a body or field
added later is covered without touching the tests:

- the fields come from the server's own OpenAPI document (`body_operations`: every operation with a
  JSON request body, its declared properties) plus every path to every value of a complete, valid
  example body (`VALID_BODIES`; for a new body, one derived from its schema), which reaches inside
  push's raw `mutations`, their `data` and `data.reached`;
- `wrong_type_bodies` puts each JSON type (null, booleans, numbers, strings, arrays, objects) in each
  field in turn;
- `policy_texts` writes, at a field or key hypothesis picks, what the JSON decode policy refuses: a
  lone UTF-16 surrogate escape, a number beyond the range of a double (in any position, e.g.
  `"mutations":[1e400]`), NaN/Infinity, or a key twice in one object. Text-level, since none of them
  is a Python value `json.dumps` would write.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

from schemas.records import SCHEMAS

Path = tuple[str | int, ...]

# One value of every JSON type (and the edge of each): the "wrong type" for any field.
WRONG_TYPES: list[Any] = [
    None, True, -1, 1.5, -1e308, 10**30, "", "\u00e9\U0001f600" * 300, [], ["consultation"], {}, {"create": {"x": []}},
]

# What the decode policy refuses, as raw JSON text.
SURROGATES = ['"\\ud800"', '"\\udfff"', '"a\\ud83d"', '"\\ude00b"', '"\\udbff\\udbff"', '"\\ude00\\ud83d"']
HUGE_NUMBERS = ["1e400", "-1e400", "1E+999", "-2.5e309", "1" + "0" * 400, "-" + "9" * 320, "0.1e99999"]
CONSTANTS = ["NaN", "Infinity", "-Infinity"]
POLICY_CLASSES = ("lone_surrogate_value", "lone_surrogate_key", "huge_number", "non_finite", "duplicate_key")

_MARK = "\u0001fieldsync-mark\u0001"
_MARK_JSON = json.dumps(_MARK)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def record_data(entity: str, site_id: str = "ly-mp-tripoli", team_id: str = "ly-mmt-tripoli") -> dict[str, Any]:
    """A complete valid `data` with every declared field of the entity's schema present."""
    common = {"site_id": site_id, "team_id": team_id, "occurred_on": datetime.now(UTC).date().isoformat(),
              "recorded_at": _now(), "population_group": "idp"}
    by_entity: dict[str, dict[str, Any]] = {
        "consultation": {"sex": "f", "age_band": "18-59", "age_years": 30, "visit": "new", "service": "general",
                         "referral": False, "beneficiary_ref": "ref-1"},
        "distribution": {"sex": "m", "age_band": "18-59", "age_years": 40, "item_code": "hk-family", "quantity": 2,
                         "household_size": 4, "beneficiary_ref": "ref-2"},
        "outreach": {"activity": "screening", "topic": "hygiene", "reached": {"f": {"18-59": 12}, "m": {"5-17": 3}}},
    }
    data = {**common, **by_entity[entity]}
    declared = set(SCHEMAS[next(e for e in SCHEMAS if e.value == entity)]._declared_fields)
    assert declared <= set(data), f"record_data misses {declared - set(data)}: add a valid value"
    return data


def mutation(entity: str = "consultation", **overrides: Any) -> dict[str, Any]:
    return {"op_id": str(uuid.uuid4()), "kind": "create", "entity": entity, "id": str(uuid.uuid4()),
            "data": record_data(entity), "reason": "first entry", **overrides}


def push_envelope(mutations: list[Any]) -> dict[str, Any]:
    return {"batch_id": str(uuid.uuid4()), "schema_version": 1, "app_version": "1.4.0", "client_time": _now(),
            "mutations": mutations}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # with {placeholders}
    properties: tuple[str, ...]
    required: tuple[str, ...]
    schema: dict[str, Any]


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def body_operations(spec: dict[str, Any]) -> list[Operation]:
    """Every operation of the OpenAPI document that takes a JSON body, with its declared fields."""
    found = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method not in ("post", "put", "patch"):  # "parameters" sits beside the methods
                continue
            content = (operation.get("requestBody") or {}).get("content", {})
            schema = content.get("application/json", {}).get("schema")
            if schema is None:
                continue
            resolved = _resolve(spec, schema)
            found.append(Operation(method.upper(), path, tuple(sorted(resolved.get("properties", {}))),
                                   tuple(sorted(resolved.get("required", []))), resolved))
    return found


def _example(spec: dict[str, Any], schema: dict[str, Any]) -> Any:
    schema = _resolve(spec, schema)
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object" or "properties" in schema:
        return {name: _example(spec, sub) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [_example(spec, schema["items"])] if "items" in schema else []
    if kind == "integer":
        return max(1, int(schema.get("minimum", 1)))
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return True
    if schema.get("format") == "uuid":
        return str(uuid.uuid4())
    if schema.get("format") == "date-time":
        return _now()
    if schema.get("format") == "date":
        return datetime.now(UTC).date().isoformat()
    return "example"


def valid_body(spec: dict[str, Any], operation: Operation, known: dict[str, Any]) -> Any:
    """A complete valid example body: the hand-made one if the route is known, else one derived from
    the schema (every declared property with a value of its type)."""
    key = f"{operation.method} {operation.path}"
    if key in known:
        return copy.deepcopy(known[key])
    return _example(spec, operation.schema)


def value_paths(value: Any, prefix: Path = ()) -> Iterator[Path]:
    """Every path to every value inside `value` (the value itself excluded)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from value_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*prefix, index)
            yield from value_paths(item, (*prefix, index))


def object_paths(value: Any, prefix: Path = ()) -> Iterator[Path]:
    if isinstance(value, dict):
        yield prefix
        for key, item in value.items():
            yield from object_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from object_paths(item, (*prefix, index))


def field_paths(body: Any, declared: tuple[str, ...]) -> list[Path]:
    """The fields to attack: every path of the valid body, plus declared properties it left out."""
    paths = list(value_paths(body))
    paths += [(name,) for name in declared if (name,) not in paths]
    return paths


def replaced(body: Any, path: Path, value: Any) -> Any:
    """A copy of `body` with the value at `path` replaced (or the key added, for a missing one)."""
    copied = copy.deepcopy(body)
    if not path:
        return value
    target = copied
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return copied


def wrong_type_bodies(body: Any, declared: tuple[str, ...]) -> Iterator[tuple[str, Any]]:
    """(field path, body) for every field and every JSON type."""
    for path in field_paths(body, declared):
        for value in WRONG_TYPES:
            yield ".".join(map(str, path)), replaced(body, path, value)


def _with_text(body: Any, path: Path, raw: str) -> str:
    return json.dumps(replaced(body, path, _MARK)).replace(_MARK_JSON, raw, 1)


def _with_key(body: Any, path: Path, raw_pair: str) -> str:
    """The body's text with `raw_pair` (`"key": value`) added to the object at `path`."""
    target = replaced(body, path, {**_get(body, path), _MARK: 0}) if path else {**body, _MARK: 0}
    return json.dumps(target).replace(f"{_MARK_JSON}: 0", raw_pair, 1)


def _get(body: Any, path: Path) -> Any:
    for step in path:
        body = body[step]
    return body


@st.composite
def policy_texts(draw: st.DrawFn, body: Any) -> tuple[str, str]:
    """(class, body text): one refused JSON construct at a field or object of the body hypothesis picks."""
    category = draw(st.sampled_from(POLICY_CLASSES))
    values = list(value_paths(body)) or [()]
    objects = list(object_paths(body)) or [()]
    if category == "lone_surrogate_value":
        raw = draw(st.sampled_from(SURROGATES))
        prefix = draw(st.text(alphabet="abc 1é", max_size=3))
        return category, _with_text(body, draw(st.sampled_from(values)), raw[0] + prefix + raw[1:])
    if category == "huge_number":
        raw = draw(st.sampled_from(HUGE_NUMBERS))
        # A bare number, or one inside a list (`"mutations":[1e400]`) or an object.
        wrapped = draw(st.sampled_from(["{}", "[{}]", '{{"n": {}}}', "[1, {}]"])).format(raw)
        return category, _with_text(body, draw(st.sampled_from(values)), wrapped)
    if category == "non_finite":
        return category, _with_text(body, draw(st.sampled_from(values)), draw(st.sampled_from(CONSTANTS)))
    path = draw(st.sampled_from(objects))
    target = _get(body, path) if path else body
    if category == "lone_surrogate_key":
        return category, _with_key(body, path, draw(st.sampled_from(SURROGATES)) + ": 1")
    if not target:  # an empty object (e.g. a statement's `filters: {}`): the key twice, or nothing is doubled
        return category, _with_key(body, path, '"a": 1, "a": 1')
    key = draw(st.sampled_from(list(target)))
    return category, _with_key(body, path, f"{json.dumps(key)}: {json.dumps(target[key])}")


ENVELOPE_CODE = re.compile(r"[a-z][a-z0-9_]*")


def envelope_problems(status: int, payload: Any) -> list[str]:
    """What is wrong with an error answer's shape (api.md "Errors"); [] when it is right."""
    if not isinstance(payload, dict) or not isinstance(payload.get("error"), dict):
        return [f"{status}: no error envelope: {str(payload)[:200]}"]
    error = payload["error"]
    problems = []
    if not (isinstance(error.get("code"), str) and ENVELOPE_CODE.fullmatch(error["code"])):
        problems.append(f"{status}: code {error.get('code')!r}")
    if not (isinstance(error.get("message"), str) and error["message"]):
        problems.append(f"{status}: message {error.get('message')!r}")
    fields = error.get("fields")
    if not (isinstance(fields, dict) and all(isinstance(v, list) and all(isinstance(m, str) for m in v)
                                             for v in fields.values())):
        problems.append(f"{status}: fields {fields!r}")
    return problems
