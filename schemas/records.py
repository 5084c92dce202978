"""Wire contract of record data (the ``data`` of a push mutation).

One schema per entity, per docs/domain.md. Reference-data checks (site of
the team and active, item and service exist) need storage and live in the
sync engine; these schemas check everything that needs only the payload.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    validate,
    validates,
    validates_schema,
)

from schemas.errors import flatten_messages
from sync.domain import (
    Activity,
    AgeBand,
    Entity,
    ParticipantType,
    PopulationGroup,
    Sex,
    TrainingTopic,
    Visit,
    age_band_for_years,
)
from sync.record_types import RECORD_TYPES, Tally

EARLIEST_OCCURRED_ON = date(2000, 1, 1)
MAX_AGE_YEARS = 130

Errors = dict[str, list[str]]


def _codes(enum: type[Any]) -> list[str]:
    return [member.value for member in enum]


def _tally(entity: Entity) -> Tally:
    tally = RECORD_TYPES[entity].tally
    assert tally is not None  # noqa: S101 - the registry declares one for this entity
    return tally


class StrictInteger(fields.Integer):
    """An integer that refuses strings, floats and booleans.

    ``strict=True`` alone still lets ``true`` through, as bool is an int.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _validated(self, value: Any) -> int:
        if isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


class StrictBoolean(fields.Field):
    """JSON true/false only: a "yes" or 1 from a buggy form is an error."""

    default_error_messages = {"invalid": "Not a valid boolean."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class IsoDateTime(fields.DateTime):
    """ISO 8601 date and time; a bare date is refused (it has no time)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        if isinstance(value, str) and "T" not in value.upper():
            raise self.make_error("invalid", input=value, obj_type=self.OBJ_TYPE)
        return super()._deserialize(value, attr, data, **kwargs)


class TallyCounts(fields.Field):
    """Counts by the codes of a record type's tally keys (sync/record_types.py), nested in their
    order: ``reached`` is ``{"f": {"18-59": 12}, "m": {"5-17": 3}}`` (by sex, then age band),
    ``participants`` is ``{"f": 12, "m": 7}`` (by sex). Ints >= 0, their total within the tally's."""

    def __init__(self, tally: Tally, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tally = tally

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict[str, Any]:
        words = [key.name.replace("_", " ") for key in self.tally.keys]
        if not isinstance(value, dict):
            raise ValidationError("Must be an object of counts by " + ", then ".join(words) + ".")
        errors: dict[str, Any] = {}
        clean = self._level(value, 0, words, errors)
        if errors:
            raise ValidationError(errors)
        total = sum(count for _, count in self.tally.counts(clean))
        low, high = self.tally.total
        if not low <= total <= high:
            raise ValidationError(f"Total must be between {low} and {high}, got {total}.")
        return clean

    def _level(self, node: dict[str, Any], depth: int, words: list[str], errors: dict[str, Any]) -> dict[str, Any]:
        codes, last = self.tally.keys[depth].values, depth == len(self.tally.keys) - 1
        clean: dict[str, Any] = {}
        for key, child in node.items():
            if key not in codes:
                errors[key] = [f"Unknown {words[depth]}. Must be one of: " + ", ".join(codes) + "."]
            elif last:
                if isinstance(child, bool) or not isinstance(child, int) or child < 0:
                    errors[key] = ["Must be an integer of at least 0."]
                else:
                    clean[key] = child
            elif not isinstance(child, dict):
                errors[key] = ["Must be an object of counts by " + ", then ".join(words[depth + 1:]) + "."]
            else:
                inner: dict[str, Any] = {}
                clean_child = self._level(child, depth + 1, words, inner)
                if inner:
                    errors[key] = inner
                if clean_child:
                    clean[key] = clean_child
        return clean


class _RecordSchema(Schema):
    """Fields every record carries. ``today`` is the server's date."""

    class Meta:
        unknown = RAISE

    site_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    team_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    occurred_on = fields.Date(required=True)
    recorded_at = IsoDateTime(required=True)

    def __init__(self, *, today: date, **kwargs: Any) -> None:
        # marshmallow 4 has no schema context; the date is an explicit input
        # so validation is reproducible in tests and across midnight.
        super().__init__(**kwargs)
        self.today = today

    @validates("occurred_on")
    def _occurred_on_in_range(self, value: date, **kwargs: Any) -> None:
        # One day of slack: a tablet east of the server may already be tomorrow.
        latest = self.today + timedelta(days=1)
        if not EARLIEST_OCCURRED_ON <= value <= latest:
            raise ValidationError(f"Must be between {EARLIEST_OCCURRED_ON.isoformat()} and {latest.isoformat()}.")


class _PopulationSchema(_RecordSchema):
    """A record about people of one population group."""

    population_group = fields.String(required=True, validate=validate.OneOf(_codes(PopulationGroup)))


class _PersonSchema(_PopulationSchema):
    """A record about one person: sex and age, optional pseudonymous ref."""

    sex = fields.String(required=True, validate=validate.OneOf(_codes(Sex)))
    age_band = fields.String(allow_none=True, validate=validate.OneOf(_codes(AgeBand)))
    age_years = StrictInteger(allow_none=True, validate=validate.Range(min=0, max=MAX_AGE_YEARS))
    # Pseudonymous id for distinct-person counts; never a name.
    beneficiary_ref = fields.String(allow_none=True, validate=validate.Length(min=1, max=64))

    # Runs even when other fields failed, so a missing age is reported with
    # the rest instead of on the next attempt.
    @validates_schema(skip_on_field_errors=False, pass_original=True)
    def _age(self, data: dict[str, Any], original: Any, **kwargs: Any) -> None:
        band, years = data.get("age_band"), data.get("age_years")
        if band is None and years is None:
            # Only when neither was sent: an invalid one has its own error.
            sent = {key for key in ("age_band", "age_years") if original.get(key) is not None}
            if not sent:
                raise ValidationError("One of age_band or age_years is required.", "age_band")
            return
        if band is not None and years is not None and age_band_for_years(years) != band:
            raise ValidationError(
                f"Does not match age_band {band!r} (would be {age_band_for_years(years)!r}).",
                "age_years",
            )


class ConsultationSchema(_PersonSchema):
    visit = fields.String(required=True, validate=validate.OneOf(_codes(Visit)))
    service = fields.String(required=True, validate=validate.Length(min=1, max=64))
    referral = StrictBoolean(required=True)


class DistributionSchema(_PersonSchema):
    item_code = fields.String(required=True, validate=validate.Length(min=1, max=64))
    quantity = StrictInteger(required=True, validate=validate.Range(min=1, max=10000))
    household_size = StrictInteger(allow_none=True, validate=validate.Range(min=1, max=50))


class OutreachSchema(_PopulationSchema):
    activity = fields.String(required=True, validate=validate.OneOf(_codes(Activity)))
    topic = fields.String(allow_none=True, validate=validate.Length(max=200))
    reached = TallyCounts(_tally(Entity.OUTREACH), required=True)


class TrainingSchema(_RecordSchema):
    """Health workers and volunteers trained: no population group, no age (domain.md)."""

    topic = fields.String(required=True, validate=validate.OneOf(_codes(TrainingTopic)))
    participant_type = fields.String(required=True, validate=validate.OneOf(_codes(ParticipantType)))
    participants = TallyCounts(_tally(Entity.TRAINING), required=True)
    days = StrictInteger(required=True, validate=validate.Range(min=1, max=60))
    title = fields.String(allow_none=True, validate=validate.Length(max=200))


SCHEMAS: dict[Entity, type[_RecordSchema]] = {
    Entity.CONSULTATION: ConsultationSchema,
    Entity.DISTRIBUTION: DistributionSchema,
    Entity.OUTREACH: OutreachSchema,
    Entity.TRAINING: TrainingSchema,
}
# Each record type's schema declares exactly the fields its registry entry names.
for _entity, _schema_class in SCHEMAS.items():
    _own = set(_schema_class._declared_fields) - set(_RecordSchema._declared_fields)
    if _own - {"population_group", "beneficiary_ref"} != set(RECORD_TYPES[_entity].fields):
        raise RuntimeError(f"{_schema_class.__name__} does not declare the fields of record type {_entity}")


def _to_json(loaded: dict[str, Any]) -> dict[str, Any]:
    """Loaded data -> flat, JSON-ready clean data (absent and null fields dropped)."""
    clean = {key: value for key, value in loaded.items() if value is not None}
    clean["occurred_on"] = clean["occurred_on"].isoformat()
    clean["recorded_at"] = clean["recorded_at"].isoformat()
    if "age_years" in clean and "age_band" not in clean:
        # domain.md: the server derives the band and keeps both.
        clean["age_band"] = age_band_for_years(clean["age_years"])
    return clean


@functools.lru_cache(maxsize=16)
def _schema(schema_class: type[_RecordSchema], today: date) -> _RecordSchema:
    """One instance per entity and day: building a marshmallow schema costs about as much as a
    load, and an instance keeps no per-load state, so threads can share it."""
    schema = schema_class(today=today)
    for field in schema.fields.values():
        _bind_validators(field)
    return schema


def _no_validators(value: Any) -> None:
    """A field without validators: nothing to check after deserialising."""


def _bind_validators(field: fields.Field) -> None:
    """Give the field its composed validator once.

    marshmallow's ``Field._validate`` builds a new ``validate.And`` from ``field.validators`` on
    every call (about a tenth of a record's validation). The instance is per schema and its
    validators never change after construction, so one ``And`` built here checks the same things
    with the same messages. Nested containers (none in these schemas) would keep the default."""
    field._validate = validate.And(*field.validators) if field.validators else _no_validators  # type: ignore[method-assign]


def validate_record(entity: str, data: Any, today: date) -> tuple[dict[str, Any], Errors]:
    """Validate one record's full data; returns (clean data, errors by field).

    Exactly one of the two is non-empty. Clean data is flat (common fields
    included), JSON-ready (dates as ISO strings) and has ``age_band`` derived
    from ``age_years`` when only the latter was sent.
    """
    try:
        schema_class = SCHEMAS[Entity(entity)]
    except ValueError:
        return {}, {"entity": ["Must be one of: " + ", ".join(_codes(Entity)) + "."]}
    if not isinstance(data, dict):
        return {}, {"_schema": ["Must be an object."]}
    try:
        loaded = _schema(schema_class, today).load(data)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        return {}, flatten_messages(messages)
    return _to_json(loaded), {}


def record_validator(today: date) -> Callable[[str, dict[str, Any]], tuple[dict[str, Any], Errors]]:
    """The ``validate`` callable ``sync.push.apply_mutations`` takes, for one day."""
    return functools.partial(validate_record, today=today)
