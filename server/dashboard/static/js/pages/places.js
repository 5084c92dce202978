/* Places and teams: a country's areas, sites and teams, added and edited. */

import { LANG, t } from "../i18n.js";
import { $, el, labelCells, labelsFrom, replaceOptions, say } from "../dom.js";
import { api, fetchAll, report } from "../api.js";
import { code, localName } from "../labels.js";
import { actionButton, countriesInScope, formErrors, formValues, stateBadge } from "../admin.js";

// The fields the edit forms change (PATCH); the id and country never change.
const EDITABLE = {
  area: ["name", "name_ar", "pcode"],
  site: ["name", "name_ar", "area_id", "site_type"],
  team: ["name", "name_ar", "team_type"],
};
const CLEARABLE = new Set(["name_ar", "pcode"]); // an empty field sends null: the value is removed

export const places = {
  areas: [],
  sites: [],
  teams: [],
  editing: { area: null, site: null, team: null },

  async init() {
    say(t("Loading…"));
    this.labels = { site_type: labelsFrom("labels-site_type"), team_type: labelsFrom("labels-team_type") };
    const countries = await countriesInScope();
    replaceOptions($("#p-country"), countries, null);
    const wanted = new URLSearchParams(location.search).get("country");
    if (countries.some(([code]) => code === wanted)) $("#p-country").value = wanted;
    $("#p-country").addEventListener("change", () => this.load().catch(report));
    $("#area-form").addEventListener("submit", (event) => this.submit(event, "area").catch(report));
    $("#site-form").addEventListener("submit", (event) => this.submit(event, "site").catch(report));
    $("#team-form").addEventListener("submit", (event) => this.submit(event, "team").catch(report));
    for (const kind of Object.keys(EDITABLE)) {
      $("#" + kind + "-cancel").addEventListener("click", () => this.stopEditing(kind));
    }
    await this.load();
    say("");
  },

  country() {
    return $("#p-country").value;
  },

  async load() {
    const query = "?country=" + encodeURIComponent(this.country());
    const [areas, sites, teams] = await Promise.all([
      fetchAll("/api/v1/areas" + query), fetchAll("/api/v1/sites" + query), fetchAll("/api/v1/teams")]);
    this.areas = areas;
    this.sites = sites;
    this.teams = teams.filter((team) => team.country === this.country());
    this.render();
  },

  render() {
    const areaName = new Map(this.areas.map((area) => [area.id, localName(area)]));
    const areasBody = $("#areas-table tbody");
    areasBody.replaceChildren(...this.areas.map((area) => {
      const row = el("tr", { dataset: { areaId: area.id } }, el("td", {}, code(area.id)),
        el("td", {}, el("bdi", { text: area.name })), el("td", { dir: "rtl", text: area.name_ar || "—" }),
        el("td", {}, area.pcode ? code(area.pcode) : "—"),
        el("td", {}, actionButton(t("Edit"), "edit", async () => this.startEditing("area", area))));
      labelCells(row, $("#areas-table"));
      return row;
    }));
    replaceOptions($("#site-area_id"), this.areas.map((area) => [area.id, localName(area)]), null);

    $("#sites-table tbody").replaceChildren(...this.sites.map((site) => {
      const toggle = site.active
        ? actionButton(t("Deactivate"), "deactivate", (button) => this.toggle("sites", site.id, false, button))
        : actionButton(t("Activate"), "activate", (button) => this.toggle("sites", site.id, true, button));
      const row = el("tr", { dataset: { siteId: site.id } }, el("td", {}, el("code", { text: site.id })),
        el("td", {}, el("bdi", { text: localName(site) })), el("td", {}, el("bdi", { text: areaName.get(site.area_id) || site.area_id })),
        el("td", { text: this.labels.site_type[site.site_type] || site.site_type }),
        el("td", {}, stateBadge(site.active)),
        el("td", {}, actionButton(t("Edit"), "edit", async () => this.startEditing("site", site)), toggle));
      labelCells(row, $("#sites-table"));
      return row;
    }));

    const siteName = new Map(this.sites.map((site) => [site.id, localName(site)]));
    $("#teams-table tbody").replaceChildren(...this.teams.map((team) => {
      const active = team.active !== false;
      const row = el("tr", { dataset: { teamId: team.id } }, el("td", {}, el("code", { text: team.id })),
        el("td", {}, el("bdi", { text: localName(team) })), el("td", { text: this.labels.team_type[team.team_type] || team.team_type }),
        el("td", {}, team.site_ids.length ? team.site_ids.flatMap((id, index) => [index ? (LANG === "ar" ? "، " : ", ") : "", el("bdi", { text: siteName.get(id) || id })]) : "—"),
        el("td", {}, stateBadge(active)),
        el("td", {},
          actionButton(t("Edit"), "edit", async () => this.startEditing("team", team)),
          active
            ? actionButton(t("Deactivate"), "deactivate", (button) => this.toggle("teams", team.id, false, button))
            : actionButton(t("Activate"), "activate", (button) => this.toggle("teams", team.id, true, button))));
      labelCells(row, $("#teams-table"));
      return row;
    }));
    this.renderSiteChoices(this.editing.team ? this.editing.team.site_ids : []);
    // A new country's tables say what to do rather than show bare headings.
    const empty = { "#areas-table": [this.areas, t("No areas yet: add the country's first area below.")],
      "#sites-table": [this.sites, t("No sites yet: add an area first, then its sites below.")],
      "#teams-table": [this.teams, t("No teams yet: add a team below, then choose its sites.")] };
    for (const [table, [rows, message]] of Object.entries(empty)) {
      if (rows.length) continue;
      $(table + " tbody").replaceChildren(el("tr", { class: "empty-row" },
        el("td", { colspan: $(table).tHead.rows[0].cells.length, class: "hint", text: message })));
    }
  },

  renderSiteChoices(selected) {
    const chosen = new Set(selected);
    $("#team-sites").replaceChildren(...this.sites.filter((site) => site.active).map((site) => {
      const id = "team-site-" + site.id;
      return el("div", { class: "check" },
        el("input", { type: "checkbox", id, value: site.id, checked: chosen.has(site.id) }),
        el("label", { for: id }, el("bdi", { text: localName(site) })));
    }));
  },

  startEditing(kind, row) {
    this.editing[kind] = row;
    $("#" + kind + "-id").value = row.id;
    $("#" + kind + "-id").readOnly = true;
    for (const field of EDITABLE[kind]) $("#" + kind + "-" + field).value = row[field] || "";
    if (kind === "team") this.renderSiteChoices(row.site_ids);
    $("#" + kind + "-form-heading").textContent = t("Edit") + " " + row.id;
    $("#" + kind + "-submit").textContent = t("Save");
    $("#" + kind + "-cancel").hidden = false;
    $("#" + kind + "-name").focus();
  },

  stopEditing(kind) {
    const labels = { area: [t("Add an area"), t("Add area")], site: [t("Add a site"), t("Add site")],
      team: [t("Add a team"), t("Add team")] };
    this.editing[kind] = null;
    $("#" + kind + "-form").reset();
    $("#" + kind + "-id").readOnly = false;
    $("#" + kind + "-form-heading").textContent = labels[kind][0];
    $("#" + kind + "-submit").textContent = labels[kind][1];
    $("#" + kind + "-cancel").hidden = true;
    if (kind === "team") this.renderSiteChoices([]);
  },

  async submit(event, kind) {
    event.preventDefault();
    const form = event.currentTarget;
    formErrors(form, null);
    const editing = this.editing[kind];
    let values = formValues(form);
    let path = "/api/v1/" + kind + "s";
    let method = "POST";
    if (editing) {
      path += "/" + encodeURIComponent(editing.id);
      method = "PATCH";
      values = {};
      for (const field of EDITABLE[kind]) {
        const value = $("#" + kind + "-" + field).value.trim();
        if (value || CLEARABLE.has(field)) values[field] = value || null;
      }
    } else if (kind === "area" || kind === "team") {
      values.country = this.country();
    }
    if (kind === "team") {
      values.site_ids = [...form.querySelectorAll("#team-sites input:checked")].map((box) => box.value);
    }
    try {
      await api(path, { method, body: values });
    } catch (failure) {
      formErrors(form, failure, kind);
      return;
    }
    const added = { area: t("Area added."), site: t("Site added."), team: t("Team added.") };
    const message = editing ? t("Saved.") : added[kind];
    this.stopEditing(kind);
    await this.load();
    say(message + " " + (editing ? editing.id : values.id || ""));
  },

  async toggle(collection, id, active, button) {
    button.disabled = true;
    await api("/api/v1/" + collection + "/" + encodeURIComponent(id) + (active ? "/activate" : "/deactivate"),
      { method: "POST" });
    await this.load();
    say(t("Saved.") + " " + id);
  },
};
