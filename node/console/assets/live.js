// Live state: the active cases and open alerts, kept current by
// Server-Sent Events from GET /api/v1/events (types "case", "alert" and a
// "ping" heartbeat every few seconds) with a slow poll as a safety net, so
// a request is never missed even if the stream drops. A "case" event
// carries the case's row: it is merged in place, never by refetching the
// list. A missed heartbeat means the node is not answering: a banner says
// so, countdowns stop, and when /healthz answers again the stream
// reconnects and pages refetch ("vigil:recovered"). New incoming
// urgent/emergency cases beep (WebAudio) and raise a desktop notification,
// once per burst with its count; every new incoming case is announced to
// screen readers. Pages listen for the "vigil:data" window event.

import { api, announce, navigate, errorText, setText } from './lib.js';

export const live = {
  cases: [],      // active cases (not closed), merged from the list and events
  alerts: [],
  loaded: false,
  error: '',
  lastRefresh: 0,
  down: false,    // the node stopped answering
  country: '',    // this node's country, from the case list
};

const byID = new Map();       // case ID -> row (live.cases is its values)
const touched = new Map();    // case ID -> local time of its last event
const seen = new Set();      // case IDs already known (no alarm for these)
let source = null;
let pollTimer = 0;
let reminderTimer = 0;
let watchTimer = 0;
let probeTimer = 0;
let refreshTimer = 0;
let refreshing = null;
let running = false;
let audioCtx = null;
let lastBeat = 0;            // when the stream last said anything
let beatEvery = 3000;        // the node's heartbeat period (from its pings)
const reminded = new Map(); // case ID -> last reminder time

// A node is "not answering" after this many heartbeat periods of silence.
const missedBeats = 2.5;

function emit() {
  window.dispatchEvent(new CustomEvent('vigil:data'));
}

function setLiveStatus(s, text) {
  const el = document.getElementById('live-status');
  if (!el) return;
  el.dataset.state = s;
  el.textContent = text;
}

function isClosedRow(c) {
  return !!c.closed_at || c.state === 'closed';
}

// upsert merges one case row; a row older than the one held is ignored,
// so a list fetched before an event cannot undo it.
function upsert(c) {
  const had = byID.get(c.id);
  if (had && (Date.parse(had.updated_at) || 0) > (Date.parse(c.updated_at) || 0)) return had;
  const row = had ? Object.assign({}, had, c) : c;
  byID.set(c.id, row);
  return row;
}

function syncCases() {
  live.cases = Array.from(byID.values());
}

// refresh refetches the active cases and the alerts (coalescing bursts).
// Rows are merged, never cleared first, so nothing vanishes meanwhile.
export function refresh() {
  if (refreshing) {
    window.clearTimeout(refreshTimer);
    refreshTimer = window.setTimeout(refresh, 250);
    return refreshing;
  }
  refreshing = (async () => {
    const started = Date.now();
    const [c, a] = await Promise.all([api('GET', '/api/v1/cases?state=active&sort=urgency&limit=1000'), api('GET', '/api/v1/alerts')]);
    let err = '';
    if (c.ok && c.data) {
      const cases = Array.isArray(c.data.cases) ? c.data.cases : [];
      if (c.data.country) setCountry(c.data.country);
      noticeNew(cases);
      const ids = new Set();
      for (const x of cases) { upsert(x); ids.add(x.id); }
      // Gone from the active list and not touched since the fetch began:
      // closed elsewhere, or beyond the list's limit.
      for (const [id, x] of byID) {
        if (!ids.has(id) && (touched.get(id) || 0) < started && (isClosedRow(x) || !c.data.next_cursor)) byID.delete(id);
      }
      syncCases();
    } else if (c.status !== 401) {
      err = errorText(c, 'Could not load cases');
    }
    if (a.ok && a.data) {
      live.alerts = Array.isArray(a.data.alerts) ? a.data.alerts : [];
    } else if (a.status !== 401 && !err) {
      err = errorText(a, 'Could not load alerts');
    }
    live.error = err;
    live.loaded = true;
    live.lastRefresh = Date.now();
    updateBadge();
    emit();
  })().finally(() => { refreshing = null; });
  return refreshing;
}

async function refreshAlerts() {
  const a = await api('GET', '/api/v1/alerts');
  if (a.ok && a.data) {
    live.alerts = Array.isArray(a.data.alerts) ? a.data.alerts : [];
    updateBadge();
    emit();
  }
}

// setCountry names the node in the top bar, on the login page and in the
// tab title.
export function setCountry(cc, organisation) {
  if (organisation) {
    for (const el of document.querySelectorAll('[data-node-organisation]')) el.textContent = organisation;
  }
  if (!cc || cc === live.country) return;
  live.country = cc;
  for (const el of document.querySelectorAll('[data-node-country]')) el.textContent = cc;
  updateBadge();
}

function isUrgent(c) {
  return c.urgency === 'emergency' || c.urgency === 'urgent';
}

function needsAck(c) {
  return c.direction === 'incoming' && !c.acknowledged_at && !c.closed_at && c.state === 'open';
}

// noticeNew alarms on incoming cases not seen before. The first load only
// learns what exists.
function noticeNew(cases) {
  const first = !live.loaded;
  for (const c of cases) {
    if (seen.has(c.id)) continue;
    seen.add(c.id);
    if (first || c.direction !== 'incoming') continue;
    alarm(c);
  }
}

// ---- alarms, grouped by burst ---------------------------------------------------

// A burst is arrivals less than burstQuiet apart, for at most burstMax.
// Its first urgent case beeps and notifies at once, and so does the first
// emergency after only urgent ones; later cases only update that
// notification's count (same tag, silent), at most every burstUpdate.
const burstQuiet = 5000;
const burstUpdate = 1500;
const burstMax = 60000;
const burst = { open: false, startedAt: 0, cases: [], urgent: 0, emergency: 0, loudest: 0, endTimer: 0, updateTimer: 0, shown: 0, seq: 0 };

function alarm(c) {
  if (burst.open && Date.now() - burst.startedAt > burstMax) endBurst();
  burst.cases.push(c);
  if (isUrgent(c)) burst.urgent++;
  if (c.urgency === 'emergency') burst.emergency++;
  if (!burst.open) {
    burst.open = true;
    burst.startedAt = Date.now();
    burst.seq++;
  }
  window.clearTimeout(burst.endTimer);
  burst.endTimer = window.setTimeout(endBurst, burstQuiet);
  const level = c.urgency === 'emergency' ? 2 : (isUrgent(c) ? 1 : 0);
  if (level > burst.loudest) {
    burst.loudest = level;
    beep(level === 2 ? 3 : 2);
    showBurst(true);
    return;
  }
  if (!burst.updateTimer) burst.updateTimer = window.setTimeout(() => { burst.updateTimer = 0; showBurst(false); }, burstUpdate);
}

function what(c) {
  return (c.urgency ? c.urgency.toUpperCase() + ' ' : '') + (c.kind || 'request') + ' request from ' + (c.country || '?');
}

// showBurst announces the burst so far: one case by name, several by
// count; loud: with the notification's sound (a new or louder burst).
function showBurst(loud) {
  const n = burst.cases.length;
  if (!n || n === burst.shown) return;
  burst.shown = n;
  const c = burst.cases[n - 1];
  let title, body;
  if (n === 1) {
    title = 'Vigil' + (live.country ? ' ' + live.country : '') + ': new ' + what(c);
    body = 'Acknowledge it in the console.';
  } else {
    const parts = [];
    if (burst.emergency) parts.push(burst.emergency + ' emergency');
    if (burst.urgent - burst.emergency) parts.push((burst.urgent - burst.emergency) + ' urgent');
    title = 'Vigil' + (live.country ? ' ' + live.country : '') + ': ' + n + ' new incoming requests' + (parts.length ? ' (' + parts.join(', ') + ')' : '');
    body = 'Latest: ' + what(c) + '. Acknowledge them in the console.';
  }
  announce(n === 1 ? 'New incoming ' + what(c) + '.' : n + ' new incoming requests; latest: ' + what(c) + '.', burst.urgent > 0);
  if (burst.urgent) notify(title, body, n === 1 ? c.id : '', !loud);
}

function endBurst() {
  window.clearTimeout(burst.updateTimer);
  burst.updateTimer = 0;
  showBurst(false);
  Object.assign(burst, { open: false, cases: [], urgent: 0, emergency: 0, loudest: 0, shown: 0 });
}

// ---- sound ------------------------------------------------------------------

// Browsers only start audio after a user gesture: the first click or key
// press unlocks it.
export function unlockAudio() {
  try {
    const AC = window.AudioContext || window.webkitAudioContext;
    if (!AC) return false;
    if (!audioCtx) audioCtx = new AC();
    if (audioCtx.state === 'suspended') audioCtx.resume();
    return true;
  } catch {
    return false;
  }
}

export function audioReady() {
  return !!audioCtx && audioCtx.state === 'running';
}

export function beep(times = 2) {
  if (!unlockAudio() || !audioCtx) return;
  const t0 = audioCtx.currentTime + 0.05;
  for (let i = 0; i < times; i++) {
    const osc = audioCtx.createOscillator();
    const gain = audioCtx.createGain();
    osc.type = 'square';
    osc.frequency.value = i % 2 ? 660 : 880;
    const s = t0 + i * 0.35;
    gain.gain.setValueAtTime(0.0001, s);
    gain.gain.exponentialRampToValueAtTime(0.25, s + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, s + 0.25);
    osc.connect(gain).connect(audioCtx.destination);
    osc.start(s);
    osc.stop(s + 0.3);
  }
}

// ---- notifications ------------------------------------------------------------

export function notificationState() {
  if (!('Notification' in window)) return 'unsupported';
  return Notification.permission;
}

export async function requestNotifications() {
  unlockAudio();
  if (!('Notification' in window)) return 'unsupported';
  try {
    return await Notification.requestPermission();
  } catch {
    return Notification.permission;
  }
}

// notify shows (or, within a burst, replaces) the burst's notification.
// caseID opens that case on click; empty opens the dashboard.
function notify(title, body, caseID, silent = false) {
  if (notificationState() !== 'granted') return;
  try {
    const n = new Notification(title, { body, tag: 'vigil-burst-' + burst.seq, requireInteraction: true, silent });
    n.onclick = () => {
      window.focus();
      navigate(caseID ? '/ui/cases/' + encodeURIComponent(caseID) : '/ui/dashboard');
      n.close();
    };
  } catch { /* some browsers only allow notifications from a service worker */ }
}

// ---- badge and title ----------------------------------------------------------

function updateBadge() {
  const n = live.alerts.length;
  const badge = document.getElementById('alert-count');
  if (badge) {
    badge.hidden = n === 0;
    badge.classList.toggle('badge-critical', live.alerts.some(a => a.severity === 'critical'));
  }
  setText('alert-count-n', String(n));
  const waiting = live.cases.filter(needsAck).length;
  const parts = [];
  if (waiting) parts.push(waiting + ' to acknowledge');
  if (n) parts.push(n + ' alert' + (n === 1 ? '' : 's'));
  const node = live.country ? live.country + ' · ' : '';
  document.title = (live.down ? '(NODE NOT ANSWERING) ' : '') + (parts.length ? '(' + parts.join(', ') + ') ' : '') + node + 'Vigil — 24/7 console';
}

// remind beeps again every two minutes for each urgent incoming case still
// not acknowledged, so it cannot be overlooked.
function remind() {
  const now = Date.now();
  let due = null;
  for (const c of live.cases) {
    if (!needsAck(c) || !isUrgent(c)) continue;
    const last = reminded.get(c.id) || 0;
    if (now - last >= 120000) {
      reminded.set(c.id, now);
      if (last) due = c; // not on the first pass: the arrival already beeped
    }
  }
  if (due) {
    beep(due.urgency === 'emergency' ? 3 : 1);
    announce('Reminder: ' + due.urgency + ' ' + due.kind + ' request from ' + due.country + ' is not acknowledged yet.', true);
  }
}

// ---- event stream and heartbeat -------------------------------------------------

function beat() {
  lastBeat = Date.now();
}

function connect() {
  if (!running) return;
  if (source) source.close();
  setLiveStatus('connecting', 'connecting…');
  let es;
  try {
    es = new EventSource('/api/v1/events');
  } catch {
    setLiveStatus('down', 'live updates off — polling');
    return;
  }
  source = es;
  beat(); // the watchdog counts from the attempt
  es.onopen = () => {
    beat();
    setLiveStatus('up', 'live');
    refresh(); // catch up on anything missed while disconnected
  };
  es.onerror = () => {
    if (es.readyState === EventSource.CLOSED) {
      // The server refused the stream (say, the session ended): retry
      // later; the poll keeps the lists current meanwhile.
      setLiveStatus('down', 'live updates lost — retrying');
      if (source === es) source = null;
      window.setTimeout(() => { if (running && !source && !live.down) connect(); }, 10000);
    } else {
      setLiveStatus('connecting', 'reconnecting…');
    }
  };
  es.addEventListener('ping', ev => {
    beat();
    try {
      const p = JSON.parse(ev.data);
      if (p && p.every_ms > 0) beatEvery = p.every_ms;
    } catch { /* keep the last period */ }
    if (!live.down) setLiveStatus('up', 'live');
  });
  es.addEventListener('case', ev => {
    beat();
    let c = null;
    try { c = JSON.parse(ev.data); } catch { c = null; }
    if (!c || !c.id) return;
    touched.set(c.id, Date.now());
    const isNew = !seen.has(c.id);
    seen.add(c.id);
    const row = upsert(c);
    syncCases();
    if (isNew && live.loaded && c.direction === 'incoming') alarm(row);
    updateBadge();
    emit();
    window.dispatchEvent(new CustomEvent('vigil:case', { detail: row }));
  });
  es.addEventListener('alert', ev => {
    beat();
    let a = null;
    try { a = JSON.parse(ev.data); } catch { a = null; }
    if (a && a.severity === 'critical' && !a.cleared) {
      announce('Escalation: ' + (a.message || a.kind), true);
      beep(2);
    }
    refreshAlerts();
  });
}

// watch declares the node down when the stream has been silent for
// missedBeats heartbeat periods: a hung node keeps its connections open
// and says nothing, so only the heartbeat's absence shows it.
function watch() {
  if (!running || live.down || !source) return;
  if (Date.now() - lastBeat > missedBeats * beatEvery) nodeDown();
}

function nodeDown() {
  live.down = true;
  if (source) source.close();
  source = null;
  setLiveStatus('down', 'NODE NOT ANSWERING');
  document.body.classList.add('node-down');
  const b = document.getElementById('node-down');
  if (b) {
    b.hidden = false;
    setText('node-down-since', new Date(lastBeat).toISOString().slice(11, 19) + ' UTC');
  }
  announce('The node is not answering. Nothing shown is current until it is back.', true);
  updateBadge();
  emit();
  probe();
}

// probe asks /healthz, with a short timeout, until the node answers.
async function probe() {
  window.clearTimeout(probeTimer);
  if (!running || !live.down) return;
  const ctl = new AbortController();
  const t = window.setTimeout(() => ctl.abort(), 2500);
  let ok = false;
  try {
    const r = await fetch('/healthz', { cache: 'no-store', signal: ctl.signal });
    ok = r.ok;
  } catch { ok = false; }
  window.clearTimeout(t);
  if (ok) nodeUp();
  else probeTimer = window.setTimeout(probe, 2000);
}

function nodeUp() {
  live.down = false;
  document.body.classList.remove('node-down');
  const b = document.getElementById('node-down');
  if (b) b.hidden = true;
  announce('The node is answering again.', false);
  connect();
  refresh();
  updateBadge();
  window.dispatchEvent(new CustomEvent('vigil:recovered'));
}

export function start() {
  if (running) return;
  running = true;
  refresh();
  connect();
  pollTimer = window.setInterval(() => {
    if (!live.down && Date.now() - live.lastRefresh > 25000) refresh();
  }, 30000);
  reminderTimer = window.setInterval(remind, 15000);
  watchTimer = window.setInterval(watch, 1000);
}

// stop closes the stream and timers. What is known stays, so cases that
// arrive while signed out still alarm after the next sign-in.
export function stop() {
  running = false;
  if (source) source.close();
  source = null;
  window.clearInterval(pollTimer);
  window.clearInterval(reminderTimer);
  window.clearInterval(watchTimer);
  window.clearTimeout(probeTimer);
  setLiveStatus('down', 'offline');
}
