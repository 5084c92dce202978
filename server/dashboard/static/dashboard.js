/* Fieldsync coordinator dashboard.
 *
 * The HTML pages are empty shells; everything shown comes from the JSON API with the bearer token
 * obtained at sign-in and kept in sessionStorage (it ends with the tab). Data is only ever written
 * into the page with textContent / attributes, never as markup, and the Content-Security-Policy
 * forbids inline scripts: a hostile value in a record cannot become code.
 */
(function () {
  "use strict";

  const TOKEN_KEY = "fieldsync.token";
  const EXPIRES_KEY = "fieldsync.expires";
  const USER_KEY = "fieldsync.username";
  const ROLE_KEY = "fieldsync.role";
  const SILENT_DAYS = 7;
  const DAY_MS = 24 * 60 * 60 * 1000;
  // The page's language (the server chose it: ?lang=, the switch's cookie, Accept-Language) and direction.
  const LANG = document.documentElement.lang || "en";
  const RTL = document.documentElement.dir === "rtl";
  // Latin digits in Arabic too, as the server's Babel formats them (and as Libya writes numbers).
  const numberFormat = new Intl.NumberFormat(LANG, { numberingSystem: "latn" });
  const MONTHS = Array.from({ length: 12 }, (_, index) =>
    new Intl.DateTimeFormat(LANG, { month: "short", timeZone: "UTC" }).format(new Date(Date.UTC(2000, index, 1))));
  const MESSAGES = {};
  for (const item of (document.getElementById("i18n") || { content: { querySelectorAll: () => [] } })
    .content.querySelectorAll("data")) {
    MESSAGES[item.value] = item.textContent;
  }

  /** A sentence in the page's language: the catalogue's translation of the English text, or the text. */
  function t(message) {
    return MESSAGES[message] || message;
  }

  // --- small DOM helpers --------------------------------------------------------------------

  function $(selector, root) {
    return (root || document).querySelector(selector);
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    setAttrs(node, attrs);
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    setAttrs(node, attrs);
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function setAttrs(node, attrs) {
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") node.textContent = value;
      else if (name === "dataset") Object.assign(node.dataset, value);
      else if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
  }

  function formatNumber(value) {
    return value === null || value === undefined ? "—" : numberFormat.format(value);
  }

  function say(message) {
    const status = $("#status");
    if (status) status.textContent = message;
  }

  function showError(message) {
    const banner = $("#error");
    if (!banner) return;
    banner.textContent = message || "";
    banner.hidden = !message;
  }

  function labelsFrom(templateId) {
    const labels = {};
    const template = document.getElementById(templateId);
    if (template) {
      for (const item of template.content.querySelectorAll("data")) labels[item.value] = item.textContent;
    }
    return labels;
  }

  // --- session and API ----------------------------------------------------------------------

  function token() {
    const value = sessionStorage.getItem(TOKEN_KEY);
    const expires = sessionStorage.getItem(EXPIRES_KEY);
    if (!value || (expires && Date.parse(expires) <= Date.now())) return null;
    return value;
  }

  function signOut(expired) {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(EXPIRES_KEY);
    sessionStorage.removeItem(USER_KEY);
    sessionStorage.removeItem(ROLE_KEY);
    const next = location.pathname + location.search;
    location.assign("/dashboard/login" + (expired ? "?expired=1&next=" + encodeURIComponent(next) : ""));
  }

  class ApiFailure extends Error {
    constructor(status, envelope) {
      const error = (envelope && envelope.error) || {};
      super(error.message || t("The server answered") + " " + status + ".");
      this.status = status;
      this.code = error.code || "http_" + status;
      this.fields = error.fields || {};
      this.body = envelope || {};
    }
  }

  async function api(path, options) {
    const { method = "GET", body, accept = "application/json" } = options || {};
    const headers = { Accept: accept };
    const bearer = token();
    if (bearer) headers.Authorization = "Bearer " + bearer;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "omit", // authority is the bearer token, never a cookie
        cache: "no-store",
      });
    } catch (error) {
      throw new ApiFailure(0, { error: { message: t("The server cannot be reached. Check the connection.") } });
    }
    if (response.status === 401 && bearer) {
      signOut(true);
      throw new ApiFailure(401, null);
    }
    if (!response.ok) {
      let envelope = null;
      try {
        envelope = await response.json();
      } catch (ignored) {
        envelope = null;
      }
      throw new ApiFailure(response.status, envelope);
    }
    return accept === "application/json" ? response.json() : response.blob();
  }

  /** Every page of a list endpoint (api.md "Lists"), up to a sane bound. */
  async function fetchAll(path, maxPages) {
    const items = [];
    let cursor = null;
    for (let page = 0; page < (maxPages || 20); page += 1) {
      const separator = path.includes("?") ? "&" : "?";
      const url = path + separator + "limit=500" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : "");
      const answer = await api(url);
      items.push(...answer.items);
      cursor = answer.next_cursor;
      if (!cursor) break;
    }
    return items;
  }

  function fieldMessages(failure) {
    return Object.entries(failure.fields || {}).map(([field, messages]) => field + ": " + messages.join(" "));
  }

  function describeFailure(failure) {
    if (failure.status === 403) return t("You may not see or change this:") + " " + failure.message;
    const fields = fieldMessages(failure);
    return fields.length ? failure.message + " " + fields.join("; ") : failure.message;
  }

  function saveBlob(blob, filename) {
    const url = URL.createObjectURL(blob);
    const link = el("a", { href: url, download: filename, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  // --- charts (inline SVG, drawn here: no library) --------------------------------------------

  function chartFrame(width, height, label) {
    return svg("svg", {
      viewBox: "0 0 " + width + " " + height,
      role: "img",
      "aria-label": label,
      preserveAspectRatio: "xMidYMid meet",
    });
  }

  /** An x coordinate mirrored for right-to-left pages (a box of `boxWidth` keeps its width). */
  function mirrorX(width, x, boxWidth) {
    return RTL ? width - x - (boxWidth || 0) : x;
  }

  /** The top of the value axis: four equal steps, each a whole "nice" number (counts have no fractions). */
  function niceMax(value) {
    const rough = Math.max(value, 1) / 4;
    const magnitude = Math.pow(10, Math.floor(Math.log10(rough)));
    for (const step of [1, 2, 2.5, 5, 10]) {
      const candidate = step * magnitude;
      if (candidate >= rough && Number.isInteger(candidate)) return candidate * 4;
    }
    return 40 * magnitude;
  }

  /** Vertical columns: [{label, title, value}] (the month chart). */
  function columnChart(container, points, label) {
    container.replaceChildren();
    if (!points.some((point) => point.value > 0)) {
      container.append(el("p", { class: "empty", text: t("No records match these filters.") }));
      return;
    }
    // Drawn at the container's width, so 1 unit is 1 CSS pixel and the labels stay readable.
    const width = Math.max(320, Math.min(container.clientWidth || 760, 1100));
    const height = 260;
    const left = 56;
    const bottom = 34;
    const top = 16;
    const plotHeight = height - top - bottom;
    const max = niceMax(Math.max(...points.map((point) => point.value)));
    const frame = chartFrame(width, height, label);
    for (let tick = 0; tick <= 4; tick += 1) {
      const y = top + plotHeight - (plotHeight * tick) / 4;
      frame.append(svg("line", { class: tick ? "grid" : "axis", x1: mirrorX(width, left), x2: mirrorX(width, width - 8),
        y1: y, y2: y }));
      frame.append(svg("text", { x: mirrorX(width, left - 8), y: y + 4, "text-anchor": RTL ? "start" : "end" },
        formatNumber((max * tick) / 4)));
    }
    const slot = (width - left - 8) / points.length;
    if (RTL) frame.setAttribute("class", "rtl");
    const barWidth = Math.max(4, Math.min(48, slot * 0.7));
    points.forEach((point, index) => {
      const barHeight = (plotHeight * point.value) / max;
      const x = mirrorX(width, left + slot * index + (slot - barWidth) / 2, barWidth); // months run right to left
      const y = top + plotHeight - barHeight;
      frame.append(
        svg("rect", { class: "bar", x, y, width: barWidth, height: Math.max(barHeight, 0) },
          svg("title", {}, point.title + ": " + formatNumber(point.value))),
      );
      if (points.length <= 24) {
        frame.append(svg("text", { x: x + barWidth / 2, y: height - bottom + 16, "text-anchor": "middle" }, point.label));
      }
    });
    container.append(frame);
  }

  /** Horizontal bars: [{label, value}] (areas, population groups). */
  function barChart(container, points, label) {
    container.replaceChildren();
    if (!points.length) {
      container.append(el("p", { class: "empty", text: t("No records match these filters.") }));
      return;
    }
    const width = Math.max(300, container.clientWidth || 520);
    const row = 30;
    const left = Math.min(180, Math.round(width * 0.38));
    const right = 64;
    const height = points.length * row + 8;
    const max = niceMax(Math.max(...points.map((point) => point.value)));
    const frame = chartFrame(width, height, label);
    points.forEach((point, index) => {
      const y = 4 + index * row;
      const barWidth = ((width - left - right) * point.value) / max;
      const fits = Math.max(6, Math.floor((left - 12) / 7.5)); // ~7.5 px a character at 13 px
      const name = point.label.length > fits ? point.label.slice(0, fits - 1) + "…" : point.label;
      frame.append(svg("text", { x: mirrorX(width, left - 8), y: y + row / 2 + 4, "text-anchor": RTL ? "start" : "end" },
        name));
      frame.append(
        svg("rect", { class: "bar", x: mirrorX(width, left, Math.max(barWidth, 1)), y: y + 4,
          width: Math.max(barWidth, 1), height: row - 8 },
          svg("title", {}, point.label + ": " + formatNumber(point.value))),
      );
      frame.append(svg("text", { class: "value", x: mirrorX(width, left + barWidth + 6), y: y + row / 2 + 4,
        "text-anchor": RTL ? "end" : "start" }, formatNumber(point.value)));
    });
    frame.append(svg("line", { class: "axis", x1: mirrorX(width, left), x2: mirrorX(width, left), y1: 0, y2: height }));
    container.append(frame);
  }

  function fillTable(table, caption, headers, rows, footer) {
    table.caption.textContent = caption;
    table.tHead.replaceChildren(
      el("tr", {}, headers.map((header, index) => el("th", { scope: "col", class: index ? "num" : null, text: header }))),
    );
    const body = table.tBodies[0];
    body.replaceChildren(
      ...rows.map((cells) =>
        el("tr", {}, cells.map((cell, index) =>
          index ? el("td", { class: "num", text: cell }) : el("th", { scope: "row", text: cell }))),
      ),
    );
    if (!rows.length) {
      body.append(el("tr", {}, el("td", { colspan: headers.length, text: t("No records match these filters.") })));
    }
    let foot = table.tFoot;
    if (foot) foot.remove();
    if (footer) {
      foot = table.createTFoot();
      foot.append(el("tr", {}, footer.map((cell, index) =>
        index ? el("td", { class: "num", text: cell }) : el("th", { scope: "row", text: cell }))));
    }
  }

  // --- pages --------------------------------------------------------------------------------

  async function loginPage() {
    const form = $("#login-form");
    const params = new URLSearchParams(location.search);
    if (params.get("expired")) say(t("Your session ended. Please sign in again."));
    $("#username").focus();
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      showError("");
      const username = $("#username").value.trim();
      const password = $("#password").value;
      if (!username || !password) {
        showError(t("Enter your username and password."));
        return;
      }
      const button = $("#login-submit");
      button.disabled = true;
      say(t("Signing in…"));
      try {
        const answer = await api("/api/v1/auth/token", { method: "POST", body: { username, password } });
        sessionStorage.setItem(TOKEN_KEY, answer.token);
        sessionStorage.setItem(EXPIRES_KEY, answer.expires_at);
        sessionStorage.setItem(USER_KEY, username);
        sessionStorage.setItem(ROLE_KEY, answer.role);
        location.assign(safeNext(params.get("next")));
      } catch (failure) {
        say("");
        if (failure.status === 401) showError(t("Wrong username or password."));
        else if (failure.status === 429) showError(t("Too many attempts. Wait a few minutes, then try again."));
        else showError(describeFailure(failure));
        $("#password").select();
      } finally {
        button.disabled = false;
      }
    });
  }

  function safeNext(next) {
    // Only back into the dashboard: an open redirect would let a link send a coordinator elsewhere.
    return next && /^\/dashboard(\/[A-Za-z0-9_\-/]*)?(\?[^#]*)?$/.test(next) ? next : "/dashboard";
  }

  // --- impact overview ---

  const overview = {
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
      const [indicators, teams] = await Promise.all([fetchAll("/api/v1/indicators"), fetchAll("/api/v1/teams")]);
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
      replaceOptions($("#f-country"), countries.map((code) => [code, code]), null);
      $("#f-country").value = countries.includes(params.get("country")) ? params.get("country") : countries[0];
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
        : await this.latestYear($("#f-country").value);
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

    fillTeams(selected) {
      const country = $("#f-country").value;
      const teams = this.teams.filter((team) => team.country === country);
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
        country: $("#f-country").value,
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
      query.set("country", $("#f-country").value);
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

    describeFilters() {
      const parts = [$("#f-country").value];
      for (const name of ["area", "site", "team", "population_group", "sex", "age_band"]) {
        const select = $("#f-" + name);
        if (select.value) parts.push(select.options[select.selectedIndex].textContent);
      }
      parts.push(($("#f-from").value || "…") + " " + t("to") + " " + ($("#f-to").value || "…"));
      return parts.join(" · ");
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
        const query = new URLSearchParams(filters);
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
      $("#headline-scope").textContent = this.describeFilters();
      this.renderHeadlines(totals, indicator);
      this.renderMonths(byMonth, indicator);
      this.renderBreakdown("area", byArea, indicator, (row) => this.placeName("area", row.area, row.area_name), t("Area"),
        t("by area"));
      this.renderBreakdown("population_group", byGroup, indicator,
        (row) => this.labels.population_group[row.population_group] || row.population_group, t("Population group"),
        t("by population group"));
      this.renderSexAge(bySexAge, indicator);
      say(t("Figures updated at") + " " + new Date().toLocaleTimeString(LANG === "en" ? "en-GB" : LANG) + ".");
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
          "aria-label": t("Download") + " " + heading + " " + t("as") + " " + format.toUpperCase(),
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
      const name = [this.indicator().code, "by", groupBy, $("#f-country").value, $("#f-from").value, $("#f-to").value]
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

  function replaceOptions(select, pairs, allLabel) {
    const options = pairs.map(([value, label]) => el("option", { value, text: label }));
    if (allLabel) options.unshift(el("option", { value: "", text: allLabel }));
    select.replaceChildren(...options);
  }

  // --- sync health ---

  const devicesPage = {
    teams: new Map(),
    pending: null,

    async init() {
      say(t("Loading devices…"));
      const [teams, devices] = await Promise.all([fetchAll("/api/v1/teams"), fetchAll("/api/v1/devices")]);
      this.teams = new Map(teams.map((team) => [team.id, { ...team, name: (LANG === "ar" && team.name_ar) || team.name }]));
      const body = $("#devices-table tbody");
      body.replaceChildren(...devices.map((device) => this.row(device)));
      if (!devices.length) {
        body.append(el("tr", {}, el("td", { colspan: 7, text: t("No devices are enrolled in your countries.") })));
      }
      this.summarise();
      this.initCollect(teams);
      const dialog = $("#revoke-dialog");
      dialog.addEventListener("close", () => {
        const device = this.pending;
        this.pending = null;
        if (device && dialog.returnValue === "revoke") this.revoke(device).catch(report);
      });
      say("");
    },

    row(device) {
      const lastContact = device.last_seen_at || device.enrolled_at;
      const silentDays = lastContact ? Math.floor((Date.now() - Date.parse(lastContact)) / DAY_MS) : null;
      // A revoked tablet is expected to be quiet; only active ones that went quiet need a look.
      const silent = device.status === "active" && silentDays !== null && silentDays > SILENT_DAYS;
      const team = this.teams.get(device.team_id);
      const lastSync = device.last_seen_at
        ? [el("time", { datetime: device.last_seen_at, text: formatTime(device.last_seen_at) }),
          el("br"), el("span", { class: "subtle", text: ago(device.last_seen_at) })]
        : [el("span", { text: t("Never synced") })];
      const statusCell = el("td", { class: "status-cell", tabindex: "-1" }, statusBadge(device));
      const actions = el("td");
      if (device.status === "active") {
        actions.append(el("button", {
          type: "button",
          class: "button-danger revoke",
          "aria-label": t("Revoke") + " " + device.label + " " + t("of") + " " + device.username,
          text: t("Revoke"),
          onclick: () => this.confirm(device),
        }));
      }
      const row = el("tr", { class: silent ? "silent" : null, dataset: { deviceId: device.id, silent: silent ? "1" : "0" } },
        el("td", {},
          el("strong", { text: device.label }), el("br"),
          el("span", { class: "subtle", text: device.username + " · " }),
          el("code", { class: "subtle", title: device.id, text: device.id.slice(0, 8) })),
        el("td", {}, team ? team.name : device.team_id, el("br"), el("span", { class: "subtle", text: device.team_id })),
        el("td", {}, lastSync, silent ? [el("br"), el("span", { class: "badge warn", text: t("Silent") + " " + silentDays + " " + t("days") })] : []),
        el("td", { text: device.app_version || "—" }),
        statusCell,
        el("td", { class: "num" }, device.pending_conflicts
          ? el("a", { href: "/dashboard/quality", text: String(device.pending_conflicts) })
          : "0"),
        actions,
      );
      labelCells(row, $("#devices-table"));
      return row;
    },

    /** "Enrol a tablet for ODK Collect": the QR code (and the key in it) is shown once, then dropped. */
    initCollect(teams) {
      replaceOptions($("#collect-team"), teams.map((team) => [team.id, team.name]));
      const result = $("#collect-result");
      const image = $("#collect-qr");
      $("#collect-form").addEventListener("submit", (event) => {
        event.preventDefault();
        const team = $("#collect-team").value;
        const body = { username: $("#collect-username").value.trim(), label: $("#collect-label").value.trim() };
        say(t("Enrolling") + " " + body.label + "…");
        api("/api/v1/teams/" + encodeURIComponent(team) + "/collect-devices", { method: "POST", body })
          .then(async (answer) => {
            image.src = answer.qr_png;
            result.hidden = false;
            $("#collect-form").reset();
            const devices = await fetchAll("/api/v1/devices");
            $("#devices-table tbody").replaceChildren(...devices.map((device) => this.row(device)));
            this.summarise();
            say(body.label + " " + t("is enrolled: scan the QR code with ODK Collect now."));
            $("#collect-done").focus();
          })
          .catch((failure) => showError(describeFailure(failure)));
      });
      $("#collect-done").addEventListener("click", () => {
        image.removeAttribute("src");
        result.hidden = true;
        say(t("The QR code is hidden; it cannot be shown again."));
      });
    },

    summarise() {
      const rows = [...document.querySelectorAll("#devices-table tbody tr[data-device-id]")];
      const revoked = rows.filter((row) => row.querySelector(".badge.revoked")).length;
      const silent = rows.filter((row) => row.dataset.silent === "1").length;
      $("#devices-summary").textContent =
        rows.length + " " + t("devices") + ": " + (rows.length - revoked) + " " + t("active") + ", " + revoked + " " +
        t("revoked") + "; " + silent + " " + t("silent for more than 7 days") + ".";
    },

    confirm(device) {
      this.pending = device;
      $("#revoke-text").textContent =
        "“" + device.label + "” " + t("of") + " " + device.username + " " +
        t("will be refused from its next sync and asked to wipe its data. Records it already sent stay; anything it sends later is kept in quarantine for review.");
      const dialog = $("#revoke-dialog");
      dialog.returnValue = "";
      dialog.showModal();
      $("#revoke-cancel").focus(); // the safe choice has focus: Enter does not revoke by accident
    },

    async revoke(device) {
      say(t("Revoking") + " " + device.label + "…");
      const updated = await api("/api/v1/devices/" + encodeURIComponent(device.id) + "/revoke", { method: "POST" });
      const row = document.querySelector('tr[data-device-id="' + CSS.escape(device.id) + '"]');
      const replacement = this.row(updated);
      row.replaceWith(replacement);
      this.summarise();
      say(t("Device") + " " + device.label + " " + t("of") + " " + device.username + " " + t("is revoked."));
      replacement.querySelector(".status-cell").focus();
    },
  };

  /** Each cell gets its column's heading as `data-label`: on a phone the rows are stacked as cards. */
  function labelCells(row, table) {
    const headings = [...table.tHead.rows[0].cells].map((cell) => cell.textContent.trim());
    [...row.cells].forEach((cell, index) => {
      if (headings[index]) cell.dataset.label = headings[index];
    });
  }

  function statusBadge(device) {
    if (device.status === "revoked") {
      return [el("span", { class: "badge revoked", text: t("Revoked") }),
        device.revoked_at ? el("span", { class: "subtle", text: " " + formatTime(device.revoked_at) }) : null];
    }
    return el("span", { class: "badge active", text: t("Active") });
  }

  function formatTime(iso) {
    return iso.replace("T", " ").replace(/:\d\d(\.\d+)?Z$/, " UTC");
  }

  function ago(iso) {
    const minutes = Math.floor((Date.now() - Date.parse(iso)) / 60000);
    if (minutes < 1) return t("just now");
    if (minutes < 60) return minutes + " " + t("min ago");
    const hours = Math.floor(minutes / 60);
    if (hours < 48) return hours + " " + t("h ago");
    return Math.floor(hours / 24) + " " + t("days ago");
  }

  // --- data quality ---

  // Conflicts and quarantine are read a page at a time from the server (api.md "Lists"): a revoked
  // tablet's flood or a long backlog must not make the page load everything before showing anything.
  const QUALITY_PAGE_SIZE = 50;

  const quality = {
    teams: new Map(),
    devices: new Map(),
    lists: [],

    async init() {
      say(t("Loading…"));
      const [teams, devices] = await Promise.all([fetchAll("/api/v1/teams"), fetchAll("/api/v1/devices")]);
      this.teams = new Map(teams.map((team) => [team.id, team]));
      this.devices = new Map(devices.map((device) => [device.id, device]));
      this.lists = [
        { path: "/api/v1/conflicts", list: "#conflicts", counter: "#conflicts-count", none: t("No open conflicts."),
          render: (item) => this.conflict(item) },
        { path: "/api/v1/quarantine", list: "#quarantine", counter: "#quarantine-count", none: t("Nothing in quarantine."),
          render: (item) => this.quarantined(item) },
      ];
      for (const list of this.lists) {
        list.cursor = null;
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
      } finally {
        list.more.disabled = false;
      }
      list.more.hidden = !list.cursor;
      this.count();
    },

    count() {
      for (const list of this.lists) {
        const items = $(list.list).querySelectorAll("article").length;
        $(list.counter).textContent = "(" + items + (list.cursor ? " " + t("shown, more to load") : "") + ")";
        const empty = $(list.list).querySelector(".empty");
        if (!items && !list.cursor && !empty) $(list.list).append(el("p", { class: "empty hint", text: list.none }));
      }
    },

    team(id) {
      const team = id ? this.teams.get(id) : null;
      return team ? team.name + " (" + id + ")" : id || "—";
    },

    device(id) {
      const device = id ? this.devices.get(id) : null;
      return device
        ? device.label + " " + t("of") + " " + device.username + (device.status === "revoked" ? " (" + t("revoked") + ")" : "")
        : id || "—";
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
        return el("tr", {},
          el("th", { scope: "row" }, field, disputed ? [" ", el("span", { class: "badge warn", text: t("disputed") })] : []),
          el("td", { text: disputed ? show(item.current[field]) : t("(not disputed)") }),
          el("td", { text: field in data ? show(data[field]) : "—" }));
      });
      const article = el("article", { class: "item", "aria-labelledby": headingId, dataset: { conflictId: item.id } },
        el("h3", { id: headingId, text: t("Conflict") + " #" + item.id + " · " + item.entity + " " + item.record_id.slice(0, 8) }),
        el("dl", { class: "meta" },
          el("dt", { text: t("Record") }), el("dd", {}, el("code", { text: item.record_id })),
          el("dt", { text: t("Team") }), el("dd", { text: this.team(item.team_id) }),
          el("dt", { text: t("Device") }), el("dd", { text: this.device(item.device_id) }),
          el("dt", { text: t("Received") }), el("dd", { text: formatTime(item.created_at) }),
          el("dt", { text: t("Versions") }),
          el("dd", { text: t("the device corrected version") + " " + item.base_version + "; " + t("the server was at version") + " " +
            item.current_version }),
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
      const errors = el("ul", { class: "field-errors", id: errorsId, role: "alert" });
      return el("article", { class: "item quarantined", "aria-labelledby": headingId, dataset: { quarantineId: item.id } },
        el("h3", { id: headingId, text: t("Quarantined") + " #" + item.id + " · " + reasonText }),
        el("dl", { class: "meta" },
          el("dt", { text: t("Team") }), el("dd", { text: this.team(item.team_id) }),
          el("dt", { text: t("Device") }), el("dd", { text: this.device(item.device_id) }),
          this.dropped(item.device_id),
          el("dt", { text: t("Received") }), el("dd", { text: formatTime(item.created_at) }),
          el("dt", { text: t("Operation") }), el("dd", {}, el("code", { text: item.op_id || "—" }))),
        problems.length
          ? el("ul", { class: "problems", "aria-label": t("Why it was not applied") },
            problems.map(([field, messages]) => el("li", {}, el("code", { text: field }), ": " + messages.join(" "))))
          : el("p", { class: "hint", text: t("No validation problem: the device was revoked when it sent this change.") }),
        this.dataFields(item, textareaId, errorsId),
        el("div", { class: "field" },
          el("label", { for: textareaId, text: t("Mutation as JSON (fix it, then apply)") }),
          el("textarea", { id: textareaId, rows: 8, spellcheck: "false", "aria-describedby": errorsId },
            JSON.stringify(item.mutation, null, 2))),
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

    /** One form field per `data` field (and per field an error names): editing one rewrites the JSON below,
     * which stays the single source of what is applied (and can still be edited by hand). */
    dataFields(item, textareaId, errorsId) {
      const mutation = item.mutation && typeof item.mutation === "object" ? item.mutation : {};
      const data = mutation.data && typeof mutation.data === "object" && !Array.isArray(mutation.data) ? mutation.data : {};
      const named = Object.keys(item.errors || {})
        .filter((path) => path.startsWith("data.")).map((path) => path.split(".")[1]);
      const keys = [...new Set([...Object.keys(data), ...named])];
      if (!keys.length) return null;
      const flagged = new Set(named);
      const fieldset = el("fieldset", { class: "data-fields" }, el("legend", { text: t("Fields") }));
      for (const key of keys) {
        const id = "q" + item.id + "-" + key;
        const value = data[key];
        let control;
        if (typeof value === "boolean") {
          control = el("select", { id, dataset: { key, kind: "boolean" } },
            el("option", { value: "true", text: t("yes"), selected: value === true }),
            el("option", { value: "false", text: t("no"), selected: value === false }));
        } else if (typeof value === "number") {
          control = el("input", { id, type: "number", value: String(value), dataset: { key, kind: "number" } });
        } else if (value !== null && typeof value === "object") {
          control = el("input", { id, value: JSON.stringify(value), spellcheck: "false", dataset: { key, kind: "json" } });
        } else {
          control = el("input", { id, value: value === undefined || value === null ? "" : String(value),
            spellcheck: "false", dataset: { key, kind: "text" } });
        }
        control.setAttribute("aria-describedby", errorsId);
        if (flagged.has(key)) control.setAttribute("aria-invalid", "true");
        control.addEventListener("input", () => this.fieldToJson(control, textareaId));
        control.addEventListener("change", () => this.fieldToJson(control, textareaId));
        fieldset.append(el("div", { class: "field" + (flagged.has(key) ? " invalid" : "") },
          el("label", { for: id, text: key }), control));
      }
      return fieldset;
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

  function show(value) {
    return typeof value === "string" ? value : JSON.stringify(value);
  }

  function setBusy(article, busy) {
    for (const control of article.querySelectorAll("button, textarea, input, select")) control.disabled = busy;
    article.setAttribute("aria-busy", busy ? "true" : "false");
  }

  function listErrors(list, failure) {
    const messages = fieldMessages(failure);
    list.replaceChildren(el("li", { text: failure.message }), ...messages.map((message) => el("li", { text: message })));
    if (failure.body && failure.body.current) {
      list.append(el("li", { text: t("Server values now:") + " " + JSON.stringify(failure.body.current) }));
    }
  }

  function report(failure) {
    say("");
    showError(failure instanceof ApiFailure ? describeFailure(failure) : t("Something went wrong:") + " " + failure.message);
  }

  // --- administration: shared helpers ---

  /** The values of a form's named controls, trimmed; empty optional ones left out. */
  function formValues(form) {
    const values = {};
    for (const control of form.querySelectorAll("input[name], select[name]")) {
      const value = control.value.trim();
      if (value) values[control.name] = value;
    }
    return values;
  }

  /** Show an API refusal next to the form: each field's message, and the field marked invalid. */
  function formErrors(form, failure, prefix) {
    const list = form.querySelector(".field-errors");
    for (const control of form.querySelectorAll("[aria-invalid]")) control.removeAttribute("aria-invalid");
    if (!failure) {
      list.replaceChildren();
      return;
    }
    listErrors(list, failure);
    let first = null;
    for (const field of Object.keys(failure.fields || {})) {
      const control = document.getElementById(prefix + "-" + field.split(".")[0]);
      if (control) {
        control.setAttribute("aria-invalid", "true");
        first = first || control;
      }
    }
    if (first) first.focus();
  }

  function localName(row) {
    return (LANG === "ar" && row.name_ar) || row.name;
  }

  function actionButton(label, className, handler) {
    return el("button", { type: "button", class: "button-secondary small " + className, text: label,
      onclick: (event) => handler(event.currentTarget).catch(report) });
  }

  function stateBadge(active) {
    return el("span", { class: "badge " + (active ? "active" : "revoked"), text: active ? t("Active") : t("Deactivated") });
  }

  async function countriesInScope() {
    const countries = await fetchAll("/api/v1/countries");
    return countries.map((country) => [country.code, country.code + " · " + localName(country)]);
  }

  // --- places and teams ---

  // The fields the edit forms change (PATCH); the id and country never change.
  const EDITABLE = {
    area: ["name", "name_ar", "pcode"],
    site: ["name", "name_ar", "area_id", "site_type"],
    team: ["name", "name_ar", "team_type"],
  };
  const CLEARABLE = new Set(["name_ar", "pcode"]); // an empty field sends null: the value is removed

  const places = {
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
        const row = el("tr", { dataset: { areaId: area.id } }, el("td", {}, el("code", { text: area.id })),
          el("td", { text: area.name }), el("td", { dir: "rtl", text: area.name_ar || "—" }),
          el("td", { text: area.pcode || "—" }),
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
          el("td", { text: localName(site) }), el("td", { text: areaName.get(site.area_id) || site.area_id }),
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
          el("td", { text: localName(team) }), el("td", { text: this.labels.team_type[team.team_type] || team.team_type }),
          el("td", { text: team.site_ids.map((id) => siteName.get(id) || id).join(", ") || "—" }),
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
    },

    renderSiteChoices(selected) {
      const chosen = new Set(selected);
      $("#team-sites").replaceChildren(...this.sites.filter((site) => site.active).map((site) => {
        const id = "team-site-" + site.id;
        return el("div", { class: "check" },
          el("input", { type: "checkbox", id, value: site.id, checked: chosen.has(site.id) }),
          el("label", { for: id, text: localName(site) }));
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

  // --- users (and tablet enrolment) ---

  const usersPage = {
    teams: [],
    target: null,

    async init() {
      say(t("Loading…"));
      this.labels = { role: labelsFrom("labels-role") };
      const [countries, teams] = await Promise.all([countriesInScope(), fetchAll("/api/v1/teams")]);
      this.teams = teams.filter((team) => team.active !== false);
      replaceOptions($("#user-country"), countries, null);
      $("#user-country").addEventListener("change", () => this.fillTeams());
      $("#user-role").addEventListener("change", () => this.fillTeams());
      this.fillTeams();
      $("#user-form").addEventListener("submit", (event) => this.create(event).catch(report));
      $("#password-dialog").addEventListener("close", () => this.closePassword().catch(report));
      $("#password-form").addEventListener("submit", (event) => {
        if (event.submitter && event.submitter.value === "save") {
          event.preventDefault();
          this.savePassword().catch(report);
        }
      });
      await this.load();
      say("");
    },

    fillTeams() {
      const worker = $("#user-role").value === "field_worker";
      $("#user-team-field").hidden = !worker;
      const teams = this.teams.filter((team) => team.country === $("#user-country").value);
      replaceOptions($("#user-team_id"), teams.map((team) => [team.id, localName(team)]), null);
    },

    async load() {
      const users = await fetchAll("/api/v1/users");
      $("#users-table tbody").replaceChildren(...users.map((user) => this.row(user)));
    },

    row(user) {
      const teamName = new Map(this.teams.map((team) => [team.id, localName(team)]));
      const name = encodeURIComponent(user.username);
      const actions = el("td", { class: "actions-cell" });
      if (user.active && user.role === "field_worker" && user.team_id) {
        actions.append(el("button", { type: "button", class: "small enrol", text: t("Enrol a tablet"),
          onclick: () => this.enrol(user).catch(report) }));
      }
      actions.append(user.active
        ? actionButton(t("Deactivate"), "deactivate", () => this.post(name + "/deactivate", user.username))
        : actionButton(t("Activate"), "activate", () => this.post(name + "/activate", user.username)));
      actions.append(actionButton(t("Reset password"), "reset", async () => this.askPassword(user)));
      if (user.locked) actions.append(actionButton(t("Unlock"), "unlock", () => this.post(name + "/unlock", user.username)));
      const status = el("td", {}, stateBadge(user.active),
        user.locked ? [" ", el("span", { class: "badge warn", text: t("Locked") })] : []);
      const row = el("tr", { dataset: { username: user.username } },
        el("td", {}, el("strong", { text: user.username })),
        el("td", { text: this.labels.role[user.role] || user.role }),
        el("td", { text: user.countries.join(", ") || t("all countries") }),
        el("td", { text: user.team_id ? teamName.get(user.team_id) || user.team_id : "—" }),
        status, actions);
      labelCells(row, $("#users-table"));
      return row;
    },

    async post(path, username) {
      await api("/api/v1/users/" + path, { method: "POST" });
      await this.load();
      say(t("Saved.") + " " + username);
    },

    async create(event) {
      event.preventDefault();
      const form = event.currentTarget;
      formErrors(form, null);
      const values = formValues(form);
      const body = { username: values.username || "", role: values.role, countries: [values.country],
        password: $("#user-password").value };
      if (values.role === "field_worker") body.team_id = values.team_id || null;
      try {
        await api("/api/v1/users", { method: "POST", body });
      } catch (failure) {
        formErrors(form, failure, "user");
        return;
      }
      form.reset();
      this.fillTeams();
      await this.load();
      say(t("User created.") + " " + body.username);
    },

    async enrol(user) {
      const answer = await api("/api/v1/teams/" + encodeURIComponent(user.team_id) + "/enrollments",
        { method: "POST", body: { username: user.username } });
      const box = $("#enrollment");
      $("#enrollment-for").textContent = t("Enrollment code for") + " " + user.username + ":";
      $("#enrollment-code").textContent = answer.code;
      $("#enrollment-hint").textContent = t("Give this code to the field worker: they type it into the tablet once. It works once, for 24 hours.") + " (" + t("valid until") + " " + formatTime(answer.expires_at) + ")";
      box.hidden = false;
      box.focus();
    },

    askPassword(user) {
      this.target = user;
      $("#password-text").textContent = user.username;
      $("#new-password").value = "";
      formErrors($("#password-form"), null);
      $("#password-dialog").showModal();
      $("#new-password").focus();
    },

    async savePassword() {
      const form = $("#password-form");
      try {
        await api("/api/v1/users/" + encodeURIComponent(this.target.username) + "/reset-password",
          { method: "POST", body: { password: $("#new-password").value } });
      } catch (failure) {
        formErrors(form, failure, "new");
        return;
      }
      $("#password-dialog").close("saved");
    },

    async closePassword() {
      if ($("#password-dialog").returnValue === "saved") {
        await this.load();
        say(t("Password reset.") + " " + this.target.username);
      }
    },
  };

  // --- countries, items, services (admins change them) ---

  const cataloguePage = {
    async init() {
      say(t("Loading…"));
      const admin = sessionStorage.getItem(ROLE_KEY) === "admin";
      for (const form of document.querySelectorAll(".admin-only")) form.hidden = !admin;
      for (const kind of ["country", "item", "service"]) {
        $("#" + kind + "-form").addEventListener("submit", (event) => this.add(event, kind).catch(report));
      }
      await this.load();
      say("");
    },

    async load() {
      const [countries, items, services] = await Promise.all([
        fetchAll("/api/v1/countries"), fetchAll("/api/v1/items"), fetchAll("/api/v1/services")]);
      const fill = (table, rows, cells) => {
        $(table + " tbody").replaceChildren(...rows.map((row) => {
          const tr = el("tr", { dataset: { code: row.code } }, cells(row).map((cell, index) =>
            el("td", index === 2 ? { dir: "rtl" } : {}, index ? cell : el("code", { text: cell }))));
          labelCells(tr, $(table));
          return tr;
        }));
      };
      fill("#countries-table", countries, (row) => [row.code, row.name, row.name_ar || "—"]);
      fill("#items-table", items, (row) => [row.code, row.name, row.name_ar || "—", row.category]);
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
  };

  // --- audit log ---

  const auditPage = {
    cursor: null,

    async init() {
      say(t("Loading…"));
      $("#audit-more").addEventListener("click", () => this.more().catch(report));
      await this.more();
      say("");
    },

    async more() {
      const answer = await api("/api/v1/audit?limit=50" + (this.cursor ? "&cursor=" + encodeURIComponent(this.cursor) : ""));
      const body = $("#audit-table tbody");
      body.append(...answer.items.map((entry) => {
        const row = el("tr", { dataset: { auditId: entry.id } },
          el("td", {}, el("time", { datetime: entry.at, text: formatTime(entry.at) })),
          el("td", { text: entry.actor }),
          el("td", { dataset: { action: entry.action }, text: actionLabel(entry.action) }),
          el("td", {}, entry.target_type + " ", el("code", { text: entry.target_id })),
          el("td", {}, changes(entry.before, entry.after, "before")),
          el("td", {}, changes(entry.before, entry.after, "after")));
        labelCells(row, $("#audit-table"));
        return row;
      }));
      if (!body.rows.length) body.append(el("tr", {}, el("td", { colspan: 6, text: t("Nothing yet.") })));
      this.cursor = answer.next_cursor;
      $("#audit-more").hidden = !this.cursor;
    },
  };

  function actionLabel(action) {
    const labels = {
      create: t("created"), update: t("changed"), deactivate: t("deactivated"), activate: t("activated"),
      reset_password: t("password reset"), unlock: t("login unlocked"), enrollment_code: t("enrollment code issued"),
      revoke: t("tablet revoked"),
    };
    return labels[action] || action;
  }

  /** The fields that changed (all of them for a create), as `name: value` lines. */
  function changes(before, after, side) {
    const shown = side === "before" ? before : after;
    if (!shown) return "—";
    const keys = Object.keys(shown).filter((key) =>
      !before || !after || JSON.stringify(before[key]) !== JSON.stringify(after[key]));
    return el("ul", { class: "changes" }, keys.map((key) => el("li", {}, el("code", { text: key }), ": " + show(shown[key]))));
  }

  // --- start --------------------------------------------------------------------------------

  const PAGES = { overview, devices: devicesPage, quality, places, users: usersPage, audit: auditPage,
    catalogue: cataloguePage };

  document.addEventListener("DOMContentLoaded", () => {
    const page = document.body.dataset.page;
    if (page === "login") {
      loginPage().catch(report);
      return;
    }
    if (!token()) {
      location.replace("/dashboard/login?next=" + encodeURIComponent(location.pathname + location.search));
      return;
    }
    const who = $("#who");
    if (who) who.textContent = t("Signed in as") + " " + (sessionStorage.getItem(USER_KEY) || t("coordinator"));
    const logout = $("#logout");
    if (logout) logout.addEventListener("click", () => signOut(false));
    const handler = PAGES[page];
    if (handler) handler.init().catch(report);
  });
})();
