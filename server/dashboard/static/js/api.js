/* The session (bearer token in sessionStorage) and the JSON API (api.md): calls, lists, failures. */

import { el, say, showError } from "./dom.js";
import { t } from "./i18n.js";

export const TOKEN_KEY = "fieldsync.token";
export const EXPIRES_KEY = "fieldsync.expires";
export const USER_KEY = "fieldsync.username";
export const ROLE_KEY = "fieldsync.role";

export function token() {
  const value = sessionStorage.getItem(TOKEN_KEY);
  const expires = sessionStorage.getItem(EXPIRES_KEY);
  if (!value || (expires && Date.parse(expires) <= Date.now())) return null;
  return value;
}

export function signOut(expired) {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(EXPIRES_KEY);
  sessionStorage.removeItem(USER_KEY);
  sessionStorage.removeItem(ROLE_KEY);
  const next = location.pathname + location.search;
  location.assign("/dashboard/login" + (expired ? "?expired=1&next=" + encodeURIComponent(next) : ""));
}

export class ApiFailure extends Error {
  constructor(status, envelope) {
    const error = (envelope && envelope.error) || {};
    super(error.message || t("The server answered") + " " + status + ".");
    this.status = status;
    this.code = error.code || "http_" + status;
    this.fields = error.fields || {};
    this.body = envelope || {};
  }
}

export async function api(path, options) {
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
  // 204 (a delete) and 202 (a retry queued) carry no body.
  if (response.status === 204 || response.status === 202) return null;
  return accept === "application/json" ? response.json() : response.blob();
}

/** Every page of a list endpoint (api.md "Lists"), up to a sane bound. */
export async function fetchAll(path, maxPages) {
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

export function fieldMessages(failure) {
  return Object.entries(failure.fields || {}).map(([field, messages]) => field + ": " + messages.join(" "));
}

export function describeFailure(failure) {
  if (failure.status === 403) return t("You may not see or change this:") + " " + failure.message;
  const fields = fieldMessages(failure);
  return fields.length ? failure.message + " " + fields.join("; ") : failure.message;
}

export function listErrors(list, failure) {
  const messages = fieldMessages(failure);
  list.replaceChildren(el("li", { text: failure.message }), ...messages.map((message) => el("li", { text: message })));
  if (failure.body && failure.body.current) {
    list.append(el("li", { text: t("Server values now:") + " " + JSON.stringify(failure.body.current) }));
  }
}

export function report(failure) {
  say("");
  showError(failure instanceof ApiFailure ? describeFailure(failure) : t("Something went wrong:") + " " + failure.message);
}
