/* Users: accounts, their state, passwords and tablet enrolment codes. */

import { formatTime, LANG, t } from "../i18n.js";
import { $, el, labelCells, labelsFrom, replaceOptions, say } from "../dom.js";
import { api, fetchAll, report } from "../api.js";
import { localName } from "../labels.js";
import { actionButton, countriesInScope, formErrors, formValues, stateBadge } from "../admin.js";

export const usersPage = {
  teams: [],
  target: null,

  async init() {
    say(t("Loading…"));
    this.labels = { role: labelsFrom("labels-role") };
    const [countries, teams] = await Promise.all([countriesInScope(), fetchAll("/api/v1/teams")]);
    this.teams = teams.filter((team) => team.active !== false);
    this.countries = countries;
    this.countryNames = new Map(countries);
    replaceOptions($("#user-country"), countries, null);
    $("#user-country").addEventListener("change", () => this.fillTeams());
    $("#user-role").addEventListener("change", () => this.fillTeams());
    this.fillTeams();
    $("#user-form").addEventListener("submit", (event) => this.create(event).catch(report));
    $("#password-dialog").addEventListener("close", () => this.closePassword().catch(report));
    $("#edit-role").addEventListener("change", () => this.fillEditTeams());
    $("#edit-countries").addEventListener("change", () => this.fillEditTeams());
    $("#edit-form").addEventListener("submit", (event) => {
      if (event.submitter && event.submitter.value === "save") {
        event.preventDefault();
        this.saveEdit().catch(report);
      }
    });
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
    if (user.role !== "admin") actions.append(actionButton(t("Change"), "edit", async () => this.edit(user)));
    actions.append(actionButton(t("Reset password"), "reset", async () => this.askPassword(user)));
    if (user.locked) actions.append(actionButton(t("Unlock"), "unlock", () => this.post(name + "/unlock", user.username)));
    const status = el("td", {}, stateBadge(user.active),
      user.locked ? [" ", el("span", { class: "badge warn", text: t("Locked") })] : []);
    const row = el("tr", { dataset: { username: user.username } },
      el("td", {}, el("strong", {}, el("bdi", { text: user.username }))),
      el("td", { text: this.labels.role[user.role] || user.role }),
      // Countries by name (the code is what the API keeps).
      el("td", { text: user.countries.map((country) => this.countryNames.get(country) || country)
        .join(LANG === "ar" ? "، " : ", ") || t("all countries") }),
      el("td", {}, user.team_id ? el("bdi", { text: teamName.get(user.team_id) || user.team_id }) : "—"),
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
    $("#enrollment-for").replaceChildren(t("Enrollment code for") + " ", el("bdi", { text: user.username }), ":");
    $("#enrollment-code").textContent = answer.code;
    // The time is isolated: after an Arabic word, a date must not take the sentence's direction.
    $("#enrollment-hint").replaceChildren(t("Give this code to the field worker: they type it into the tablet once. It works once, for 24 hours.") +
      " (" + t("valid until") + " ", el("time", { datetime: answer.expires_at }, el("bdi", { text: formatTime(answer.expires_at) })), ")");
    box.hidden = false;
    box.focus();
  },

  /** The edit dialog: role, countries (those in the caller's scope), and a field worker's team. */
  edit(user) {
    this.editing = user;
    const form = $("#edit-form");
    formErrors(form, null);
    $("#edit-username").textContent = user.username;
    $("#edit-role").value = user.role;
    const chosen = new Set(user.countries);
    $("#edit-countries").replaceChildren(...this.countries.map(([country, name]) => {
      const id = "edit-country-" + country;
      return el("div", { class: "check" },
        el("input", { type: "checkbox", id, value: country, checked: chosen.has(country) }),
        el("label", { for: id, text: name }));
    }));
    this.fillEditTeams(user.team_id);
    $("#edit-dialog").showModal();
    $("#edit-role").focus();
  },

  editCountries() {
    return [...document.querySelectorAll("#edit-countries input:checked")].map((box) => box.value);
  },

  fillEditTeams(selected) {
    const worker = $("#edit-role").value === "field_worker";
    $("#edit-team-field").hidden = !worker;
    const keep = selected === undefined ? $("#edit-team_id").value : selected;
    const countries = new Set(this.editCountries());
    const teams = this.teams.filter((team) => countries.has(team.country));
    replaceOptions($("#edit-team_id"), teams.map((team) => [team.id, localName(team)]), null);
    if (keep && teams.some((team) => team.id === keep)) $("#edit-team_id").value = keep;
  },

  async saveEdit() {
    const form = $("#edit-form");
    const user = this.editing;
    const role = $("#edit-role").value;
    const body = { role, countries: this.editCountries(),
      team_id: role === "field_worker" ? $("#edit-team_id").value || null : null };
    try {
      await api("/api/v1/users/" + encodeURIComponent(user.username), { method: "PATCH", body });
    } catch (failure) {
      formErrors(form, failure, "edit");
      return;
    }
    $("#edit-dialog").close("saved");
    await this.load();
    say(t("Saved.") + " " + user.username);
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
