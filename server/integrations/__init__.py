"""Adapters onto the engine for other systems: OpenRosa (ODK Collect), DHIS2, webhooks."""
