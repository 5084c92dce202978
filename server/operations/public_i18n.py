"""The public impact page in the reader's language (issue 15): Arabic statement texts, country and
area names, for the JSON `text` and for impact.html.

Applied after `server.operations.public.build_impact` (whose cached, language-neutral result and `as_of` stay
as they are), so suppression and publication rules are decided once, whatever the language.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Area, Country
from server.operations.public import Impact


def localize(session: Session, impact: Impact, language: str) -> Impact:
    """The impact with texts and names in `language`; English (the stored text) where none is set."""
    if language != "ar":
        return impact
    country = session.get(Country, impact.country)
    area_names: dict[str, str] = {}
    if impact.by == "area":
        area_names = {area_id: name_ar for area_id, name_ar in session.execute(
            select(Area.id, Area.name_ar).where(Area.country_code == impact.country, Area.name_ar.is_not(None)))}
    statements = []
    for index, statement in enumerate(impact.statements):
        text_ar = impact.texts_ar[index] if index < len(impact.texts_ar) else None
        localized = {**statement, "text": text_ar or statement["text"]}
        if "areas" in statement:
            localized["areas"] = [{**area, "area_name": area_names.get(area["area"], area["area_name"])}
                                  for area in statement["areas"]]
        statements.append(localized)
    name = country.name_ar if country is not None and country.name_ar else impact.country_name
    return replace(impact, country_name=name, statements=statements)
