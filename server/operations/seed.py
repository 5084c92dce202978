"""Demo reference data: the Libya country programme (`flask --app server seed-demo`).

Identifiers are stable slugs so that running the command twice changes nothing and so that
coordinators can name a team on the command line (`create-user --team ly-mmt-tripoli`).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Area, Country, ImpactStatement, Item, Service, Site, Team
from server.operations.reference import set_team_sites, upsert

AREAS = ["Tripoli", "Benghazi", "Misrata", "Sabha", "Khoms", "Kufra", "Zawiya"]
# Arabic names, for the Arabic dashboard and public page (issue 15).
COUNTRY_NAME_AR = "ليبيا"
AREA_NAMES_AR = {"Tripoli": "طرابلس", "Benghazi": "بنغازي", "Misrata": "مصراتة", "Sabha": "سبها", "Khoms": "الخمس",
                 "Kufra": "الكفرة", "Zawiya": "الزاوية"}

# (id, area, name, site_type)
SITES = [
    ("ly-cdc-tripoli-1", "Tripoli", "Community Development Centre 1, Tripoli", "community_centre"),
    ("ly-cdc-tripoli-2", "Tripoli", "Community Development Centre 2, Tripoli", "community_centre"),
    *[(f"ly-dc-{city.lower()}", city, f"Detention centre, {city}", "detention_centre")
      for city in ["Khoms", "Kufra", "Misrata", "Sabha", "Tripoli", "Zawiya"]],
    ("ly-dp-tripoli", "Tripoli", "Disembarkation point, Tripoli", "disembarkation_point"),
    *[(f"ly-mp-{city.lower()}", city, f"Mobile point for displaced people, {city}", "mobile_point")
      for city in ["Benghazi", "Misrata", "Sabha", "Tripoli"]],
]

# (id, name, team_type, site ids)
TEAMS = [
    *[(f"ly-mmt-{city.lower()}", f"Mobile medical team {city}", "mobile_medical", [f"ly-mp-{city.lower()}"])
      for city in ["Benghazi", "Misrata", "Sabha", "Tripoli"]],
    *[(f"ly-dcmt-{city.lower()}", f"Detention centre medical team {city}", "mobile_medical", [f"ly-dc-{city.lower()}"])
      for city in ["Khoms", "Kufra", "Misrata", "Sabha", "Tripoli", "Zawiya"]],
    ("ly-cdc-tripoli", "Community development centres Tripoli", "static_clinic",
     ["ly-cdc-tripoli-1", "ly-cdc-tripoli-2"]),
    ("ly-chw-tripoli", "Community health workers Tripoli", "chw",
     ["ly-cdc-tripoli-1", "ly-cdc-tripoli-2", "ly-mp-tripoli"]),
    ("ly-chw-benghazi", "Community health workers Benghazi", "chw", ["ly-mp-benghazi"]),
    ("ly-ras", "Rescue-at-sea support", "rescue_at_sea", ["ly-dp-tripoli"]),
]

ITEMS = [
    ("hk-family", "Hygiene kit (family)", "hygiene_kit"),
    ("hk-individual", "Hygiene kit (individual)", "hygiene_kit"),
    ("dk-standard", "Dignity kit", "dignity_kit"),
    ("blanket", "Blanket", "nfi"),
    ("mattress", "Mattress", "nfi"),
    ("jerrycan", "Jerrycan", "nfi"),
]

SERVICES = [
    ("general", "General health care"),
    ("mhpss", "Mental health and psychosocial support"),
    ("srh", "Sexual and reproductive health"),
    ("gbv", "Gender-based violence response"),
    ("ncd", "Non-communicable diseases"),
    ("trauma", "Trauma care"),
    ("vaccination", "Vaccination"),
]

# Arabic names of the sites, teams, items and services (issue 30 §5): the Arabic dashboard, tablets
# (`name_ar` in the reference stream) and ODK Collect's choice lists (server/integrations/openrosa/media.py).
SITE_NAMES_AR = {
    "ly-cdc-tripoli-1": "مركز التنمية المجتمعية 1، طرابلس",
    "ly-cdc-tripoli-2": "مركز التنمية المجتمعية 2، طرابلس",
    **{f"ly-dc-{city.lower()}": f"مركز الاحتجاز، {AREA_NAMES_AR[city]}"
       for city in ["Khoms", "Kufra", "Misrata", "Sabha", "Tripoli", "Zawiya"]},
    "ly-dp-tripoli": "نقطة الإنزال، طرابلس",
    **{f"ly-mp-{city.lower()}": f"نقطة متنقلة للنازحين، {AREA_NAMES_AR[city]}"
       for city in ["Benghazi", "Misrata", "Sabha", "Tripoli"]},
}
TEAM_NAMES_AR = {
    **{f"ly-mmt-{city.lower()}": f"الفريق الطبي المتنقل في {AREA_NAMES_AR[city]}"
       for city in ["Benghazi", "Misrata", "Sabha", "Tripoli"]},
    **{f"ly-dcmt-{city.lower()}": f"الفريق الطبي لمركز الاحتجاز في {AREA_NAMES_AR[city]}"
       for city in ["Khoms", "Kufra", "Misrata", "Sabha", "Tripoli", "Zawiya"]},
    "ly-cdc-tripoli": "مراكز التنمية المجتمعية في طرابلس",
    "ly-chw-tripoli": "عاملو الصحة المجتمعية في طرابلس",
    "ly-chw-benghazi": "عاملو الصحة المجتمعية في بنغازي",
    "ly-ras": "دعم الإنقاذ في البحر",
}
ITEM_NAMES_AR = {
    "hk-family": "حقيبة نظافة (للأسرة)",
    "hk-individual": "حقيبة نظافة (فردية)",
    "dk-standard": "حقيبة الكرامة",
    "blanket": "بطانية",
    "mattress": "مرتبة",
    "jerrycan": "جركن مياه",
}
SERVICE_NAMES_AR = {
    "general": "الرعاية الصحية العامة",
    "mhpss": "الصحة النفسية والدعم النفسي الاجتماعي",
    "srh": "الصحة الجنسية والإنجابية",
    "gbv": "الاستجابة للعنف القائم على النوع الاجتماعي",
    "ncd": "الأمراض غير السارية",
    "trauma": "رعاية الإصابات",
    "vaccination": "التطعيم",
}

# (indicator, filters, text) for the public country page (domain.md "Public impact statements").
STATEMENTS = [
    ("health_consultations", {"population_group": ["refugee", "asylum_seeker", "migrant", "idp"]},
     "health consultations were provided to refugees, migrants, and IDPs in {year}"),
    ("hygiene_kit_recipients", {"population_group": ["refugee", "asylum_seeker", "migrant"]},
     "refugees, asylum seekers and migrants received hygiene kits"),
    ("people_reached_by_chws", {}, "people were reached by our community health workers in {year}"),
    ("people_trained", {"participant_type": ["moh_staff"], "topic": ["srh", "mhpss"]},
     "Ministry of Health staff were trained in reproductive health and mental health and psychosocial support "
     "in {year}"),
]
# The same sentences in Arabic, by position.
STATEMENTS_AR = [
    "استشارة صحية قُدّمت للاجئين والمهاجرين والنازحين داخليًا في عام {year}",
    "من اللاجئين وطالبي اللجوء والمهاجرين تلقّوا مستلزمات النظافة",
    "شخصًا وصل إليهم عاملو الصحة المجتمعية لدينا في عام {year}",
    "من موظفي وزارة الصحة تلقّوا تدريبًا في الصحة الإنجابية والصحة النفسية والدعم النفسي الاجتماعي في عام {year}",
]


def area_id(name: str) -> str:
    return f"ly-{name.lower()}"


def seed_demo(session: Session) -> int:
    """Load the Libya programme; returns how many rows were created or changed."""
    changes = 0

    def count(result: tuple[object, bool]) -> None:
        nonlocal changes
        changes += int(result[1])

    count(upsert(session, Country, "LY", code="LY", name="Libya", name_ar=COUNTRY_NAME_AR))
    for name in AREAS:
        count(upsert(session, Area, area_id(name), id=area_id(name), country_code="LY", name=name,
                     name_ar=AREA_NAMES_AR[name], pcode=None))
    for site_id, area, name, site_type in SITES:
        count(upsert(session, Site, site_id, id=site_id, area_id=area_id(area), name=name,
                     name_ar=SITE_NAMES_AR[site_id], site_type=site_type, active=True))
    for team_id, name, team_type, site_ids in TEAMS:
        team, changed = upsert(session, Team, team_id, id=team_id, country_code="LY", name=name,
                               name_ar=TEAM_NAMES_AR[team_id], team_type=team_type)
        changes += int(changed) + int(set_team_sites(session, team, site_ids))
    for code, name, category in ITEMS:
        count(upsert(session, Item, code, code=code, name=name, name_ar=ITEM_NAMES_AR[code], category=category))
    for code, name in SERVICES:
        count(upsert(session, Service, code, code=code, name=name, name_ar=SERVICE_NAMES_AR[code]))
    changes += seed_statements(session, "LY", STATEMENTS)
    return changes


def seed_statements(session: Session, country: str, statements: list[tuple[str, dict, str]]) -> int:
    """Give a country its default statements unless it has some: admins may have edited them."""
    if session.scalar(select(ImpactStatement.id).where(ImpactStatement.country_code == country).limit(1)):
        return 0
    for position, (indicator, filters, text) in enumerate(statements, start=1):
        text_ar = STATEMENTS_AR[position - 1] if statements is STATEMENTS and position <= len(STATEMENTS_AR) else None
        session.add(ImpactStatement(country_code=country, position=position, indicator=indicator,
                                    filters=filters, text=text, text_ar=text_ar))
    session.flush()
    return len(statements)


def database_is_empty(session: Session) -> bool:
    return session.scalar(select(Country.code).limit(1)) is None
