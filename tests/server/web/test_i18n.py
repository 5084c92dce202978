"""English and Arabic (issue 15): the public JSON `text` and impact.html, chosen by `?lang=` or
Accept-Language; Arabic names and statements; numbers formatted for the locale; a complete catalogue."""

from __future__ import annotations

import io
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from flask.testing import FlaskClient

from server.operations.public import CACHE
from server.operations.seed import STATEMENTS_AR
from tests.server.operations.test_public import consultations, fresh_cache, push, tripoli  # noqa: F401  (fixtures)

ROOT = Path(__file__).resolve().parents[3]
JSON = "/public/v1/countries/LY/impact?year=2016"
HTML = "/public/v1/countries/LY/impact.html?year=2016"


def push_many(client: FlaskClient, device, count: int) -> None:  # type: ignore[no-untyped-def]
    while count > 0:  # a batch holds at most 500 mutations
        push(client, device, consultations(device, min(count, 500)))
        count -= 500


def test_public_json_text_follows_lang_then_accept_language(client: FlaskClient, tripoli) -> None:  # noqa: F811
    push_many(client, tripoli, 1012)
    english = client.get(JSON)
    arabic = client.get(JSON + "&lang=ar")
    by_header = client.get(JSON, headers={"Accept-Language": "ar-LY, ar;q=0.9, en;q=0.5"})

    assert english.get_json()["statements"][0]["text"].startswith("health consultations were provided")
    assert arabic.get_json()["statements"][0]["text"] == STATEMENTS_AR[0].replace("{year}", "2016")
    assert by_header.get_json() == arabic.get_json()
    assert client.get(JSON + "&lang=en", headers={"Accept-Language": "ar"}).get_json() == english.get_json()
    # The numbers and as_of are the language-neutral part: identical.
    values = [statement["value"] for statement in english.get_json()["statements"]]
    assert [statement["value"] for statement in arabic.get_json()["statements"]] == values
    assert arabic.get_json()["as_of"] == english.get_json()["as_of"]
    assert "Accept-Language" in english.headers["Vary"]
    assert english.headers["ETag"] != arabic.headers["ETag"]
    assert client.get(JSON + "&lang=fr").status_code == 422  # a language we do not have is named


def test_impact_html_in_arabic_is_rtl_with_arabic_names_and_locale_numbers(client: FlaskClient,
                                                                         tripoli) -> None:  # noqa: F811
    push_many(client, tripoli, 1012)
    CACHE.clear()
    page = client.get(HTML + "&by=area&lang=ar").get_data(as_text=True)

    assert '<html lang="ar" dir="rtl">' in page
    assert "<title>أثرنا في ليبيا في عام 2016</title>" in page
    assert "<span>طرابلس</span> <span>1,012</span>" in page  # Babel's format_decimal for "ar" (Latin digits)
    assert "أقل من 10" in page or "0</span>" in page
    assert "الأرقام حتى" in page
    english = client.get(HTML + "&by=area").get_data(as_text=True)
    assert '<html lang="en">' in english and "dir=" not in english  # the English page is as before
    assert "<span>Tripoli</span> <span>1,012</span>" in english


def test_an_arabic_name_falls_back_to_english_where_none_is_set(client: FlaskClient, session) -> None:
    from server.models import Area

    session.get(Area, "ly-kufra").name_ar = None
    session.commit()
    page = client.get(HTML + "&by=area&lang=ar").get_data(as_text=True)
    assert "<span>Kufra</span>" in page and "<span>طرابلس</span>" in page


def test_the_arabic_catalogue_translates_every_extracted_message() -> None:
    """What `make translations` would extract (Python, templates, dashboard.js) is all in ar's .po."""
    method_map = [("server/**.py", "python"), ("server/**/templates/**.html", "jinja2"),
                  ("server/**/static/**.js", "javascript")]
    keywords = {"_": None, "gettext": None, "N_": None, "t": None}
    extracted = {message if isinstance(message, str) else message[0]
                 for _file, _line, message, _comments, _context in extract_from_dir(
                     str(ROOT), method_map, keywords=keywords)}
    catalogue = read_po(io.BytesIO((ROOT / "server/translations/ar/LC_MESSAGES/messages.po").read_bytes()))
    translated = {message.id for message in catalogue if message.id and message.string}
    missing = sorted(extracted - translated)
    assert missing == [], f"untranslated (run `make translations`, then translate): {missing}"


def test_statements_set_takes_an_arabic_text(app, client: FlaskClient, session) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["statements", "set", "LY", "3", "--text-ar", "شخصًا في {year}"])
    assert result.exit_code == 0, result.stderr
    CACHE.clear()
    texts = [s["text"] for s in client.get(JSON + "&lang=ar").get_json()["statements"]]
    assert "شخصًا في 2016" in texts
    refused = runner.invoke(args=["statements", "set", "LY", "3", "--text-ar", "خطأ {yaer}"])
    assert refused.exit_code == 1 and "braces" in refused.stderr
    cleared = runner.invoke(args=["statements", "set", "LY", "3", "--text-ar", ""])
    assert cleared.exit_code == 0
    CACHE.clear()
    texts = [s["text"] for s in client.get(JSON + "&lang=ar").get_json()["statements"]]
    assert texts[2].startswith("people were reached")  # no Arabic text: the English one
