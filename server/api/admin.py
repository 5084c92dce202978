"""Administration (issue 15): reference data, users and the audit log. Thin handlers over
server/operations/admin.py, server/operations/users.py and server/operations/audit.py; the request's
transaction hook commits."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_smorest import Blueprint

from schemas import admin as s
from schemas.pagination import PageArgsSchema, page_schema
from server.extensions import db
from server.operations import admin, audit, statements, users
from server.operations.audit import actor_of
from server.persistence.timeutil import utcnow
from server.web.auth import ADMIN, COORDINATOR, access, current_principal
from server.web.errors import ApiError
from server.web.transactions import reads_only

blp = Blueprint("admin", __name__, url_prefix="/api/v1",
                description="Administration: countries, areas, sites, teams, items, services, users, audit log")

_SCOPE = "403 `out_of_scope`: the row or country is outside your countries"
_DUPLICATE = "409 `already_exists`: a row with this id exists"


@blp.before_request
def _require_json_body() -> None:
    # As the accounts blueprint: a form or text body is a 415, not a 422 "missing field".
    if (request.method in ("POST", "PATCH", "PUT") and (request.content_length or request.mimetype)
            and not request.is_json):
        raise ApiError(415, "unsupported_media_type", "Send the body as JSON (Content-Type: application/json).")


def _actor() -> audit.Actor:
    return actor_of(current_principal())


# --- countries ---------------------------------------------------------------------------------
@blp.route("/countries", methods=["GET"])
@access(COORDINATOR, ADMIN)
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_schema(s.CountrySchema))
@reads_only
def list_countries(args: dict[str, Any]) -> dict[str, Any]:
    """The country programmes in the caller's scope, by code."""
    return admin.countries_page(db.session, current_principal(), args)


@blp.route("/countries", methods=["POST"])
@access(ADMIN)
@blp.arguments(s.CountryCreateSchema)
@blp.response(201, s.CountrySchema)
@blp.alt_response(409, description="`already_exists`: the country exists")
def create_country(args: dict[str, Any]) -> dict[str, Any]:
    """Add a country programme (admins). `code` must be ISO 3166-1 alpha-2 (422 otherwise)."""
    country = admin.create_country(db.session, _actor(), code=args["code"], name=args["name"],
                                   name_ar=args.get("name_ar"), now=utcnow())
    return admin.country_item(country)


@blp.route("/countries/<code>", methods=["PATCH"])
@access(ADMIN)
@blp.arguments(s.CountryPatchSchema)
@blp.response(200, s.CountrySchema)
def update_country(args: dict[str, Any], code: str) -> dict[str, Any]:
    """Rename a country programme, in English and/or Arabic (admins)."""
    return admin.country_item(admin.update_country(db.session, _actor(), code, args, utcnow()))


@blp.route("/countries/<code>/statements", methods=["GET"])
@access(COORDINATOR, ADMIN)
@blp.response(200, page_schema(s.StatementEditSchema))
@blp.alt_response(403, description=_SCOPE)
@reads_only
def list_statements(code: str) -> dict[str, Any]:
    """The country's public impact statements, in page order (one page: `next_cursor` is null)."""
    return {"items": statements.statements_of(db.session, current_principal(), code), "next_cursor": None}


@blp.route("/countries/<code>/statements", methods=["PUT"])
@access(COORDINATOR, ADMIN)
@blp.arguments(s.StatementEditSchema(many=True))
@blp.response(200, page_schema(s.StatementEditSchema))
@blp.alt_response(403, description=_SCOPE)
def replace_statements(args: list[dict[str, Any]], code: str) -> dict[str, Any]:
    """Replace the whole list `[{"indicator", "filters", "text", "text_ar"}]` (page order = list order).

    Each statement must be publishable: a known indicator, filters on public dimensions with known
    codes, `{year}` the only placeholder. Problems are a 422 by `<index>.<field>`; nothing changes.
    """
    items = statements.replace_statements(db.session, current_principal(), _actor(), code, args, utcnow())
    return {"items": items, "next_cursor": None}


# --- areas -------------------------------------------------------------------------------------
@blp.route("/areas", methods=["GET"])
@access(COORDINATOR, ADMIN)
@blp.arguments(s.CountryFilterSchema, location="query")
@blp.response(200, page_schema(s.AreaSchema))
@reads_only
def list_areas(args: dict[str, Any]) -> dict[str, Any]:
    """The areas of the caller's countries (or of `country`), by id."""
    return admin.areas_page(db.session, current_principal(), args)


@blp.route("/areas", methods=["POST"])
@access(COORDINATOR, ADMIN)
@blp.arguments(s.AreaCreateSchema)
@blp.response(201, s.AreaSchema)
@blp.alt_response(403, description=_SCOPE)
@blp.alt_response(409, description=_DUPLICATE)
def create_area(args: dict[str, Any]) -> dict[str, Any]:
    """Add an area to a country of yours; tablets of that country receive it on their next pull."""
    area = admin.create_area(db.session, current_principal(), _actor(), area_id=args["id"], country=args["country"],
                             name=args["name"], name_ar=args.get("name_ar"), pcode=args.get("pcode"), now=utcnow())
    return admin.area_item(area)


@blp.route("/areas/<area_id>", methods=["PATCH"])
@access(COORDINATOR, ADMIN)
@blp.arguments(s.AreaPatchSchema)
@blp.response(200, s.AreaSchema)
@blp.alt_response(403, description=_SCOPE)
def update_area(args: dict[str, Any], area_id: str) -> dict[str, Any]:
    """Change an area's names or P-code."""
    return admin.area_item(admin.update_area(db.session, current_principal(), _actor(), area_id, args, utcnow()))


# --- sites -------------------------------------------------------------------------------------
@blp.route("/sites", methods=["GET"])
@access(COORDINATOR, ADMIN)
@blp.arguments(s.CountryFilterSchema, location="query")
@blp.response(200, page_schema(s.SiteSchema))
@reads_only
def list_sites(args: dict[str, Any]) -> dict[str, Any]:
    """The sites of the caller's countries (or of `country`), active and deactivated, by id."""
    return admin.sites_page(db.session, current_principal(), args)


@blp.route("/sites", methods=["POST"])
@access(COORDINATOR, ADMIN)
@blp.arguments(s.SiteCreateSchema)
@blp.response(201, s.SiteSchema)
@blp.alt_response(403, description=_SCOPE)
@blp.alt_response(409, description=_DUPLICATE)
def create_site(args: dict[str, Any]) -> dict[str, Any]:
    """Add a site to an area of yours."""
    site = admin.create_site(db.session, current_principal(), _actor(), site_id=args["id"], area_id=args["area_id"],
                             name=args["name"], name_ar=args.get("name_ar"), site_type=args["site_type"], now=utcnow())
    return admin.site_item(site)


@blp.route("/sites/<site_id>", methods=["PATCH"])
@access(COORDINATOR, ADMIN)
@blp.arguments(s.SitePatchSchema)
@blp.response(200, s.SiteSchema)
@blp.alt_response(403, description=_SCOPE)
def update_site(args: dict[str, Any], site_id: str) -> dict[str, Any]:
    """Change a site's names, type, or area (within its country)."""
    return admin.site_item(admin.update_site(db.session, current_principal(), _actor(), site_id, args, utcnow()))


@blp.route("/sites/<site_id>/deactivate", methods=["POST"])
@access(COORDINATOR, ADMIN)
@blp.response(200, s.SiteSchema)
@blp.alt_response(403, description=_SCOPE)
def deactivate_site(site_id: str) -> dict[str, Any]:
    """Tablets receive the site as `remove` and may no longer record there; its records stay counted."""
    return admin.site_item(admin.set_site_active(db.session, current_principal(), _actor(), site_id, False, utcnow()))


@blp.route("/sites/<site_id>/activate", methods=["POST"])
@access(COORDINATOR, ADMIN)
@blp.response(200, s.SiteSchema)
@blp.alt_response(403, description=_SCOPE)
def activate_site(site_id: str) -> dict[str, Any]:
    """Reopen a deactivated site."""
    return admin.site_item(admin.set_site_active(db.session, current_principal(), _actor(), site_id, True, utcnow()))


# --- teams (GET /teams is in the accounts blueprint) -------------------------------------------
@blp.route("/teams", methods=["POST"])
@access(COORDINATOR, ADMIN)
@blp.arguments(s.TeamCreateSchema)
@blp.response(201, s.AdminTeamSchema)
@blp.alt_response(403, description=_SCOPE)
@blp.alt_response(409, description=_DUPLICATE)
def create_team(args: dict[str, Any]) -> dict[str, Any]:
    """Add a team to a country of yours, with the sites where it records."""
    team = admin.create_team(db.session, current_principal(), _actor(), team_id=args["id"], country=args["country"],
                             name=args["name"], name_ar=args.get("name_ar"), team_type=args["team_type"],
                             site_ids=args["site_ids"], now=utcnow())
    return admin.team_item(team)


@blp.route("/teams/<team_id>", methods=["PATCH"])
@access(COORDINATOR, ADMIN)
@blp.arguments(s.TeamPatchSchema)
@blp.response(200, s.AdminTeamSchema)
@blp.alt_response(403, description=_SCOPE)
def update_team(args: dict[str, Any], team_id: str) -> dict[str, Any]:
    """Change a team's names, type or sites (`site_ids` replaces the list)."""
    return admin.team_item(admin.update_team(db.session, current_principal(), _actor(), team_id, args, utcnow()))


@blp.route("/teams/<team_id>/deactivate", methods=["POST"])
@access(COORDINATOR, ADMIN)
@blp.response(200, s.AdminTeamSchema)
@blp.alt_response(403, description=_SCOPE)
def deactivate_team(team_id: str) -> dict[str, Any]:
    """Tablets receive the team as `remove`; no new enrollment; its records stay counted."""
    return admin.team_item(admin.set_team_active(db.session, current_principal(), _actor(), team_id, False, utcnow()))


@blp.route("/teams/<team_id>/activate", methods=["POST"])
@access(COORDINATOR, ADMIN)
@blp.response(200, s.AdminTeamSchema)
@blp.alt_response(403, description=_SCOPE)
def activate_team(team_id: str) -> dict[str, Any]:
    """Reopen a deactivated team."""
    return admin.team_item(admin.set_team_active(db.session, current_principal(), _actor(), team_id, True, utcnow()))


# --- items and services ------------------------------------------------------------------------
@blp.route("/items", methods=["GET"])
@access(COORDINATOR, ADMIN)
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_schema(s.ItemSchema))
@reads_only
def list_items(args: dict[str, Any]) -> dict[str, Any]:
    """The item catalogue (every country uses the same), by code."""
    return admin.items_page(db.session, args)


@blp.route("/items", methods=["POST"])
@access(ADMIN)
@blp.arguments(s.ItemCreateSchema)
@blp.response(201, s.ItemSchema)
@blp.alt_response(409, description=_DUPLICATE)
def create_item(args: dict[str, Any]) -> dict[str, Any]:
    """Add an item to the catalogue (admins)."""
    return admin.item_item(admin.create_item(db.session, _actor(), code=args["code"], name=args["name"],
                                             name_ar=args.get("name_ar"), category=args["category"], now=utcnow()))


@blp.route("/items/<code>", methods=["PATCH"])
@access(ADMIN)
@blp.arguments(s.ItemPatchSchema)
@blp.response(200, s.ItemSchema)
def update_item(args: dict[str, Any], code: str) -> dict[str, Any]:
    """Change an item (admins)."""
    return admin.item_item(admin.update_item(db.session, _actor(), code, args, utcnow()))


@blp.route("/services", methods=["GET"])
@access(COORDINATOR, ADMIN)
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_schema(s.ServiceSchema))
@reads_only
def list_services(args: dict[str, Any]) -> dict[str, Any]:
    """The service catalogue, by code."""
    return admin.services_page(db.session, args)


@blp.route("/services", methods=["POST"])
@access(ADMIN)
@blp.arguments(s.ServiceCreateSchema)
@blp.response(201, s.ServiceSchema)
@blp.alt_response(409, description=_DUPLICATE)
def create_service(args: dict[str, Any]) -> dict[str, Any]:
    """Add a service (admins)."""
    return admin.service_item(admin.create_service(db.session, _actor(), code=args["code"], name=args["name"],
                                                   name_ar=args.get("name_ar"), now=utcnow()))


@blp.route("/services/<code>", methods=["PATCH"])
@access(ADMIN)
@blp.arguments(s.ServicePatchSchema)
@blp.response(200, s.ServiceSchema)
def update_service(args: dict[str, Any], code: str) -> dict[str, Any]:
    """Change a service (admins)."""
    return admin.service_item(admin.update_service(db.session, _actor(), code, args, utcnow()))


# --- users -------------------------------------------------------------------------------------
@blp.route("/users", methods=["GET"])
@access(COORDINATOR, ADMIN)
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_schema(s.UserSchema))
@reads_only
def list_users(args: dict[str, Any]) -> dict[str, Any]:
    """The users of the caller's countries, by username."""
    return users.users_page(db.session, current_principal(), limit=args["limit"], cursor=args["cursor"],
                            now=utcnow())


@blp.route("/users", methods=["POST"])
@access(COORDINATOR, ADMIN)
@blp.arguments(s.UserCreateSchema)
@blp.response(201, s.UserSchema)
@blp.alt_response(403, description=_SCOPE)
def create_user(args: dict[str, Any]) -> dict[str, Any]:
    """Create a field worker (with `team_id`) or a coordinator; admins may also create admins.

    A coordinator creates users of their own countries only. Every problem is a 422 by field
    (a taken username included, so the form shows it next to the field).
    """
    now = utcnow()
    user = users.create_user(db.session, current_principal(), _actor(), username=args["username"], role=args["role"],
                             countries=args["countries"], team_id=args["team_id"], password=args["password"], now=now)
    return users.user_item(db.session, user, now)


@blp.route("/users/<username>", methods=["PATCH"])
@access(COORDINATOR, ADMIN)
@blp.arguments(s.UserPatchSchema)
@blp.response(200, s.UserSchema)
@blp.alt_response(403, description=_SCOPE)
def update_user(args: dict[str, Any], username: str) -> dict[str, Any]:
    """Change a user's `role`, `countries` (replaces the list) and/or `team_id`.

    Admins change anything; a coordinator changes users wholly within their countries, to countries
    of their own, and never to `admin`. A field worker moved to another team (or out of the field
    worker role) keeps no tablet of the old team: those are revoked, each revocation audited.
    """
    now = utcnow()
    user = users.update_user(db.session, current_principal(), _actor(), username, args, now)
    return users.user_item(db.session, user, now)


@blp.route("/users/<username>/deactivate", methods=["POST"])
@access(COORDINATOR, ADMIN)
@blp.response(200, s.UserSchema)
@blp.alt_response(403, description=_SCOPE)
def deactivate_user(username: str) -> dict[str, Any]:
    """The user's tokens are refused from the next request; their tablets are revoked."""
    now = utcnow()
    user, _ = users.set_active(db.session, current_principal(), _actor(), username, False, now)
    return users.user_item(db.session, user, now)


@blp.route("/users/<username>/activate", methods=["POST"])
@access(COORDINATOR, ADMIN)
@blp.response(200, s.UserSchema)
@blp.alt_response(403, description=_SCOPE)
def activate_user(username: str) -> dict[str, Any]:
    """Let a deactivated user sign in again (their revoked tablets stay revoked)."""
    now = utcnow()
    user, _ = users.set_active(db.session, current_principal(), _actor(), username, True, now)
    return users.user_item(db.session, user, now)


@blp.route("/users/<username>/reset-password", methods=["POST"])
@access(COORDINATOR, ADMIN)
@blp.arguments(s.PasswordSchema)
@blp.response(200, s.UserSchema)
@blp.alt_response(403, description=_SCOPE)
def reset_password(args: dict[str, Any], username: str) -> dict[str, Any]:
    """Set a new password: the user's tokens end and any login lock is lifted."""
    now = utcnow()
    user = users.reset_password(db.session, current_principal(), _actor(), username, args["password"], now)
    return users.user_item(db.session, user, now)


@blp.route("/users/<username>/unlock", methods=["POST"])
@access(COORDINATOR, ADMIN)
@blp.response(200, s.UnlockResultSchema)
@blp.alt_response(403, description=_SCOPE)
def unlock_user(username: str) -> dict[str, Any]:
    """Forget the failed logins that keep the user from signing in."""
    cleared = users.unlock(db.session, current_principal(), _actor(), username, utcnow())
    return {"username": users.accounts.normalise_username(username), "failures_cleared": cleared}


# --- audit -------------------------------------------------------------------------------------
@blp.route("/audit", methods=["GET"])
@access(COORDINATOR, ADMIN)
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_schema(s.AuditEntrySchema))
@reads_only
def list_audit(args: dict[str, Any]) -> dict[str, Any]:
    """Administrative changes, newest first: who, what, target, before/after, when.

    Coordinators see the changes that concern their countries; admins see every change.
    """
    return audit.audit_page(db.session, current_principal(), limit=args["limit"], cursor=args["cursor"])
