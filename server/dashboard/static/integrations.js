/* The Integrations page: webhooks (api.md v1.2). An ES module of its own, loaded only by
 * integrations.html; the shared script (dashboard.js) signs in, shows who is signed in and redirects
 * to the login page without a token. Data is written with textContent only (the CSP forbids inline
 * script; a hostile URL or record id cannot become markup). The secret is shown once, after creation.
 */
const TOKEN_KEY = "fieldsync.token";
const MESSAGES = {};
for (const item of (document.getElementById("i18n")?.content.querySelectorAll("data") ?? [])) {
  MESSAGES[item.value] = item.textContent;
}
const t = (message) => MESSAGES[message] || message;
const $ = (selector) => document.querySelector(selector);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name === "text") node.textContent = value;
    else node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

async function api(path, options = {}) {
  const headers = { Accept: "application/json", Authorization: "Bearer " + sessionStorage.getItem(TOKEN_KEY) };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method: options.method || "GET", headers, credentials: "omit",
    cache: "no-store", body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  if (!response.ok) {
    let envelope = {};
    try { envelope = await response.json(); } catch (ignored) { envelope = {}; }
    const error = new Error(envelope.error?.message || t("The server answered") + " " + response.status + ".");
    error.fields = envelope.error?.fields || {};
    throw error;
  }
  return response.status === 204 || response.status === 202 ? null : response.json();
}

function report(error) {
  const banner = $("#error");
  banner.textContent = error.message;
  banner.hidden = false;
}

function status(message) {
  $("#status").textContent = message;
}

const EVENT_LABELS = { "record.created": t("Record created"), "record.corrected": t("Record corrected"),
  "record.voided": t("Record voided") };
const STATUS_LABELS = { pending: t("Pending"), delivered: t("Delivered"), failed: t("Failed") };

async function showDeliveries(hook) {
  const page = await api(`/api/v1/webhooks/${hook.id}/deliveries?limit=50`);
  $("#deliveries").hidden = false;
  $("#deliveries-url").textContent = hook.url;
  const body = $("#deliveries-table tbody");
  body.replaceChildren(...page.items.map((item) => {
    const retry = el("button", { type: "button", class: "button-secondary", text: t("Retry") });
    retry.hidden = item.status !== "failed";
    retry.addEventListener("click", async () => {
      try {
        await api(`/api/v1/webhooks/${hook.id}/deliveries/${encodeURIComponent(item.id)}/retry`, { method: "POST" });
        status(t("Queued again."));
        await showDeliveries(hook);
      } catch (error) { report(error); }
    });
    return el("tr", {},
      el("td", { text: EVENT_LABELS[item.type] || item.type }),
      el("td", {}, el("code", { text: `${item.record_id} v${item.version}`, dir: "ltr" })),
      el("td", { text: STATUS_LABELS[item.status] || item.status }),
      el("td", { text: String(item.attempts) }),
      el("td", { text: item.last_status_code ? String(item.last_status_code) : (item.last_error || "—") }),
      el("td", {}, retry));
  }));
  if (!page.items.length) body.append(el("tr", {}, el("td", { colspan: "6", text: t("No deliveries yet.") })));
}

async function showHooks() {
  const page = await api("/api/v1/webhooks");
  const body = $("#hooks-table tbody");
  body.replaceChildren(...page.items.map((hook) => {
    const deliveries = el("button", { type: "button", class: "button-secondary", text: t("Deliveries") });
    deliveries.addEventListener("click", () => showDeliveries(hook).catch(report));
    const remove = el("button", { type: "button", class: "button-danger", text: t("Delete") });
    remove.addEventListener("click", async () => {
      if (!confirm(t("Delete this webhook? Its queued events are dropped."))) return;
      try {
        await api(`/api/v1/webhooks/${hook.id}`, { method: "DELETE" });
        $("#deliveries").hidden = true;
        await showHooks();
      } catch (error) { report(error); }
    });
    return el("tr", {},
      el("td", {}, el("code", { text: hook.url, dir: "ltr" })),
      el("td", { text: hook.countries.join(", ") }),
      el("td", { text: hook.events.map((name) => EVENT_LABELS[name] || name).join(", ") }),
      el("td", { text: hook.active ? t("Active") : t("Paused: too many pending events") }),
      el("td", {}, deliveries, " ", remove));
  }));
  if (!page.items.length) body.append(el("tr", {}, el("td", { colspan: "5", text: t("No webhooks yet.") })));
}

function setUpForm() {
  const form = $("#hook-form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const errors = form.querySelector(".field-errors");
    errors.replaceChildren();
    const body = {
      url: form.elements.url.value.trim(),
      countries: form.elements.countries.value.split(",").map((code) => code.trim().toUpperCase()).filter(Boolean),
      events: [...form.querySelectorAll("input[name=events]:checked")].map((box) => box.value),
    };
    try {
      const created = await api("/api/v1/webhooks", { method: "POST", body });
      $("#hook-secret-value").textContent = created.secret;
      $("#hook-secret").hidden = false;
      form.reset();
      status(t("Webhook added."));
      await showHooks();
    } catch (error) {
      const messages = Object.entries(error.fields || {}).map(([field, list]) => `${field}: ${list.join(" ")}`);
      errors.replaceChildren(...(messages.length ? messages : [error.message]).map((text) => el("li", { text })));
    }
  });
}

if (sessionStorage.getItem(TOKEN_KEY)) {
  setUpForm();
  showHooks().catch(report);
}
