// Live state: the case list and open alerts, kept current by Server-Sent
// Events from GET /api/v1/events (types "case" and "alert") with a slow
// poll as a safety net, so a request is never missed even if the stream
// drops. New incoming urgent/emergency cases beep (WebAudio) and raise a
// desktop notification; every new incoming case is announced to screen
// readers. Pages listen for the "vigil:data" window event.

import { api, announce, navigate, errorText, setText } from './lib.js';

export const live = {
  cases: [],
  alerts: [],
  loaded: false,
  error: '',
  lastRefresh: 0,
};

const seen = new Set();      // case IDs already known (no alarm for these)
let source = null;
let pollTimer = 0;
let reminderTimer = 0;
let refreshTimer = 0;
let refreshing = null;
let running = false;
let audioCtx = null;
const reminded = new Map(); // case ID -> last reminder time

function emit() {
  window.dispatchEvent(new CustomEvent('vigil:data'));
}

function setLiveStatus(s, text) {
  const el = document.getElementById('live-status');
  if (!el) return;
  el.dataset.state = s;
  el.textContent = text;
}

// refresh refetches cases and alerts (coalescing bursts of events).
export function refresh() {
  if (refreshing) {
    window.clearTimeout(refreshTimer);
    refreshTimer = window.setTimeout(refresh, 250);
    return refreshing;
  }
  refreshing = (async () => {
    const [c, a] = await Promise.all([api('GET', '/api/v1/cases'), api('GET', '/api/v1/alerts')]);
    let err = '';
    if (c.ok && c.data) {
      const cases = Array.isArray(c.data.cases) ? c.data.cases : [];
      noticeNew(cases);
      live.cases = cases;
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

function alarm(c) {
  const what = (c.urgency ? c.urgency.toUpperCase() + ' ' : '') + (c.kind || 'request') + ' request from ' + (c.country || '?');
  announce('New incoming ' + what + '.', isUrgent(c));
  if (!isUrgent(c)) return;
  beep(c.urgency === 'emergency' ? 3 : 2);
  notify('Vigil: new ' + what, 'Acknowledge it in the console.', c.id);
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

function notify(title, body, caseID) {
  if (notificationState() !== 'granted') return;
  try {
    const n = new Notification(title, { body, tag: 'vigil-' + caseID, requireInteraction: true });
    n.onclick = () => {
      window.focus();
      navigate('/ui/cases/' + encodeURIComponent(caseID));
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
  document.title = (parts.length ? '(' + parts.join(', ') + ') ' : '') + 'Vigil — 24/7 console';
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

// ---- event stream -------------------------------------------------------------

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
  es.onopen = () => {
    setLiveStatus('up', 'live');
    refresh(); // catch up on anything missed while disconnected
  };
  es.onerror = () => {
    if (es.readyState === EventSource.CLOSED) {
      // The server refused the stream (say, the session ended): retry
      // later; the poll keeps the lists current meanwhile.
      setLiveStatus('down', 'live updates lost — retrying');
      source = null;
      window.setTimeout(() => { if (running && !source) connect(); }, 10000);
    } else {
      setLiveStatus('connecting', 'reconnecting…');
    }
  };
  es.addEventListener('case', ev => {
    let c = null;
    try { c = JSON.parse(ev.data); } catch { c = null; }
    if (c && c.id) {
      const i = live.cases.findIndex(x => x.id === c.id);
      if (i >= 0) live.cases[i] = Object.assign({}, live.cases[i], c);
      else {
        if (!seen.has(c.id)) {
          seen.add(c.id);
          if (live.loaded && c.direction === 'incoming') alarm(c);
        }
        live.cases.push(c);
      }
      updateBadge();
      emit();
      window.dispatchEvent(new CustomEvent('vigil:case', { detail: c }));
    }
    refresh();
  });
  es.addEventListener('alert', ev => {
    let a = null;
    try { a = JSON.parse(ev.data); } catch { a = null; }
    if (a && a.severity === 'critical' && !a.cleared) {
      announce('Escalation: ' + (a.message || a.kind), true);
      beep(2);
    }
    refresh();
  });
}

export function start() {
  if (running) return;
  running = true;
  refresh();
  connect();
  pollTimer = window.setInterval(() => {
    if (Date.now() - live.lastRefresh > 25000) refresh();
  }, 30000);
  reminderTimer = window.setInterval(remind, 15000);
}

// stop closes the stream and timers. What is known stays, so cases that
// arrive while signed out still alarm after the next sign-in.
export function stop() {
  running = false;
  if (source) source.close();
  source = null;
  window.clearInterval(pollTimer);
  window.clearInterval(reminderTimer);
  setLiveStatus('down', 'offline');
}
