"""Fingerprints made from bytes already encoded must be the fingerprints of the values themselves:
a batch's (the key a re-sent batch is recognised by) and each op's (what tells a genuine re-send
from an op_id reused for other content). A difference would answer a re-send with 422 or
op_id_reused, and both hashes are stored, so they must not change between versions either."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.fingerprint import canonical_json, envelope_fingerprint, fingerprint
from sync.push import mutation_fingerprint, mutation_to_wire, parse_mutation

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.sampled_from('ab"\\é\u2028😀')),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(alphabet=st.sampled_from('ka"é'), max_size=3), children, max_size=4),
    max_leaves=20,
)

ENVELOPE_KEYS = st.sampled_from(["batch_id", "app_version", "client_time", "schema_version", "a", "Z", "é", "m"])


@given(st.dictionaries(ENVELOPE_KEYS, JSON, max_size=5), st.lists(JSON, max_size=6))
def test_a_batch_hashed_from_its_items_bytes_is_the_batch_hashed_whole(envelope: dict[str, Any],
                                                                       items: list[Any]) -> None:
    envelope = {**envelope, "mutations": items}
    item_json = [canonical_json(item) for item in items]
    assert envelope_fingerprint(envelope, "mutations", item_json) == fingerprint(envelope)


def _spellings(value: str) -> st.SearchStrategy[Any]:
    """A UUID as sent: mostly canonical (so that the other normalisations are met on their own
    too), else upper case, braced or without dashes."""
    return st.sampled_from([value] * 5 + [value.upper(), "{" + value + "}", value.replace("-", "")])


@st.composite
def raw_mutations(draw: st.DrawFn) -> dict[str, Any]:
    """Items that parse, spelled every way parse_mutation normalises: ids in any UUID spelling,
    base_version and reason present, absent or null, a void's data absent, null or empty."""
    kind = draw(st.sampled_from(["create", "correct", "void"]))
    raw: dict[str, Any] = {
        "op_id": draw(_spellings(str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1)))))),
        "kind": kind,
        "entity": draw(st.sampled_from(["consultation", "distribution", "outreach"])),
        "id": draw(_spellings(str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1)))))),
    }
    data = draw(st.dictionaries(st.sampled_from(["site_id", "sex", "age_years", "n"]), JSON, min_size=1, max_size=3))
    if kind == "void":
        choice = draw(st.sampled_from(["absent", "null", "empty"]))
        if choice != "absent":
            raw["data"] = None if choice == "null" else {}
    else:
        raw["data"] = data
    if kind != "create":
        version = draw(st.sampled_from(["absent", "null", 1, 7]))
        if version == "null":
            raw["base_version"] = None
        elif version != "absent":
            raw["base_version"] = version
        if kind == "correct" and "base_version" not in raw:
            raw["base_version"] = 2
        if kind == "correct" and raw["base_version"] is None:
            raw["base_version"] = 3
    reason = draw(st.sampled_from(["absent", "null", "typo", "é\u2028"]))
    if reason != "absent":
        raw["reason"] = None if reason == "null" else reason
    return raw


@given(raw_mutations())
def test_an_op_fingerprint_from_the_items_bytes_is_the_fingerprint_of_the_normalised_mutation(
        raw: dict[str, Any]) -> None:
    mutation, errors = parse_mutation(raw)
    assert mutation is not None, errors
    assert mutation_fingerprint(mutation, raw, canonical_json(raw)) == fingerprint(mutation_to_wire(mutation))
    assert mutation_fingerprint(mutation, raw) == fingerprint(mutation_to_wire(mutation))


CANONICAL = {"op_id": "00000000-0000-4000-8000-00000000000a", "entity": "consultation",
             "id": "00000000-0000-4000-8000-00000000000b"}


@pytest.mark.parametrize("raw", [
    {**CANONICAL, "op_id": CANONICAL["op_id"].upper(), "kind": "create", "data": {"sex": "f"}},
    {**CANONICAL, "id": "{" + CANONICAL["id"] + "}", "kind": "create", "data": {"sex": "f"}},
    {**CANONICAL, "kind": "void", "data": None},
    {**CANONICAL, "kind": "void", "data": {}},
    {**CANONICAL, "kind": "void", "base_version": None},
    {**CANONICAL, "kind": "correct", "base_version": 2, "data": {"sex": "f"}, "reason": None},
], ids=["upper-case op_id", "braced id", "void, null data", "void, empty data", "null base_version",
        "null reason"])
def test_each_normalisation_is_hashed_in_its_normal_form(raw: dict[str, Any]) -> None:
    mutation, errors = parse_mutation(raw)
    assert mutation is not None, errors
    assert mutation_fingerprint(mutation, raw, canonical_json(raw)) == fingerprint(mutation_to_wire(mutation))


def test_the_stored_fingerprints_keep_their_values() -> None:
    # Both are kept forever (sync_batches.body_hash, applied_ops' outcome): a re-send after an upgrade
    # is recognised only if the same content still hashes to the same value.
    op = {"op_id": "00000000-0000-4000-8000-000000000001", "kind": "create", "entity": "consultation",
          "id": "00000000-0000-4000-8000-000000000002", "data": {"sex": "f", "note": "é"}}
    mutation, _ = parse_mutation(op)
    assert mutation is not None
    # The values session 6's code (before the hashes were made from item bytes) computed.
    assert mutation_fingerprint(mutation, op, canonical_json(op)) == (
        "8a83c0b395428fe94d8816e9b56dee914886d5a951ab8174d6fe18e64299340f")
    body = {"batch_id": "b", "schema_version": 1, "mutations": [op]}
    assert envelope_fingerprint(body, "mutations", [canonical_json(op)]) == (
        "93829bf394ef1c48a8f15d2aa4cc5ef044c8f43fb5a0fcd5edb033d4750b07b2")
