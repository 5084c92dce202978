/* The Integrations page: webhooks (api.md v1.2). An ES module of its own, loaded only by
 * integrations.html, on the shared modules (js/api.js, js/dom.js, js/i18n.js); the shared script
 * (dashboard.js) signs in, shows who is signed in and redirects to the login page without a token.
 * Data is written with textContent only (the CSP forbids inline script; a hostile URL or record id
 * cannot become markup). The secret is shown once, after creation.
 */
import { TOKEN_KEY, api } from "./js/api.js";
import { $, el } from "./js/dom.js";
import { t } from "./js/i18n.js";

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
