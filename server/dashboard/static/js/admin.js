/* What the administration pages share: forms, names in the page's language, buttons and badges. */

import { fetchAll, listErrors, report } from "./api.js";
import { el } from "./dom.js";
import { t } from "./i18n.js";
import { localName } from "./labels.js";

export function formValues(form) {
  const values = {};
  for (const control of form.querySelectorAll("input[name], select[name]")) {
    const value = control.value.trim();
    if (value) values[control.name] = value;
  }
  return values;
}

/** Show an API refusal next to the form: each field's message, and the field marked invalid. */
export function formErrors(form, failure, prefix) {
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

export function actionButton(label, className, handler) {
  return el("button", { type: "button", class: "button-secondary small " + className, text: label,
    onclick: (event) => handler(event.currentTarget).catch(report) });
}

export function stateBadge(active) {
  return el("span", { class: "badge " + (active ? "active" : "revoked"), text: active ? t("Active") : t("Deactivated") });
}

export async function countriesInScope() {
  const countries = await fetchAll("/api/v1/countries");
  // By name: the code is the value sent, the name what a person chooses by.
  return countries.map((country) => [country.code, localName(country)]);
}
