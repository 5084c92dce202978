/* Impact overview: headline figures, the month chart and the breakdowns, with filters kept in the address. */

import { formatDate, formatNumber, LANG, MONTHS, t } from "../i18n.js";
import { localName } from "../labels.js";
import { $, el, fillTable, labelsFrom, replaceOptions, saveBlob, say, showError } from "../dom.js";
import { api, fetchAll, report } from "../api.js";
import { barChart, columnChart } from "../chart.js";

const ALL = "*"; // the country select's "All my countries"

export const overview = {
  indicators: [],
  teams: [],
  labels: {},

  async init() {
    this.labels = {
      population_group: labelsFrom("labels-population_group"),
      sex: labelsFrom("labels-sex"),
      age_band: labelsFrom("labels-age_band"),
    };
    say(t("Loading…"));
    const [indicators, teams, countryRows] = await Promise.all([fetchAll("/api/v1/indicators"),
      fetchAll("/api/v1/teams"), fetchAll("/api/v1/countries")]);
    const countryNames = new Map(countryRows.map((row) => [row.code, localName(row)]));
    this.indicators = indicators.map((indicator) => ({ ...indicator, label: t(indicator.label) }));
    this.teams = teams.map((team) => ({ ...team, name: (LANG === "ar" && team.name_ar) || team.name }));
    if (LANG === "ar") {
      const [areas, sites] = await Promise.all([fetchAll("/api/v1/areas"), fetchAll("/api/v1/sites")]);
      this.areaNames = new Map(areas.filter((area) => area.name_ar).map((area) => [area.id, area.name_ar]));
      this.siteNames = new Map(sites.filter((site) => site.name_ar).map((site) => [site.id, site.name_ar]));
    }
    const form = $("#filters");
    const params = new URLSearchParams(location.search);
    const countries = [...new Set(teams.map((team) => team.country))].sort();
    if (!countries.length) {
      say("");
      showError(t("No teams are in your countries yet, so there is nothing to show."));
      return;
    }
    // Countries by name; a coordinator of several also gets them all at once (the API takes a list).
    this.countries = countries;
    replaceOptions($("#f-country"), countries.map((code) => [code, countryNames.get(code) || code]), null);
    if (countries.length > 1) $("#f-country").prepend(el("option", { value: ALL, text: t("All my countries") }));
    const wanted = params.get("country");
    $("#f-country").value = countries.includes(wanted) ? wanted
      : countries.length > 1 && (wanted === ALL || wanted === countries.join(",") || !wanted) ? ALL : countries[0];
    replaceOptions($("#f-indicator"), this.indicators.map((indicator) => [indicator.code, indicator.label]), null);
    // On a phone the filters start folded, so the figures are on the first screen.
    if (window.matchMedia("(max-width: 600px)").matches && !params.get("filters")) $("#filters-panel").open = false;
    if (indicators.some((indicator) => indicator.code === params.get("indicator"))) {
      $("#f-indicator").value = params.get("indicator");
    }
    // Without a year in the address, open on the latest year that has records: a programme whose
    // data is from earlier years would otherwise see zeros and believe the sync lost them.
    const year = /^\d{4}$/.test(params.get("year") || "")
      ? params.get("year")
      : await this.latestYear(this.countryParam());
    $("#f-year").value = year;
    $("#f-from").value = params.get("from") || year + "-01-01";
    $("#f-to").value = params.get("to") || year + "-12-31";
    for (const name of ["population_group", "sex", "age_band"]) {
      if (params.get(name)) $("#f-" + name).value = params.get(name);
    }
    this.fillTeams(params.get("team"));
    await this.loadPlaces(params.get("area"), params.get("site"));

    $("#f-country").addEventListener("change", () => {
      this.fillTeams(null);
      this.loadPlaces(null, null).catch(report);
    });
    $("#f-indicator").addEventListener("change", () => this.loadPlaces().catch(report));
    $("#f-year").addEventListener("change", () => {
      const value = $("#f-year").value;
      if (/^\d{4}$/.test(value)) {
        $("#f-from").value = value + "-01-01";
        $("#f-to").value = value + "-12-31";
        this.loadPlaces().catch(report);
      }
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.refresh().catch(report);
    });
    form.addEventListener("reset", () => {
      // After the browser resets the controls, put back the year's dates and reload.
      setTimeout(() => {
        $("#f-year").value = year;
        $("#f-from").value = year + "-01-01";
        $("#f-to").value = year + "-12-31";
        this.refresh().catch(report);
      }, 0);
    });
    for (const breakdown of document.querySelectorAll(".downloads")) this.addDownloads(breakdown);
    await this.refresh();
  },

  /** The latest year with records of any indicator in the country, else the current year. */
  async latestYear(country) {
    const answers = await Promise.all(this.indicators.map((indicator) =>
      api("/api/v1/aggregates?" + new URLSearchParams({ indicator: indicator.code, group_by: "year", country }))));
    const years = answers.flatMap((answer) => answer.rows.filter((row) => row.value > 0).map((row) => row.year));
    return String(years.length ? Math.max(...years) : new Date().getFullYear());
  },

  /** The `country` filter: the chosen code, or every country of the caller's for "All my countries". */
  countryParam() {
    const value = $("#f-country").value;
    return value === ALL ? this.countries.join(",") : value;
  },

  fillTeams(selected) {
    const countries = new Set(this.countryParam().split(","));
    const teams = this.teams.filter((team) => countries.has(team.country));
    replaceOptions($("#f-team"), teams.map((team) => [team.id, team.name]), t("All teams"));
    if (selected && teams.some((team) => team.id === selected)) $("#f-team").value = selected;
  },

  /** Areas and sites with records for the indicator in the year: the API's own names for them. */
  async loadPlaces(area, site) {
    const keepArea = area === undefined ? $("#f-area").value : area;
    const keepSite = site === undefined ? $("#f-site").value : site;
    const year = $("#f-year").value;
    const query = new URLSearchParams({
      indicator: $("#f-indicator").value,
      group_by: "area,site",
      country: this.countryParam(),
      from: year + "-01-01",
      to: year + "-12-31",
    });
    const answer = await api("/api/v1/aggregates?" + query);
    const areas = new Map();
    const sites = new Map();
    for (const row of answer.rows) {
      areas.set(row.area, this.placeName("area", row.area, row.area_name));
      sites.set(row.site, this.placeName("site", row.site, row.site_name));
    }
    const byName = (a, b) => a[1].localeCompare(b[1], LANG);
    replaceOptions($("#f-area"), [...areas].sort(byName), t("All areas"));
    replaceOptions($("#f-site"), [...sites].sort(byName), t("All sites"));
    if (keepArea && areas.has(keepArea)) $("#f-area").value = keepArea;
    if (keepSite && sites.has(keepSite)) $("#f-site").value = keepSite;
  },

  filters() {
    const query = new URLSearchParams();
    query.set("country", this.countryParam());
    for (const name of ["area", "site", "team", "population_group", "sex", "age_band"]) {
      const value = $("#f-" + name).value;
      if (value) query.set(name, value);
    }
    const from = $("#f-from").value;
    const to = $("#f-to").value;
    if (from) query.set("from", from);
    if (to) query.set("to", to);
    return query;
  },

  indicator() {
    const code = $("#f-indicator").value;
    return this.indicators.find((indicator) => indicator.code === code) || this.indicators[0];
  },

  /** The filters in words; names and dates isolated, so "1 Jan 2026 to 31 Dec 2026" keeps its order in Arabic. */
  describeFilters() {
    const parts = [];
    for (const name of ["country", "area", "site", "team", "population_group", "sex", "age_band"]) {
      const select = $("#f-" + name);
      if (select.value) parts.push(el("bdi", { text: select.options[select.selectedIndex].textContent }));
    }
    const from = $("#f-from").value;
    const to = $("#f-to").value;
    parts.push([el("bdi", { text: from ? formatDate(from) : "…" }), " " + t("to") + " ",
      el("bdi", { text: to ? formatDate(to) : "…" })]);
    return parts.flatMap((part, index) => (index ? [" · ", part] : [part])).flat();
  },

  async refresh() {
    showError("");
    const from = $("#f-from").value;
    const to = $("#f-to").value;
    if (from && to && from > to) {
      showError(t("The start date is after the end date."));
      return;
    }
    const filters = this.filters();
    // Shareable, reloadable: the filters live in the address bar.
    const shown = new URLSearchParams(filters);
    shown.set("year", $("#f-year").value);
    shown.set("indicator", $("#f-indicator").value);
    history.replaceState(null, "", location.pathname + "?" + shown);
    say(t("Loading figures…"));
    const indicator = this.indicator();
    const aggregate = (code, groupBy) => {
      // A filter or breakdown the indicator does not have (a training has no population group or
      // age band) is left out, not sent to be refused: the breakdown shows as empty.
      const dimensions = this.indicators.find((item) => item.code === code).dimensions;
      if (groupBy && !groupBy.split(",").every((name) => dimensions.includes(name))) {
        return Promise.resolve({ rows: [], total: 0 });
      }
      const query = new URLSearchParams(filters);
      for (const name of [...query.keys()]) {
        if (!["from", "to"].includes(name) && !dimensions.includes(name)) query.delete(name);
      }
      query.set("indicator", code);
      if (groupBy) query.set("group_by", groupBy);
      return api("/api/v1/aggregates?" + query);
    };
    const sexAge = indicator.dimensions.includes("sex") && indicator.dimensions.includes("age_band");
    const [totals, byMonth, byArea, byGroup, bySexAge] = await Promise.all([
      Promise.all(this.indicators.map((item) => aggregate(item.code, null))),
      aggregate(indicator.code, "month"),
      aggregate(indicator.code, "area"),
      aggregate(indicator.code, "population_group"),
      sexAge ? aggregate(indicator.code, "sex,age_band") : Promise.resolve(null),
    ]);
    $("#headline-scope").replaceChildren(...this.describeFilters());
    this.renderHeadlines(totals, indicator);
    this.renderMonths(byMonth, indicator);
    this.renderBreakdown("area", byArea, indicator, (row) => this.placeName("area", row.area, row.area_name), t("Area"),
      t("by area"));
    this.renderBreakdown("population_group", byGroup, indicator,
      (row) => this.labels.population_group[row.population_group] || row.population_group, t("Population group"),
      t("by population group"));
    this.renderSexAge(bySexAge, indicator);
    say(t("Figures updated at") + " " + new Date().toLocaleTimeString(LANG === "en" ? "en-GB" : LANG, { numberingSystem: "latn" }) + ".");
  },

  /** Rows: sexes; columns: age bands, then the row's total (the standard humanitarian disaggregation). */
  renderSexAge(answer, indicator) {
    const table = $("#table-sex_age");
    if (!table) return;
    const sexes = Object.keys(this.labels.sex);
    const bands = Object.keys(this.labels.age_band);
    if (!answer) {
      fillTable(table, t("This indicator is not broken down by sex and age band."), [t("Sex")], [], null);
      return;
    }
    const value = (sex, band) => answer.rows
      .filter((row) => row.sex === sex && (band === null || row.age_band === band))
      .reduce((sum, row) => sum + row.value, 0);
    const rows = sexes.map((sex) => [this.labels.sex[sex], ...bands.map((band) => formatNumber(value(sex, band))),
      formatNumber(value(sex, null))]);
    const footer = [t("Total"), ...bands.map((band) => formatNumber(answer.rows
      .filter((row) => row.age_band === band).reduce((sum, row) => sum + row.value, 0))),
    formatNumber(answer.rows.reduce((sum, row) => sum + row.value, 0))];
    fillTable(table, indicator.label + distinctNote(indicator, null),
      [t("Sex"), ...bands.map((band) => this.labels.age_band[band]), t("Total")], rows, footer);
    for (const [index, tr] of [...table.tBodies[0].rows].entries()) tr.dataset.sex = sexes[index] || "";
  },

  /** A place's name in the page's language (Arabic names come from the admin API), else the API's. */
  placeName(kind, id, fallback) {
    const names = kind === "area" ? this.areaNames : this.siteNames;
    return (names && names.get(id)) || fallback || id;
  },

  renderHeadlines(totals, selected) {
    const list = $("#headlines");
    list.replaceChildren(
      ...totals.map((answer, index) => {
        const indicator = this.indicators[index];
        return el("li", {
          class: "headline" + (indicator.code === selected.code ? " selected" : ""),
          dataset: { indicator: indicator.code },
        },
        el("span", { class: "headline-value", dataset: { value: answer.total }, text: formatNumber(answer.total) }),
        el("span", { class: "headline-label", text: indicator.label }));
      }),
    );
  },

  renderMonths(answer, indicator) {
    const values = new Map(answer.rows.map((row) => [row.month, row.value]));
    const months = monthsBetween($("#f-from").value, $("#f-to").value);
    const multiYear = months.length && months[0].slice(0, 4) !== months[months.length - 1].slice(0, 4);
    const points = months.map((month) => {
      const name = MONTHS[Number(month.slice(5, 7)) - 1];
      return {
        label: multiYear ? name + " " + month.slice(2, 4) : name,
        title: name + " " + month.slice(0, 4),
        value: values.get(month) || 0,
      };
    });
    columnChart($("#chart-month"), points, indicator.label + " " + t("by month") + ". " + t("The table below lists the values."));
    fillTable(
      $("#table-month"),
      indicator.label + " " + t("by month") + distinctNote(indicator, "month"),
      [t("Month"), indicator.label],
      points.map((point) => [point.title, formatNumber(point.value)]),
      [t("Total"), formatNumber(answer.total)],
    );
  },

  renderBreakdown(dimension, answer, indicator, name, heading, byWords) {
    const rows = [...answer.rows].sort((a, b) => b.value - a.value || name(a).localeCompare(name(b)));
    const points = rows.map((row) => ({ label: name(row), value: row.value }));
    barChart($("#chart-" + dimension), points, indicator.label + " " + byWords + ". " + t("The table below lists the values."));
    fillTable(
      $("#table-" + dimension),
      indicator.label + " " + byWords + distinctNote(indicator, null),
      [heading, indicator.label],
      points.map((point) => [point.label, formatNumber(point.value)]),
      [t("Total"), formatNumber(answer.total)],
    );
  },

  addDownloads(container) {
    const groupBy = container.dataset.groupBy;
    const heading = container.closest("section").querySelector("h2").textContent.toLowerCase();
    for (const format of ["csv", "hxl"]) {
      container.append(el("button", {
        type: "button",
        class: "button-secondary",
        dataset: { format },
        text: t("Download") + " " + format.toUpperCase(),
        // The visible words first, so the accessible name contains them (WCAG 2.5.3, axe label-content-name-mismatch).
        "aria-label": t("Download") + " " + format.toUpperCase() + " (" + heading + ")",
        onclick: () => this.download(groupBy, format).catch(report),
      }));
    }
  },

  async download(groupBy, format) {
    const query = this.filters();
    query.set("indicator", this.indicator().code);
    query.set("group_by", groupBy);
    query.set("format", format);
    const blob = await api("/api/v1/aggregates?" + query, { accept: "text/csv" });
    const name = [this.indicator().code, "by", groupBy, this.countryParam().replaceAll(",", "-"), $("#f-from").value, $("#f-to").value]
      .filter(Boolean).join("_");
    saveBlob(blob, name + (format === "hxl" ? ".hxl.csv" : ".csv"));
    say(t("Downloaded") + " " + name + ".");
  },
};

function distinctNote(indicator, timeDimension) {
  if (indicator.measure !== "distinct_people") return "";
  return timeDimension
    ? " (" + t("a person counts once per month in a row, once per year in the total") + ")"
    : " (" + t("a person counts once per year, under their first record") + ")";
}

function monthsBetween(from, to) {
  const months = [];
  if (!from || !to) return months;
  let year = Number(from.slice(0, 4));
  let month = Number(from.slice(5, 7));
  const lastYear = Number(to.slice(0, 4));
  const lastMonth = Number(to.slice(5, 7));
  while ((year < lastYear || (year === lastYear && month <= lastMonth)) && months.length < 120) {
    months.push(year + "-" + String(month).padStart(2, "0"));
    month += 1;
    if (month > 12) {
      month = 1;
      year += 1;
    }
  }
  return months;
}
