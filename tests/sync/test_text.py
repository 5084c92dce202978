"""The engine's text rules on any JSON value: the NUL finder and UUID canonicalisation (sync/text.py,
sync/push.py), which every item of every push passes through."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from sync.fingerprint import canonical_json
from sync.push import canonical_uuid, parse_mutation
from sync.text import NUL, nul_path

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(alphabet=st.sampled_from("ab\x00é")),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(alphabet=st.sampled_from("k\x00"), max_size=3), children, max_size=4),
    max_leaves=20,
)


def strings_with_paths(value: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], str]]:
    """Every key and string in `value`, with where it is."""
    if isinstance(value, str):
        return [(path, value)]
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            found.append(((*path, key), key))
            found += strings_with_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += strings_with_paths(item, (*path, str(index)))
    return found


@given(JSON)
def test_nul_path_names_the_first_key_or_string_holding_a_nul_and_only_then(value: Any) -> None:
    holding = [path for path, text in strings_with_paths(value) if NUL in text]

    found = nul_path(value)

    if not holding:
        assert found is None
    else:
        where = ""
        for part in holding[0]:  # dotted, an empty key adding nothing to an empty prefix
            where = f"{where}.{part}" if where else part
        assert found == (where.replace(NUL, "\\u0000") or "_request")


@given(st.uuids(), st.sampled_from([str, lambda u: str(u).upper(), lambda u: u.hex, lambda u: "{" + str(u) + "}",
                                    lambda u: u.urn]))
def test_every_spelling_of_a_uuid_has_one_canonical_form(value: uuid.UUID, spelling: Any) -> None:
    assert canonical_uuid(spelling(value)) == str(value)


@given(st.one_of(st.text(max_size=40), st.integers(), st.none(), st.lists(st.text(), max_size=2)))
def test_anything_else_is_not_a_uuid(value: Any) -> None:
    try:
        expected = str(uuid.UUID(value)) if isinstance(value, str) else None
    except ValueError:
        expected = None
    assert canonical_uuid(value) == expected


@given(st.uuids(), st.text(min_size=1, max_size=3), st.booleans())
def test_a_uuid_with_more_around_it_is_judged_as_the_uuid_module_judges_it(value: uuid.UUID, extra: str,
                                                                          before: bool) -> None:
    text = extra + str(value) if before else str(value) + extra
    try:
        expected: str | None = str(uuid.UUID(text))
    except ValueError:
        expected = None
    assert canonical_uuid(text) == expected


# What a push body can hold once parsed: JSON values without NaN or infinities (refused at the edge).
PARSED_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.sampled_from("ab\x00é\\u0")),  # backslashes typed before u0000 too
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(alphabet=st.sampled_from("k\x00"), max_size=3), children, max_size=4),
    max_leaves=20,
)
MUTATION_LIKE = st.dictionaries(
    st.sampled_from(["op_id", "id", "entity", "kind", "data", "k\x00"]), PARSED_JSON, max_size=5)


@given(MUTATION_LIKE)
def test_parse_mutation_answers_the_same_with_the_items_canonical_json(raw: dict[str, Any]) -> None:
    """The server hands the engine each item's canonical JSON, which lets the NUL walk be skipped
    when no `\\u0000` escape is in it: the answer must be the one the full walk gives."""
    assert parse_mutation(raw, canonical_json(raw)) == parse_mutation(raw)
