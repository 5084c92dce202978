"""Public impact statements: the headline sentences of each country page, configured as data."""

from __future__ import annotations

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
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

    __table_args__ = (UniqueConstraint("country_code", "position"),)
