"""A country's public impact statements as a whole list (api.md v1.2 "Statements", issue 30 §2).

`GET`/`PUT /api/v1/countries/<code>/statements` and the dashboard's editor read and replace the
list here; the CLI (`flask --app server statements ...`) validates with the same `statement_errors`.
A new country gets `DEFAULT_STATEMENTS` (server/operations/admin.py `create_country`), so its public page shows
numbers as soon as records arrive instead of "No figures are published for this year."; that seeding is
recorded in the country's `create` audit entry (its `after.statements`), one entry for one act.

Functions add and flush; the request or CLI command commits. Every replacement is audited.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from server.aggregation.indicators import BY_CODE
from server.aggregation.query import QueryError, aggregate
from server.models import Country, ImpactStatement
from server.operations import audit
from server.operations.audit import Actor
from server.operations.public import statement_problems
from server.web.auth import Principal
from server.web.errors import ApiError, validation_error

TEXT_MAX = 300  # the text columns' length (server/models/public.py)
MAX_STATEMENTS = 20  # a country page is a handful of headlines, not a report

# One statement per headline indicator, over all of a new country's records (no filters: its
# population groups are not known yet), in English and Arabic. An indicator this build does not
# know (e.g. `people_trained` before the training record type) is left out.
DEFAULT_STATEMENTS: list[dict[str, Any]] = [
    {"indicator": "health_consultations", "filters": {},
     "text": "health consultations were provided in {year}",
     "text_ar": "استشارة صحية قُدّمت في عام {year}"},
    {"indicator": "hygiene_kit_recipients", "filters": {},
     "text": "people received hygiene kits in {year}",
     "text_ar": "شخصًا تلقّوا مستلزمات النظافة في عام {year}"},
    {"indicator": "people_reached_by_chws", "filters": {},
     "text": "people were reached by our community health workers in {year}",
     "text_ar": "شخصًا وصل إليهم عاملو الصحة المجتمعية لدينا في عام {year}"},
    {"indicator": "people_trained", "filters": {},
     "text": "health workers and volunteers were trained in {year}",
     "text_ar": "من العاملين الصحيين والمتطوعين تلقّوا تدريبًا في عام {year}"},
]


def default_statements() -> list[dict[str, Any]]:
    return [dict(statement) for statement in DEFAULT_STATEMENTS if statement["indicator"] in BY_CODE]


def statement_errors(session: Session, country: str, statement: Mapping[str, Any]) -> dict[str, list[str]]:
    """Why the public page could not publish this statement, by field (empty if it can): the page's
    own rules (server.operations.public.statement_problems) and a trial count over the filters, which names an
    unknown code, so a typo never reaches the website as a silently missing line."""
    indicator, filters = statement["indicator"], statement.get("filters") or {}
    text, text_ar = statement["text"], statement.get("text_ar")
    errors: dict[str, list[str]] = {}
    for problem in statement_problems(indicator, filters, text):
        field = ("indicator" if problem.startswith("unknown indicator") else
                 "filters" if "filter" in problem or "dimension" in problem else "text")
        errors.setdefault(field, []).append(problem)
    if len(text) > TEXT_MAX:
        errors.setdefault("text", []).append(f"the text is longer than {TEXT_MAX} characters")
    if text_ar is not None:
        for problem in statement_problems(indicator, {}, text_ar):
            if problem.startswith("the text"):
                errors.setdefault("text_ar", []).append(problem.replace("the text", "the Arabic text"))
        if len(text_ar) > TEXT_MAX:
            errors.setdefault("text_ar", []).append(f"the Arabic text is longer than {TEXT_MAX} characters")
    if not errors:
        try:
            aggregate(session, indicator, [], {**filters, "country": [country]}, date(2000, 1, 1), date(2000, 1, 31))
        except QueryError as error:
            for name, messages in error.fields.items():
                errors.setdefault(f"filters.{name}", []).extend(messages)
    return errors


def _country(session: Session, principal: Principal | None, code: str) -> str:
    canonical = code.strip().upper()
    if len(canonical) != 2 or session.get(Country, canonical) is None:
        raise ApiError(404, "not_found", f"Unknown country {code[:8]}.")
    if principal is not None:
        principal.require_country(canonical)
    return canonical


def _rows(session: Session, country: str) -> list[ImpactStatement]:
    return list(session.scalars(select(ImpactStatement).where(ImpactStatement.country_code == country)
                                .order_by(ImpactStatement.position)))


def _item(row: ImpactStatement) -> dict[str, Any]:
    return {"indicator": row.indicator, "filters": dict(row.filters or {}), "text": row.text, "text_ar": row.text_ar}


def statements_of(session: Session, principal: Principal | None, code: str) -> list[dict[str, Any]]:
    """The country's statements in page order."""
    return [_item(row) for row in _rows(session, _country(session, principal, code))]


def replace_statements(session: Session, principal: Principal | None, actor: Actor, code: str,
                       statements: list[Mapping[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """Replace the country's whole list (page order = list order); every problem is a 422 by
    `<index>.<field>`, and nothing changes unless every statement could be published."""
    country = _country(session, principal, code)
    before = statements_of(session, None, country)
    after = _store(session, country, statements)
    if after != before:
        audit.record(session, actor, action="update", target_type="statements", target_id=country,
                     countries=[country], before={"statements": before}, after={"statements": after}, now=now)
    return after


def seed_defaults(session: Session, code: str) -> list[dict[str, Any]]:
    """A new country's `DEFAULT_STATEMENTS`, validated as any list. Not audited here: the seeding is
    part of adding the country, and `create_country` records it in that one act's entry (api.md:
    every administrative act is audited once)."""
    return _store(session, _country(session, None, code), default_statements())


def _store(session: Session, country: str, statements: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Validate the whole list, then write it in place of the country's rows if it differs."""
    if len(statements) > MAX_STATEMENTS:
        raise validation_error({"_request": [f"At most {MAX_STATEMENTS} statements."]},
                               "The statements were not saved.")
    problems = {f"{index}.{field}": messages for index, statement in enumerate(statements)
                for field, messages in statement_errors(session, country, statement).items()}
    if problems:
        raise validation_error(problems, "The statements were not saved.")
    before = statements_of(session, None, country)
    after = [{"indicator": s["indicator"], "filters": dict(s.get("filters") or {}), "text": s["text"],
              "text_ar": s.get("text_ar") or None} for s in statements]
    if after == before:
        return after
    session.execute(delete(ImpactStatement).where(ImpactStatement.country_code == country))
    session.flush()  # the (country, position) unique constraint: old rows go before new ones come
    for position, statement in enumerate(after, start=1):
        session.add(ImpactStatement(country_code=country, position=position, **statement))
    session.flush()
    return after
