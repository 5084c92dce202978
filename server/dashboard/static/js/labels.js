/* Codes and field names as a person reads them. The server writes every label table into the page
 * (base.html, one <template id="labels-<kind>"> each, in the page's language); this module reads
 * them once and turns a record's values into text: enums by name, places and items by their name in
 * the page's language, dates and numbers formatted for it. Codes and ids that stay visible are
 * isolated (`<code dir="ltr">`), so an Arabic sentence around them keeps its order. */

import { el, labelsFrom } from "./dom.js";
import { formatDate, formatNumber, formatTime, LANG, t } from "./i18n.js";

const tables = {};

/** The label table of a kind ("sex", "field", "entity", …): code → name. */
export function labels(kind) {
  if (!tables[kind]) tables[kind] = labelsFrom("labels-" + kind);
  return tables[kind];
}

/** A reference row's name in the page's language (Arabic name when there is one). */
export function localName(row) {
  return (LANG === "ar" && row.name_ar) || row.name;
}

/** A code or id shown as such, isolated from the text direction around it. */
export function code(text) {
  return el("code", { dir: "ltr", text: String(text) });
}

/** A field's name, or the field's code (isolated) when no label exists. */
export function fieldLabel(key) {
  return labels("field")[key] || key;
}

// Which label table names the values of a field.
const ENUM_OF = {
  population_group: "population_group", sex: "sex", age_band: "age_band", visit: "visit", activity: "activity",
  participant_type: "participant_type", role: "role", site_type: "site_type", team_type: "team_type",
  category: "item_category", topic: "topic", target_type: "target_type", entity: "entity",
};
export const ENUM_FIELDS = ENUM_OF;

/**
 * A value as text a person reads. `refs` may hold Maps of sites, teams, items, services, areas and
 * countries (by id or code) to name them.
 */
export function valueText(key, value, refs) {
  const names = refs || {};
  if (value === null || value === undefined || value === "") return "—";
  if (typeof value === "boolean") return value ? t("yes") : t("no");
  if (typeof value === "number") return formatNumber(value);
  if (Array.isArray(value)) return value.map((one) => valueText(singular(key), one, refs)).join(", ");
  if (typeof value === "object") {
    return Object.entries(value).map(([inner, count]) => {
      const name = labels("sex")[inner] || labels("age_band")[inner] || inner;
      return name + ": " + (typeof count === "object" && count !== null ? valueText(key, count, refs) : valueText("", count));
    }).join("; ");
  }
  const text = String(value);
  const refOf = { site_id: "sites", team_id: "teams", item_code: "items", service: "services", area_id: "areas",
    country: "countries", site_ids: "sites", countries: "countries" }[key];
  if (refOf && names[refOf] && names[refOf].get(text)) return localName(names[refOf].get(text));
  if (ENUM_OF[key] && labels(ENUM_OF[key])[text]) return labels(ENUM_OF[key])[text];
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) return formatDate(text);
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(text)) return formatTime(text);
  return text;
}

function singular(key) {
  return { site_ids: "site_id", countries: "country" }[key] || key;
}
