"""Reference data: server-owned, pulled by tablets (domain.md "Reference data").

Every row carries `seq`, taken from the single server counter (server/persistence/seq.py) whenever it is
created or changed, so the `reference` pull stream sees edits in commit order.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, ForeignKey, String, Table
from sqlalchemy import true as sa_true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.extensions import db

team_sites = Table(
    "team_sites",
    db.metadata,
    Column("team_id", String(64), ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
    Column("site_id", String(64), ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
)


class Country(db.Model):
    __tablename__ = "countries"
    code: Mapped[str] = mapped_column(String(2), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    name_ar: Mapped[str | None] = mapped_column(String(100))  # Arabic name (dashboard and public page)
    seq: Mapped[int] = mapped_column(BigInteger, index=True)


class Area(db.Model):
    __tablename__ = "areas"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    country_code: Mapped[str] = mapped_column(ForeignKey("countries.code"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    name_ar: Mapped[str | None] = mapped_column(String(100))
    pcode: Mapped[str | None] = mapped_column(String(20))
    seq: Mapped[int] = mapped_column(BigInteger, index=True)


class Site(db.Model):
    __tablename__ = "sites"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    area_id: Mapped[str] = mapped_column(ForeignKey("areas.id"), index=True)
    name: Mapped[str] = mapped_column(String(150))
    name_ar: Mapped[str | None] = mapped_column(String(150))
    site_type: Mapped[str] = mapped_column(String(30))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    seq: Mapped[int] = mapped_column(BigInteger, index=True)

    area: Mapped[Area] = relationship()


class Team(db.Model):
    __tablename__ = "teams"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    country_code: Mapped[str] = mapped_column(ForeignKey("countries.code"), index=True)
    name: Mapped[str] = mapped_column(String(150))
    name_ar: Mapped[str | None] = mapped_column(String(150))
    team_type: Mapped[str] = mapped_column(String(30))
    # A deactivated team reaches tablets as `remove`; its records stay counted.
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sa_true())
    seq: Mapped[int] = mapped_column(BigInteger, index=True)

    sites: Mapped[list[Site]] = relationship(secondary=team_sites, order_by=Site.id)

    @property
    def site_ids(self) -> list[str]:
        return [site.id for site in self.sites]


class Item(db.Model):
    __tablename__ = "items"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(150))
    name_ar: Mapped[str | None] = mapped_column(String(150))
    category: Mapped[str] = mapped_column(String(30))
    seq: Mapped[int] = mapped_column(BigInteger, index=True)


class Service(db.Model):
    __tablename__ = "services"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(150))
    name_ar: Mapped[str | None] = mapped_column(String(150))
    seq: Mapped[int] = mapped_column(BigInteger, index=True)


class ReferenceTombstone(db.Model):
    """A deleted (or deactivated) reference row, so tablets receive `op: remove`."""

    __tablename__ = "reference_tombstones"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    entity: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(String(64))
    country_code: Mapped[str | None] = mapped_column(String(2), index=True)
    seq: Mapped[int] = mapped_column(BigInteger, index=True)
