"""The public impact page of a country (api.md "Public", domain.md "Public impact statements").

Plain functions over a session: `build_impact` computes a country's statements for a calendar
year from the rollups (through `aggregate`, so the cost follows the rollup cells, not the
records), applies disclosure control and stamps `as_of`; `render_json` / `render_html` turn it
into the exact bytes served, and `strong_etag` derives the validator from those bytes.

What is public is decided here, not by the statements' authors: a statement may filter only on
the dimensions in `PUBLIC_FILTERS` (never a site, team or device), the only breakdown is by area,
and every published count from 1 to 9 becomes `null` with `suppressed: true`; with `by=area`,
complementary suppression (server/aggregation/disclosure.py) keeps those areas from being worked
out from the total and the other areas.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from babel.dates import format_date
from babel.numbers import format_decimal
from flask_babel import force_locale, gettext
from jinja2 import Environment
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.http import parse_etags

from server.aggregation.disclosure import THRESHOLD, protect
from server.aggregation.indicators import BY_CODE
from server.aggregation.query import QueryError, aggregate
from server.models import Area, Country, ImpactStatement
from server.models.public import PublishedImpact
from server.persistence.seq import change_stamp
from server.persistence.timeutil import isoformat_z, utcnow
from server.web.compression import GZIP_ETAG_SUFFIX
from server.web.transactions import reading_only
from sync.record_types import DATA_DIMENSIONS

log = logging.getLogger(__name__)

# Counts from 1 to SUPPRESSED_BELOW - 1 are never published (domain.md); 0 is.
SUPPRESSED_BELOW = THRESHOLD
# Dimensions a statement may filter on. Not site, team or site_type (each can single out one
# place or team), nor country or a time dimension (the page sets those).
PUBLIC_FILTERS = tuple(DATA_DIMENSIONS)  # the person dimensions and every record type's own
YEAR_PLACEHOLDER = "{year}"
# The only braces a statement's text may contain are `{year}`'s: anything else is a typo.
_OTHER_BRACES = re.compile(r"[{}]")
_COUNTRY_CODE = re.compile(r"[A-Za-z]{2}")


class UnknownCountry(LookupError):
    """No country programme with this code."""


@dataclass(frozen=True)
class Impact:
    """A country's published statements for a year; `document()` is the api.md JSON shape."""

    country: str
    country_name: str
    year: int
    by: str | None
    as_of: datetime
    statements: list[dict[str, Any]] = field(default_factory=list)
    # Each statement's Arabic text (None: none set), for server.operations.public_i18n; not in the document.
    texts_ar: list[str | None] = field(default_factory=list)

    def document(self) -> dict[str, Any]:
        return {"country": self.country, "year": self.year, "as_of": isoformat_z(self.as_of),
                "statements": self.statements}


# --- the rules ----------------------------------------------------------------------------------


def country_code(raw: str) -> str | None:
    """The canonical (upper-case) code for a path segment, or None if it cannot be one.

    Codes are accepted in either case (a website may build URLs from lower-case slugs); anything
    that is not two ASCII letters is refused before it reaches the database.
    """
    return raw.upper() if _COUNTRY_CODE.fullmatch(raw) else None


def published_value(count: int) -> tuple[int | None, bool]:
    """(value, suppressed): a count of 1 to 9 is withheld, 0 and 10+ are published as they are."""
    if 0 < count < SUPPRESSED_BELOW:
        return None, True
    return count, False


def fill_year(text: str, year: int) -> str:
    # Not str.format: an admin's text must never be able to reach attributes through `{0.x}`.
    return text.replace(YEAR_PLACEHOLDER, str(year))


def statement_problems(indicator: str, filters: Mapping[str, Any], text: str) -> list[str]:
    """Why a statement could not be published (empty if it can). Values are checked by `aggregate`."""
    problems = []
    spec = BY_CODE.get(indicator)
    if spec is None:
        problems.append(f"unknown indicator {indicator!r} (known: {', '.join(BY_CODE)})")
    for name, values in filters.items():
        if name not in PUBLIC_FILTERS:
            problems.append(f"filter {name!r} is not allowed on a public statement "
                            f"(allowed: {', '.join(PUBLIC_FILTERS)})")
        elif spec is not None and name not in spec.dimensions:
            problems.append(f"indicator {indicator} has no dimension {name!r}")
        if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
            problems.append(f"filter {name!r} needs a non-empty list of codes")
    if not text.strip():
        problems.append("the text is empty")
    if _OTHER_BRACES.search(text.replace(YEAR_PLACEHOLDER, "")):
        problems.append("the text may contain no braces other than the {year} placeholder")
    return problems


# --- building the document -----------------------------------------------------------------------


def build_impact(session: Session, code: str, year: int, by: str | None = None, *,
                 writer: Session | None = None) -> Impact:
    """The country's statements for `year` (`by="area"` adds every area of the country).

    `session` may read a replica that lags; `writer` (default: `session`) records when the content was
    first published, which only the primary can.

    Raises UnknownCountry. A statement that cannot be computed (its filters name a code that was
    since deleted, say) is left out and logged, rather than taking the country's page down.
    An answer computed since the last change anywhere is reused: see `ImpactCache`.
    """
    # Everything but the publication time is read in `reading_only`: on SQLite a snapshot beside the
    # writers, instead of a turn at the write lock behind every push batch for each page a website asks.
    with reading_only(session):
        country = session.get(Country, code)
        if country is None:
            raise UnknownCountry(code)
        country_name = country.name
        rows = list(session.execute(select(ImpactStatement).where(ImpactStatement.country_code == code)
                                    .order_by(ImpactStatement.position)).scalars())
        key = (str(session.get_bind().engine.url), code, year, by)
        stamp = (change_stamp(session), tuple((r.id, r.position, r.indicator, _canonical(r.filters), r.text, r.text_ar)
                                             for r in rows))
        cached = CACHE.get(key, stamp)
        if cached is not None:
            return cached
        areas = None
        if by == "area":
            areas = [(row.id, row.name) for row in session.execute(
                select(Area.id, Area.name).where(Area.country_code == code).order_by(Area.name, Area.id))]
        statements = []
        texts_ar: list[str | None] = []
        for row in rows:
            statement = _statement(session, row, year, areas)
            if statement is not None:
                statements.append(statement)
                texts_ar.append(fill_year(row.text_ar, year) if row.text_ar else None)
    content: dict[str, Any] = {"country": code, "year": year, "by": by, "statements": statements}
    if any(texts_ar):  # an Arabic sentence is published too (only then: older pages keep their as_of)
        content["texts_ar"] = texts_ar
    as_of = _published_since(writer or session, code, year, by or "total", content)
    impact = Impact(code, country_name, year, by, as_of, statements, texts_ar)
    CACHE.put(key, stamp, impact)
    return impact


class ImpactCache:
    """Computed pages, per process, reused while the change stamp they were computed at holds.

    The stamp is `server.persistence.seq.change_stamp` (every record version, reference edit and bulk load takes
    a seq; the stamp differs after any such commit: the counter on SQLite, the snapshot on PostgreSQL) plus the
    statements themselves (edited without a seq). Distinct-people statements cost in proportion
    to the people of the year, so without this every request, a 304 included, would pay for
    them. What changes figures without a seq (`rollups rebuild` repairing drift, a database
    restored from backup) shows within `ttl` seconds.
    """

    def __init__(self, ttl: float = 60.0) -> None:
        self.ttl = ttl
        self._entries: dict[tuple[Any, ...], tuple[tuple[Any, ...], float, Impact]] = {}

    def get(self, key: tuple[Any, ...], stamp: tuple[Any, ...]) -> Impact | None:
        entry = self._entries.get(key)  # one dict operation: safe across a worker's threads
        if entry is None or entry[0] != stamp or time.monotonic() - entry[1] > self.ttl:
            return None
        return entry[2]

    def put(self, key: tuple[Any, ...], stamp: tuple[Any, ...], impact: Impact) -> None:
        self._entries[key] = (stamp, time.monotonic(), impact)

    def clear(self) -> None:
        self._entries.clear()


CACHE = ImpactCache()


def _statement(session: Session, row: ImpactStatement, year: int,
               areas: list[tuple[str, str]] | None) -> dict[str, Any] | None:
    if not isinstance(row.filters or {}, dict):
        log.error("impact statement %s of %s not published: filters are not a mapping", row.id, row.country_code)
        return None
    filters = dict(row.filters or {})
    problems = statement_problems(row.indicator, filters, row.text)
    if problems:
        log.error("impact statement %s of %s not published: %s", row.id, row.country_code, "; ".join(problems))
        return None
    try:
        result = aggregate(session, row.indicator, ["area"] if areas is not None else [],
                           {**filters, "country": [row.country_code]}, date(year, 1, 1), date(year, 12, 31))
    except QueryError as error:
        log.error("impact statement %s of %s not published: %s", row.id, row.country_code, error)
        return None
    value, suppressed = published_value(result.total)
    statement: dict[str, Any] = {"indicator": row.indicator, "value": value, "suppressed": suppressed,
                                 "text": fill_year(row.text, year)}
    if areas is not None:
        by_area = {r["area"]: r["value"] for r in result.rows}
        # Every area, 0s included, so the website's list does not change shape with the data.
        counts = [by_area.get(area_id, 0) for area_id, _ in areas]
        # Complementary suppression: no withheld area may be worked out from the total and the others.
        hidden = protect(result.total, counts).cells
        statement["areas"] = [{"area": area_id, "area_name": area_name, "value": None if hide else count,
                               "suppressed": hide}
                              for (area_id, area_name), count, hide in zip(areas, counts, hidden, strict=True)]
    return statement


def _published_since(session: Session, country: str, year: int, view: str, content: dict[str, Any]) -> datetime:
    """When this exact content was first published (now, if it is new); remembered per page.

    Concurrent first requests for new content race on one row: the upsert only replaces a row
    whose hash differs, so the loser (which waits for the winner's commit on PostgreSQL, or for
    the write lock on SQLite) keeps the winner's time and every worker serves the same bytes.
    """
    digest = hashlib.sha256(_canonical(content)).hexdigest()
    key = (PublishedImpact.country_code == country, PublishedImpact.year == year, PublishedImpact.view == view)
    with reading_only(session):  # most requests only find the content already published: no write lock
        stored = session.execute(select(PublishedImpact.content_hash, PublishedImpact.as_of).where(*key)).first()
    if stored is not None and stored.content_hash == digest:
        return stored.as_of
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    # Whole seconds: the wire shows seconds, and the stored value must equal what was shown.
    now = utcnow().replace(microsecond=0)
    statement = insert(PublishedImpact).values(country_code=country, year=year, view=view, content_hash=digest,
                                               as_of=now)
    statement = statement.on_conflict_do_update(
        index_elements=["country_code", "year", "view"],
        set_={"content_hash": statement.excluded.content_hash, "as_of": statement.excluded.as_of},
        where=PublishedImpact.content_hash != statement.excluded.content_hash,
    )
    session.execute(statement)
    return session.execute(select(PublishedImpact.as_of).where(*key)).scalar_one()


def _canonical(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")


# --- representations and validators ------------------------------------------------------------


def render_json(impact: Impact) -> bytes:
    # Fixed key order and separators: equal content always gives equal bytes, in every worker.
    return json.dumps(impact.document(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def strong_etag(body: bytes) -> str:
    """A strong validator: it changes whenever a byte of the representation changes."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """If-None-Match (weak comparison, RFC 9110 13.1.2) against this representation's tag, also
    accepting the tag compression.py gives its gzipped form: either one means the client holds
    the current figures."""
    if not if_none_match:
        return False
    tags = parse_etags(if_none_match)
    plain = etag.strip('"')
    return tags.contains_weak(plain) or tags.contains_weak(plain + GZIP_ETAG_SUFFIX)


_STYLE = """
:root{color-scheme:light;font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif}
body{margin:0;padding:1rem;color:#1a1a1a;background:#fff;line-height:1.4}
h1{font-size:1.1rem;margin:0 0 .75rem}
ul{list-style:none;margin:0;padding:0}
.statement{margin:0 0 1rem}
.value{display:block;font-size:2.25rem;font-weight:700;line-height:1.1;color:#0b4f8a}
.value.suppressed{font-size:1.5rem}
.areas{margin:.4rem 0 0;font-size:.95rem}
.areas li{display:flex;justify-content:space-between;max-width:22rem;border-bottom:1px solid #d0d0d0}
.note{font-size:.85rem;color:#4a4a4a;margin:.5rem 0 0}
""".strip()
# The page carries its own CSP: nothing but this very stylesheet may load, and any site may frame it.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'sha256-" + base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
    + "'; base-uri 'none'; form-action 'none'; frame-ancestors *"
)

_TEMPLATE = Environment(autoescape=True, keep_trailing_newline=True).from_string("""<!doctype html>
<html lang="{{ lang }}"{% if dir == "rtl" %} dir="rtl"{% endif %}>
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>{{ style }}</style>
</head>
<body>
<main>
<h1>{{ title }}</h1>
<ul>
{%- for s in statements %}
<li class="statement"><span class="value{{ ' suppressed' if s.suppressed }}">{{ s.shown }}</span> {{ s.text }}
{%- if s.areas %}
<ul class="areas" aria-label="{{ by_area }}">
{%- for a in s.areas %}
<li><span>{{ a.area_name }}</span> <span>{{ a.shown }}</span></li>
{%- endfor %}
</ul>
{%- endif %}
</li>
{%- else %}
<li>{{ no_figures }}</li>
{%- endfor %}
</ul>
<p class="note">{{ as_of_label }} <time datetime="{{ as_of_iso }}">{{ as_of_text }}</time>.
{{ suppression_note }}
{%- if area_note %}
{{ area_note }}
{%- endif %}</p>
</main>
</body>
</html>
""")


# Not strftime("%B"): that follows the server's locale, and the bytes must not.
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")


def shown(value: int | None, language: str = "en") -> str:
    return gettext("fewer than 10") if value is None else format_decimal(value, locale=language)


def _area_shown(value: int | None, language: str) -> str:
    # A suppressed area may hold any count: it is withheld either because it is under 10 or because it
    # would give such an area away (complementary suppression), and the page must not say which.
    return gettext("not shown") if value is None else format_decimal(value, locale=language)


def render_html(impact: Impact, language: str = "en") -> bytes:
    """A small self-contained page for an <iframe>: inline CSS, no script, no external asset.

    In `language` (en or ar: `dir="rtl"`); `impact` is already localised (server.operations.public_i18n).
    """
    with force_locale(language):
        statements = [{**s, "shown": shown(s["value"], language),
                       "areas": [{**a, "shown": _area_shown(a["value"], language)} for a in s.get("areas", [])]}
                      for s in impact.statements]
        if language == "en":  # the English date as before; other languages from CLDR
            as_of_text = f"{impact.as_of.day} {_MONTHS[impact.as_of.month - 1]} {impact.as_of.year}"
        else:
            as_of_text = format_date(impact.as_of, "d MMMM y", locale=language)
        html = _TEMPLATE.render(
            lang=language, dir="rtl" if language == "ar" else "ltr",
            title=gettext("Our impact in %(country)s in %(year)s", country=impact.country_name,
                          year=str(impact.year)),
            style=Markup(_STYLE), statements=statements, as_of_iso=isoformat_z(impact.as_of), as_of_text=as_of_text,
            by_area=gettext("By area"), no_figures=gettext("No figures are published for this year."),
            as_of_label=gettext("Figures as of"),
            suppression_note=gettext("Counts from 1 to 9 are shown as “fewer than 10” to protect the people we "
                                     "serve."),
            # Only when an area is in fact withheld: a page whose areas are all shown says nothing of hiding.
            area_note=gettext("Some area figures are not shown, so that small counts cannot be worked out from "
                              "the others.") if any(a["value"] is None for s in impact.statements
                                                    for a in s.get("areas", [])) else "",
        )
    return html.encode("utf-8")
