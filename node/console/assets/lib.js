// Shared helpers of the Vigil console: DOM building from text nodes only,
// the JSON API client (credentials + CSRF header), navigation, time and
// time-zone formatting, countdowns and inline field errors.

export const state = {
  me: null,          // {name, role, csrf_token, totp_enabled}
  peers: null,       // last GET /api/v1/peers
  onUnauthorized: null,
};

// ---- DOM ----------------------------------------------------------------

// h builds an element. attrs: plain attributes, plus "class", "dataset",
// "on<event>" handlers and "text". Children are nodes or strings (always
// inserted as text, never parsed as HTML).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'value' && 'value' in el) el.value = v;
      else if (k === 'checked' || k === 'disabled' || k === 'hidden' || k === 'readOnly' || k === 'required' || k === 'selected') el[k] = !!v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function setText(el, text) {
  if (typeof el === 'string') el = document.getElementById(el);
  if (el) el.textContent = text == null ? '' : String(text);
}

// showBox sets an error/ok box's text and shows it; empty text hides it.
export function showBox(el, text) {
  if (typeof el === 'string') el = document.getElementById(el);
  if (!el) return;
  el.textContent = text || '';
  el.hidden = !text;
}

// announce speaks a message through the aria-live regions.
export function announce(msg, urgent = false) {
  const el = document.getElementById(urgent ? 'live-region-urgent' : 'live-region');
  if (!el) return;
  el.textContent = '';
  window.setTimeout(() => { el.textContent = msg; }, 50);
}

// ---- navigation -----------------------------------------------------------

export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  window.dispatchEvent(new CustomEvent('vigil:route'));
}

export function caseLink(id, label) {
  return h('a', { href: '/ui/cases/' + encodeURIComponent(id) }, label || shortID(id));
}

export function shortID(id) {
  return id ? String(id).slice(0, 8) + '…' : '';
}

// ---- API ------------------------------------------------------------------

const unsafe = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const apiTimeout = 20000;

// newIdempotencyKey returns a UUIDv7 (RFC 9562) for an Idempotency-Key
// header: random, and carrying the time it was made, which lets the node
// send the request while its own commit syncs (README, "Retrying a
// submission").
export function newIdempotencyKey() {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  let ms = Date.now();
  for (let i = 5; i >= 0; i--) {
    b[i] = ms % 256;
    ms = Math.floor(ms / 256);
  }
  b[6] = (b[6] & 0x0f) | 0x70;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
}

// api calls the node's JSON API and never throws: it returns {status, ok,
// data}. status 0 means the node could not be reached. State-changing
// calls carry the session's CSRF token; a 403 refreshes the token once and
// retries. A 401 hands over to the login page (unless quiet401).
export async function api(method, path, body, { quiet401 = false, retried = false, headers: extra = {} } = {}) {
  const headers = Object.assign({ Accept: 'application/json' }, extra);
  const opts = { method, credentials: 'same-origin', headers, cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  if (unsafe.has(method) && state.me && state.me.csrf_token) headers['X-CSRF-Token'] = state.me.csrf_token;
  // A hung node accepts connections and never answers: give up after
  // apiTimeout so pages show an error instead of "Loading…" for ever.
  const ctl = new AbortController();
  opts.signal = ctl.signal;
  const timer = window.setTimeout(() => ctl.abort(), apiTimeout);
  let res;
  try {
    res = await fetch(path, opts);
  } catch (e) {
    window.clearTimeout(timer);
    const why = ctl.signal.aborted ? 'no answer within ' + (apiTimeout / 1000) + ' s' : (e && e.message ? e.message : 'network error');
    const what = unsafe.has(method) ? 'It may or may not have been done: check before trying again.' : 'Check the connection.';
    return { status: 0, ok: false, data: { error: 'The node did not answer (' + why + '). ' + what } };
  }
  let data = null;
  const ct = res.headers.get('Content-Type') || '';
  if (res.status !== 204) {
    if (ct.includes('json')) {
      try { data = await res.json(); } catch { data = null; }
    } else {
      try {
        const t = await res.text();
        data = t ? { error: t.trim().slice(0, 300) } : null;
      } catch { data = null; }
    }
  }
  window.clearTimeout(timer);
  if (res.status === 403 && unsafe.has(method) && !retried && path !== '/api/v1/login') {
    // The CSRF token may have rotated (new session in another tab).
    const me = await api('GET', '/api/v1/me', undefined, { quiet401: true });
    if (me.ok && me.data && me.data.csrf_token && state.me && me.data.csrf_token !== state.me.csrf_token) {
      state.me = Object.assign({}, state.me, me.data);
      return api(method, path, body, { quiet401, retried: true, headers: extra });
    }
  }
  if (res.status === 401 && !quiet401 && typeof state.onUnauthorized === 'function') {
    state.onUnauthorized();
  }
  return { status: res.status, ok: res.ok, data };
}

// errorText makes one readable line out of a failed API answer.
export function errorText(r, what) {
  const base = (r.data && r.data.error) ? r.data.error : (r.status ? 'HTTP ' + r.status : 'no answer');
  return what ? what + ': ' + base : base;
}

// randomID returns 32 hex characters (a draft ID).
export function randomID() {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, x => x.toString(16).padStart(2, '0')).join('');
}

// ---- time -----------------------------------------------------------------

const pad = n => String(n).padStart(2, '0');

export function parseTime(s) {
  if (!s) return null;
  const d = new Date(s);
  if (isNaN(d.getTime()) || d.getUTCFullYear() <= 1) return null;
  return d;
}

const weekdays = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

// fmtUTC: "Fri 27 Nov 2026 03:12 UTC" (seconds with {seconds:true}): the
// weekday and the month's name leave no doubt which number is the day.
export function fmtUTC(s, { seconds = false, zone = true } = {}) {
  const d = s instanceof Date ? s : parseTime(s);
  if (!d) return '—';
  let out = weekdays[d.getUTCDay()] + ' ' + d.getUTCDate() + ' ' + months[d.getUTCMonth()] + ' ' + d.getUTCFullYear() + ' ' +
    pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes());
  if (seconds) out += ':' + pad(d.getUTCSeconds());
  return zone ? out + ' UTC' : out;
}

export function todayUTC(offsetDays = 0) {
  const d = new Date(Date.now() + offsetDays * 86400000);
  return d.getUTCFullYear() + '-' + pad(d.getUTCMonth() + 1) + '-' + pad(d.getUTCDate());
}

export function addDays(dateStr, days) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(dateStr || '');
  if (!m || !Number.isFinite(days)) return '';
  const d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3]) + days * 86400000);
  return d.getUTCFullYear() + '-' + pad(d.getUTCMonth() + 1) + '-' + pad(d.getUTCDate());
}

// duration: "1d 02h", "2h 03m 04s", "4m 05s".
export function duration(ms) {
  let s = Math.floor(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86400); s -= d * 86400;
  const hh = Math.floor(s / 3600); s -= hh * 3600;
  const mm = Math.floor(s / 60); s -= mm * 60;
  if (d > 0) return d + 'd ' + pad(hh) + 'h ' + pad(mm) + 'm';
  if (hh > 0) return hh + 'h ' + pad(mm) + 'm ' + pad(s) + 's';
  return mm + 'm ' + pad(s) + 's';
}

export function relative(s) {
  const d = s instanceof Date ? s : parseTime(s);
  if (!d) return '';
  const ms = Date.now() - d.getTime();
  if (Math.abs(ms) < 45000) return 'just now';
  return ms > 0 ? duration(ms).replace(/ \d+s$/, '') + ' ago' : 'in ' + duration(ms).replace(/ \d+s$/, '');
}

// countdown returns a span the global ticker keeps current: "in 12m 03s"
// or, past the deadline, "OVERDUE by 4m 10s" in red.
export function countdown(iso, { label = '' } = {}) {
  const el = h('span', { class: 'countdown', dataset: { countdown: iso } });
  if (label) el.dataset.label = label;
  updateCountdown(el, Date.now());
  return el;
}

export function updateCountdown(el, now) {
  const t = parseTime(el.dataset.countdown);
  if (!t) { el.textContent = '—'; return; }
  const ms = t.getTime() - now;
  const overdue = ms < 0;
  el.textContent = overdue ? 'OVERDUE by ' + duration(ms) : (el.dataset.label ? el.dataset.label + ' ' : '') + 'in ' + duration(ms);
  el.classList.toggle('overdue', overdue);
  el.classList.toggle('soon', !overdue && ms < 10 * 60000);
}

// localClock returns a span the ticker keeps at the current time in zone.
export function localClock(tz, { long = false } = {}) {
  const el = h('span', { class: 'local-clock', dataset: { tz: tz || '', long: long ? '1' : '' } });
  updateClock(el, new Date());
  return el;
}

export function updateClock(el, now) {
  const txt = localTime(el.dataset.tz, now, el.dataset.long === '1');
  if (el.textContent !== txt) el.textContent = txt;
}

const dtfCache = new Map();
function dtf(tz) {
  if (!dtfCache.has(tz)) {
    let f = null;
    try {
      f = new Intl.DateTimeFormat('en-GB', { timeZone: tz, weekday: 'short', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hour12: false, timeZoneName: 'short' });
    } catch { f = null; }
    dtfCache.set(tz, f);
  }
  return dtfCache.get(tz);
}

// zoneParts gives weekday (0=Sun), minutes since midnight and labels of
// now in an IANA zone, or null if the zone is unknown to the browser.
export function zoneParts(tz, now = new Date()) {
  if (!tz) return null;
  const f = dtf(tz);
  if (!f) return null;
  const p = {};
  for (const part of f.formatToParts(now)) p[part.type] = part.value;
  const days = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };
  const hour = p.hour === '24' ? 0 : +p.hour;
  return {
    weekday: days[p.weekday], weekdayName: p.weekday, minutes: hour * 60 + (+p.minute),
    hm: pad(hour) + ':' + p.minute, date: p.year + '-' + p.month + '-' + p.day, zoneName: p.timeZoneName || '',
  };
}

// fmtInZone: the wall-clock time of an instant in tz, e.g. "Sat 01:26 CET".
export function fmtInZone(iso, tz) {
  const d = iso instanceof Date ? iso : parseTime(iso);
  if (!d || !tz) return '';
  const z = zoneParts(tz, d);
  if (!z) return '';
  const [, mo, dd] = z.date.split('-');
  return z.weekdayName + ' ' + (+dd) + ' ' + months[(+mo) - 1] + ' ' + z.hm + ' ' + (z.zoneName || tz);
}

export function localTime(tz, now = new Date(), long = false) {
  if (!tz) return '—';
  const z = zoneParts(tz, now);
  if (!z) return '(unknown zone ' + tz + ')';
  const [y, mo, dd] = z.date.split('-');
  return z.weekdayName + ' ' + (long ? (+dd) + ' ' + months[(+mo) - 1] + ' ' + y + ' ' : '') + z.hm + ' ' + (z.zoneName || '') + ' (' + tz + ')';
}

// officeHours interprets texts like "Mon-Fri 08:00-18:00", "24/7",
// "Mon-Fri 08:30-18:30; Sat 09:00-12:00". It returns {known, open} or
// {known:false} when the text cannot be read (show it as it is).
export function officeHours(text, tz, now = new Date()) {
  if (!text) return { known: false };
  if (/24\s*\/\s*7|24x7|round the clock|24 hours/i.test(text)) return { known: true, open: true, always: true };
  const z = zoneParts(tz, now);
  if (!z) return { known: false };
  const days = { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 };
  const re = /((?:mon|tue|wed|thu|fri|sat|sun)[a-z]*(?:\s*[-–,]\s*(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*)*)?\s*(\d{1,2})[:.h](\d{2})\s*[-–]\s*(\d{1,2})[:.h](\d{2})/gi;
  let m, found = false, open = false;
  while ((m = re.exec(text)) !== null) {
    found = true;
    let dayOK = true;
    if (m[1]) {
      dayOK = false;
      for (const part of m[1].toLowerCase().split(',')) {
        const r = part.split(/[-–]/).map(s => days[s.trim().slice(0, 3)]);
        if (r.length === 2 && r[0] !== undefined && r[1] !== undefined) {
          let d = r[0];
          for (let i = 0; i < 7; i++) {
            if (d === z.weekday) dayOK = true;
            if (d === r[1]) break;
            d = (d + 1) % 7;
          }
        } else if (r[0] === z.weekday) dayOK = true;
      }
    }
    const from = (+m[2]) * 60 + (+m[3]);
    const to = (+m[4]) * 60 + (+m[5]);
    const inTime = to > from ? (z.minutes >= from && z.minutes < to) : (z.minutes >= from || z.minutes < to);
    if (dayOK && inTime) open = true;
  }
  if (!found) return { known: false };
  return { known: true, open };
}

// officeHoursBadge: "open now" / "outside office hours" / the raw text.
export function officeHoursBadge(text, tz) {
  const el = h('span', { class: 'hours', dataset: { hours: text || '', tz: tz || '' } });
  updateHours(el, new Date());
  return el;
}

export function updateHours(el, now) {
  const text = el.dataset.hours;
  const r = officeHours(text, el.dataset.tz, now);
  let label, cls;
  if (!text) { label = 'office hours not given'; cls = 'hours-unknown'; }
  else if (!r.known) { label = text; cls = 'hours-unknown'; }
  else if (r.open) { label = (r.always ? '24/7 — reachable' : 'within office hours') + ' (' + text + ')'; cls = 'hours-open'; }
  else { label = 'OUTSIDE office hours (' + text + ')'; cls = 'hours-closed'; }
  if (el.textContent !== label) el.textContent = label;
  el.className = 'hours ' + cls;
}

// ---- field errors ---------------------------------------------------------

function cssEscape(s) {
  return window.CSS && CSS.escape ? CSS.escape(s) : String(s).replace(/["\\]/g, '\\$&');
}

export function clearFieldErrors(form) {
  for (const el of $$('.field-error', form)) el.remove();
  for (const el of $$('[aria-invalid="true"]', form)) {
    el.removeAttribute('aria-invalid');
    const ids = (el.getAttribute('aria-describedby') || '').split(/\s+/).filter(x => x && !x.startsWith('err-'));
    if (ids.length) el.setAttribute('aria-describedby', ids.join(' '));
    else el.removeAttribute('aria-describedby');
  }
  for (const el of $$('.has-error', form)) el.classList.remove('has-error');
}

let errSeq = 0;

// findFieldTarget locates the input (by name) or the group (by data-path)
// an error path belongs to. An element of a list ("data_categories[1]")
// falls back to the list itself; anything else the form does not know is
// left for the summary at the top.
function findFieldTarget(form, path) {
  const candidates = [path];
  const parent = path.replace(/\[\d+\]$/, '');
  if (parent !== path) candidates.push(parent);
  for (const p of candidates) {
    const byName = form.querySelector('[name="' + cssEscape(p) + '"]');
    if (byName) return { input: byName, exact: p === path };
    const byPath = form.querySelector('[data-path="' + cssEscape(p) + '"]');
    if (byPath) return { group: byPath, exact: p === path };
  }
  return null;
}

// showFieldErrors puts each {field, message} next to its input as
// .field-error[data-field=path] (role=alert, referenced by the input's
// aria-describedby). It returns the errors it could not place and focuses
// the first invalid input.
export function showFieldErrors(form, fields) {
  const unplaced = [];
  let first = null;
  for (const fe of fields || []) {
    const path = fe.field || '';
    const t = path ? findFieldTarget(form, path) : null;
    if (!t) { unplaced.push(fe); continue; }
    const id = 'err-' + (++errSeq);
    const msg = h('p', { class: 'field-error', id, role: 'alert', dataset: { field: path } },
      t.exact ? '' : path + ': ', fe.message);
    if (t.input) {
      const input = t.input;
      const wrap = input.closest('.field, .check-row, fieldset') || input.parentElement;
      if (wrap) wrap.appendChild(msg);
      else input.insertAdjacentElement('afterend', msg);
      const all = input.type === 'checkbox' || input.type === 'radio'
        ? $$('[name="' + cssEscape(input.name) + '"]', form) : [input];
      for (const x of all) {
        x.setAttribute('aria-invalid', 'true');
        x.setAttribute('aria-describedby', ((x.getAttribute('aria-describedby') || '') + ' ' + id).trim());
      }
      if (wrap) wrap.classList.add('has-error');
      if (!first) first = input;
    } else {
      const g = t.group;
      const legend = g.querySelector(':scope > legend');
      if (legend) legend.insertAdjacentElement('afterend', msg);
      else g.insertBefore(msg, g.firstChild);
      g.classList.add('has-error');
      g.setAttribute('aria-describedby', ((g.getAttribute('aria-describedby') || '') + ' ' + id).trim());
      if (!first) first = g.querySelector('input, select, textarea, button') || g;
    }
  }
  // Focus the first problem in reading order, not in the server's order.
  const firstInDOM = form.querySelector('[aria-invalid="true"], fieldset.has-error input, fieldset.has-error select, fieldset.has-error textarea');
  const target = firstInDOM || first;
  if (target && typeof target.focus === 'function') target.focus();
  return unplaced;
}

// ---- misc -----------------------------------------------------------------

export function labelize(s) {
  if (!s) return '';
  s = String(s).replace(/_/g, ' ');
  return s.charAt(0).toUpperCase() + s.slice(1);
}

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}

// loadPeers fetches the roster view (cached per call site as needed).
export async function loadPeers() {
  const r = await api('GET', '/api/v1/peers');
  if (r.ok && r.data) state.peers = r.data;
  return r;
}

export function isSupervisor() {
  return !!state.me && (state.me.role === 'supervisor' || state.me.role === 'admin');
}

export function isAdmin() {
  return !!state.me && state.me.role === 'admin';
}
