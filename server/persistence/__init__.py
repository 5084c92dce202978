"""Persistence: the store, the unit of work, seqs, pagination, caches, replica routing and the
change events the unit of work publishes."""
