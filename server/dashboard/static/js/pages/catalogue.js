/* Countries and catalogue: countries, items and services (admins add them). */

import { t } from "../i18n.js";
import { $, el, labelCells, labelsFrom, replaceOptions, say } from "../dom.js";
import { api, fetchAll, listErrors, report, ROLE_KEY } from "../api.js";
import { countriesInScope, formErrors, formValues } from "../admin.js";
import { code, labels } from "../labels.js";

// The public dimensions a statement may be narrowed by, offered as choices by name.
const STATEMENT_FILTERS = ["population_group", "participant_type", "topic"];
const PREVIEW_NUMBERS = {
  en: new Intl.NumberFormat("en", { numberingSystem: "latn" }),
  ar: new Intl.NumberFormat("ar", { numberingSystem: "latn" }),
};

export const cataloguePage = {
  async init() {
    say(t("Loading…"));
    const admin = sessionStorage.getItem(ROLE_KEY) === "admin";
    for (const form of document.querySelectorAll(".admin-only")) form.hidden = !admin;
    for (const kind of ["country", "item", "service"]) {
      $("#" + kind + "-form").addEventListener("submit", (event) => this.add(event, kind).catch(report));
    }
    await Promise.all([this.load(), this.initStatements()]);
    say("");
  },

  async load() {
    const [countries, items, services] = await Promise.all([
      fetchAll("/api/v1/countries"), fetchAll("/api/v1/items"), fetchAll("/api/v1/services")]);
    const fill = (table, rows, cells) => {
      $(table + " tbody").replaceChildren(...rows.map((row) => {
        const tr = el("tr", { dataset: { code: row.code } }, cells(row).map((cell, index) =>
          el("td", index === 2 ? { dir: "rtl" } : {}, index ? el("bdi", { text: cell }) : code(cell))));
        labelCells(tr, $(table));
        return tr;
      }));
    };
    fill("#countries-table", countries, (row) => [row.code, row.name, row.name_ar || "—"]);
    fill("#items-table", items, (row) => [row.code, row.name, row.name_ar || "—",
      labels("item_category")[row.category] || row.category]);
    fill("#services-table", services, (row) => [row.code, row.name, row.name_ar || "—"]);
  },

  async add(event, kind) {
    event.preventDefault();
    const form = event.currentTarget;
    formErrors(form, null);
    const collection = { country: "countries", item: "items", service: "services" }[kind];
    try {
      await api("/api/v1/" + collection, { method: "POST", body: formValues(form) });
    } catch (failure) {
      formErrors(form, failure, kind);
      return;
    }
    form.reset();
    await this.load();
    say(t("Saved."));
  },

  // --- public statements (GET/PUT /api/v1/countries/<code>/statements) ---

  async initStatements() {
    try {
      await this.startStatements();
    } catch (failure) {
      // A server without the statements API (older than api.md v1.2) keeps the rest of the page.
      if (failure.status !== 404) throw failure;
      $("#statements-heading").closest("section").hidden = true;
    }
  },

  async startStatements() {
    const [countries, indicators] = await Promise.all([countriesInScope(), fetchAll("/api/v1/indicators")]);
    this.indicators = indicators;
    this.words = labelsFrom("preview-words");
    replaceOptions($("#st-country"), countries, null);
    $("#st-year").value = String(new Date().getFullYear());
    $("#st-country").addEventListener("change", () => this.loadStatements().catch(report));
    $("#st-year").addEventListener("change", () => this.refreshPreviews());
    $("#st-add").addEventListener("click", () => {
      const added = this.statement({ indicator: indicators[0].code, filters: {}, text: "", text_ar: null });
      $("#statements").append(added);
      this.preview(added);
      added.querySelector("select").focus();
    });
    $("#statements-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.saveStatements().catch(report);
    });
    if (countries.length) await this.loadStatements();
  },

  async loadStatements() {
    const answer = await api("/api/v1/countries/" + encodeURIComponent($("#st-country").value) + "/statements");
    const statements = Array.isArray(answer) ? answer : answer.items;
    $("#statements").replaceChildren(...statements.map((statement) => this.statement(statement)));
    if (!statements.length) $("#statements").append(el("p", { class: "empty hint", text: t("No statements yet: add one.") }));
    this.refreshPreviews();
  },

  /** One statement's fieldset: indicator, filters by name, English and Arabic sentences, live preview. */
  statement(statement) {
    const index = document.querySelectorAll("#statements fieldset").length;
    const prefix = "st-" + index + "-";
    const indicator = el("select", { id: prefix + "indicator", class: "st-indicator" },
      this.indicators.map((row) => el("option", { value: row.code, text: t(row.label), selected: row.code === statement.indicator })));
    const filters = el("div", { class: "st-filters" });
    const kept = { ...(statement.filters || {}) };
    const text = el("input", { id: prefix + "text", class: "st-text", value: statement.text || "", maxlength: 300,
      dir: "ltr", lang: "en" });
    const textAr = el("input", { id: prefix + "text_ar", class: "st-text_ar", value: statement.text_ar || "", maxlength: 300,
      dir: "rtl", lang: "ar" });
    const preview = el("div", { class: "st-preview", "aria-live": "polite" },
      el("p", { lang: "en", dir: "ltr", class: "st-preview-en" }), el("p", { lang: "ar", dir: "rtl", class: "st-preview-ar" }));
    const box = el("fieldset", { class: "statement", dataset: { index } },
      el("legend", { text: t("Statement") + " " + (index + 1) }),
      el("div", { class: "form-grid" },
        el("div", { class: "field" }, el("label", { for: prefix + "indicator", text: t("Indicator") }), indicator),
        el("div", { class: "field" }, el("label", { for: prefix + "text", text: t("Sentence in English") }), text),
        el("div", { class: "field" }, el("label", { for: prefix + "text_ar", text: t("Sentence in Arabic") }), textAr)),
      filters,
      el("p", { class: "hint", text: t("Preview") }), preview,
      el("div", { class: "actions" }, el("button", { type: "button", class: "button-secondary small st-remove",
        text: t("Remove this statement"), onclick: () => box.remove() })));
    box.filtersKept = kept;
    const renderFilters = () => {
      const dims = (this.indicators.find((row) => row.code === indicator.value) || { dimensions: [] }).dimensions;
      filters.replaceChildren(...STATEMENT_FILTERS.filter((dim) => dims.includes(dim)).map((dim) => {
        const chosen = new Set(kept[dim] || []);
        return el("fieldset", { class: "checks", dataset: { dimension: dim } },
          el("legend", { text: labels("field")[dim] || dim }),
          Object.entries(labels(dim)).map(([value, name]) => {
            const id = prefix + dim + "-" + value;
            return el("div", { class: "check" },
              el("input", { type: "checkbox", id, value, checked: chosen.has(value) }), el("label", { for: id, text: name }));
          }));
      }));
    };
    renderFilters();
    indicator.addEventListener("change", () => { renderFilters(); this.preview(box); });
    filters.addEventListener("change", () => this.preview(box));
    for (const input of [text, textAr]) input.addEventListener("input", () => this.previewText(box));
    return box;
  },

  /** What a fieldset says, as the API takes it. Filters the form does not offer are kept as they were. */
  read(box) {
    const filters = {};
    for (const [dim, values] of Object.entries(box.filtersKept || {})) {
      if (!STATEMENT_FILTERS.includes(dim)) filters[dim] = values;
    }
    for (const group of box.querySelectorAll(".st-filters fieldset")) {
      const values = [...group.querySelectorAll("input:checked")].map((input) => input.value);
      if (values.length) filters[group.dataset.dimension] = values;
    }
    const textAr = box.querySelector(".st-text_ar").value.trim();
    return { indicator: box.querySelector(".st-indicator").value, filters,
      text: box.querySelector(".st-text").value.trim(), text_ar: textAr || null };
  },

  refreshPreviews() {
    for (const box of document.querySelectorAll("#statements fieldset.statement")) this.preview(box);
  },

  /** The figure the public page would show this year (from the aggregates), then the sentences. */
  async preview(box) {
    const statement = this.read(box);
    const year = $("#st-year").value;
    const query = new URLSearchParams({ indicator: statement.indicator, country: $("#st-country").value,
      from: year + "-01-01", to: year + "-12-31" });
    for (const [dim, values] of Object.entries(statement.filters)) query.set(dim, values.join(","));
    try {
      const answer = await api("/api/v1/aggregates?" + query);
      box.previewValue = answer.total;
    } catch (failure) {
      box.previewValue = null;
    }
    this.previewText(box);
  },

  previewText(box) {
    const statement = this.read(box);
    const year = $("#st-year").value;
    const value = box.previewValue;
    for (const lang of ["en", "ar"]) {
      const shown = value === null || value === undefined ? "…"
        : value >= 1 && value <= 9 ? this.words[lang] : PREVIEW_NUMBERS[lang].format(value);
      const sentence = (lang === "ar" && statement.text_ar) || statement.text;
      box.querySelector(".st-preview-" + lang).replaceChildren(
        el("strong", { text: shown }), " ", el("bdi", { text: sentence.replaceAll("{year}", year) }));
    }
  },

  async saveStatements() {
    const form = $("#statements-form");
    const list = form.querySelector(":scope > .field-errors");
    list.replaceChildren();
    const body = [...document.querySelectorAll("#statements fieldset.statement")].map((box) => this.read(box));
    try {
      await api("/api/v1/countries/" + encodeURIComponent($("#st-country").value) + "/statements", { method: "PUT", body });
    } catch (failure) {
      listErrors(list, failure);
      return;
    }
    await this.loadStatements();
    say(t("Statements saved."));
  },
};
