"""The record-type registry: each record type (docs/domain.md "Records") declared once.

A record type says what varies between consultations, distributions, outreach and trainings: its
data fields (in line-list column order), the dimensions its records are counted by (which data
field each is read from, its fixed codes with English and Arabic labels, its HXL tag), the common
dimensions that do not apply to it, the counts-by-key object it carries (`reached`, `participants`),
its indicators and their measures, and its OpenRosa form (id, title, choice lists, media, the
fields a later edit may empty). The consumers read it: the marshmallow schemas (schemas/records.py),
the rollups, aggregate queries and verify (server/aggregation/), line lists, public filters, HXL
exports, the OpenRosa forms and instance parser, the dashboard's labels and the DHIS2 mapping check.

Standard library only (sync's rule), so schemas/ and forms/ can import it. A new record type is one
more `RecordType(...)` in `RECORD_TYPES` (plus its schema, its form's questions in
forms/definitions.py, a migration if it brings a new dimension column, and its translations).
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from sync.domain import (
    Activity,
    AgeBand,
    Entity,
    ParticipantType,
    PopulationGroup,
    Sex,
    TrainingTopic,
    Visit,
)


def N_(message: str) -> str:
    """Marks an English label for the dashboard's catalogue (babel.cfg extracts `N_` from sync/)."""
    return message


@dataclass(frozen=True)
class Code:
    """A wire code and its labels (the OpenRosa forms show them; the code is the value)."""

    code: str
    en: str
    ar: str


@dataclass(frozen=True)
class Dimension:
    """A dimension records are counted by that is read from the record's data.

    `name` is the aggregates' dimension and the rollup cell column; `field` the data field it is
    read from. Its values are `codes` (fixed) or, with `reference`, the codes of that reference data.
    """

    name: str
    field: str
    hxl: str
    codes: tuple[Code, ...] = ()
    reference: str | None = None

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(code.code for code in self.codes)


@dataclass(frozen=True)
class Tally:
    """A data field holding counts by the codes of `keys`, nested in that order: `reached` is
    `{"f": {"18-59": 12}}`, `participants` is `{"f": 12}`. Ints >= 0, their total within `total`."""

    field: str
    keys: tuple[Dimension, ...]
    total: tuple[int, int]

    def combinations(self) -> list[tuple[str, ...]]:
        """Every key path, e.g. ("f", "0-4"), in the keys' code order."""
        return list(itertools.product(*(key.values for key in self.keys)))

    def element_names(self) -> list[tuple[str, tuple[str, ...]]]:
        """(OpenRosa element name, key path) of each count of the form's group (openrosa.md): the
        codes joined by `_`, a code's non-alphanumerics as `_` (`f_18_59`, `f_60`, `m`)."""
        return [("_".join(_element_form(code) for code in path), path) for path in self.combinations()]

    def counts(self, value: object) -> Iterator[tuple[tuple[str, ...], object]]:
        """The (key path, count) leaves of a stored tally, in sorted key order."""
        def walk(node: object, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], object]]:
            if len(path) == len(self.keys):
                yield path, node
            elif isinstance(node, dict):
                for key in sorted(node):
                    yield from walk(node[key], (*path, key))

        yield from walk(value, ())


def _element_form(code: str) -> str:
    return re.sub(r"[^0-9A-Za-z]+", "_", code).strip("_")


class Measure(StrEnum):
    COUNT = "count"  # one per active record
    SUM = "sum"  # sum of an integer field of active records
    SUM_REACHED = "sum_reached"  # sum of the `reached` tallies (by sex and age band)
    SUM_PARTICIPANTS = "sum_participants"  # sum of the `participants` tallies (by sex)
    DISTINCT_PEOPLE = "distinct_people"  # distinct beneficiary_ref per period bucket

    @property
    def is_tally(self) -> bool:
        """Summed from the record type's `tally` (one cell per key path)."""
        return self in (Measure.SUM_REACHED, Measure.SUM_PARTICIPANTS)


# Dimensions every indicator has unless its record type says one does not apply, in the order the
# registry lists them: place and time (from the record's columns and reference data), then the
# person dimensions below (from its data).
PLACE_TIME_DIMENSIONS: tuple[str, ...] = ("country", "area", "site", "site_type", "team", "year", "quarter", "month")


def _codes(members: type[StrEnum], labels: dict[str, tuple[str, str]]) -> tuple[Code, ...]:
    return tuple(Code(member.value, *labels[member.value]) for member in members)


POPULATION_GROUP = Dimension("population_group", "population_group", "#group+code", _codes(PopulationGroup, {
    "refugee": ("Refugee", "لاجئ"),
    "asylum_seeker": ("Asylum seeker", "طالب لجوء"),
    "migrant": ("Migrant", "مهاجر"),
    "idp": ("Internally displaced person", "نازح داخلياً"),
    "returnee": ("Returnee", "عائد"),
    "host": ("Host community", "المجتمع المضيف"),
}))
SEX = Dimension("sex", "sex", "#meta+sex", _codes(Sex, {
    "f": ("Female", "أنثى"), "m": ("Male", "ذكر"), "x": ("Other / not recorded", "آخر / غير مسجل"),
}))
AGE_BAND = Dimension("age_band", "age_band", "#meta+age", _codes(AgeBand, {
    "0-4": ("0-4 years", "0-4 سنوات"),
    "5-17": ("5-17 years", "5-17 سنة"),
    "18-59": ("18-59 years", "18-59 سنة"),
    "60+": ("60 years or older", "60 سنة فأكثر"),
}))
PERSON_DIMENSIONS: tuple[Dimension, ...] = (POPULATION_GROUP, SEX, AGE_BAND)

SERVICE = Dimension("service", "service", "#service+code", reference="service")
VISIT = Dimension("visit", "visit", "#meta+visit", _codes(Visit, {
    "new": ("New visit", "زيارة جديدة"), "follow_up": ("Follow-up visit", "زيارة متابعة"),
}))
ITEM = Dimension("item", "item_code", "#item+code", reference="item")
ACTIVITY = Dimension("activity", "activity", "#activity+code", _codes(Activity, {
    "awareness_session": ("Awareness session", "جلسة توعية"),
    "household_visit": ("Household visit", "زيارة منزلية"),
    "screening": ("Screening", "فحص"),
    "group_session": ("Group session", "جلسة جماعية"),
}))
TOPIC = Dimension("topic", "topic", "#meta+topic", _codes(TrainingTopic, {
    "srh": ("Sexual and reproductive health", "الصحة الجنسية والإنجابية"),
    "mhpss": ("Mental health and psychosocial support", "الصحة النفسية والدعم النفسي الاجتماعي"),
    "gbv": ("Gender-based violence", "العنف القائم على النوع الاجتماعي"),
    "cmr": ("Clinical management of rape", "التدبير السريري للاغتصاب"),
    "first_aid": ("First aid", "الإسعافات الأولية"),
    "ipc": ("Infection prevention and control", "الوقاية من العدوى ومكافحتها"),
    "nutrition": ("Nutrition", "التغذية"),
    "other": ("Other", "أخرى"),
}))
PARTICIPANT_TYPE = Dimension("participant_type", "participant_type", "#meta+participant", _codes(ParticipantType, {
    "moh_staff": ("Ministry of Health staff", "موظفو وزارة الصحة"),
    "chw": ("Community health workers", "عاملو الصحة المجتمعية"),
    "volunteer": ("Volunteers", "متطوعون"),
    "staff": ("Our staff", "موظفونا"),
}))


@dataclass(frozen=True)
class Indicator:
    """An impact count (domain.md "Indicators") of one record type's active records."""

    code: str
    label: str
    entity: Entity
    measure: Measure
    field: str | None = None  # the summed field, for Measure.SUM
    item_category: str | None = None  # only distributions of items of this category count

    @property
    def record_type(self) -> RecordType:
        return RECORD_TYPES[self.entity]

    @property
    def dimensions(self) -> tuple[str, ...]:
        return self.record_type.dimension_names

    @property
    def is_distinct(self) -> bool:
        return self.measure is Measure.DISTINCT_PEOPLE

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "label": self.label,
            "entity": self.entity.value,
            "measure": self.measure.value,
            "field": self.field,
            "item_category": self.item_category,
            "dimensions": list(self.dimensions),
        }


@dataclass(frozen=True)
class Form:
    """The record type's OpenRosa form (its questions are in forms/definitions.py)."""

    title: str
    choice_lists: tuple[str, ...]  # the choice lists it uses: a dimension's name, or "yes_no"
    media: tuple[str, ...]  # the media CSVs its XForm names
    clearable: tuple[str, ...] = ()  # optional fields a later edit may empty (sent as null)


@dataclass(frozen=True)
class RecordType:
    entity: Entity
    # The data fields besides the common ones (site_id, team_id, occurred_on, recorded_at), in
    # line-list column order; population_group and beneficiary_ref are columns of their own.
    fields: tuple[str, ...]
    dimensions: tuple[Dimension, ...]  # its own, besides place, time and the person dimensions
    form: Form
    indicators: tuple[Indicator, ...] = ()
    tally: Tally | None = None  # the counts-by-key field a tally measure sums
    not_applicable: tuple[str, ...] = ()  # person dimensions its records do not have
    integer_fields: tuple[str, ...] = ()
    boolean_fields: tuple[str, ...] = ()

    @property
    def form_id(self) -> str:
        return f"fieldsync_{self.entity.value}"

    @property
    def person_dimensions(self) -> tuple[Dimension, ...]:
        return tuple(dim for dim in PERSON_DIMENSIONS if dim.name not in self.not_applicable)

    @property
    def data_dimensions(self) -> tuple[Dimension, ...]:
        """Every dimension read from the record's data (or its tally's keys), person ones first."""
        return (*self.person_dimensions, *self.dimensions)

    @property
    def dimension_names(self) -> tuple[str, ...]:
        return (*PLACE_TIME_DIMENSIONS, *(dim.name for dim in self.data_dimensions))


_PERSON_FIELDS = ("sex", "age_band", "age_years")

RECORD_TYPES: dict[Entity, RecordType] = {}


def _register(record_type: RecordType) -> None:
    RECORD_TYPES[record_type.entity] = record_type


_register(RecordType(
    Entity.CONSULTATION,
    fields=(*_PERSON_FIELDS, "visit", "service", "referral"),
    dimensions=(SERVICE, VISIT),
    integer_fields=("age_years",),
    boolean_fields=("referral",),
    form=Form("Fieldsync: health consultation", ("population_group", "sex", "age_band", "visit", "yes_no"),
              ("sites.csv", "services.csv"), clearable=("beneficiary_ref",)),
    indicators=(
        Indicator("health_consultations", N_("Health consultations provided"), Entity.CONSULTATION, Measure.COUNT),
        Indicator("people_consulted", N_("People who had a consultation"), Entity.CONSULTATION,
                  Measure.DISTINCT_PEOPLE),
    ),
))
_register(RecordType(
    Entity.DISTRIBUTION,
    fields=("item_code", "quantity", *_PERSON_FIELDS, "household_size"),
    dimensions=(ITEM,),
    integer_fields=("quantity", "household_size", "age_years"),
    form=Form("Fieldsync: distribution", ("population_group", "sex", "age_band"), ("sites.csv", "items.csv"),
              clearable=("household_size", "beneficiary_ref")),
    indicators=(
        Indicator("hygiene_kits_distributed", N_("Hygiene kits distributed"), Entity.DISTRIBUTION, Measure.SUM,
                  field="quantity", item_category="hygiene_kit"),
        Indicator("hygiene_kit_recipients", N_("People who received a hygiene kit"), Entity.DISTRIBUTION,
                  Measure.DISTINCT_PEOPLE, item_category="hygiene_kit"),
    ),
))
_register(RecordType(
    Entity.OUTREACH,
    fields=("activity", "topic", "reached"),
    dimensions=(ACTIVITY,),
    tally=Tally("reached", (SEX, AGE_BAND), (1, 5000)),
    form=Form("Fieldsync: outreach", ("population_group", "activity"), ("sites.csv",), clearable=("topic",)),
    indicators=(
        Indicator("people_reached_by_chws", N_("People reached by community health workers"), Entity.OUTREACH,
                  Measure.SUM_REACHED),
    ),
))
_register(RecordType(
    Entity.TRAINING,
    fields=("topic", "participant_type", "participants", "days", "title"),
    dimensions=(TOPIC, PARTICIPANT_TYPE),
    # domain.md: a training counts health workers, not beneficiaries; sex comes from `participants`.
    not_applicable=("population_group", "age_band"),
    tally=Tally("participants", (SEX,), (1, 500)),
    integer_fields=("days",),
    form=Form("Fieldsync: training", ("topic", "participant_type"), ("sites.csv",), clearable=("title",)),
    indicators=(
        Indicator("people_trained", N_("Health workers and volunteers trained"), Entity.TRAINING,
                  Measure.SUM_PARTICIPANTS),
    ),
))

INDICATORS: tuple[Indicator, ...] = tuple(i for record_type in RECORD_TYPES.values() for i in record_type.indicators)

# Every dimension read from records' data, by name, in registry order (person ones first).
DATA_DIMENSIONS: dict[str, Dimension] = {
    dim.name: dim for dim in (*PERSON_DIMENSIONS, *(d for rt in RECORD_TYPES.values() for d in rt.dimensions))
}
# Every dimension of any indicator, in registry order.
ALL_DIMENSIONS: tuple[str, ...] = (*PLACE_TIME_DIMENSIONS, *DATA_DIMENSIONS)

# The choice lists the forms use (a dimension's codes, or yes/no), by name.
CHOICE_LISTS: dict[str, tuple[Code, ...]] = {
    **{name: dim.codes for name, dim in DATA_DIMENSIONS.items() if dim.codes},
    "yes_no": (Code("yes", "Yes", "نعم"), Code("no", "No", "لا")),
}


@functools.cache
def line_list_fields() -> tuple[str, ...]:
    """Every record type's data fields, each once, in registry order: the line list's data columns."""
    return tuple(dict.fromkeys(name for record_type in RECORD_TYPES.values() for name in record_type.fields))


def record_type_of_form(form_id: str) -> RecordType | None:
    return next((rt for rt in RECORD_TYPES.values() if rt.form_id == form_id), None)


FORM_IDS: tuple[str, ...] = tuple(record_type.form_id for record_type in RECORD_TYPES.values())

# Checked at import: every declared record type has a registry entry and the other way round.
assert set(RECORD_TYPES) == set(Entity), "every Entity needs one RecordType"  # noqa: S101
