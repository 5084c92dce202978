"""Domain helpers: age bands, item result wire shapes, fingerprints."""

from __future__ import annotations

import pytest

from sync.domain import ItemResult, ItemStatus, age_band_for_years
from sync.fingerprint import canonical_json, fingerprint


@pytest.mark.parametrize(
    ("years", "band"), [(0, "0-4"), (4, "0-4"), (5, "5-17"), (17, "5-17"), (18, "18-59"), (59, "18-59"), (60, "60+")]
)
def test_age_band_boundaries(years: int, band: str) -> None:
    assert age_band_for_years(years) == band


@pytest.mark.parametrize("years", [-1, True, 3.0, "4"])
def test_age_band_refuses_non_ages(years: object) -> None:
    with pytest.raises(ValueError):
        age_band_for_years(years)  # type: ignore[arg-type]


WIRE = {
    ItemStatus.APPLIED: ItemResult("op", ItemStatus.APPLIED, id="r", version=2, seq=9),
    ItemStatus.DUPLICATE: ItemResult("op", ItemStatus.DUPLICATE, id="r", version=2, seq=9),
    ItemStatus.CONFLICT: ItemResult("op", ItemStatus.CONFLICT, id="r", current_version=3, current={"quantity": 3}),
    ItemStatus.REJECTED: ItemResult("op", ItemStatus.REJECTED, errors={"data.sex": ["Must be one of: f, m, x."]}),
}


def test_item_wire_shapes_are_exactly_apis() -> None:
    assert WIRE[ItemStatus.APPLIED].to_wire() == {"op_id": "op", "status": "applied", "id": "r", "version": 2, "seq": 9}
    assert WIRE[ItemStatus.DUPLICATE].to_wire() == {
        "op_id": "op",
        "status": "duplicate",
        "id": "r",
        "version": 2,
        "seq": 9,
    }
    assert WIRE[ItemStatus.CONFLICT].to_wire() == {
        "op_id": "op",
        "status": "conflict",
        "id": "r",
        "current_version": 3,
        "current": {"quantity": 3},
    }
    assert WIRE[ItemStatus.REJECTED].to_wire() == {
        "op_id": "op",
        "status": "rejected",
        "errors": {"data.sex": ["Must be one of: f, m, x."]},
    }


@pytest.mark.parametrize("status", list(ItemStatus))
def test_item_results_round_trip_through_json(status: ItemStatus) -> None:
    # The SQL store keeps remembered outcomes as JSON.
    result = WIRE[status]
    assert ItemResult.from_wire(result.to_wire()) == result


def test_fingerprint_ignores_key_order_and_whitespace_only() -> None:
    assert canonical_json({"b": 1, "a": [1, {"d": 2, "c": "é"}]}) == '{"a":[1,{"c":"é","d":2}],"b":1}'.encode()
    assert fingerprint({"a": 1, "b": 2}) == fingerprint({"b": 2, "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})
    assert fingerprint({"a": "1"}) != fingerprint({"a": 1})
    assert len(fingerprint([])) == 64


def test_fingerprint_refuses_non_json_numbers() -> None:
    with pytest.raises(ValueError):
        fingerprint({"a": float("nan")})
