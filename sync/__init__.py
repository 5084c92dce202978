"""The Fieldsync sync engine: plain Python, standard library only.

It knows the push rules, batch idempotency and pull cursors, and touches
storage only through :class:`sync.store.RecordStore`, so it runs the same
against the in-memory store used in tests and the SQL store of the server.
"""
