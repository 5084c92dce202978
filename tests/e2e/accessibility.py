"""Checks run inside a page in the real browser: axe-core's accessibility rules, and the Arabic
page's text walked for English left behind.

    require_axe()                          # fails under CI, skips elsewhere, without `make axe`
    assert serious_violations(driver) == []
    assert latin_words(driver) == []       # on an Arabic page

axe-core is injected by WebDriver (not by the page), so the pages' Content-Security-Policy, which
allows no inline or foreign script, stays exactly as served.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.chrome.webdriver import WebDriver

AXE = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"

_RUN_AXE = """
const done = arguments[arguments.length - 1];
axe.run(document, {resultTypes: ["violations"]})
  .then((results) => done(results.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ") + " " + (n.failureSummary || "").slice(0, 160)),
  }))))
  .catch((error) => done([{id: "axe-error", impact: "critical", help: String(error), nodes: []}]));
"""

# Visible text of the page outside what may stay in Latin script: codes and ids (<code>, <kbd>),
# isolated names and values (<bdi>: usernames, tablet labels, names without an Arabic one), anything
# marked as another language (lang="en": the language switch, the JSON editor), and options (names
# of places and teams as the API holds them). Product and format names are allowed by word.
_LATIN_WORDS = r"""
const allowed = new Set(arguments[0]);
const skip = "code, kbd, bdi, script, style, template, option, [lang]:not([lang='ar']), [hidden], title";
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
const found = [];
for (let node = walker.nextNode(); node; node = walker.nextNode()) {
  const parent = node.parentElement;
  if (!parent || parent.closest(skip)) continue;
  if (!parent.getClientRects().length) continue;  // not rendered (a closed dialog, a folded panel)
  // A placeholder such as {year} is a code in a sentence about it.
  for (const word of node.textContent.replace(/\{[a-z_]+\}/g, "").match(/[A-Za-z][A-Za-z'’-]+/g) || []) {
    const where = parent.tagName.toLowerCase() + (parent.id ? "#" + parent.id : "");
    if (!allowed.has(word)) found.push(word + " in <" + where + "> " + node.textContent.trim().slice(0, 80));
  }
}
return found;
"""
ALLOWED_LATIN = ["Fieldsync", "ODK", "Collect", "KoboCollect", "QR", "JSON", "CSV", "HXL", "PUBLIC_BASE_URL",
                 "docs", "openrosa", "md", "loopback", "UTC", "ISO", "a-z"]


def require_axe() -> None:
    if AXE.exists():
        return
    message = f"{AXE} missing: run `make axe` (npm install of axe-core)"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def serious_violations(driver: WebDriver) -> list[dict[str, Any]]:
    """axe-core's violations of impact serious or critical on the page as it is now."""
    if not driver.execute_script("return typeof window.axe !== 'undefined'"):
        driver.execute_script(AXE.read_text("utf-8"))
    driver.set_script_timeout(60)
    violations = driver.execute_async_script(_RUN_AXE)
    return [v for v in violations if v["impact"] in ("serious", "critical")]


def latin_words(driver: WebDriver) -> list[str]:
    """English words shown on the page outside codes, ids and names (see _LATIN_WORDS)."""
    return list(driver.execute_script(_LATIN_WORDS, ALLOWED_LATIN))
