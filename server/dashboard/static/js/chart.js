/* Charts as inline SVG, drawn here: no library. */

import { el, svg } from "./dom.js";
import { RTL, formatNumber, t } from "./i18n.js";

export function chartFrame(width, height, label) {
  return svg("svg", {
    viewBox: "0 0 " + width + " " + height,
    role: "img",
    "aria-label": label,
    preserveAspectRatio: "xMidYMid meet",
  });
}

/** An x coordinate mirrored for right-to-left pages (a box of `boxWidth` keeps its width). */
export function mirrorX(width, x, boxWidth) {
  return RTL ? width - x - (boxWidth || 0) : x;
}

/** The top of the value axis: four equal steps, each a whole "nice" number (counts have no fractions). */
export function niceMax(value) {
  const rough = Math.max(value, 1) / 4;
  const magnitude = Math.pow(10, Math.floor(Math.log10(rough)));
  for (const step of [1, 2, 2.5, 5, 10]) {
    const candidate = step * magnitude;
    if (candidate >= rough && Number.isInteger(candidate)) return candidate * 4;
  }
  return 40 * magnitude;
}

/** Vertical columns: [{label, title, value}] (the month chart). */
export function columnChart(container, points, label) {
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
  // Month names must not touch at 400 px: label every n-th column so each label has its width
  // (about 8 px a character at 13 px, plus a gap), in either language.
  const labelWidth = Math.max(...points.map((point) => String(point.label).length)) * 8 + 6;
  const every = Math.max(1, Math.ceil(labelWidth / slot));
  points.forEach((point, index) => {
    const barHeight = (plotHeight * point.value) / max;
    const x = mirrorX(width, left + slot * index + (slot - barWidth) / 2, barWidth); // months run right to left
    const y = top + plotHeight - barHeight;
    frame.append(
      svg("rect", { class: "bar", x, y, width: barWidth, height: Math.max(barHeight, 0) },
        svg("title", {}, point.title + ": " + formatNumber(point.value))),
    );
    if (points.length <= 24 && index % every === 0) {
      frame.append(svg("text", { x: x + barWidth / 2, y: height - bottom + 16, "text-anchor": "middle" }, point.label));
    }
  });
  container.append(frame);
}

/** Horizontal bars: [{label, value}] (areas, population groups). */
export function barChart(container, points, label) {
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
