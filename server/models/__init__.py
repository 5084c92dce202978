"""SQLAlchemy models, one module per area. Importing this package registers every table."""

from server.models.accounts import ApiToken, AuthFailure, Device, EnrollmentCode, User, UserCountry
from server.models.audit import AuditEntry, audit_countries
from server.models.instance import InstanceSecret
from server.models.openrosa import OpenRosaAttachment, OpenRosaSubmission
from server.models.public import ImpactStatement
from server.models.records import Record, RecordRevision
from server.models.reference import Area, Country, Item, ReferenceTombstone, Service, Site, Team, team_sites
from server.models.rollups import RollupCell, RollupDistinctCell, RollupPersonFact, RollupPersonFirst
from server.models.sync import AppliedOp, Conflict, QuarantinedMutation, SeqCounter, SyncBatch
from server.models.webhooks import Webhook, WebhookChange, WebhookEvent

__all__ = [
    "ApiToken",
    "AppliedOp",
    "Area",
    "AuditEntry",
    "AuthFailure",
    "Conflict",
    "Country",
    "Device",
    "EnrollmentCode",
    "ImpactStatement",
    "InstanceSecret",
    "OpenRosaAttachment",
    "OpenRosaSubmission",
    "Item",
    "QuarantinedMutation",
    "Record",
    "RecordRevision",
    "ReferenceTombstone",
    "RollupCell",
    "RollupDistinctCell",
    "RollupPersonFact",
    "RollupPersonFirst",
    "SeqCounter",
    "Service",
    "Site",
    "SyncBatch",
    "Team",
    "User",
    "UserCountry",
    "Webhook",
    "WebhookChange",
    "WebhookEvent",
    "audit_countries",
    "team_sites",
]
