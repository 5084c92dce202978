"""The write envelope's guarantees, run over every intake (server/intake/__init__.py `INTAKES`) on
both engines, through the real HTTP routes. docs/reliability.md "The write envelope" has the matrix.

Each intake has a driver here saying how to make it write in its own words; the guarantees are
written once, against the drivers. A guarantee an intake's declaration rules out (a coordinator's
resolution has no revoked author) is skipped from the declaration, not from a list kept here; an
intake without a driver fails every test, so a new intake cannot go uncovered.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask, g
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.intake import INTAKES, Intake
from server.integrations.openrosa.forms import served_form
from server.models import (
    AppliedOp,
    Area,
    Device,
    OpenRosaAttachment,
    OpenRosaSubmission,
    QuarantinedMutation,
    Record,
    RecordRevision,
    Site,
    SyncBatch,
)
from server.operations.reference import set_team_sites, upsert
from server.persistence import events
from tests.factories import (
    EnrolledDevice,
    auth_headers,
    consultation_data,
    correct_mutation,
    create_mutation,
    make_device,
    make_team,
    make_token,
    make_user,
    push_body,
    push_headers,
)
from tests.openrosa_instances import consultation_values, fill, multipart

PHOTO = b"\xff\xd8\xff" + bytes(20_000)  # a 20 kB "photo" a tablet attaches


def count(session: Session, model: type, *where: Any) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def record(session: Session, record_id: str) -> Record | None:
    session.expire_all()
    return session.get(Record, record_id)


@dataclass
class Written:
    """One write an intake made: the answer, the record it wrote, and the same request again."""

    status: int
    answer: Any
    record_id: str
    again: Callable[[], tuple[int, Any]]  # the identical request
    changed: Callable[[], tuple[int, Any]]  # the same idempotency key with other content


@dataclass
class Edit:
    status: int
    applied: bool  # the record named was changed


class Driver:
    """How one intake is made to write (HTTP, as its clients do)."""

    def __init__(self, client: FlaskClient, session: Session) -> None:
        self.client = client
        self.session = session

    def prepare(self, device: EnrolledDevice, **values: Any) -> Any:
        """What the write needs stored beforehand (and the write's content)."""
        raise NotImplementedError

    def send(self, device: EnrolledDevice, prepared: Any) -> Written:
        raise NotImplementedError

    def write(self, device: EnrolledDevice, **values: Any) -> Written:
        return self.send(device, self.prepare(device, **values))

    def write_as_revoked(self, device: EnrolledDevice) -> int:
        """One write of a revoked device, carrying an attachment where the intake takes one."""
        raise NotImplementedError

    def edit_foreign(self, device: EnrolledDevice, victim: Written) -> Edit:
        """`device` (another team's) edits the record `victim` wrote."""
        raise NotImplementedError

    def expected_resend(self, written: Written) -> tuple[int, Any]:
        """What the identical request again answers."""
        return written.status, written.answer

    changed_status: int

    def _done(self) -> None:
        g.pop("principal", None)  # the test client shares the app context between requests


class PushDriver(Driver):
    changed_status = 422  # api.md: `Idempotency-Key` reused with a different body

    def _push(self, device: EnrolledDevice, body: dict[str, Any]) -> tuple[int, Any]:
        response = self.client.post("/api/v1/sync/push", json=body, headers=push_headers(device, body))
        self._done()
        return response.status_code, response.get_json()

    def prepare(self, device: EnrolledDevice, **values: Any) -> Any:
        return create_mutation(data=consultation_data(team_id=device.device.team_id, **values))

    def send(self, device: EnrolledDevice, prepared: Any) -> Written:
        mutation = prepared
        body = push_body([mutation])
        status, answer = self._push(device, body)
        other = push_body([create_mutation()], batch_id=body["batch_id"])
        return Written(status, answer, mutation["id"], lambda: self._push(device, body),
                       lambda: self._push(device, other))

    def write_as_revoked(self, device: EnrolledDevice) -> int:
        return self._push(device, push_body([create_mutation()]))[0]

    def edit_foreign(self, device: EnrolledDevice, victim: Written) -> Edit:
        status, answer = self._push(device, push_body([correct_mutation(victim.record_id, 1, {"sex": "m"})]))
        (result,) = answer["results"]
        assert result["status"] == "rejected" and result["errors"] == {"id": ["Unknown record."]}
        return Edit(status, applied=False)


class OpenRosaDriver(Driver):
    changed_status = 409  # openrosa.md: other XML under an instanceID already received

    def _submit(self, device: EnrolledDevice, xml: bytes, attachments: dict[str, bytes] | None = None
                ) -> tuple[int, Any]:
        response = self.client.post(f"/openrosa/v1/key/{device.token}/submission",
                                    data=multipart(xml, attachments=attachments), content_type="multipart/form-data")
        self._done()
        return response.status_code, response.data

    @staticmethod
    def _xml(values: dict[str, Any], **options: Any) -> tuple[str, bytes]:
        return fill(served_form("fieldsync_consultation").xml, values, **options)

    def prepare(self, device: EnrolledDevice, **values: Any) -> Any:
        return values

    def send(self, device: EnrolledDevice, prepared: Any) -> Written:
        values = dict(prepared)
        site = values.pop("site_id", "ly-mp-tripoli")
        instance_id, xml = self._xml(consultation_values(site, **values))
        status, answer = self._submit(device, xml)
        _, other = self._xml(consultation_values(site, sex="m"), instance_id=instance_id)
        return Written(status, answer, instance_id, lambda: self._submit(device, xml),
                       lambda: self._submit(device, other))

    def write_as_revoked(self, device: EnrolledDevice) -> int:
        _, xml = self._xml(consultation_values())
        return self._submit(device, xml, {"photo.jpg": PHOTO})[0]

    def edit_foreign(self, device: EnrolledDevice, victim: Written) -> Edit:
        # openrosa.md: another team's instanceID is unknown to this tablet, so an "edit" of it is
        # a create under its own instanceID, which must not touch (or take) the victim's record id.
        edit_id, xml = self._xml(consultation_values("tn-mp-tunis", sex="m"), deprecated_id=victim.record_id)
        status, _ = self._submit(device, xml)
        created = record(self.session, edit_id)
        assert created is not None and created.team_id == device.device.team_id
        return Edit(status, applied=False)


class ResolutionDriver(Driver):
    """A coordinator applying a fixed version of a quarantined mutation."""

    changed_status = 409  # the item is closed: `already_resolved`

    def _coordinator(self, countries: tuple[str, ...]) -> dict[str, str]:
        user = make_user(self.session, role="coordinator", countries=countries)
        headers = auth_headers(make_token(self.session, user))
        self.session.commit()
        return headers

    def _quarantined(self, device: EnrolledDevice, mutation: dict[str, Any]) -> int:
        body = push_body([{**mutation, "data": {**mutation["data"], "sex": "q"}}])
        response = self.client.post("/api/v1/sync/push", json=body, headers=push_headers(device, body))
        self._done()
        assert response.get_json()["results"][0]["status"] == "rejected"
        return self.session.scalar(select(QuarantinedMutation.id)
                                   .where(QuarantinedMutation.op_id == mutation["op_id"]))  # type: ignore[return-value]

    def _apply(self, row_id: int, headers: dict[str, str], mutation: dict[str, Any]) -> tuple[int, Any]:
        response = self.client.post(f"/api/v1/quarantine/{row_id}/apply", json={"mutation": mutation},
                                    headers=headers)
        self._done()
        return response.status_code, response.get_json()

    def prepare(self, device: EnrolledDevice, **values: Any) -> Any:
        mutation = create_mutation(data=consultation_data(team_id=device.device.team_id, **values))
        return mutation, self._quarantined(device, mutation), self._coordinator(("LY",))

    def send(self, device: EnrolledDevice, prepared: Any) -> Written:
        mutation, row_id, headers = prepared
        status, answer = self._apply(row_id, headers, mutation)
        other = {**mutation, "data": {**mutation["data"], "sex": "m"}}
        return Written(status, answer, mutation["id"], lambda: self._apply(row_id, headers, mutation),
                       lambda: self._apply(row_id, headers, other))

    def expected_resend(self, written: Written) -> tuple[int, Any]:
        return 409, "already_resolved"

    def edit_foreign(self, device: EnrolledDevice, victim: Written) -> Edit:
        # The foreign device's quarantined item, "fixed" by a coordinator of both countries into a
        # correction of the victim's record: it is applied as that device, of that team.
        fix = correct_mutation(victim.record_id, 1, {"sex": "m"})
        row_id = self._quarantined(device, create_mutation(data=consultation_data(
            team_id=device.device.team_id, site_id="tn-mp-tunis")))
        status, answer = self._apply(row_id, self._coordinator(("LY", "TN")), fix)
        assert status == 422 and answer["error"]["fields"] == {"mutation.id": ["Unknown record."]}
        return Edit(status, applied=False)


DRIVERS: dict[str, type[Driver]] = {"push": PushDriver, "openrosa": OpenRosaDriver, "resolution": ResolutionDriver}


@pytest.fixture(params=INTAKES, ids=[intake.name for intake in INTAKES])
def intake(request: pytest.FixtureRequest) -> Intake:
    return request.param


@pytest.fixture
def driver(intake: Intake, client: FlaskClient, session: Session) -> Driver:
    assert intake.name in DRIVERS, f"intake {intake.name!r} has no driver: its guarantees are untested"
    return DRIVERS[intake.name](client, session)


def answer_of(status_and_body: tuple[int, Any]) -> tuple[int, Any]:
    status, body = status_and_body
    if isinstance(body, dict) and "error" in body:
        return status, body["error"]["code"]
    return status, body


def foreign_device(session: Session) -> EnrolledDevice:
    """A tablet of a team of another country (Tunisia), with a site of its own."""
    team = make_team(session)
    upsert(session, Area, "tn-tunis", id="tn-tunis", country_code="TN", name="Tunis")
    upsert(session, Site, "tn-mp-tunis", id="tn-mp-tunis", area_id="tn-tunis", name="Mobile point, Tunis",
           site_type="mobile_point", active=True)
    set_team_sites(session, team, ["tn-mp-tunis"])
    tablet = make_device(session, team_id=team.id)
    session.commit()
    return tablet


class Crash:
    """A change subscriber that fails the transaction it is called in, while armed (registered
    once, through the public `subscribe`, like the application's own subscribers)."""

    armed = False

    @classmethod
    def __call__(cls, batch: events.ChangeBatch) -> None:
        if cls.armed:
            raise RuntimeError("injected: the server fails after applying, before the commit")


events.subscribe(Crash())


# --- the guarantees ------------------------------------------------------------------------------


def test_a_resend_gets_the_same_answer_and_doubles_nothing(driver: Driver, session, device) -> None:
    written = driver.write(device)
    assert written.status in (200, 201)
    before = {model: count(session, model) for model in (Record, RecordRevision, AppliedOp, QuarantinedMutation)}

    assert answer_of(written.again()) == answer_of(driver.expected_resend(written))

    assert {model: count(session, model) for model in before} == before
    assert count(session, RecordRevision, RecordRevision.record_id == written.record_id) == 1


def test_a_changed_resend_is_refused_and_changes_nothing(driver: Driver, session, device) -> None:
    written = driver.write(device)
    stored = record(session, written.record_id)
    assert stored is not None
    data, records = dict(stored.data), count(session, Record)

    status, _ = written.changed()

    assert status == driver.changed_status
    assert count(session, Record) == records
    assert record(session, written.record_id).data == data  # type: ignore[union-attr]


def test_a_revoked_device_leaves_a_bounded_sample_and_nothing_else(
    intake: Intake, driver: Driver, app: Flask, session, monkeypatch
) -> None:
    if not intake.device_writes:
        pytest.skip(f"{intake.name}: a coordinator writes; no revoked author")
    monkeypatch.setitem(app.config, "FIELDSYNC_LIMITS",
                        dataclasses.replace(app.config["FIELDSYNC_LIMITS"], revoked_quarantine_max=2))
    stolen = make_device(session, revoked=True)
    session.commit()
    mine = QuarantinedMutation.device_id == stolen.device.id

    # Three reads are free (server/intake/quarantine.py REVOKED_PUSHES): two kept, the third only counted.
    assert [driver.write_as_revoked(stolen) for _ in range(3)] == [403] * 3
    assert count(session, QuarantinedMutation, mine) == 2
    assert session.get(Device, stolen.device.id).quarantine_dropped == 1  # type: ignore[union-attr]
    # A revoked tablet's attachments are not kept (what it sent is refused; its mutations suffice).
    assert count(session, OpenRosaAttachment) == 0
    # Past the free reads the throttle refuses it unread: nothing is parsed, kept or counted.
    assert driver.write_as_revoked(stolen) == 403
    assert count(session, QuarantinedMutation, mine) == 2
    assert session.get(Device, stolen.device.id).quarantine_dropped == 1  # type: ignore[union-attr]


def test_an_edit_never_reaches_another_teams_record(driver: Driver, session, device) -> None:
    """Another team's record id is unknown to a tablet, whatever names it (a JSON correction, an
    OpenRosa `deprecatedID`, a coordinator's fix applied as that tablet)."""
    foreign = foreign_device(session)
    victim = driver.write(device)
    before = record(session, victim.record_id)
    assert before is not None
    data, version = dict(before.data), before.version

    edit = driver.edit_foreign(foreign, victim)

    assert not edit.applied
    after = record(session, victim.record_id)
    assert after is not None and (after.team_id, after.version, after.data) == (device.device.team_id, version, data)


def test_an_edit_naming_another_teams_quarantined_submission_does_not_take_its_id(
    client: FlaskClient, session, device
) -> None:
    """The finding of issue 27: a Tunisian tablet's `deprecatedID` named a Libyan submission that
    was quarantined (so its record did not exist yet) and created a record under the Libyan id;
    the Libyan coordinator's fix of the original was then refused as an `id_collision`."""
    foreign = foreign_device(session)
    driver = OpenRosaDriver(client, session)
    victim = driver.write(device, site_id="ly-mp-nowhere")  # a domain rule fails: kept in quarantine
    assert victim.status == 202 and record(session, victim.record_id) is None

    driver.edit_foreign(foreign, victim)

    assert record(session, victim.record_id) is None  # the Libyan id is still free
    coordinator = auth_headers(make_token(session, make_user(session, role="coordinator", countries=("LY",))))
    session.commit()
    row_id = session.scalar(select(QuarantinedMutation.id).where(QuarantinedMutation.op_id == victim.record_id))
    kept = session.get(QuarantinedMutation, row_id).mutation  # type: ignore[union-attr]
    fixed = {**kept, "data": {**kept["data"], "site_id": "ly-mp-tripoli"}}
    response = client.post(f"/api/v1/quarantine/{row_id}/apply", json={"mutation": fixed}, headers=coordinator)
    assert response.status_code == 200, response.get_json()
    assert record(session, victim.record_id).team_id == device.device.team_id  # type: ignore[union-attr]


def test_a_crash_before_commit_leaves_nothing_half_written(
    driver: Driver, app: Flask, session, device, monkeypatch
) -> None:
    """A failure inside the transaction after the records were written (a change subscriber
    raising) rolls back everything the write made: records, history, op memory, quarantine and the
    intake's ledger; the same request afterwards applies once."""
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)  # answered as in production: a 500

    models = (Record, RecordRevision, AppliedOp, SyncBatch, OpenRosaSubmission, OpenRosaAttachment)
    monkeypatch.setattr(Crash, "armed", True)
    prepared = driver.prepare(device)
    counts = {model: count(session, model) for model in models}
    open_items = count(session, QuarantinedMutation, QuarantinedMutation.status == "open")

    written = driver.send(device, prepared)

    assert written.status == 500
    assert {model: count(session, model) for model in models} == counts
    assert count(session, QuarantinedMutation, QuarantinedMutation.status == "open") == open_items
    monkeypatch.setattr(Crash, "armed", False)
    status, _ = written.again()
    assert status in (200, 201)
    assert count(session, RecordRevision, RecordRevision.record_id == written.record_id) == 1


def test_every_intake_has_a_driver() -> None:
    assert {intake.name for intake in INTAKES} <= set(DRIVERS)

