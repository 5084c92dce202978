/* Small DOM helpers. Data only ever enters the page through textContent and attributes, never as
 * markup: a hostile value in a record cannot become code. */

import { t } from "./i18n.js";

export function $(selector, root) {
  return (root || document).querySelector(selector);
}

export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  setAttrs(node, attrs);
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function svg(tag, attrs, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  setAttrs(node, attrs);
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function setAttrs(node, attrs) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
}

export function say(message) {
  const status = $("#status");
  if (status) status.textContent = message;
}

export function showError(message) {
  const banner = $("#error");
  if (!banner) return;
  banner.textContent = message || "";
  banner.hidden = !message;
}

export function labelsFrom(templateId) {
  const labels = {};
  const template = document.getElementById(templateId);
  if (template) {
    for (const item of template.content.querySelectorAll("data")) labels[item.value] = item.textContent;
  }
  return labels;
}

export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const link = el("a", { href: url, download: filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export function fillTable(table, caption, headers, rows, footer) {
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

/** Each cell gets its column's heading as `data-label`: on a phone the rows are stacked as cards. */
export function labelCells(row, table) {
  const headings = [...table.tHead.rows[0].cells].map((cell) => cell.textContent.trim());
  [...row.cells].forEach((cell, index) => {
    if (headings[index]) cell.dataset.label = headings[index];
  });
}

export function replaceOptions(select, pairs, allLabel) {
  const options = pairs.map(([value, label]) => el("option", { value, text: label }));
  if (allLabel) options.unshift(el("option", { value: "", text: allLabel }));
  select.replaceChildren(...options);
}

export function show(value) {
  return typeof value === "string" ? value : JSON.stringify(value);
}

export function setBusy(article, busy) {
  for (const control of article.querySelectorAll("button, textarea, input, select")) control.disabled = busy;
  article.setAttribute("aria-busy", busy ? "true" : "false");
}
