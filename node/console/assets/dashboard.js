// Dashboard: escalation banner, active incoming cases (most urgent first,
// with live acknowledgement countdowns), active outgoing cases with
// delivery and legal state, other open alerts — from live.js — and the
// case log: every case, paged by the node (GET /api/v1/cases with filters,
// search, sort and a cursor), its rows updated in place by live events.

import { h, $, clear, countdown, fmtUTC, localClock, officeHoursBadge, caseLink, navigate, showBox, setText, parseTime, api, errorText } from './lib.js';
import { live, refresh, requestNotifications, notificationState, beep, unlockAudio } from './live.js';
import { kindLabels } from './schema.js';

const urgencyRank = { emergency: 0, urgent: 1, routine: 2 };
const terminal = new Set(['closed', 'refused', 'withdrawn', 'released', 'answered', 'conditions_rejected']);

function isClosed(c) {
  return !!c.closed_at || c.state === 'closed';
}

function ackDeadline(c) {
  if (c.acknowledged_at || isClosed(c)) return 9e15;
  const t = parseTime(c.ack_due_at);
  return t ? t.getTime() : 8e15;
}

export function sortIncoming(cases) {
  return cases.slice().sort((a, b) =>
    (isClosed(a) - isClosed(b)) ||
    ((urgencyRank[a.urgency] ?? 3) - (urgencyRank[b.urgency] ?? 3)) ||
    (ackDeadline(a) - ackDeadline(b)) ||
    String(b.created_at).localeCompare(String(a.created_at)));
}

function sortOutgoing(cases) {
  return cases.slice().sort((a, b) =>
    (isClosed(a) - isClosed(b)) || String(b.updated_at || b.created_at).localeCompare(String(a.updated_at || a.created_at)));
}

function urgencyCell(c) {
  return h('td', { class: 'urgency' }, h('span', { class: 'urgency-tag urgency-' + (c.urgency || 'none') }, c.urgency || '—'));
}

function stateCell(c) {
  return h('td', { class: 'state', dataset: { state: c.state || '' }, title: c.outcome ? 'outcome: ' + c.outcome : null }, c.state || '—');
}

function deliveryCell(c) {
  const titles = {
    queued: 'stored in the outbox, not yet on the wire',
    sent: 'on the wire, awaiting the signed receipt',
    delivered: 'delivered: signed receipt verified',
    received: 'received and receipted',
    rejected: 'refused by the other node — see the case',
  };
  return h('td', { class: 'delivery', dataset: { delivery: c.delivery || '' }, title: titles[c.delivery] || null }, c.delivery || '—');
}

function ackCell(c) {
  if (isClosed(c)) return h('td', { class: 'ack' }, h('span', { class: 'muted' }, 'closed ' + fmtUTC(c.closed_at)));
  if (c.acknowledged_at) return h('td', { class: 'ack' }, h('span', { class: 'ok-text' }, '✓ ' + fmtUTC(c.acknowledged_at)));
  if (c.ack_due_at) return h('td', { class: 'ack' }, countdown(c.ack_due_at), h('br'), h('span', { class: 'muted small' }, 'due ' + fmtUTC(c.ack_due_at)));
  return h('td', { class: 'ack' }, h('span', { class: 'muted' }, 'no deadline'));
}

function refCell(c) {
  return h('td', { class: 'ref' }, c.reference || h('span', { class: 'muted' }, '—'));
}

function flagsNode(c) {
  if (!c.flags || !c.flags.length) return null;
  return h('span', { class: 'flags' }, c.flags.map(f => h('span', { class: 'flag' }, f)));
}

function rowClick(e) {
  if (e.target.closest('a, button')) return;
  const tr = e.currentTarget;
  navigate('/ui/cases/' + encodeURIComponent(tr.dataset.caseId));
}

function incomingRow(c) {
  const cls = ['case-row'];
  if (isClosed(c)) cls.push('row-closed');
  if (!c.acknowledged_at && !isClosed(c)) cls.push('row-unacked', 'row-' + (c.urgency || 'routine'));
  return h('tr', { class: cls.join(' '), dataset: { caseId: c.id }, onclick: rowClick },
    urgencyCell(c),
    h('td', { class: 'country' }, h('strong', null, c.country || '?')),
    refCell(c),
    h('td', { class: 'kind' }, kindLabels[c.kind] || c.kind || '—', ' ', flagsNode(c)),
    stateCell(c),
    deliveryCell(c),
    h('td', { class: 'time' }, fmtUTC(c.created_at)),
    ackCell(c),
    h('td', { class: 'tz' }, c.requester_time_zone ? [localClock(c.requester_time_zone), h('br'), officeHoursBadge(c.requester_office_hours, c.requester_time_zone)]
      : h('span', { class: 'muted' }, c.requester_local_time || '—')),
    h('td', { class: 'assignee' }, c.assignee || h('span', { class: 'muted' }, '—')),
    h('td', { class: 'open' }, caseLink(c.id, 'Open')));
}

function expiryNode(c) {
  if (c.hold) return h('span', { class: 'hold' }, 'held (MLA)');
  if (c.expires_at) return h('span', null, 'until ' + fmtUTC(c.expires_at), h('br'), countdown(c.expires_at, { label: 'expires' }));
  return h('span', { class: 'muted' }, '—');
}

function outgoingRow(c) {
  return h('tr', { class: 'case-row' + (isClosed(c) ? ' row-closed' : '') + (c.delivery === 'rejected' ? ' row-rejected' : ''), dataset: { caseId: c.id }, onclick: rowClick },
    h('td', { class: 'country' }, h('strong', null, c.country || '?')),
    refCell(c),
    h('td', { class: 'kind' }, kindLabels[c.kind] || c.kind || '—', ' ', flagsNode(c)),
    stateCell(c),
    deliveryCell(c),
    h('td', { class: 'time' }, fmtUTC(c.created_at)),
    h('td', { class: 'ack' }, c.acknowledged_at ? h('span', { class: 'ok-text' }, '✓ ' + fmtUTC(c.acknowledged_at))
      : (isClosed(c) ? h('span', { class: 'muted' }, '—') : (c.ack_due_at ? countdown(c.ack_due_at, { label: 'expected' }) : h('span', { class: 'muted' }, 'awaiting')))),
    h('td', { class: 'expiry' }, expiryNode(c)),
    h('td', { class: 'assignee' }, c.assignee || h('span', { class: 'muted' }, '—')),
    h('td', { class: 'open' }, caseLink(c.id, 'Open')));
}

function bannerItem(a, c) {
  const crit = a ? a.severity === 'critical' : false;
  const li = h('li', { class: 'banner-item ' + (crit ? 'banner-critical' : 'banner-warning'), dataset: { alertId: a ? a.id : '', caseId: (a && a.case_id) || (c && c.id) || '' } });
  const sev = a ? a.severity.toUpperCase() : 'EXPIRING';
  li.appendChild(h('strong', { class: 'banner-sev' }, sev));
  if (a) {
    li.append(' ', a.country ? a.country + ': ' : '', a.message || a.kind);
    if (a.due_at) li.append(' — ', countdown(a.due_at, { label: 'due' }));
    li.append(' ', h('span', { class: 'muted small' }, '(raised ' + fmtUTC(a.raised_at) + ')'));
  } else {
    li.append(' ', (c.direction === 'incoming' ? 'Preservation for ' : 'Our preservation at ') + (c.country || '?') + ' ends ' + fmtUTC(c.expires_at) + ' — ', countdown(c.expires_at, { label: 'expires' }));
  }
  const cid = (a && a.case_id) || (c && c.id);
  if (cid) li.append(' ', caseLink(cid, 'Open case'));
  return li;
}

// render redraws at most once a frame: a burst of events is one redraw.
let frame = 0;
function scheduleRender() {
  if (frame) return;
  frame = window.requestAnimationFrame(() => { frame = 0; render(); });
}

function render() {
  const page = document.getElementById('page-dashboard');
  if (!page || page.hidden) return;
  showBox('dashboard-error', live.error);

  // Banner: escalations (critical alerts) and expiring preservations.
  const bannerList = clear($('#alerts-banner-list'));
  const inBanner = new Set();
  const expiring = a => /expir/i.test(a.kind || '');
  const bannerAlerts = live.alerts.filter(a => a.severity === 'critical' || expiring(a));
  bannerAlerts.sort((x, y) => (x.severity === 'critical' ? 0 : 1) - (y.severity === 'critical' ? 0 : 1));
  for (const a of bannerAlerts) {
    bannerList.appendChild(bannerItem(a, null));
    inBanner.add(a.id);
    if (a.case_id) inBanner.add('case:' + a.case_id);
  }
  const soon = Date.now() + 3 * 86400000;
  for (const c of live.cases) {
    const t = parseTime(c.expires_at);
    if (!t || c.hold || isClosed(c) || t.getTime() > soon || inBanner.has('case:' + c.id)) continue;
    bannerList.appendChild(bannerItem(null, c));
  }
  const banner = document.getElementById('alerts-banner');
  const any = bannerList.children.length > 0;
  banner.classList.toggle('banner-active', any);
  banner.classList.toggle('banner-has-critical', bannerAlerts.some(a => a.severity === 'critical'));
  document.getElementById('alerts-banner-empty').hidden = any;

  const incoming = sortIncoming(live.cases.filter(c => c.direction === 'incoming'));
  const outgoing = sortOutgoing(live.cases.filter(c => c.direction !== 'incoming'));
  const ib = clear($('#incoming-cases tbody'));
  for (const c of incoming) ib.appendChild(incomingRow(c));
  const ob = clear($('#outgoing-cases tbody'));
  for (const c of outgoing) ob.appendChild(outgoingRow(c));
  document.getElementById('incoming-empty').hidden = incoming.length > 0 || !live.loaded;
  document.getElementById('outgoing-empty').hidden = outgoing.length > 0 || !live.loaded;
  const waiting = incoming.filter(c => !c.acknowledged_at && !isClosed(c) && c.state === 'open').length;
  setText('incoming-summary', waiting ? '— ' + waiting + ' waiting for acknowledgement' : '');
  const active = outgoing.filter(c => !isClosed(c) && !terminal.has(c.state)).length;
  setText('outgoing-summary', outgoing.length ? '— ' + active + ' active' : '');

  // Other alerts.
  const al = clear($('#alerts-list'));
  for (const a of live.alerts) {
    if (inBanner.has(a.id)) continue;
    al.appendChild(h('li', { class: 'alert-item sev-' + a.severity, dataset: { alertId: a.id } },
      h('strong', null, (a.severity || '').toUpperCase()), ' ', a.country ? a.country + ': ' : '', a.message || a.kind,
      a.due_at ? [' — ', countdown(a.due_at, { label: 'due' })] : null,
      ' ', h('span', { class: 'muted small' }, '(' + fmtUTC(a.raised_at) + ')'),
      a.case_id ? [' ', caseLink(a.case_id, 'Open case')] : null));
  }
  document.getElementById('alerts-list-empty').hidden = al.children.length > 0;
}

// ---- case log: server-side paging, filters, search, sort ----------------------

const logPageSize = 50;
const log = { query: '', cursors: [''], page: 0, rows: new Map(), next: '', total: 0, changed: new Set(), loading: 0 };

function logQuery() {
  const f = document.getElementById('log-filters');
  const p = new URLSearchParams();
  for (const name of ['q', 'direction', 'state', 'kind', 'urgency', 'country', 'from', 'to', 'sort']) {
    let v = f.elements[name].value.trim();
    if (name === 'country') v = v.toUpperCase();
    if (v && !(name === 'sort' && v === 'newest')) p.set(name, v);
  }
  return p;
}

function logRow(c) {
  return h('tr', { class: 'case-row' + (isClosed(c) ? ' row-closed' : ''), dataset: { caseId: c.id }, onclick: rowClick },
    h('td', { class: 'dir' }, c.direction === 'incoming' ? 'in' : 'out'),
    h('td', { class: 'country' }, h('strong', null, c.country || '?')),
    refCell(c),
    h('td', { class: 'kind' }, kindLabels[c.kind] || c.kind || '—', ' ', flagsNode(c)),
    urgencyCell(c),
    stateCell(c),
    h('td', { class: 'time' }, fmtUTC(c.created_at)),
    h('td', { class: 'open' }, caseLink(c.id, 'Open')));
}

// loadLog fetches page log.page of the current query. Rows stay on screen
// until the new page has arrived.
async function loadLog() {
  const seq = ++log.loading;
  const p = new URLSearchParams(log.query);
  p.set('limit', String(logPageSize));
  const cur = log.cursors[log.page];
  if (cur) p.set('cursor', cur);
  const r = await api('GET', '/api/v1/cases?' + p.toString());
  if (seq !== log.loading) return; // a newer query is on its way
  if (!r.ok || !r.data) {
    showBox('log-error', errorText(r, 'Could not load the case list'));
    return;
  }
  showBox('log-error', '');
  const cases = Array.isArray(r.data.cases) ? r.data.cases : [];
  log.rows = new Map(cases.map(c => [c.id, c]));
  log.next = r.data.next_cursor || '';
  log.total = r.data.total || 0;
  log.changed.clear();
  const tb = clear($('#log-cases tbody'));
  for (const c of cases) tb.appendChild(logRow(c));
  document.getElementById('log-empty').hidden = cases.length > 0;
  const from = log.page * logPageSize;
  setText('log-summary', '— ' + log.total + ' match' + (log.total === 1 ? '' : 'es'));
  setText('log-page', cases.length ? (from + 1) + '–' + (from + cases.length) + ' of ' + log.total : '');
  document.getElementById('log-prev').disabled = log.page === 0;
  document.getElementById('log-next').disabled = !log.next;
  document.getElementById('log-new').hidden = true;
}

function applyLog(e) {
  if (e) e.preventDefault();
  log.query = logQuery().toString();
  log.cursors = [''];
  log.page = 0;
  loadLog();
}

// onCaseEvent updates a shown row in place; a case not on this page is
// only counted, so the page the operator reads never shifts under them.
function onCaseEvent(ev) {
  const c = ev.detail;
  const page = document.getElementById('page-dashboard');
  if (!c || !c.id || !page || page.hidden) return;
  const tr = document.querySelector('#log-cases tr[data-case-id="' + c.id + '"]');
  if (tr && log.rows.has(c.id)) {
    const row = Object.assign({}, log.rows.get(c.id), c);
    log.rows.set(c.id, row);
    tr.replaceWith(logRow(row));
    return;
  }
  log.changed.add(c.id);
  const b = document.getElementById('log-new');
  b.hidden = false;
  b.textContent = log.changed.size + ' new or changed case' + (log.changed.size === 1 ? '' : 's') + ' — show';
}

function wireLog() {
  document.getElementById('log-filters').addEventListener('submit', applyLog);
  for (const name of ['direction', 'state', 'kind', 'urgency', 'sort']) {
    document.getElementById('log-' + name).addEventListener('change', applyLog);
  }
  document.getElementById('log-reset').addEventListener('click', () => {
    document.getElementById('log-filters').reset();
    applyLog();
  });
  document.getElementById('log-next').addEventListener('click', () => {
    if (!log.next) return;
    log.cursors[log.page + 1] = log.next;
    log.page++;
    loadLog();
  });
  document.getElementById('log-prev').addEventListener('click', () => {
    if (log.page === 0) return;
    log.page--;
    loadLog();
  });
  document.getElementById('log-new').addEventListener('click', () => { log.page = 0; loadLog(); });
  window.addEventListener('vigil:case', onCaseEvent);
}

function notifyStatus() {
  const s = notificationState();
  const btn = document.getElementById('enable-notifications');
  const text = {
    granted: 'Desktop notifications on.',
    denied: 'Desktop notifications are blocked in this browser\'s site settings.',
    default: 'Desktop notifications are off.',
    unsupported: 'This browser has no desktop notifications.',
  }[s] || '';
  setText('notify-status', text);
  if (btn) btn.textContent = s === 'granted' ? 'Notifications on — enable sound' : 'Enable notifications & sound';
}

let wired = false;

export const dashboardPage = {
  id: 'page-dashboard',
  title: 'Dashboard',
  enter() {
    if (!wired) {
      wired = true;
      window.addEventListener('vigil:data', scheduleRender);
      window.addEventListener('vigil:recovered', () => {
        const page = document.getElementById('page-dashboard');
        if (page && !page.hidden) loadLog();
      });
      wireLog();
      log.query = logQuery().toString();
      document.getElementById('enable-notifications').addEventListener('click', async () => {
        await requestNotifications();
        unlockAudio();
        notifyStatus();
      });
      document.getElementById('test-sound').addEventListener('click', () => { unlockAudio(); beep(2); });
    }
    notifyStatus();
    render();
    refresh();
    loadLog();
  },
};
