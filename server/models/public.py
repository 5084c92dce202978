"""Public impact statements: the headline sentences of each country page, configured as data."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.extensions import db


class ImpactStatement(db.Model):
    __tablename__ = "impact_statements"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    country_code: Mapped[str] = mapped_column(ForeignKey("countries.code"), index=True)
    position: Mapped[int] = mapped_column()
    indicator: Mapped[str] = mapped_column(String(64))
    # Filters as {dimension: [codes]}, e.g. {"population_group": ["refugee", "migrant"]}.
    filters: Mapped[dict] = mapped_column(JSON, default=dict)
    text: Mapped[str] = mapped_column(String(300))
    text_ar: Mapped[str | None] = mapped_column(String(300))  # the Arabic sentence; English when absent

    __table_args__ = (UniqueConstraint("country_code", "position"),)


class PublishedImpact(db.Model):
    """What the public page of a country and year last published, and since when.

    `as_of` must change exactly when a published number or sentence changes (it is part of the
    document, so of its strong ETag), and no record or rollup timestamp can tell that: a push
    outside every statement's filters, or a suppressed count going from 3 to 4, changes the data
    but not the page. So the server remembers a hash of each published content and the time it
    first served it.
    """

    __tablename__ = "published_impacts"
    country_code: Mapped[str] = mapped_column(ForeignKey("countries.code"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    view: Mapped[str] = mapped_column(String(10), primary_key=True)  # "total" | "area"
    content_hash: Mapped[str] = mapped_column(String(64))
    as_of: Mapped[datetime] = mapped_column(DateTime)
