"""Domain vocabulary of the sync engine: wire codes and value types.

Codes are the wire values from docs/domain.md. They are stable forever once
shipped, so they live here once and everything else refers to them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

# The push formats this server understands (`GET /sync/hello` announces them). A push above
# CURRENT_SCHEMA_VERSION is refused whole (422 schema_unsupported): applying what an older reader
# can parse of a newer format would tell the tablet its data was understood when it was not.
MIN_SUPPORTED_SCHEMA_VERSION = 1
CURRENT_SCHEMA_VERSION = 1


class Entity(StrEnum):
    CONSULTATION = "consultation"
    DISTRIBUTION = "distribution"
    OUTREACH = "outreach"
    TRAINING = "training"


class PopulationGroup(StrEnum):
    REFUGEE = "refugee"
    ASYLUM_SEEKER = "asylum_seeker"
    MIGRANT = "migrant"
    IDP = "idp"
    RETURNEE = "returnee"
    HOST = "host"


class Sex(StrEnum):
    FEMALE = "f"
    MALE = "m"
    OTHER = "x"  # other / not recorded


class AgeBand(StrEnum):
    UNDER_5 = "0-4"
    CHILD = "5-17"
    ADULT = "18-59"
    OLDER = "60+"


class Visit(StrEnum):
    NEW = "new"
    FOLLOW_UP = "follow_up"


class Activity(StrEnum):
    AWARENESS_SESSION = "awareness_session"
    HOUSEHOLD_VISIT = "household_visit"
    SCREENING = "screening"
    GROUP_SESSION = "group_session"


class TrainingTopic(StrEnum):
    SRH = "srh"
    MHPSS = "mhpss"
    GBV = "gbv"
    CMR = "cmr"  # clinical management of rape
    FIRST_AID = "first_aid"
    IPC = "ipc"
    NUTRITION = "nutrition"
    OTHER = "other"


class ParticipantType(StrEnum):
    MOH_STAFF = "moh_staff"
    CHW = "chw"
    VOLUNTEER = "volunteer"
    STAFF = "staff"


class RecordStatus(StrEnum):
    ACTIVE = "active"
    VOIDED = "voided"


class MutationKind(StrEnum):
    CREATE = "create"
    CORRECT = "correct"
    VOID = "void"


class ItemStatus(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"
    REJECTED = "rejected"


# Fields every record carries outside its entity-specific ``data``.
COMMON_FIELDS: tuple[str, ...] = ("site_id", "team_id", "occurred_on", "recorded_at")

# Fields a correction may never change: they decide who owns the record.
IMMUTABLE_FIELDS: frozenset[str] = frozenset({"team_id"})


def age_band_for_years(years: int) -> str:
    """The age band code for an age in completed years."""
    if isinstance(years, bool) or not isinstance(years, int) or years < 0:
        raise ValueError(f"age in years must be a non-negative int, got {years!r}")
    if years <= 4:
        return AgeBand.UNDER_5.value
    if years <= 17:
        return AgeBand.CHILD.value
    if years <= 59:
        return AgeBand.ADULT.value
    return AgeBand.OLDER.value


Errors = dict[str, list[str]]


@dataclass(frozen=True)
class DeviceContext:
    """Who is pushing: the authenticated device and the scope it records in."""

    device_id: str
    team_id: str
    country: str


@dataclass(frozen=True)
class Mutation:
    """One structurally valid item of a push (ids normalised to lower case)."""

    op_id: str
    kind: MutationKind
    entity: Entity
    id: str
    data: dict[str, Any]
    base_version: int | None = None
    reason: str | None = None


@dataclass
class RecordState:
    """A record as stored: server-made bookkeeping plus the client's data.

    ``data`` holds the entity's own fields (population_group, sex, age_band,
    beneficiary_ref, quantity, reached...); the fields common to every entity
    are attributes. ``device_id`` and ``received_at`` describe the create (the
    record's origin); who changed it later is in its revisions.
    """

    id: str
    entity: Entity
    team_id: str
    site_id: str
    occurred_on: date
    recorded_at: str
    version: int
    status: RecordStatus
    seq: int
    clock_suspect: bool
    data: dict[str, Any]
    device_id: str
    received_at: datetime

    def content(self) -> dict[str, Any]:
        """The client-made fields, flat, JSON-ready: the shape a create sends."""
        return {
            **self.data,
            "site_id": self.site_id,
            "team_id": self.team_id,
            "occurred_on": self.occurred_on.isoformat(),
            "recorded_at": self.recorded_at,
        }

    def wire_data(self) -> dict[str, Any]:
        """``data`` of a pull change: the content plus status and clock flag.

        A voided record stays in the stream, so status must travel with it.
        """
        return {
            **self.content(),
            "status": self.status.value,
            "clock_suspect": self.clock_suspect,
        }


@dataclass(frozen=True)
class ItemResult:
    """The outcome of one mutation; ``to_wire`` gives api.md's item shape."""

    op_id: str | None
    status: ItemStatus
    id: str | None = None
    version: int | None = None
    seq: int | None = None
    current_version: int | None = None
    current: dict[str, Any] | None = None
    errors: Errors = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        if self.status in (ItemStatus.APPLIED, ItemStatus.DUPLICATE):
            return {
                "op_id": self.op_id,
                "status": self.status.value,
                "id": self.id,
                "version": self.version,
                "seq": self.seq,
            }
        if self.status is ItemStatus.CONFLICT:
            return {
                "op_id": self.op_id,
                "status": self.status.value,
                "id": self.id,
                "current_version": self.current_version,
                "current": dict(self.current or {}),
            }
        return {
            "op_id": self.op_id,
            "status": self.status.value,
            "errors": dict(self.errors),
        }

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> ItemResult:
        """Inverse of :meth:`to_wire`, so a store may keep outcomes as JSON."""
        return cls(
            op_id=wire.get("op_id"),
            status=ItemStatus(wire["status"]),
            id=wire.get("id"),
            version=wire.get("version"),
            seq=wire.get("seq"),
            current_version=wire.get("current_version"),
            current=wire.get("current"),
            errors=wire.get("errors") or {},
        )


@dataclass(frozen=True)
class RememberedOp:
    """A remembered op outcome: what a re-sent ``op_id`` gets answered.

    ``fingerprint`` is the content hash of the mutation as first sent, so a
    different mutation reusing the op_id is told apart from a genuine re-send.
    """

    op_id: str
    device_id: str
    fingerprint: str
    result: ItemResult
