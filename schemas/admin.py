"""Wire contract of the administration endpoints (reference data, users, audit; api.md v1.1).

Request schemas refuse unknown fields, bound every string and check codes against the domain's
enumerations, so every bad field is a 422 naming it before anything is written. `PATCH` bodies
carry only the fields to change; `name_ar: null` clears an Arabic name.
"""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from schemas.accounts import NO_CONTROL_CHARACTERS, UtcDateTime
from schemas.pagination import PageArgsSchema
from sync.codes import ITEM_CATEGORIES, ROLES, SITE_TYPES, TEAM_TYPES

# Ids travel in URLs and on tablets: letters, digits, '.', '_', '-'; no spaces or slashes.
ID_PATTERN = r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z"
_ID = validate.Regexp(ID_PATTERN, error="Use 1 to 64 characters: letters, digits, '.', '_' or '-', "
                                        "starting with a letter or digit.")
_NO_CONTROL = NO_CONTROL_CHARACTERS
_COUNTRY = validate.Regexp(r"\A[A-Za-z]{2}\Z", error="Use a two-letter ISO 3166-1 code, e.g. LY.")


def _id(**kwargs: Any) -> fields.String:
    return fields.String(validate=[_ID], **kwargs)


def _name(max_length: int, **kwargs: Any) -> fields.String:
    return fields.String(validate=[validate.Length(min=1, max=max_length), _NO_CONTROL], **kwargs)


def _name_ar(max_length: int) -> fields.String:
    return fields.String(allow_none=True, validate=[validate.Length(min=1, max=max_length), _NO_CONTROL],
                         metadata={"description": "the Arabic name; null or absent: the English one is shown"})


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class _Patch(_Strict):
    @validates_schema
    def _something(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not data:
            raise ValidationError("Give at least one field to change.", "_request")


# --- countries ---------------------------------------------------------------------------------
class CountrySchema(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    name_ar = fields.String(allow_none=True)


class CountryCreateSchema(_Strict):
    code = fields.String(required=True, validate=_COUNTRY, metadata={"description": "ISO 3166-1 alpha-2"})
    name = _name(100, required=True)
    name_ar = _name_ar(100)


class CountryPatchSchema(_Patch):
    name = _name(100)
    name_ar = _name_ar(100)


class CountryFilterSchema(PageArgsSchema):
    country = fields.String(load_default=None, validate=_COUNTRY,
                            metadata={"description": "only this country (default: every country in scope)"})


# --- areas -------------------------------------------------------------------------------------
class AreaSchema(Schema):
    id = fields.String(required=True)
    country = fields.String(required=True)
    name = fields.String(required=True)
    name_ar = fields.String(allow_none=True)
    pcode = fields.String(allow_none=True)


class AreaCreateSchema(_Strict):
    id = _id(required=True)
    country = fields.String(required=True, validate=_COUNTRY)
    name = _name(100, required=True)
    name_ar = _name_ar(100)
    pcode = fields.String(allow_none=True, validate=[validate.Length(min=1, max=20), _NO_CONTROL],
                          metadata={"description": "OCHA P-code"})


class AreaPatchSchema(_Patch):
    name = _name(100)
    name_ar = _name_ar(100)
    pcode = fields.String(allow_none=True, validate=[validate.Length(min=1, max=20), _NO_CONTROL])


# --- sites -------------------------------------------------------------------------------------
class SiteSchema(Schema):
    id = fields.String(required=True)
    area_id = fields.String(required=True)
    country = fields.String(required=True)
    name = fields.String(required=True)
    name_ar = fields.String(allow_none=True)
    site_type = fields.String(required=True)
    active = fields.Boolean(required=True)


class SiteCreateSchema(_Strict):
    id = _id(required=True)
    area_id = _id(required=True)
    name = _name(150, required=True)
    name_ar = _name_ar(150)
    site_type = fields.String(required=True, validate=validate.OneOf(SITE_TYPES))


class SitePatchSchema(_Patch):
    area_id = _id(metadata={"description": "another area of the same country"})
    name = _name(150)
    name_ar = _name_ar(150)
    site_type = fields.String(validate=validate.OneOf(SITE_TYPES))


# --- teams -------------------------------------------------------------------------------------
class AdminTeamSchema(Schema):
    id = fields.String(required=True)
    country = fields.String(required=True)
    name = fields.String(required=True)
    name_ar = fields.String(allow_none=True)
    team_type = fields.String(required=True)
    site_ids = fields.List(fields.String(), required=True)
    active = fields.Boolean(required=True)


class TeamCreateSchema(_Strict):
    id = _id(required=True)
    country = fields.String(required=True, validate=_COUNTRY)
    name = _name(150, required=True)
    name_ar = _name_ar(150)
    team_type = fields.String(required=True, validate=validate.OneOf(TEAM_TYPES))
    site_ids = fields.List(_id(), load_default=list, validate=validate.Length(max=500),
                           metadata={"description": "the sites where the team records"})


class TeamPatchSchema(_Patch):
    name = _name(150)
    name_ar = _name_ar(150)
    team_type = fields.String(validate=validate.OneOf(TEAM_TYPES))
    site_ids = fields.List(_id(), validate=validate.Length(max=500),
                           metadata={"description": "all the team's sites (replaces the list)"})


# --- items and services ------------------------------------------------------------------------
class ItemSchema(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    name_ar = fields.String(allow_none=True)
    category = fields.String(required=True)


class ItemCreateSchema(_Strict):
    code = _id(required=True)
    name = _name(150, required=True)
    name_ar = _name_ar(150)
    category = fields.String(required=True, validate=validate.OneOf(ITEM_CATEGORIES))


class ItemPatchSchema(_Patch):
    name = _name(150)
    name_ar = _name_ar(150)
    category = fields.String(validate=validate.OneOf(ITEM_CATEGORIES))


class ServiceSchema(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    name_ar = fields.String(allow_none=True)


class ServiceCreateSchema(_Strict):
    code = _id(required=True)
    name = _name(150, required=True)
    name_ar = _name_ar(150)


class ServicePatchSchema(_Patch):
    name = _name(150)
    name_ar = _name_ar(150)


# --- users -------------------------------------------------------------------------------------
class UserSchema(Schema):
    username = fields.String(required=True)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    countries = fields.List(fields.String(), required=True)
    team_id = fields.String(allow_none=True)
    active = fields.Boolean(required=True)
    locked = fields.Boolean(required=True, metadata={"description": "too many failed logins right now"})
    created_at = UtcDateTime(required=True)


class UserCreateSchema(_Strict):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    countries = fields.List(fields.String(validate=_COUNTRY), load_default=list, validate=validate.Length(max=300))
    team_id = _id(load_default=None, allow_none=True, metadata={"description": "field workers: their team"})
    password = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=1024))


class UserPatchSchema(_Patch):
    role = fields.String(validate=validate.OneOf(ROLES))
    countries = fields.List(fields.String(validate=_COUNTRY), validate=validate.Length(max=300),
                            metadata={"description": "replaces the list"})
    team_id = _id(allow_none=True, metadata={"description": "field workers: their team; moving them to another "
                                                             "team revokes their tablets of the old one"})


class PasswordSchema(_Strict):
    password = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=1024))


class UnlockResultSchema(Schema):
    username = fields.String(required=True)
    failures_cleared = fields.Integer(required=True)


# --- public statements -------------------------------------------------------------------------
class StatementEditSchema(_Strict):
    indicator = fields.String(required=True, validate=validate.Length(min=1, max=64),
                              metadata={"description": "an indicator code, e.g. health_consultations"})
    filters = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=64)),
                          values=fields.List(fields.String(validate=validate.Length(min=1, max=64)),
                                             validate=validate.Length(min=1, max=50)),
                          load_default=dict, validate=validate.Length(max=10),
                          metadata={"description": "{dimension: [codes]}; the page adds country and year"})
    text = fields.String(required=True, validate=[validate.Length(min=1, max=300), _NO_CONTROL],
                         metadata={"description": "the sentence after the number; `{year}` is replaced by the year"})
    text_ar = fields.String(load_default=None, allow_none=True, validate=[validate.Length(min=1, max=300), _NO_CONTROL],
                            metadata={"description": "the Arabic sentence; null: the English one is shown"})


# --- audit -------------------------------------------------------------------------------------
class AuditEntrySchema(Schema):
    id = fields.Integer(required=True)
    at = UtcDateTime(required=True)
    actor = fields.String(required=True, metadata={"description": "username, or `cli` for the server's shell"})
    action = fields.String(required=True, metadata={"description": "create, update, deactivate, activate, "
                                                                   "reset_password, unlock, enroll, revoke"})
    target_type = fields.String(required=True)
    target_id = fields.String(required=True)
    countries = fields.List(fields.String(), required=True)
    before = fields.Dict(allow_none=True)
    after = fields.Dict(allow_none=True)
