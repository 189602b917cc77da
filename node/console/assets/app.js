/*
 * Vigil operator console — entry point.
 *
 * A single page served by node/console for GET / and /ui/*; these ES
 * modules route on the path (history API) and talk only to the node's JSON
 * API on the same origin. Server data only ever go into the DOM as text
 * (textContent, createElement), never parsed as HTML.
 *
 * Pages (index.html holds each page's skeleton as <section id="page-...">):
 *   login      shown whenever GET /api/v1/me answers 401
 *              POST /api/v1/login {username,password,totp} -> {name,role,csrf_token};
 *              401 {error,totp_required} reveals the code field; 423 locked; 429 throttled
 *   /ui/dashboard (default)            dashboard.js + live.js
 *              GET /api/v1/cases?state=active&sort=urgency (live set), GET /api/v1/alerts,
 *              SSE GET /api/v1/events (events "case": CaseSummary, merged in place;
 *              "alert": Alert -> refetch alerts; "ping" every few s: none for 2.5
 *              periods -> "node not answering" banner, /healthz probed until back,
 *              then "vigil:recovered" makes every page refetch); new urgent incoming
 *              cases beep (WebAudio) and raise one desktop Notification per burst;
 *              case log: GET /api/v1/cases?q=&state=&kind=&urgency=&country=&from=&to=
 *              &sort=&limit=50&cursor= -> {cases,total,next_cursor}
 *   /ui/compose[?draft=ID]             compose.js, schema.js, forms.js
 *              GET /api/v1/peers (recipients), POST /api/v1/requests/validate
 *              (200 {ok} | 422 {error,fields[{field,message}]}), POST /api/v1/requests
 *              -> 201 {case_id,message_id}; drafts GET /api/v1/drafts,
 *              GET|PUT|DELETE /api/v1/drafts/{id} {kind,to,doc}
 *   /ui/cases/{id}                     casepage.js
 *              GET /api/v1/cases/{id} (CaseView), POST /api/v1/cases/{id}/actions
 *              (201 {message_id,state} | 422 fields | 409 {error}),
 *              POST /api/v1/cases/{id}/assign {user} (supervisor, admin)
 *   /ui/network                        network.js   GET /api/v1/peers, GET /api/v1/drills/report,
 *              POST /api/v1/drills/reachability, POST /api/v1/drills/response {countries} (admin)
 *   /ui/audit                          audit.js     GET /api/v1/audit?q=&limit=200,
 *              GET /api/v1/audit/verify, GET /api/v1/stats, GET /api/v1/audit/export
 *   /ui/users (admin)                  users.js     GET|POST /api/v1/users,
 *              PATCH|DELETE /api/v1/users/{name}
 *   /ui/account                        users.js     GET|POST /api/v1/tokens,
 *              DELETE /api/v1/tokens/{id}, POST /api/v1/me/totp[/confirm]
 *   POST /api/v1/logout from the nav bar.
 *
 * Every POST/PUT/PATCH/DELETE carries X-CSRF-Token (lib.js api()).
 * Shared helpers: lib.js (DOM, API, time zones, countdowns, field errors).
 * Keyboard: g d, g c, g n, g a, g u, / (audit search), ? (help).
 */

import { state, api, navigate, setText, $$, updateCountdown, updateClock, updateHours, errorText } from './lib.js';
import { start as startLive, stop as stopLive, unlockAudio, setCountry } from './live.js';
import { dashboardPage } from './dashboard.js';
import { composePage } from './compose.js';
import { casePage } from './casepage.js';
import { networkPage } from './network.js';
import { auditPage, focusSearch } from './audit.js';
import { usersPage, accountPage } from './users.js';

const routes = [
  { re: /^\/(?:ui\/?)?$/, page: dashboardPage },
  { re: /^\/ui\/dashboard\/?$/, page: dashboardPage },
  { re: /^\/ui\/compose\/?$/, page: composePage },
  { re: /^\/ui\/cases\/([^/]+)\/?$/, page: casePage, params: m => ({ id: decodeURIComponent(m[1]) }) },
  { re: /^\/ui\/network\/?$/, page: networkPage },
  { re: /^\/ui\/audit\/?$/, page: auditPage },
  { re: /^\/ui\/users\/?$/, page: usersPage },
  { re: /^\/ui\/account\/?$/, page: accountPage },
];
const navFor = {
  'page-dashboard': 'nav-dashboard', 'page-compose': 'nav-compose', 'page-network': 'nav-network',
  'page-audit': 'nav-audit', 'page-users': 'nav-users', 'page-account': 'nav-account',
};

let active = null;        // the page object shown
let resumePage = null;    // page hidden by a mid-session login prompt
let firstRoute = true;

function showOnly(id) {
  for (const s of $$('main > section.page')) s.hidden = s.id !== id;
  const boot = document.getElementById('boot');
  if (boot) boot.hidden = true;
}

// route shows the page for the current path. resume: back from a login
// prompt mid-session — refresh the page's data but keep its scroll and
// focus (forms are kept: pages only rebuild them on a new target).
function route(resume = false) {
  if (resume !== true) resume = false;
  if (!state.me) { showLogin(); return; }
  const path = location.pathname;
  let page = null, params = {};
  for (const r of routes) {
    const m = r.re.exec(path);
    if (m) { page = r.page; params = r.params ? r.params(m) : {}; break; }
  }
  params.query = new URLSearchParams(location.search);
  if (active && active !== page && active.leave) active.leave();
  active = page;
  for (const [pid, nid] of Object.entries(navFor)) {
    const a = document.getElementById(nid);
    if (!a) continue;
    if (page && page.id === pid) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (!page) { showOnly('page-notfound'); return; }
  // Roles that cannot send (auditor) never see the compose form; the API
  // refuses them regardless.
  if (page === composePage && state.me.role === 'auditor') {
    navigate('/ui/dashboard', { replace: true });
    return;
  }
  showOnly(page.id);
  page.enter(params);
  if (!firstRoute && !resume) {
    const h1 = document.querySelector('#' + page.id + ' h1');
    if (h1) { h1.tabIndex = -1; h1.focus({ preventScroll: true }); }
    window.scrollTo(0, 0);
  }
  firstRoute = false;
}

// ---- session ----------------------------------------------------------------

function showLogin(message) {
  document.getElementById('topbar').hidden = true;
  showOnly('page-login');
  setText('login-error', message || '');
  const u = document.getElementById('login-username');
  if (state.me && !u.value) u.value = state.me.name;
  (u.value ? document.getElementById('login-password') : u).focus();
}

// A 401 in the middle of work: keep the page (and any half-filled form)
// and ask for the password again.
state.onUnauthorized = () => {
  if (!document.getElementById('page-login').hidden) return;
  const shown = $$('main > section.page').find(s => !s.hidden);
  resumePage = shown && shown.id !== 'page-login' ? shown.id : null;
  stopLive();
  showLogin('Your session has ended. Sign in again — what you were doing on this page is kept.');
};

function loggedIn() {
  const me = state.me;
  document.getElementById('topbar').hidden = false;
  setText('me-name', me.name);
  setText('me-role', me.role);
  // Links follow the role's permissions (node/accounts/roles.go); the API
  // enforces them regardless.
  document.getElementById('nav-users').hidden = me.role !== 'admin';
  document.getElementById('nav-audit').hidden = me.role === 'operator';
  document.getElementById('nav-compose').hidden = me.role === 'auditor';
  document.getElementById('login-password').value = '';
  document.getElementById('login-totp').value = '';
  document.getElementById('login-totp-field').hidden = true;
  setText('login-error', '');
  startLive();
  if (resumePage) {
    resumePage = null;
    route(true);
    return;
  }
  route();
}

async function login(e) {
  e.preventDefault();
  const username = document.getElementById('login-username').value.trim();
  const password = document.getElementById('login-password').value;
  const totpField = document.getElementById('login-totp-field');
  const totp = totpField.hidden ? '' : document.getElementById('login-totp').value.replace(/\s+/g, '');
  const err = document.getElementById('login-error');
  if (!username || !password) {
    err.textContent = 'Enter your user name and password.';
    return;
  }
  const btn = document.getElementById('login-submit');
  btn.disabled = true;
  err.textContent = '';
  const body = { username, password };
  if (totp) body.totp = totp;
  const r = await api('POST', '/api/v1/login', body, { quiet401: true });
  btn.disabled = false;
  const msg = r.data && r.data.error ? r.data.error : '';
  if (r.ok && r.data) {
    state.me = Object.assign({}, r.data);
    const me = await api('GET', '/api/v1/me', undefined, { quiet401: true });
    if (me.ok && me.data) state.me = Object.assign({}, state.me, me.data);
    loggedIn();
    return;
  }
  switch (r.status) {
    case 401:
      if (r.data && r.data.totp_required) {
        const wasShown = !totpField.hidden;
        totpField.hidden = false;
        err.textContent = wasShown && totp ? (msg || 'The code was not accepted.') + ' Enter the current code from your authenticator app.'
          : 'Enter the 6-digit code from your authenticator app.';
        const t = document.getElementById('login-totp');
        t.value = '';
        t.focus();
      } else {
        err.textContent = msg || 'Wrong user name or password.';
        document.getElementById('login-password').value = '';
        document.getElementById('login-password').focus();
      }
      break;
    case 423:
      err.textContent = 'Account locked: ' + (msg || 'too many failed attempts') + '. Ask a supervisor or administrator, or wait.';
      break;
    case 429:
      err.textContent = 'Too many attempts: ' + (msg || 'wait a moment before trying again') + '.';
      break;
    default:
      err.textContent = errorText(r, 'Sign-in failed');
  }
}

async function logout() {
  await api('POST', '/api/v1/logout', {}, { quiet401: true });
  stopLive();
  state.me = null;
  // A fresh page: nothing from the session stays in memory or the DOM.
  window.location.replace('/');
}

// nodeName asks the public /healthz which country this node serves, so
// even the login page says which node it signs in to.
async function nodeName() {
  try {
    const r = await fetch('/healthz', { cache: 'no-store' });
    const h = await r.json();
    if (h && h.country) setCountry(h.country, h.organisation);
  } catch { /* named later, from the case list */ }
}

async function boot() {
  nodeName();
  const r = await api('GET', '/api/v1/me', undefined, { quiet401: true });
  if (r.ok && r.data) {
    state.me = r.data;
    loggedIn();
    return;
  }
  if (r.status === 401) {
    showLogin();
    return;
  }
  const b = document.getElementById('boot');
  b.textContent = errorText(r, 'The node did not answer') + ' — retrying in 5 s.';
  window.setTimeout(boot, 5000);
}

// ---- theme ------------------------------------------------------------------

function effectiveTheme() {
  const t = document.documentElement.getAttribute('data-theme');
  if (t) return t;
  return window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

function renderThemeButton() {
  const b = document.getElementById('theme-toggle');
  const dark = effectiveTheme() === 'dark';
  b.textContent = dark ? 'Light mode' : 'Dark mode';
  b.setAttribute('aria-pressed', dark ? 'true' : 'false');
  b.title = 'Switch to ' + (dark ? 'light' : 'dark') + ' colours (saved in this browser)';
}

function toggleTheme() {
  const next = effectiveTheme() === 'dark' ? 'light' : 'dark';
  document.documentElement.setAttribute('data-theme', next);
  try { localStorage.setItem('vigil.theme', next); } catch { /* not persisted */ }
  renderThemeButton();
}

// ---- keyboard -----------------------------------------------------------------

let gPending = 0;

function typingIn(el) {
  if (!el) return false;
  const tag = el.tagName;
  return tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT' || el.isContentEditable;
}

function onKey(e) {
  if (e.ctrlKey || e.metaKey || e.altKey || typingIn(e.target) || !state.me) return;
  const dlg = document.getElementById('help-dialog');
  if (dlg.open) return;
  if (e.key === '?') {
    e.preventDefault();
    if (typeof dlg.showModal === 'function') dlg.showModal(); else dlg.setAttribute('open', '');
    return;
  }
  if (gPending) {
    window.clearTimeout(gPending);
    gPending = 0;
    const to = { d: '/ui/dashboard', c: '/ui/compose', n: '/ui/network', a: '/ui/audit', u: '/ui/users' }[e.key];
    if (to) {
      e.preventDefault();
      navigate(to);
    }
    return;
  }
  if (e.key === 'g') {
    gPending = window.setTimeout(() => { gPending = 0; }, 1500);
    return;
  }
  if (e.key === '/' && active === auditPage) {
    e.preventDefault();
    focusSearch();
  }
}

// ---- links, clocks ----------------------------------------------------------------

function onClick(e) {
  if (e.defaultPrevented || e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return;
  const a = e.target.closest('a[href]');
  if (!a || a.target || a.hasAttribute('download') || a.getAttribute('href').startsWith('#')) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin) return;
  if (url.pathname !== '/' && !url.pathname.startsWith('/ui/') && url.pathname !== '/ui') return;
  e.preventDefault();
  if (url.pathname + url.search === location.pathname + location.search) { route(); return; }
  navigate(url.pathname + url.search);
}

let tick = 0;
function ticker() {
  const now = new Date();
  const ms = now.getTime();
  const pad = n => String(n).padStart(2, '0');
  setText('utc-clock', pad(now.getUTCHours()) + ':' + pad(now.getUTCMinutes()) + ':' + pad(now.getUTCSeconds()) + ' UTC');
  // While the node is not answering, countdowns stop: they show the time
  // left as of the last contact, marked stale (app.css), not a guess.
  if (!document.body.classList.contains('node-down')) {
    for (const el of document.querySelectorAll('[data-countdown]')) updateCountdown(el, ms);
  }
  if (tick++ % 5 === 0) {
    for (const el of document.querySelectorAll('.local-clock[data-tz]')) updateClock(el, now);
    for (const el of document.querySelectorAll('.hours[data-hours]')) updateHours(el, now);
  }
}

function init() {
  document.getElementById('login-form').addEventListener('submit', login);
  document.getElementById('logout').addEventListener('click', logout);
  document.getElementById('theme-toggle').addEventListener('click', toggleTheme);
  if (window.matchMedia) {
    const mq = window.matchMedia('(prefers-color-scheme: dark)');
    if (mq.addEventListener) mq.addEventListener('change', renderThemeButton);
  }
  renderThemeButton();
  document.addEventListener('click', onClick);
  document.addEventListener('keydown', onKey);
  // Audio may only start after a gesture: unlock it at the first one.
  const unlock = () => { unlockAudio(); };
  document.addEventListener('pointerdown', unlock, { once: true });
  document.addEventListener('keydown', unlock, { once: true });
  window.addEventListener('popstate', route);
  window.addEventListener('vigil:route', route);
  document.querySelector('.skip-link').addEventListener('click', e => {
    e.preventDefault();
    document.getElementById('main').focus();
  });
  ticker();
  window.setInterval(ticker, 1000);
  boot();
}

init();
