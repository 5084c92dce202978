"""The wire codes of reference data and accounts (domain.md "Reference data", api.md "Accounts"):
plain constants, so the wire contract (`schemas/`) can validate them without importing the server."""

from __future__ import annotations

# Account roles, least to most privileged.
FIELD_WORKER = "field_worker"
COORDINATOR = "coordinator"
ADMIN = "admin"
ROLES = (FIELD_WORKER, COORDINATOR, ADMIN)

SITE_TYPES = ("community_centre", "detention_centre", "mobile_point", "disembarkation_point", "health_facility")
TEAM_TYPES = ("mobile_medical", "chw", "static_clinic", "rescue_at_sea")
ITEM_CATEGORIES = ("hygiene_kit", "dignity_kit", "nfi", "medicine")
