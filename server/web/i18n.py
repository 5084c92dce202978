"""English and Arabic (issue 15) with Flask-Babel: catalogues in server/translations, compiled by
`make run` / `make test` (`pybabel compile -d server/translations`).

The language of a request is, in order: `?lang=en|ar`, the dashboard's `fieldsync_lang` cookie
(set by the language switch; it carries no authority, only a preference), then `Accept-Language`;
English otherwise. Public endpoints ignore the cookie: they are cached and read cross-origin, so
only what the request itself says may choose the language (and they send `Vary: Accept-Language`).

Numbers use Babel's `format_decimal` for the locale. Arabic uses Latin digits, as Libya's
programmes (and CLDR's ar-LY) write numbers, so a figure reads the same in both languages.
"""

from __future__ import annotations

import logging
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, request
from flask_babel import Babel, get_locale, refresh

log = logging.getLogger(__name__)

LANGUAGES = ("en", "ar")
RTL_LANGUAGES = frozenset({"ar"})
COOKIE = "fieldsync_lang"
TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"

babel = Babel()


def N_(message: str) -> str:
    """Marks a string for the catalogue (pybabel extract -k N_); it is translated when rendered."""
    return message


def requested_language() -> str | None:
    """`?lang=` if it names a supported language (anything else is ignored, not an error)."""
    lang = request.args.get("lang")
    return lang if lang in LANGUAGES else None


def select_locale(*, use_cookie: bool | None = None) -> str:
    explicit = requested_language()
    if explicit:
        return explicit
    if use_cookie is None:
        use_cookie = not request.path.startswith("/public/")
    if use_cookie and request.cookies.get(COOKIE) in LANGUAGES:
        return str(request.cookies[COOKIE])
    return request.accept_languages.best_match(LANGUAGES, default="en") or "en"


def current_language() -> str:
    locale = get_locale()
    return locale.language if locale is not None and locale.language in LANGUAGES else "en"


def text_direction(language: str | None = None) -> str:
    return "rtl" if (language or current_language()) in RTL_LANGUAGES else "ltr"


def localized_name(name: str, name_ar: str | None, language: str | None = None) -> str:
    """A reference row's name in the language, falling back to the English name."""
    return name_ar if (language or current_language()) == "ar" and name_ar else name


def compile_catalogues(directory: Path = TRANSLATIONS) -> int:
    """Compile every `.po` whose `.mo` is missing or older (what `pybabel compile` does).

    `make run` and `make test` compile already; this makes `flask` commands and a bare `pytest`
    serve the same translations. A read-only install keeps whatever `.mo` files it shipped.
    """
    compiled = 0
    for po_path in directory.glob("*/LC_MESSAGES/*.po"):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        try:
            with po_path.open("rb") as po_file:
                catalog = read_po(po_file)
            with mo_path.open("wb") as mo_file:
                write_mo(mo_file, catalog)
            compiled += 1
        except OSError as error:
            log.warning("could not compile %s: %s", po_path, error)
    return compiled


def init_app(app: Flask) -> None:
    compile_catalogues()
    babel.init_app(app, locale_selector=select_locale, default_translation_directories=str(TRANSLATIONS))

    @app.before_request
    def _fresh_locale() -> None:
        # Flask-Babel caches the locale on the app context, which a test (or a CLI command making
        # requests) may share between requests: each request chooses its own language.
        refresh()

    @app.context_processor
    def _language() -> dict[str, object]:
        language = current_language()
        return {"lang": language, "dir": text_direction(language), "languages": LANGUAGES}
