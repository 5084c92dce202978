/* The sign-in page: a token from POST /api/v1/auth/token, kept in sessionStorage. */

import { t } from "../i18n.js";
import { $, say, showError } from "../dom.js";
import { api, describeFailure, EXPIRES_KEY, ROLE_KEY, TOKEN_KEY, USER_KEY } from "../api.js";

export async function loginPage() {
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
