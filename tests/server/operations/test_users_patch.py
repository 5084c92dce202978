"""`PATCH /api/v1/users/<username>` (api.md v1.2, issue 30 §1): a person's role, countries and team
change after they were created, in scope, audited; a field worker moved to another team keeps no
tablet of the old one."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import AuditEntry, Device, EnrollmentCode
from tests.factories import auth_headers, make_device, make_team, make_token, make_user


def _headers(session: Session, role: str = "coordinator", countries: tuple[str, ...] = ("LY",)) -> dict[str, str]:
    return auth_headers(make_token(session, make_user(session, role=role, countries=countries)))


def _audit(session: Session, target_type: str, target_id: str) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).where(AuditEntry.target_type == target_type,
                                                         AuditEntry.target_id == target_id)
                                .order_by(AuditEntry.id)))


def test_an_admin_gives_a_coordinator_a_second_country_and_it_is_audited(client, session) -> None:
    make_team(session)
    make_user(session, username="amira", countries=("LY",))
    root = _headers(session, "admin", ())
    session.commit()

    answer = client.patch("/api/v1/users/amira", json={"countries": ["LY", "tn"]}, headers=root)

    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["countries"] == ["LY", "TN"]
    amira = auth_headers(client.post("/api/v1/auth/token", json={"username": "amira",
                                                                 "password": "correct horse battery staple"})
                         .get_json()["token"])
    assert client.get("/api/v1/teams?limit=1000", headers=amira).status_code == 200
    assert "tn-mmt-tunis" in {t["id"] for t in client.get("/api/v1/teams?limit=1000", headers=amira)
                              .get_json()["items"]}
    [entry] = _audit(session, "user", "amira")
    assert (entry.action, entry.before["countries"], entry.after["countries"]) == ("update", ["LY"], ["LY", "TN"])


def test_a_field_worker_moved_to_another_team_keeps_no_tablet_of_the_old_one(client, session) -> None:
    coordinator = _headers(session)
    worker = make_user(session, username="omar", role="field_worker", team_id="ly-mmt-tripoli")
    tablet = make_device(session, user=worker)
    session.add(EnrollmentCode(code_hash="x" * 64, team_id="ly-mmt-tripoli", user_id=worker.id,
                               created_by=worker.id, created_at=tablet.device.created_at,
                               expires_at=tablet.device.created_at))
    session.commit()
    assert client.get("/api/v1/sync/hello", headers=tablet.headers).status_code == 200

    moved = client.patch("/api/v1/users/omar", json={"team_id": "ly-mmt-benghazi"}, headers=coordinator)

    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["team_id"] == "ly-mmt-benghazi"
    refused = client.get("/api/v1/sync/hello", headers=tablet.headers)
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "device_revoked"
    session.expire_all()
    assert session.get(Device, tablet.device.id).status == "revoked"
    assert session.scalar(select(EnrollmentCode).where(EnrollmentCode.user_id == worker.id)) is None
    [revocation] = _audit(session, "device", tablet.device.id)
    assert revocation.action == "revoke" and revocation.after["reason"] == "user_left_team"
    [update] = _audit(session, "user", "omar")
    assert update.after["team_id"] == "ly-mmt-benghazi" and update.after["devices_revoked"] == 1


def test_a_tablet_of_the_team_the_worker_stays_in_is_kept(client, session) -> None:
    root = _headers(session, "admin", ())
    worker = make_user(session, username="salma", role="field_worker", team_id="ly-mmt-tripoli")
    tablet = make_device(session, user=worker)
    session.commit()
    # Same team given again: nothing changes, nothing is audited, the tablet syncs on.
    assert client.patch("/api/v1/users/salma", json={"team_id": "ly-mmt-tripoli"}, headers=root).status_code == 200
    assert client.get("/api/v1/sync/hello", headers=tablet.headers).status_code == 200
    assert _audit(session, "user", "salma") == []


def test_a_promotion_leaves_the_team_and_its_tablets(client, session) -> None:
    root = _headers(session, "admin", ())
    worker = make_user(session, username="hana", role="field_worker", team_id="ly-mmt-tripoli")
    tablet = make_device(session, user=worker)
    session.commit()
    promoted = client.patch("/api/v1/users/hana", json={"role": "coordinator"}, headers=root)
    assert promoted.status_code == 200, promoted.get_json()
    assert (promoted.get_json()["role"], promoted.get_json()["team_id"]) == ("coordinator", None)
    assert client.get("/api/v1/sync/hello", headers=tablet.headers).status_code == 403


def test_a_field_worker_moved_to_a_team_abroad_follows_it_to_its_country(client, session) -> None:
    make_team(session)
    root = _headers(session, "admin", ())
    make_user(session, username="nadia", role="field_worker", team_id="ly-mmt-tripoli")
    session.commit()
    moved = client.patch("/api/v1/users/nadia", json={"team_id": "tn-mmt-tunis"}, headers=root)
    assert moved.status_code == 200, moved.get_json()
    assert (moved.get_json()["team_id"], moved.get_json()["countries"]) == ("tn-mmt-tunis", ["TN"])


def test_coordinators_change_only_within_their_countries_and_never_to_admin(client, session) -> None:
    make_team(session)
    ly = _headers(session)
    make_user(session, username="worker", role="field_worker", team_id="ly-mmt-tripoli")
    make_user(session, username="both", countries=("LY", "TN"))
    make_user(session, username="tunisian", countries=("TN",))
    make_user(session, username="chief", role="admin", countries=())
    session.commit()

    to_admin = client.patch("/api/v1/users/worker", json={"role": "admin", "team_id": None}, headers=ly)
    assert to_admin.status_code == 422 and "role" in to_admin.get_json()["error"]["fields"]
    abroad = client.patch("/api/v1/users/worker", json={"countries": ["TN"], "team_id": "tn-mmt-tunis"}, headers=ly)
    assert abroad.status_code == 403 and abroad.get_json()["error"]["code"] == "out_of_scope"
    # Moving them to a team abroad takes them abroad: as out of scope.
    assert client.patch("/api/v1/users/worker", json={"team_id": "tn-mmt-tunis"}, headers=ly).status_code == 403
    assert client.patch("/api/v1/users/both", json={"countries": ["LY"]}, headers=ly).status_code == 403
    assert client.patch("/api/v1/users/tunisian", json={"countries": ["LY"]}, headers=ly).status_code == 404
    assert client.patch("/api/v1/users/chief", json={"countries": ["LY"]}, headers=ly).status_code == 404
    assert client.patch("/api/v1/users/nobody", json={"role": "coordinator"}, headers=ly).status_code == 404
    assert _audit(session, "user", "worker") == []


def test_bad_changes_are_422s_naming_the_fields(client, session) -> None:
    make_team(session)
    root = _headers(session, "admin", ())
    me = make_user(session, username="me-admin", role="admin", countries=())
    mine = auth_headers(make_token(session, me))
    make_user(session, username="worker", role="field_worker", team_id="ly-mmt-tripoli")
    session.commit()

    def fields(username: str, body: object, headers: dict[str, str] = root) -> set[str]:
        answer = client.patch(f"/api/v1/users/{username}", json=body, headers=headers)
        assert answer.status_code == 422, answer.get_json()
        return set(answer.get_json()["error"]["fields"])

    assert fields("worker", {}) == {"_request"}
    assert fields("worker", {"role": "king"}) == {"role"}
    assert fields("worker", {"countries": ["L1"]}) == {"countries.0"}
    assert fields("worker", {"countries": ["LY", "ZZ"]}) == {"countries"}
    assert fields("worker", {"team_id": "no-such-team"}) == {"team_id"}
    assert fields("worker", {"countries": ["LY"], "team_id": "tn-mmt-tunis"}) == {"team_id"}  # another country's
    assert fields("worker", {"team_id": None}) == {"team_id"}  # a field worker needs one
    assert fields("worker", {"username": "renamed"}) == {"username"}
    assert fields("me-admin", {"role": "coordinator", "countries": ["LY"]}, mine) == {"role"}
    assert client.patch("/api/v1/users/worker", data="role=x", headers=root).status_code == 415
