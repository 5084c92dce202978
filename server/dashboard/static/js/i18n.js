/* The page's language and direction, its translated sentences, and numbers and times written for it. */

// The page's language (the server chose it: ?lang=, the switch's cookie, Accept-Language) and direction.
export const LANG = document.documentElement.lang || "en";
export const RTL = document.documentElement.dir === "rtl";
// Latin digits in Arabic too, as the server's Babel formats them (and as Libya writes numbers).
const numberFormat = new Intl.NumberFormat(LANG, { numberingSystem: "latn" });
export const MONTHS = Array.from({ length: 12 }, (_, index) =>
  new Intl.DateTimeFormat(LANG, { month: "short", timeZone: "UTC" }).format(new Date(Date.UTC(2000, index, 1))));
const MESSAGES = {};
for (const item of (document.getElementById("i18n") || { content: { querySelectorAll: () => [] } })
  .content.querySelectorAll("data")) {
  MESSAGES[item.value] = item.textContent;
}

/** A sentence in the page's language: the catalogue's translation of the English text, or the text. */
export function t(message) {
  return MESSAGES[message] || message;
}

export function formatNumber(value) {
  return value === null || value === undefined ? "—" : numberFormat.format(value);
}

// Times in the reader's time zone (the browser's), dates as the calendar date they name; both in the
// page's language with Latin digits. The machine form stays in <time datetime="…">.
const timeFormat = new Intl.DateTimeFormat(LANG === "en" ? "en-GB" : LANG,
  { dateStyle: "medium", timeStyle: "short", numberingSystem: "latn" });
const dateFormat = new Intl.DateTimeFormat(LANG === "en" ? "en-GB" : LANG,
  { dateStyle: "medium", timeZone: "UTC", numberingSystem: "latn" });

/** An ISO 8601 instant as a local date and time ("7 Dec 2026, 14:05"; Arabic month names in Arabic). */
export function formatTime(iso) {
  const when = Date.parse(iso);
  return Number.isNaN(when) ? String(iso) : timeFormat.format(new Date(when));
}

/** An ISO calendar date (YYYY-MM-DD) in the page's language. */
export function formatDate(day) {
  const when = /^\d{4}-\d{2}-\d{2}$/.test(String(day)) ? Date.parse(day + "T00:00:00Z") : NaN;
  return Number.isNaN(when) ? String(day) : dateFormat.format(new Date(when));
}

export function ago(iso) {
  const minutes = Math.floor((Date.now() - Date.parse(iso)) / 60000);
  if (minutes < 1) return t("just now");
  if (minutes < 60) return minutes + " " + t("min ago");
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return hours + " " + t("h ago");
  return Math.floor(hours / 24) + " " + t("days ago");
}
