/* Audit log: who changed what, newest first. */

import { formatTime, t } from "../i18n.js";
import { $, el, labelCells, say } from "../dom.js";
import { api, fetchAll, report } from "../api.js";
import { code, labels, localName, valueText } from "../labels.js";

// What never reaches the page: the password hash or token a before/after image might carry.
const HIDDEN_KEYS = new Set(["password", "password_hash", "token", "token_hash", "key", "secret"]);

export const auditPage = {
  cursor: null,

  async init() {
    say(t("Loading…"));
    // Names for the ids and codes the entries hold (teams, sites, areas, countries, items, services).
    const lists = await Promise.allSettled(["teams", "sites", "areas", "countries", "items", "services"].map((name) =>
      fetchAll("/api/v1/" + name)));
    const [teams, sites, areas, countries, items, services] = lists.map((answer) => answer.status === "fulfilled"
      ? answer.value : []);
    const byKey = (rows) => new Map(rows.map((row) => [row.id || row.code, row]));
    this.refs = { teams: byKey(teams), sites: byKey(sites), areas: byKey(areas), countries: byKey(countries),
      items: byKey(items), services: byKey(services) };
    $("#audit-more").addEventListener("click", () => this.more().catch(report));
    await this.more();
    say("");
  },

  /** The target by its name where the page knows it (a team, a site…), else its id as code. */
  target(entry) {
    const refs = { team: "teams", site: "sites", area: "areas", country: "countries", item: "items",
      service: "services" }[entry.target_type];
    const row = refs && this.refs[refs].get(entry.target_id);
    return row ? el("bdi", { text: localName(row) }) : code(entry.target_id);
  },

  async more() {
    const answer = await api("/api/v1/audit?limit=50" + (this.cursor ? "&cursor=" + encodeURIComponent(this.cursor) : ""));
    const body = $("#audit-table tbody");
    body.append(...answer.items.map((entry) => {
      const row = el("tr", { dataset: { auditId: entry.id } },
        el("td", {}, el("time", { datetime: entry.at }, el("bdi", { text: formatTime(entry.at) }))),
        el("td", {}, el("bdi", { text: entry.actor })),
        el("td", { dataset: { action: entry.action }, text: actionLabel(entry.action) }),
        el("td", { dataset: { targetType: entry.target_type } },
          (labels("target_type")[entry.target_type] || entry.target_type) + " ", this.target(entry)),
        el("td", {}, changes(entry.before, entry.after, "before", this.refs)),
        el("td", {}, changes(entry.before, entry.after, "after", this.refs)));
      labelCells(row, $("#audit-table"));
      return row;
    }));
    if (!body.rows.length) body.append(el("tr", {}, el("td", { colspan: 6, text: t("Nothing yet.") })));
    this.cursor = answer.next_cursor;
    $("#audit-more").hidden = !this.cursor;
  },
};

function actionLabel(action) {
  const names = {
    create: t("created"), update: t("changed"), deactivate: t("deactivated"), activate: t("activated"),
    reset_password: t("password reset"), unlock: t("login unlocked"), enrollment_code: t("enrollment code issued"),
    revoke: t("tablet revoked"), delete: t("deleted"), enrol_device: t("tablet enrolled"),
    enrol_collect: t("ODK Collect tablet enrolled"), statement_added: t("statement added"),
    statement_updated: t("statement changed"), statement_removed: t("statement removed"),
  };
  return names[action] || action;
}

/** The fields that changed (all of them for a create), as "label: value" lines in the page's language. */
function changes(before, after, side, refs) {
  const shown = side === "before" ? before : after;
  if (!shown) return "—";
  const keys = Object.keys(shown).filter((key) => !HIDDEN_KEYS.has(key) &&
    (!before || !after || JSON.stringify(before[key]) !== JSON.stringify(after[key])));
  return el("ul", { class: "changes" }, keys.map((key) => el("li", { dataset: { key } },
    labels("field")[key] || code(key), ": ", el("bdi", { text: valueText(key, shown[key], refs) }))));
}
