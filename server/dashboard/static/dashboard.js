/* Fieldsync coordinator dashboard: the entry module (native ES modules, no bundler).
 *
 * The HTML pages are empty shells; everything shown comes from the JSON API with the bearer token
 * obtained at sign-in and kept in sessionStorage (it ends with the tab). Data is only ever written
 * into the page with textContent / attributes, never as markup, and the Content-Security-Policy
 * forbids inline scripts: a hostile value in a record cannot become code.
 *
 * Shared modules live in js/ (i18n, dom, api, chart, admin); each page has its module in js/pages/,
 * imported only on that page. Module scripts are deferred, so the document is parsed when this runs.
 */

import { report, signOut, token, USER_KEY } from "./js/api.js";
import { $, el } from "./js/dom.js";
import { t } from "./js/i18n.js";

const PAGES = {
  login: async () => (await import("./js/pages/login.js")).loginPage(),
  overview: async () => (await import("./js/pages/overview.js")).overview.init(),
  devices: async () => (await import("./js/pages/devices.js")).devicesPage.init(),
  quality: async () => (await import("./js/pages/quality.js")).quality.init(),
  places: async () => (await import("./js/pages/places.js")).places.init(),
  users: async () => (await import("./js/pages/users.js")).usersPage.init(),
  audit: async () => (await import("./js/pages/audit.js")).auditPage.init(),
  catalogue: async () => (await import("./js/pages/catalogue.js")).cataloguePage.init(),
};

function start() {
  const page = document.body.dataset.page;
  // The error page (a wrong address under /dashboard) is readable signed out: no redirect to sign in.
  if (page !== "login" && page !== "error") {
    if (!token()) {
      location.replace("/dashboard/login?next=" + encodeURIComponent(location.pathname + location.search));
      return;
    }
    const who = $("#who");
    const username = sessionStorage.getItem(USER_KEY);
    if (who) who.replaceChildren(t("Signed in as") + " ", username ? el("bdi", { text: username }) : t("coordinator"));
    const logout = $("#logout");
    if (logout) logout.addEventListener("click", () => signOut(false));
  }
  const handler = PAGES[page];
  if (handler) handler().catch(report);
}

start();
