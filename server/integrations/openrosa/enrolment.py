"""Enrolling a tablet for ODK Collect (openrosa.md "Enrolling a tablet for ODK Collect").

The tablet is an ordinary Fieldsync device (`kind = "collect"`): listed with the others, revoked
the same way, its token stored only as a hash. Collect sends no credentials of its own, so the token
is in the server URL, as ODK Central's app users have it; the worker never types it, Collect reads it
from the QR code of its settings (base64 of zlib of the settings JSON, what "Add project -> scan QR"
expects).
"""

from __future__ import annotations

import base64
import json
import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import segno
from flask import current_app, request
from sqlalchemy.orm import Session

from server.operations import audit
from server.operations.accounts import ensure_field_worker_of, new_device, team_in_scope
from server.web.auth import Principal

COLLECT = "collect"


def base_url() -> str:
    """This server as tablets reach it: PUBLIC_BASE_URL if configured, else the request's own host."""
    configured = current_app.config.get("PUBLIC_BASE_URL")
    return str(configured or request.host_url).rstrip("/")


def server_url(key: str) -> str:
    return f"{base_url()}/openrosa/v1/key/{key}"


def collect_settings(url: str, project_name: str) -> dict[str, Any]:
    """ODK Collect's settings object for one tablet."""
    return {
        "general": {
            "server_url": url,
            # The tablet always holds exactly the server's forms (and their media), checked every
            # 15 minutes, so a new site reaches it without anyone touching it.
            "form_update_mode": "match_exactly",
            "periodic_form_updates_check": "every_fifteen_minutes",
            "autosend": "wifi_and_cellular",
            "delete_send": False,
            "analytics": False,
        },
        # The worker cannot point the tablet elsewhere by mistake.
        "admin": {"change_server": False, "automatic_update": True},
        "project": {"name": project_name, "icon": "F", "color": "#1f6f8b"},
    }


def settings_qr_png(settings: dict[str, Any]) -> str:
    """`data:image/png;base64,...` of the QR code of base64(zlib(JSON settings))."""
    payload = base64.b64encode(zlib.compress(json.dumps(settings, separators=(",", ":")).encode("utf-8")))
    return segno.make(payload.decode("ascii"), error="m", micro=False).png_data_uri(scale=5, border=4)


@dataclass(frozen=True)
class CollectDevice:
    device_id: str
    team_id: str
    server_url: str
    settings: dict[str, Any]
    qr_png: str


def enrol_collect_device(
    session: Session, principal: Principal, *, team_id: str, username: str, label: str, now: datetime
) -> CollectDevice:
    """A new Collect device for a field worker of the team; its URL (with the token) is shown once."""
    team = team_in_scope(session, principal, team_id)
    user = ensure_field_worker_of(session, team, username)
    device, token = new_device(session, team_id=team.id, user_id=user.id, label=label, now=now, kind=COLLECT)
    device_id = device.id
    # A new credential that can write the team's records: audited like the JSON enrolment code that
    # precedes a JSON tablet (issue 29 item 6), in the same transaction, without the key.
    audit.record(session, audit.actor_of(principal), action="enrol_collect", target_type="device",
                 target_id=device_id, countries=[team.country_code], before=None,
                 after={"team_id": team.id, "username": user.username, "label": label, "kind": COLLECT}, now=now)
    url = server_url(token)
    settings = collect_settings(url, team.name)
    return CollectDevice(
        device_id=device_id, team_id=team.id, server_url=url, settings=settings, qr_png=settings_qr_png(settings)
    )
