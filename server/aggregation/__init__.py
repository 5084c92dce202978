"""Aggregation: the indicator registry, rollups kept in step with every push, and the queries
that answer coordinators (and, later, the public page) from them.

Takes a SQLAlchemy session and returns plain data; knows nothing of HTTP.
"""
