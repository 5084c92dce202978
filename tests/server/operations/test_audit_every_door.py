"""Every door that changes administrative state leaves one audit entry (issue 29 item 6; api.md v1.2
"Every administrative act is audited, whatever its door").

The doors are not listed here: the routes come from the app's URL map (every write method a
coordinator or an admin may call) and the commands from the CLI's group, so a door added later is
found and tried by this test as it stands. Each route is called with a request built from its own
declaration (path parameters from fresh objects of the collection they name, the JSON body from the
marshmallow schema flask-smorest validates it with); each command with arguments built from its click
parameters. A door must answer success and leave exactly one new entry naming who (the admin, or
`cli`), what (an action) and the target (one of the ids the request named or the answer returned).

What is not administrative is said below, with the reason; nothing else is skipped.
"""

from __future__ import annotations

import uuid
from typing import Any

import click
import pytest
from marshmallow import Schema, fields, validate
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.models import AuditEntry
from server.web.auth import ADMIN, COORDINATOR
from tests.factories import auth_headers, make_device, make_token, make_user

WRITES = {"POST", "PUT", "PATCH", "DELETE"}

# Routes a coordinator or admin may call that change no administrative state.
NOT_ADMINISTRATIVE = {
    "accounts.logout": "ends the caller's own session",
    "resolution.resolve_conflict": "a decision on records (kept in the record's history and the conflict)",
    "resolution.apply_quarantined": "a decision on records (kept in the record's history and the quarantine)",
    "resolution.discard_quarantined": "a decision on records (kept in the quarantine entry)",
    "webhooks.retry_delivery": "sends an event again now (the delivery's own attempts record it)",
}
# Commands that change no administrative state.
READ_ONLY_OR_NOT_ADMINISTRATIVE = {
    "users list": "reads", "statements list": "reads", "dhis2 export": "reads", "dhis2 push": "sends aggregates out",
    "openapi print": "reads", "openapi write": "writes a file", "openapi list-config-prefixes": "reads",
    "rollups verify": "reads", "rollups rebuild": "derived data, rebuilt from the records",
    "db-upgrade": "the schema", "bootstrap": "first start: schema and demo data of an empty database",
    "seed-demo": "demo reference data of an empty database",
    "quarantine purge": "retention of rejected mutations (documented in operations)",
    "webhooks worker": "delivers webhook events; runs until stopped",
}


def fresh(prefix: str = "a") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def unused_country(session: Session) -> str:
    from server.models import Country

    taken = set(session.scalars(select(Country.code)))
    return next(code for code in ("MT", "NE", "SD", "TD", "EG", "DZ", "ML", "BF", "SN", "GM", "ER", "ET", "SO")
                if code not in taken)


class World:
    """Fresh objects for one door: an area, a site, a team, a field worker, a device, an item, a service."""

    def __init__(self, client: Any, session: Session, headers: dict[str, str]) -> None:
        self.client, self.session, self.headers = client, session, headers
        self.area = self._create("/api/v1/areas", {"id": fresh(), "country": "LY", "name": "Area"})["id"]
        self.site = self._create("/api/v1/sites", {"id": fresh(), "area_id": self.area, "name": "Site",
                                                   "site_type": "mobile_point"})["id"]
        self.team = self._create("/api/v1/teams", {"id": fresh(), "country": "LY", "name": "Team",
                                                   "team_type": "mobile_medical", "site_ids": [self.site]})["id"]
        self.worker = self._create("/api/v1/users", {"username": fresh("w"), "role": "field_worker",
                                                     "countries": ["LY"], "team_id": self.team,
                                                     "password": "a long passphrase 1"})["username"]
        self.item = self._create("/api/v1/items", {"code": fresh("i"), "name": "Item", "category": "nfi"})["code"]
        self.service = self._create("/api/v1/services", {"code": fresh("s"), "name": "Service"})["code"]
        self.webhook = self._create("/api/v1/webhooks", {"url": "https://8.8.8.8/fieldsync-hook", "countries": ["LY"],
                                                         "events": ["record.created"]})["id"]
        # The tablet is another worker's of the team: moving `worker` to another team is then one act,
        # not also the revocation of their tablet (audited on its own, api.md "Users").
        self.device = make_device(session, team_id=self.team).device.id
        session.commit()
        # Values of path parameters by the collection segment before them.
        self.by_collection = {"areas": self.area, "sites": self.site, "teams": self.team, "users": self.worker,
                              "devices": self.device, "items": self.item, "services": self.service, "countries": "LY",
                              "webhooks": self.webhook}

    def another_team(self) -> str:
        """A second team of the country, for a change of team (an edit that gives the same team is no act)."""
        return self._create("/api/v1/teams", {"id": fresh(), "country": "LY", "name": "Other team",
                                              "team_type": "mobile_medical", "site_ids": [self.site]})["id"]

    def _create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = self.client.post(path, json=body, headers=self.headers)
        assert answer.status_code == 201, (path, answer.get_json())
        return answer.get_json()


def _value(name: str, field: fields.Field, world: World, creating: str | None) -> Any:
    """A valid value for a body field, by its name and validators."""
    for validator in field.validators:
        if isinstance(validator, validate.OneOf):
            return "field_worker" if name == "role" else next(iter(validator.choices))
    if isinstance(field, fields.List):
        return {"site_ids": [world.site], "countries": ["LY"], "events": ["record.created"]}.get(name, [])
    if isinstance(field, fields.Boolean):
        return True
    if isinstance(field, fields.Dict):  # a statement's filters: none, over all of the country's records
        return {}
    samples = {"country": "LY", "area_id": world.area, "team_id": world.team, "label": "Tablet",
               "password": "another long passphrase 2", "pcode": "LY0199",
               "indicator": "health_consultations", "text": f"people were seen in {{year}} ({fresh('t')})",
               # A webhook's receiver: a public address as an IP literal (no DNS lookup; nothing is sent).
               "url": "https://8.8.8.8/fieldsync-hook"}
    if name in samples:
        return samples[name]
    if name == "username":  # a new user when the door creates users, else the team's field worker
        return fresh("u") if creating == "users" else world.worker
    if name in ("id", "code"):
        if creating == "countries":
            return unused_country(world.session)
        return fresh("n")
    return "Audited name"


def _request(app: Any, rule: Any, method: str, world: World) -> tuple[str, Any, set[str]]:
    """Path, JSON body (an object, or a list for a `many=True` schema) and the ids the request names."""
    segments = rule.rule.strip("/").split("/")
    path, named = [], set()
    for index, segment in enumerate(segments):
        if segment.startswith("<"):
            value = world.by_collection[segments[index - 1]]
            named.add(str(value))
            path.append(str(value))
        else:
            path.append(segment)
    creating = segments[-1] if method == "POST" and not segments[-1].startswith("<") else None
    view = app.view_functions[rule.endpoint]
    body: Any = None
    for parameter in getattr(view, "_apidoc", {}).get("arguments", {}).get("parameters", []):
        if parameter.get("in") != "json":
            continue
        schema: Schema = parameter["schema"]() if isinstance(parameter["schema"], type) else parameter["schema"]
        # Required fields, and the scope a user needs (a field worker: a country and a team); a
        # statement's filters too, so the sample says what it means.
        chosen = {n: f for n, f in schema.fields.items()
                  if (f.required or n in ("countries", "team_id", "filters")) and not f.dump_only}
        if not chosen:  # a PATCH: one field is a change
            name = next(n for n in ("name", "label") if n in schema.fields)
            chosen = {name: schema.fields[name]}
        item = {n: _value(n, f, world, creating) for n, f in chosen.items()}
        if method == "PATCH" and "team_id" in item:  # a PATCH is a change: the worker moves team
            item["team_id"] = world.another_team()
        named |= {str(item[k]) for k in ("id", "code", "username") if k in item}
        # A schema with many=True takes a JSON list (e.g. PUT a country's whole statements list).
        body = [item] if schema.many else item
    return "/" + "/".join(path), body, named


def admin_doors(app: Any) -> list[tuple[Any, str]]:
    doors = []
    for rule in app.url_map.iter_rules():
        declaration = getattr(app.view_functions[rule.endpoint], "_fieldsync_access", None)
        if declaration is None or not declaration.audiences & {ADMIN, COORDINATOR}:
            continue
        for method in sorted(rule.methods & WRITES):
            if rule.endpoint not in NOT_ADMINISTRATIVE:
                doors.append((rule, method))
    return sorted(doors, key=lambda door: (door[0].rule, door[1]))


def _count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AuditEntry)) or 0


def test_every_administrative_route_leaves_one_audit_entry(app, client, session) -> None:
    admin = make_user(session, username=fresh("admin"), role=ADMIN, countries=())
    headers = auth_headers(make_token(session, admin))
    session.commit()
    doors = admin_doors(app)
    assert len(doors) >= 20, "the URL map was read"
    missing = []
    for rule, method in doors:
        world = World(client, session, headers)
        path, body, named = _request(app, rule, method, world)
        if path.endswith("/activate"):  # an active object cannot be activated: deactivate it first
            assert client.post(path.removesuffix("/activate") + "/deactivate", headers=headers).status_code == 200
        before = _count(session)
        answer = client.open(path, method=method, json=body, headers=headers)
        assert answer.status_code < 300, (method, rule.rule, body, answer.get_json())
        returned = answer.get_json(silent=True) or {}
        named |= {str(returned[k]) for k in ("id", "code", "username", "device_id") if k in returned}
        entries = list(session.scalars(select(AuditEntry).order_by(AuditEntry.id).offset(before)))
        if len(entries) != 1 or entries[0].actor != admin.username or not entries[0].action \
                or entries[0].target_id not in named:
            missing.append(f"{method} {rule.rule}: {[(e.actor, e.action, e.target_id) for e in entries]}")
    assert not missing, "doors without exactly one audit entry naming who, what and the target:\n" + "\n".join(missing)


# --- the CLI ---------------------------------------------------------------------------------------


def commands(group: click.Group, prefix: str = "") -> list[str]:
    names = []
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            names += commands(command, f"{prefix}{name} ")
        else:
            names.append(prefix + name)
    return names


def _cli_args(name: str, command: click.Command, world: World) -> tuple[list[str], set[str], str | None]:
    """Arguments for a command from its click parameters: fresh ids for `add-`/`create-`, existing otherwise."""
    verb = name.split()[-1]
    creating = verb.startswith(("add-", "create-"))
    kind = "user" if name.startswith("users ") else verb.split("-", 1)[-1] if "-" in verb else ""
    existing = {"area": world.area, "site": world.site, "team": world.team, "item": world.item,
                "service": world.service, "user": world.worker, "country": "LY"}
    args: list[str] = []
    named: set[str] = set()
    stdin = None
    for parameter in command.params:
        if isinstance(parameter, click.Argument):
            if isinstance(parameter.type, click.Choice):  # `reference delete <entity> <key>`: a fresh item
                args.append("item")
                kind = "item"
                continue
            if parameter.name == "position":
                args.append("9")
                continue
            if parameter.name in ("name", "name_ar", "text"):
                args.append("اسم")
                continue
            if parameter.name in ("username", "area_id", "site_id", "team_id", "code", "key", "country"):
                if creating:
                    value = unused_country(world.session) if kind == "country" else fresh("c")
                else:
                    value = existing.get(kind, "LY") if parameter.name != "country" else "LY"
                args.append(value)
                named.add(value)
                continue
            raise AssertionError(f"`{name}`: no sample for its argument {parameter.name}")
        option = parameter
        if not option.required and option.name not in ("password_stdin", "indicator", "text", "name", "countries"):
            continue
        flag = option.opts[0]
        if option.is_flag:
            args.append(flag)
            if option.name == "password_stdin":
                stdin = "a long passphrase 3\n"
            continue
        if isinstance(option.type, click.Choice):
            args += [flag, "field_worker" if option.name == "role" else option.type.choices[0]]
        elif option.name in ("country", "countries"):
            args += [flag, "LY"]
        elif option.name == "area_id":
            args += [flag, world.area]
        elif option.name == "team_id":
            args += [flag, world.team]
        elif option.name == "indicator":
            args += [flag, "health_consultations"]
        elif option.name == "text":
            args += [flag, "people were seen in {year}"]
        else:
            args += [flag, "Audited name"]
    if name == "create-user":
        args += ["--team", world.team]
    if name == "users edit":  # an edit is a change: the worker moves team (the same values are no act)
        args += ["--team", world.another_team()]
    return args, named, stdin


def test_every_administrative_command_leaves_one_audit_entry(app, client, session) -> None:
    admin = make_user(session, username=fresh("admin"), role=ADMIN, countries=())
    headers = auth_headers(make_token(session, admin))
    session.commit()
    names = commands(app.cli)
    assert "create-user" in names and "reference add-area" in names, "the CLI's group was read"
    runner = app.test_cli_runner()
    missing = []
    for name in names:
        if name in READ_ONLY_OR_NOT_ADMINISTRATIVE:
            continue
        command: Any = app.cli
        for part in name.split():
            command = command.commands[part]
        world = World(client, session, headers)
        args, named, stdin = _cli_args(name, command, world)
        if name.endswith("activate-site") and not name.endswith("deactivate-site"):
            assert runner.invoke(args=["reference", "deactivate-site", world.site]).exit_code == 0
        if name == "statements remove":
            assert runner.invoke(args=["statements", "set", "LY", "9", "--indicator", "health_consultations",
                                       "--text", "people were seen in {year}"]).exit_code == 0
        if name == "users activate":
            assert runner.invoke(args=["users", "deactivate", world.worker]).exit_code == 0
        before = _count(session)
        result = runner.invoke(args=[*name.split(), *args], input=stdin)
        assert result.exit_code == 0, (name, args, result.output)
        entries = list(session.scalars(select(AuditEntry).order_by(AuditEntry.id).offset(before)))
        if len(entries) != 1 or entries[0].actor != "cli" or not entries[0].action \
                or (named and entries[0].target_id not in named
                    and entries[0].target_id != "/".join(arg for arg in args[:2])):
            missing.append(f"{name} {args}: {[(e.actor, e.action, e.target_id) for e in entries]}")
    assert not missing, "commands without exactly one audit entry naming who, what and the target:\n" + "\n".join(
        missing)


@pytest.mark.parametrize("door", ["routes", "commands"])
def test_the_exemptions_name_real_doors(app, door) -> None:
    """An exemption for a door that no longer exists would hide a new door of the same name."""
    if door == "routes":
        endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
        assert set(NOT_ADMINISTRATIVE) <= endpoints
    else:
        assert set(READ_ONLY_OR_NOT_ADMINISTRATIVE) <= set(commands(app.cli))


def test_a_tablet_enrolled_with_a_code_is_audited(app, client, session) -> None:
    """The public door that makes a credential: the worker whose code it was, the device it made."""
    admin = make_user(session, username=fresh("admin"), role=ADMIN, countries=())
    headers = auth_headers(make_token(session, admin))
    session.commit()
    world = World(client, session, headers)
    code = client.post(f"/api/v1/teams/{world.team}/enrollments", json={"username": world.worker},
                       headers=headers).get_json()["code"]
    before = _count(session)
    answer = client.post("/api/v1/devices/enroll", json={"code": code, "label": "Tablet 9", "app_version": "1.4.0"})
    assert answer.status_code == 201
    (entry,) = session.scalars(select(AuditEntry).order_by(AuditEntry.id).offset(before))
    assert (entry.actor, entry.action) == (world.worker, "enrol_device")
    assert entry.target_id == answer.get_json()["device_id"]
