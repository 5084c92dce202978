/* Sync health: the enrolled tablets, revoking one, and enrolling a tablet for ODK Collect. */

import { ago, formatNumber, formatTime, LANG, t } from "../i18n.js";
import { $, el, labelCells, replaceOptions, say, showError } from "../dom.js";
import { api, describeFailure, fetchAll, report } from "../api.js";
import { code } from "../labels.js";

const SILENT_DAYS = 7;
// Addresses only this machine can reach: a QR code holding one is useless to a tablet.
const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\]|::1|0\.0\.0\.0)$/;
const DAY_MS = 24 * 60 * 60 * 1000;

export const devicesPage = {
  teams: new Map(),
  users: [],
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
      ? [el("time", { datetime: device.last_seen_at }, el("bdi", { text: formatTime(device.last_seen_at) })),
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
        el("strong", {}, el("bdi", { text: device.label })), el("br"),
        el("span", { class: "subtle" }, el("bdi", { text: device.username }), " · "),
        el("code", { class: "subtle", dir: "ltr", title: device.id, text: device.id.slice(0, 8) })),
      el("td", {}, el("bdi", { text: team ? team.name : device.team_id }), el("br"), el("code", { class: "subtle", dir: "ltr", text: device.team_id })),
      el("td", {}, lastSync, silent ? [el("br"), el("span", { class: "badge warn" }, t("Silent") + " ", el("bdi", { text: formatNumber(silentDays) }), " " + t("days"))] : []),
      el("td", {}, device.app_version ? code(device.app_version) : "—"),
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
    replaceOptions($("#collect-team"), teams.filter((team) => team.active !== false)
      .map((team) => [team.id, (LANG === "ar" && team.name_ar) || team.name]));
    const result = $("#collect-result");
    const image = $("#collect-qr");
    // The field worker is chosen among the team's (a username typed by hand was a frequent 422).
    const fillWorkers = () => {
      const team = $("#collect-team").value;
      const workers = this.users.filter((user) => user.active && user.role === "field_worker" && user.team_id === team);
      replaceOptions($("#collect-username"), workers.map((user) => [user.username, user.username]));
      if (!workers.length) $("#collect-username").append(el("option", { value: "", text: t("No field worker in this team") }));
    };
    fetchAll("/api/v1/users").then((users) => {
      this.users = users;
      fillWorkers();
    }).catch(report);
    $("#collect-team").addEventListener("change", fillWorkers);
    $("#collect-form").addEventListener("submit", (event) => {
      event.preventDefault();
      showError("");
      const team = $("#collect-team").value;
      const body = { username: $("#collect-username").value, label: $("#collect-label").value.trim() };
      say(t("Enrolling") + " " + body.label + "…");
      api("/api/v1/teams/" + encodeURIComponent(team) + "/collect-devices", { method: "POST", body })
        .then(async (answer) => {
          image.src = answer.qr_png;
          // Which server the QR code sends the tablet to (its origin only: the path holds the secret key).
          const origin = new URL(answer.server_url).origin;
          $("#collect-server").replaceChildren(t("The QR code points the tablet at") + " ", code(origin), ".");
          $("#collect-loopback").hidden = !LOOPBACK.test(new URL(answer.server_url).hostname);
          result.hidden = false;
          $("#collect-form").reset();
          fillWorkers();
          const devices = await fetchAll("/api/v1/devices");
          $("#devices-table tbody").replaceChildren(...devices.map((device) => this.row(device)));
          this.summarise();
          say(body.label + " " + t("is enrolled: scan the QR code with ODK Collect now."));
          $("#collect-done").focus();
        })
        .catch((failure) => {
          say(""); // the "Enrolling…" line must not stay beside the error
          showError(describeFailure(failure));
        });
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
    // Arabic punctuation on Arabic pages (the comma and semicolon are letters of the script).
    const [comma, semicolon] = LANG === "ar" ? ["، ", "؛ "] : [", ", "; "];
    $("#devices-summary").textContent =
      formatNumber(rows.length) + " " + t("devices") + ": " + formatNumber(rows.length - revoked) + " " + t("active") +
      comma + formatNumber(revoked) + " " + t("revoked") + semicolon + formatNumber(silent) + " " +
      t("silent for more than 7 days") + ".";
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

function statusBadge(device) {
  if (device.status === "revoked") {
    return [el("span", { class: "badge revoked", text: t("Revoked") }),
      device.revoked_at ? el("span", { class: "subtle", text: " " + formatTime(device.revoked_at) }) : null];
  }
  return el("span", { class: "badge active", text: t("Active") });
}
