/* Data quality: open conflicts and quarantined mutations, resolved, fixed or discarded by a coordinator. */

import { formatNumber, formatTime, LANG, t } from "../i18n.js";
import { $, el, say, setBusy } from "../dom.js";
import { api, fetchAll, listErrors, report } from "../api.js";
import { code, ENUM_FIELDS, fieldLabel, labels, localName, valueText } from "../labels.js";

// Conflicts and quarantine are read a page at a time from the server (api.md "Lists"): a revoked
// tablet's flood or a long backlog must not make the page load everything before showing anything.
const QUALITY_PAGE_SIZE = 50;

export const quality = {
  teams: new Map(),
  devices: new Map(),
  lists: [],

  async init() {
    say(t("Loading…"));
    // The names the forms choose by: the teams' sites, the items and services of the catalogue.
    const [teams, devices, sites, items, services] = await Promise.all([fetchAll("/api/v1/teams"),
      fetchAll("/api/v1/devices"), fetchAll("/api/v1/sites"), fetchAll("/api/v1/items"), fetchAll("/api/v1/services")]);
    this.teams = new Map(teams.map((team) => [team.id, team]));
    this.devices = new Map(devices.map((device) => [device.id, device]));
    this.sites = new Map(sites.map((site) => [site.id, site]));
    this.items = new Map(items.map((item) => [item.code, item]));
    this.services = new Map(services.map((service) => [service.code, service]));
    this.refs = { sites: this.sites, teams: this.teams, items: this.items, services: this.services };
    this.lists = [
      { path: "/api/v1/conflicts", list: "#conflicts", counter: "#conflicts-count", none: t("No open conflicts."),
        render: (item) => this.conflict(item) },
      { path: "/api/v1/quarantine", list: "#quarantine", counter: "#quarantine-count", none: t("Nothing in quarantine."),
        render: (item) => this.quarantined(item) },
    ];
    for (const list of this.lists) {
      list.cursor = null;
      list.loaded = false;
      $(list.list).replaceChildren();
      list.more = el("button", { type: "button", class: "button-secondary more", hidden: true, text: t("Show more"),
        onclick: () => this.more(list).catch(report) });
      $(list.list).after(list.more);
    }
    await Promise.all(this.lists.map((list) => this.more(list)));
    say("");
  },

  async more(list) {
    list.more.disabled = true;
    try {
      const answer = await api(list.path + "?limit=" + QUALITY_PAGE_SIZE +
        (list.cursor ? "&cursor=" + encodeURIComponent(list.cursor) : ""));
      $(list.list).append(...answer.items.map(list.render));
      list.cursor = answer.next_cursor;
      list.loaded = true;
    } finally {
      list.more.disabled = false;
    }
    list.more.hidden = !list.cursor;
    this.count();
  },

  /** The counts beside the headings, and "nothing here" only under a list that is loaded and empty
   * (both lists load at once: the first to answer must not declare the other one empty). */
  count() {
    for (const list of this.lists) {
      if (!list.loaded) continue;
      const items = $(list.list).querySelectorAll("article").length;
      $(list.counter).replaceChildren("(", el("bdi", { text: formatNumber(items) }),
        list.cursor ? " " + t("shown, more to load") : "", ")");
      const empty = $(list.list).querySelector(".empty");
      if (items && empty) empty.remove();
      if (!items && !list.cursor && !empty) $(list.list).append(el("p", { class: "empty hint", text: list.none }));
    }
  },

  team(id) {
    const team = id ? this.teams.get(id) : null;
    return team ? localName(team) : id || "—";
  },

  /** "tablet label of username (revoked)", the label and username isolated (they may be in any script). */
  device(id) {
    const device = id ? this.devices.get(id) : null;
    if (!device) return id ? [code(id)] : ["—"];
    return [el("bdi", { text: device.label }), " " + t("of") + " ", el("bdi", { text: device.username }),
      device.status === "revoked" ? " (" + t("revoked") + ")" : ""];
  },

  /** What quarantine did not keep of a revoked device's pushes (past its bounded sample). */
  dropped(id) {
    const device = id ? this.devices.get(id) : null;
    if (!device || !device.quarantine_dropped) return [];
    return [el("dt", { text: t("Not kept") }),
      el("dd", { text: formatNumber(device.quarantine_dropped) + " " + t("more mutations from this revoked device") })];
  },

  conflict(item) {
    const headingId = "conflict-" + item.id;
    const data = (item.mutation && item.mutation.data) || {};
    const fields = [...new Set([...Object.keys(item.current || {}), ...Object.keys(data)])];
    const errors = el("ul", { class: "field-errors", role: "alert" });
    const rows = fields.map((field) => {
      const disputed = Object.prototype.hasOwnProperty.call(item.current || {}, field);
      return el("tr", { dataset: { field } },
        el("th", { scope: "row" }, fieldLabel(field), disputed ? [" ", el("span", { class: "badge warn", text: t("disputed") })] : []),
        el("td", {}, disputed ? el("bdi", { text: valueText(field, item.current[field], this.refs) }) : t("(not disputed)")),
        el("td", {}, field in data ? el("bdi", { text: valueText(field, data[field], this.refs) }) : "—"));
    });
    const article = el("article", { class: "item", "aria-labelledby": headingId, dataset: { conflictId: item.id } },
      el("h3", { id: headingId }, t("Conflict") + " #", el("bdi", { text: String(item.id) }),
        " · " + (labels("entity")[item.entity] || item.entity)),
      el("dl", { class: "meta" },
        el("dt", { text: t("Record") }), el("dd", {}, code(item.record_id)),
        el("dt", { text: t("Team") }), el("dd", { text: this.team(item.team_id) }),
        el("dt", { text: t("Device") }), el("dd", {}, this.device(item.device_id)),
        el("dt", { text: t("Received") }), el("dd", {}, timeOf(item.created_at)),
        el("dt", { text: t("Versions") }),
        el("dd", {}, t("the device corrected version") + " ", el("bdi", { text: formatNumber(item.base_version) }), "; " +
          t("the server was at version") + " ", el("bdi", { text: formatNumber(item.current_version) })),
        el("dt", { text: t("Reason given") }), el("dd", { text: (item.mutation && item.mutation.reason) || "—" })),
      el("div", { class: "table-wrap" },
        el("table", {},
          el("caption", { text: t("Server and device values of conflict") + " #" + item.id }),
          el("thead", {}, el("tr", {},
            el("th", { scope: "col", text: t("Field") }),
            el("th", { scope: "col", text: t("Server value") }),
            el("th", { scope: "col", text: t("Device value") }))),
          el("tbody", {}, rows))),
      el("div", { class: "actions" },
        el("button", { type: "button", class: "button-secondary", dataset: { use: "server" }, text: t("Keep server value"),
          onclick: (event) => this.resolve(item, "server", event.currentTarget).catch(report) }),
        el("button", { type: "button", dataset: { use: "device" }, text: t("Use device value"),
          onclick: (event) => this.resolve(item, "device", event.currentTarget).catch(report) })),
      errors);
    return article;
  },

  async resolve(item, use, button) {
    const article = button.closest("article");
    const errors = article.querySelector(".field-errors");
    errors.replaceChildren();
    setBusy(article, true);
    try {
      await api("/api/v1/conflicts/" + item.id + "/resolve", { method: "POST", body: { use } });
    } catch (failure) {
      setBusy(article, false);
      listErrors(errors, failure);
      return;
    }
    this.removeItem(article, t("Conflict") + " #" + item.id + " " + t("resolved:") + " " +
      (use === "server" ? t("the server value stays.") : t("the device value is applied as a correction in your name.")));
  },

  quarantined(item) {
    const headingId = "quarantine-" + item.id;
    const textareaId = "mutation-" + item.id;
    const reasonId = "discard-reason-" + item.id;
    const errorsId = "quarantine-errors-" + item.id;
    const problems = Object.entries(item.errors || {});
    const reasonText = item.reason === "device_revoked" ? t("sent by a revoked device") : t("rejected");
    const mutation = item.mutation && typeof item.mutation === "object" ? item.mutation : {};
    const entity = labels("entity")[mutation.entity] || null;
    const errors = el("ul", { class: "field-errors", id: errorsId, role: "alert" });
    return el("article", { class: "item quarantined", "aria-labelledby": headingId, dataset: { quarantineId: item.id } },
      el("h3", { id: headingId }, t("Quarantined") + " #", el("bdi", { text: String(item.id) }),
        " · " + (entity ? entity + " · " : "") + reasonText),
      el("dl", { class: "meta" },
        el("dt", { text: t("Team") }), el("dd", { text: this.team(item.team_id) }),
        el("dt", { text: t("Device") }), el("dd", {}, this.device(item.device_id)),
        this.dropped(item.device_id),
        el("dt", { text: t("Received") }), el("dd", {}, timeOf(item.created_at)),
        mutation.id ? [el("dt", { text: t("Record") }), el("dd", {}, code(mutation.id))] : []),
      problems.length
        ? el("ul", { class: "problems", "aria-label": t("Why it was not applied") },
          problems.map(([path, messages]) => el("li", {}, problemField(path), ": ",
            messages.map(problemText).join(" "))))
        : el("p", { class: "hint", text: t("No validation problem: the device was revoked when it sent this change.") }),
      this.dataFields(item, textareaId, errorsId),
      // The JSON stays for what the form does not cover; it is code, so left to right on Arabic pages too.
      el("details", { class: "json-editor", open: !this.formCovers(item) },
        el("summary", { text: t("Advanced: the change as JSON") }),
        el("div", { class: "field" },
          el("label", { for: textareaId, text: t("Mutation as JSON (fix it, then apply)") }),
          el("textarea", { id: textareaId, rows: 8, spellcheck: "false", dir: "ltr", lang: "en", translate: "no",
            "aria-describedby": errorsId }, JSON.stringify(item.mutation, null, 2)))),
      el("div", { class: "actions" },
        el("button", { type: "button", class: "apply", text: t("Apply fixed mutation"),
          onclick: (event) => this.apply(item, event.currentTarget).catch(report) })),
      el("div", { class: "actions with-field" },
        el("div", { class: "field" },
          el("label", { for: reasonId, text: t("Reason for discarding") }),
          el("input", { id: reasonId, maxlength: 500, "aria-describedby": errorsId })),
        el("button", { type: "button", class: "button-secondary discard", text: t("Discard"),
          onclick: (event) => this.discard(item, event.currentTarget).catch(report) })),
      errors);
  },

  /** Whether every field a problem names has a control in the form (then the JSON starts folded). */
  formCovers(item) {
    const data = dataOf(item);
    return Object.keys(item.errors || {}).every((path) => path.startsWith("data.") && path.split(".")[1] in data) &&
      Object.keys(data).length > 0;
  },

  /** One labelled control per `data` field (and per field a problem names): choices by name for the
   * team's sites, the items, the services and the domain's codes. Editing one rewrites the JSON below,
   * which stays the single source of what is applied (and can still be edited by hand). */
  dataFields(item, textareaId, errorsId) {
    const data = dataOf(item);
    const named = Object.keys(item.errors || {})
      .filter((path) => path.startsWith("data.")).map((path) => path.split(".")[1]);
    const keys = [...new Set([...Object.keys(data), ...named])];
    if (!keys.length) return null;
    const flagged = new Set(named);
    const entity = item.mutation && item.mutation.entity;
    const fieldset = el("fieldset", { class: "data-fields" }, el("legend", { text: t("Fields") }));
    for (const key of keys) {
      const id = "q" + item.id + "-" + key;
      const control = this.control(id, key, data[key], entity, item.team_id || data.team_id);
      control.setAttribute("aria-describedby", errorsId);
      if (flagged.has(key)) control.setAttribute("aria-invalid", "true");
      const sync = () => this.fieldToJson(control, textareaId);
      control.addEventListener("input", sync);
      control.addEventListener("change", sync);
      fieldset.append(el("div", { class: "field" + (flagged.has(key) ? " invalid" : ""), dataset: { field: key } },
        el("label", { for: id, text: fieldLabel(key) }), control));
    }
    return fieldset;
  },

  /** The control for one field: a select of names where the domain or the team's lists give choices. */
  control(id, key, value, entity, teamId) {
    const choices = this.choices(key, entity, teamId);
    if (choices) {
      const options = choices.map(([choice, name]) => el("option", { value: choice, text: name, selected: choice === value }));
      const known = choices.some(([choice]) => choice === value);
      if (value === undefined || value === null || value === "") {
        options.unshift(el("option", { value: "", text: t("Choose…"), selected: true }));
      } else if (!known) {
        // What the tablet sent stays visible (and selected) until a person picks a valid value.
        options.unshift(el("option", { value: String(value), selected: true,
          text: t("Not valid:") + " " + valueText(key, value, this.refs) }));
      }
      return el("select", { id, dataset: { key, kind: typeof value === "boolean" ? "boolean" : "text" } }, options);
    }
    if (typeof value === "boolean" || key === "referral") {
      return el("select", { id, dataset: { key, kind: "boolean" } },
        el("option", { value: "true", text: t("yes"), selected: value === true }),
        el("option", { value: "false", text: t("no"), selected: value === false }));
    }
    if (typeof value === "number" || ["quantity", "household_size", "age_years", "days"].includes(key)) {
      return el("input", { id, type: "number", value: value === undefined || value === null ? "" : String(value),
        dir: "ltr", dataset: { key, kind: "number" } });
    }
    if (key === "occurred_on") {
      return el("input", { id, type: "date", value: value || "", dataset: { key, kind: "text" } });
    }
    if (value !== null && typeof value === "object") {
      return el("input", { id, value: JSON.stringify(value), spellcheck: "false", dir: "ltr", lang: "en", translate: "no",
        dataset: { key, kind: "json" } });
    }
    return el("input", { id, value: value === undefined || value === null ? "" : String(value), spellcheck: "false",
      dir: ["recorded_at", "beneficiary_ref"].includes(key) ? "ltr" : "auto", dataset: { key, kind: "text" } });
  },

  /** [code, name] pairs for a field, or null when the field is free (text, numbers, dates). */
  choices(key, entity, teamId) {
    const byName = (pairs) => pairs.sort((a, b) => a[1].localeCompare(b[1], LANG));
    if (key === "site_id") {
      const team = this.teams.get(teamId);
      const ids = team ? team.site_ids : [...this.sites.keys()];
      return byName(ids.map((id) => this.sites.get(id)).filter((site) => site && site.active !== false)
        .map((site) => [site.id, localName(site)]));
    }
    if (key === "item_code") {
      return byName([...this.items.values()].map((row) => [row.code, localName(row) +
        (labels("item_category")[row.category] ? " (" + labels("item_category")[row.category] + ")" : "")]));
    }
    if (key === "service") return byName([...this.services.values()].map((row) => [row.code, localName(row)]));
    if (key === "team_id") return byName([...this.teams.values()].map((row) => [row.id, localName(row)]));
    if (key === "topic" && entity !== "training") return null; // an outreach topic is free text
    const kind = ENUM_FIELDS[key];
    if (!kind || ["entity", "target_type", "role", "category", "site_type", "team_type"].includes(kind)) return null;
    return Object.entries(labels(kind));
  },

  fieldToJson(control, textareaId) {
    const textarea = document.getElementById(textareaId);
    let mutation;
    try {
      mutation = JSON.parse(textarea.value);
    } catch (error) {
      return; // the JSON was made invalid by hand: leave it for the person to fix
    }
    if (!mutation || typeof mutation !== "object") return;
    if (!mutation.data || typeof mutation.data !== "object") mutation.data = {};
    const raw = control.value;
    const kind = control.dataset.kind;
    let value = raw;
    if (kind === "boolean") value = raw === "true";
    else if (kind === "number") value = raw === "" ? null : Number(raw);
    else if (kind === "json") {
      try {
        value = JSON.parse(raw);
      } catch (error) {
        return; // not yet valid: keep the previous value until it is
      }
    } else if (/^-?\d+$/.test(raw) && typeof mutation.data[control.dataset.key] === "number") value = Number(raw);
    else if (raw === "" && control.tagName === "SELECT") return; // "Choose…": nothing chosen yet
    mutation.data[control.dataset.key] = value;
    textarea.value = JSON.stringify(mutation, null, 2);
  },

  async apply(item, button) {
    const article = button.closest("article");
    const errors = article.querySelector(".field-errors");
    errors.replaceChildren();
    let mutation;
    try {
      mutation = JSON.parse(article.querySelector("textarea").value);
    } catch (error) {
      errors.append(el("li", { text: t("The mutation is not valid JSON:") + " " + error.message }));
      return;
    }
    if (!mutation || typeof mutation !== "object" || Array.isArray(mutation)) {
      errors.append(el("li", { text: t("The mutation must be a JSON object.") }));
      return;
    }
    setBusy(article, true);
    try {
      await api("/api/v1/quarantine/" + item.id + "/apply", { method: "POST", body: { mutation } });
    } catch (failure) {
      setBusy(article, false);
      listErrors(errors, failure);
      return;
    }
    this.removeItem(article, t("Quarantined mutation") + " #" + item.id + " " + t("applied."));
  },

  async discard(item, button) {
    const article = button.closest("article");
    const errors = article.querySelector(".field-errors");
    errors.replaceChildren();
    const reasonInput = document.getElementById("discard-reason-" + item.id);
    const reason = reasonInput.value.trim();
    if (!reason) {
      errors.append(el("li", { text: t("Give a reason for discarding it.") }));
      reasonInput.focus();
      return;
    }
    setBusy(article, true);
    try {
      await api("/api/v1/quarantine/" + item.id + "/discard", { method: "POST", body: { reason } });
    } catch (failure) {
      setBusy(article, false);
      listErrors(errors, failure);
      return;
    }
    this.removeItem(article, t("Quarantined mutation") + " #" + item.id + " " + t("discarded."));
  },

  removeItem(article, message) {
    const section = article.closest("section");
    article.remove();
    this.count();
    say(message);
    section.querySelector("h2").setAttribute("tabindex", "-1");
    section.querySelector("h2").focus();
  },
};

function dataOf(item) {
  const mutation = item.mutation && typeof item.mutation === "object" ? item.mutation : {};
  return mutation.data && typeof mutation.data === "object" && !Array.isArray(mutation.data) ? mutation.data : {};
}

function timeOf(iso) {
  return el("time", { datetime: iso }, el("bdi", { text: formatTime(iso) }));
}

/** "data.reached.q" → "People reached › q": the field's name, then what inside it (isolated). */
function problemField(path) {
  const parts = String(path).split(".");
  const inData = parts[0] === "data" && parts.length > 1;
  const field = inData ? parts[1] : parts[0];
  const rest = parts.slice(inData ? 2 : 1);
  return el("strong", { dataset: { path } }, fieldLabel(field), rest.length ? [" › ", code(rest.join("."))] : []);
}

// The API's validation messages (English) in the page's language; one the page does not know is
// shown as "This value is not accepted." on an Arabic page rather than as an English sentence.
const PROBLEMS = {
  "Unknown site for this team.": t("This site is not one of the team's sites."),
  "Site is not active.": t("This site is deactivated."),
  "Unknown item.": t("This item is not in the catalogue."),
  "Unknown service.": t("This service is not in the catalogue."),
  "Missing data for required field.": t("This field is required."),
  "Field may not be null.": t("This field is required."),
  "Unknown field.": t("This field does not belong to this kind of record."),
  "Not a valid integer.": t("Enter a whole number."),
  "Not a valid date.": t("Enter a date."),
  "Not a valid string.": t("Enter text."),
  "Not a valid boolean.": t("Choose yes or no."),
  "Must be the team of this device.": t("Must be the team of the tablet that sent it."),
  "One of age_band or age_years is required.": t("Give the age band or the age in years."),
  "Must be an object of counts by sex, then age band.": t("Give the counts by sex, then by age band."),
  "Must be an object of counts by age band.": t("Give the counts by age band."),
  "Must be an integer of at least 0.": t("Enter a whole number of 0 or more."),
};

function problemText(message) {
  if (PROBLEMS[message]) return PROBLEMS[message];
  if (/^Must be one of: /.test(message)) return t("Choose one of the listed values.");
  if (/^Must be (between|greater|less|at)/.test(message) || /^Total must be between/.test(message)) {
    return LANG === "en" ? message : t("This value is out of the allowed range.");
  }
  return LANG === "en" ? message : t("This value is not accepted.");
}
