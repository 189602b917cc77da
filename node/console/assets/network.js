// Network: GET /api/v1/peers — every roster member with its connection
// state, last contact, round-trip time, outbox depth, local time, whether it
// is within office hours, the fallback phone and e-mail, and its treaty
// basis as the signed roster records it: the treaties it is Party to with
// their dates, its reservations and declarations with theirs, and its
// domestic preservation regime (docs/legal-model.md, section 1).
//
// Drills: GET /api/v1/drills/report (refreshed with the peers) gives per
// member the latest reachability drill (reachable, RTT, last ping and its
// error, consecutive failures) and the response drills (latest and median
// time to human acknowledgement, sent, acknowledged, pending, misses).
// Admins (manage_roster) also get POST /api/v1/drills/reachability and
// POST /api/v1/drills/response {countries}, and per member a Quarantine /
// Release button: POST /api/v1/peers/{country}/quarantine {reason} and
// DELETE of the same (issue 9, admission control).

import { h, $, clear, api, fmtUTC, relative, localClock, officeHoursBadge, showBox, setText, loadPeers, errorText, parseTime,
  caseLink, duration, isAdmin } from './lib.js';
import { treatyList, declarationList } from './legal.js';

let timer = 0;
let wired = false;

function render(data) {
  const tb = clear($('#peers-table tbody'));
  const peers = (data.peers || []).slice().sort((a, b) => ((b.self ? 1 : 0) - (a.self ? 1 : 0)) || a.country.localeCompare(b.country));
  const until = parseTime(data.roster_valid_until);
  const roster = clear(document.getElementById('network-roster'));
  roster.append('Roster serial ', h('strong', null, String(data.roster_serial ?? '?')), ', valid until ', fmtUTC(data.roster_valid_until));
  roster.classList.remove('warning', 'error-box');
  if (until && until.getTime() < Date.now()) {
    roster.append(' — ', h('strong', null, 'EXPIRED: peers may refuse our messages. Install the new roster now.'));
    roster.classList.add('error-box');
  } else if (until && until.getTime() - Date.now() < 7 * 86400000) {
    roster.append(' — expires ', relative(until), '.');
    roster.classList.add('warning');
  }
  const up = peers.filter(p => !p.self && p.connected).length;
  const others = peers.filter(p => !p.self).length;
  roster.append(' ', h('span', { class: 'muted' }, '· ' + up + ' of ' + others + ' peers connected.'));
  for (const p of peers) {
    const conn = p.self
      ? h('span', null, h('span', { class: 'dot dot-self', 'aria-hidden': 'true' }), 'this node')
      : h('span', null, h('span', { class: 'dot ' + (p.connected ? 'dot-up' : 'dot-down'), 'aria-hidden': 'true' }), p.connected ? 'connected' : 'not connected');
    tb.appendChild(h('tr', { dataset: { country: p.country }, class: p.self ? 'row-self' : (p.connected ? '' : 'row-down') },
      h('td', { class: 'conn' }, conn, quarantineCell(p)),
      h('td', null, h('strong', null, p.country)),
      h('td', null, p.organisation || '—', h('br'), h('code', { class: 'muted small', title: p.peer_id }, (p.peer_id || '').slice(0, 20) + '…')),
      h('td', { class: 'tz' }, p.time_zone ? localClock(p.time_zone, { long: false }) : '—'),
      h('td', null, officeHoursBadge(p.office_hours, p.time_zone)),
      h('td', null, p.self ? '—' : (p.last_seen ? [fmtUTC(p.last_seen), h('br'), h('span', { class: 'muted small' }, relative(p.last_seen))] : h('span', { class: 'muted' }, 'never'))),
      h('td', { class: 'num' }, p.self || !p.rtt_ms ? '—' : (Math.round(p.rtt_ms * 10) / 10) + ' ms'),
      h('td', { class: 'num' + (p.outbox > 0 ? ' outbox-waiting' : '') }, String(p.outbox || 0)),
      h('td', null, (p.languages || []).join(', ') || '—'),
      h('td', { class: 'fallback' },
        p.fallback_phone ? h('a', { href: 'tel:' + p.fallback_phone.replace(/[^+0-9]/g, '') }, p.fallback_phone) : '—', h('br'),
        p.fallback_email ? h('a', { href: 'mailto:' + p.fallback_email }, p.fallback_email) : '')));
  }
  renderTreaties(peers);
}

// renderTreaties fills the treaty bases table: per member, the treaties
// with their dates, the reservations and declarations with theirs, and
// the domestic preservation regime.
function renderTreaties(peers) {
  const tb = clear($('#treaties-table tbody'));
  for (const p of peers) {
    tb.appendChild(h('tr', { dataset: { country: p.country }, class: p.self ? 'row-self' : null },
      h('td', null, h('strong', null, p.country), p.self ? h('span', { class: 'muted small' }, ' (this node)') : null),
      h('td', { class: 'treaties' }, treatyList(p.treaties)),
      h('td', { class: 'declarations' }, declarationList(p.declarations)),
      h('td', { class: 'regime' }, regimeText(p.preservation))));
  }
}

// regimeText is a member's domestic preservation regime, if it states one.
function regimeText(r) {
  if (!r || !(r.period_days || r.max_total_days)) return h('span', { class: 'muted' }, 'not stated (at least 60 days, Art. 29(7))');
  const parts = [];
  if (r.period_days) parts.push('usually ' + r.period_days + ' days');
  if (r.max_total_days) parts.push('at most ' + r.max_total_days + ' days in all');
  return parts.join(', ');
}

// quarantineCell shows a member's quarantine and, for admins, the button
// that sets or lifts it; the API enforces the role regardless.
function quarantineCell(p) {
  if (p.self) return null;
  const q = p.quarantine;
  const badge = q ? h('span', { class: 'badge quarantined', title: 'By ' + (q.by || '?') + ' at ' + fmtUTC(q.at) + ': ' + (q.reason || '') },
    'QUARANTINED') : null;
  if (!isAdmin()) return badge ? [h('br'), badge] : null;
  const btn = h('button', { type: 'button', class: 'small quarantine-toggle', dataset: { country: p.country } },
    q ? 'Release' : 'Quarantine');
  btn.addEventListener('click', () => toggleQuarantine(p.country, !!q, btn));
  return [h('br'), badge, badge ? ' ' : null, btn];
}

async function toggleQuarantine(country, quarantined, btn) {
  let r;
  if (quarantined) {
    if (!window.confirm('Accept envelopes from ' + country + ' again? Its queued messages will arrive with its next retry.')) return;
    btn.disabled = true;
    r = await api('DELETE', '/api/v1/peers/' + encodeURIComponent(country) + '/quarantine');
  } else {
    const reason = window.prompt('Quarantine ' + country + ': its envelopes, pings and roster exchanges are refused (it keeps retrying). ' +
      'What it sent before stays. Reason (recorded in the audit log):');
    if (!reason || !reason.trim()) return;
    btn.disabled = true;
    r = await api('POST', '/api/v1/peers/' + encodeURIComponent(country) + '/quarantine', { reason: reason.trim() });
  }
  btn.disabled = false;
  if (!r.ok) {
    if (r.status !== 401) showBox('network-error', errorText(r, quarantined ? 'Not released' : 'Not quarantined'));
    return;
  }
  await load();
}

// ---- drills -----------------------------------------------------------------

// fmtMillis: a round trip, "0.84 ms" or "23 ms".
function fmtMillis(ms) {
  if (ms === undefined || ms === null) return '—';
  return (ms < 10 ? ms.toFixed(2) : String(Math.round(ms))) + ' ms';
}

// fmtSecs: a delay in seconds, "0.42 s", "37 s" or "1h 02m 05s".
function fmtSecs(s) {
  if (s === undefined || s === null) return '—';
  if (s < 10) return s.toFixed(2) + ' s';
  if (s < 60) return Math.round(s) + ' s';
  return duration(s * 1000);
}

function count(n) {
  return String(n || 0);
}

function renderDrills(rep) {
  const tb = clear($('#drills-table tbody'));
  const rows = rep.countries || [];
  for (const c of rows) {
    const never = c.reachable === undefined || c.reachable === null;
    const down = c.reachable === false;
    const cls = [down ? 'row-unreachable' : '', c.misses > 0 ? 'row-missed' : ''].filter(Boolean).join(' ');
    const reach = never
      ? h('span', { class: 'muted' }, 'never pinged')
      : h('span', null, h('span', { class: 'dot ' + (down ? 'dot-down' : 'dot-up'), 'aria-hidden': 'true' }), down ? 'NO' : 'yes');
    tb.appendChild(h('tr', { dataset: { country: c.country }, class: cls || null },
      h('td', { class: 'country' }, h('strong', null, c.country)),
      h('td', { class: 'reachable' + (down ? ' drill-bad' : '') }, reach),
      h('td', { class: 'num rtt' }, fmtMillis(c.rtt_ms)),
      h('td', { class: 'time last-ping' },
        c.last_ping_at ? [fmtUTC(c.last_ping_at, { seconds: true }), h('br'), h('span', { class: 'muted small' }, relative(c.last_ping_at))] : '—',
        c.last_ping_error ? h('span', { class: 'drill-ping-error small' }, c.last_ping_error) : null),
      h('td', { class: 'num failures' + (c.ping_failures > 0 ? ' drill-bad' : '') }, count(c.ping_failures)),
      h('td', { class: 'num ack' }, fmtSecs(c.ack_seconds)),
      h('td', { class: 'num ack-median' }, fmtSecs(c.ack_median_seconds)),
      h('td', { class: 'num sent' }, count(c.drills_sent)),
      h('td', { class: 'num acknowledged' }, count(c.acknowledged)),
      h('td', { class: 'num pending' }, count(c.pending)),
      h('td', { class: 'num misses' + (c.misses > 0 ? ' drill-bad' : '') }, count(c.misses))));
  }
  if (!rows.length) tb.appendChild(h('tr', null, h('td', { colspan: '11', class: 'muted' }, 'The roster lists no other member to drill.')));
  const last = clear(document.getElementById('drill-last-run'));
  const run = rep.last_run;
  if (run) {
    last.append('Last drill: ', h('strong', null, run.kind || '?'), run.reference ? ' ' + run.reference : '',
      ' by ', run.actor || '?', ', ', fmtUTC(run.started_at), ' (', relative(run.started_at), ').');
  } else {
    last.append('No drill has been run yet.');
  }
}

// drillResult fills the inline result box; kind is its class (ok-box,
// warning, error-box, notice), empty text hides it.
function drillResult(kind, text) {
  const box = clear(document.getElementById('drill-result'));
  box.className = kind || '';
  box.hidden = !text;
  if (text) box.appendChild(h('p', null, text));
  return box;
}

async function loadDrills() {
  const r = await api('GET', '/api/v1/drills/report');
  if (!r.ok || !r.data) {
    if (r.status !== 401) showBox('drill-error', errorText(r, 'Could not load the drill report'));
    return;
  }
  showBox('drill-error', '');
  renderDrills(r.data);
}

async function runReachability() {
  const btn = document.getElementById('drill-run-reachability');
  if (btn.disabled) return;
  btn.disabled = true;
  drillResult('notice', 'Pinging every member…');
  const r = await api('POST', '/api/v1/drills/reachability');
  btn.disabled = false;
  if (!r.ok || !r.data) {
    drillResult('error-box', r.status === 401 ? '' : errorText(r, 'Reachability drill failed'));
    return;
  }
  const results = r.data.results || [];
  const down = results.filter(x => !x.reachable);
  const started = parseTime(r.data.started_at), finished = parseTime(r.data.finished_at);
  const took = started && finished ? ' in ' + fmtSecs((finished.getTime() - started.getTime()) / 1000) : '';
  const box = drillResult(down.length ? 'warning' : 'ok-box',
    'Reached ' + (results.length - down.length) + ' of ' + results.length + ' members' + took + '.');
  if (down.length) {
    box.appendChild(h('ul', null, down.map(x => h('li', null, h('strong', null, x.country), ': ', x.error || 'no answer'))));
  }
  await loadDrills();
}

// drillCountries reads "DE, nl; PL" as ["DE", "NL", "PL"]; empty means
// every member.
function drillCountries() {
  return document.getElementById('drill-countries').value.split(/[\s,;]+/).map(s => s.trim().toUpperCase()).filter(Boolean);
}

async function sendResponse(e) {
  e.preventDefault();
  const btn = document.getElementById('drill-send-response');
  if (btn.disabled) return;
  const countries = drillCountries();
  btn.disabled = true;
  drillResult('notice', 'Sending a response drill to ' + (countries.length ? countries.join(', ') : 'every member') + '…');
  const r = await api('POST', '/api/v1/drills/response', { countries });
  btn.disabled = false;
  if (!r.ok || !r.data || !r.data.run) {
    const box = drillResult('error-box', r.status === 401 ? '' : errorText(r, 'Response drill not sent'));
    const fields = (r.data && r.data.fields) || [];
    if (fields.length) {
      box.appendChild(h('ul', null, fields.map(f => {
        const m = /^countries\[(\d+)\]$/.exec(f.field || '');
        return h('li', null, h('strong', null, m && countries[+m[1]] ? countries[+m[1]] : (f.field || 'request')), ': ', f.message);
      })));
    }
    return;
  }
  const run = r.data.run;
  const results = run.results || [];
  const failed = results.filter(x => !x.case_id);
  const box = drillResult(failed.length ? 'warning' : 'ok-box',
    'Drill ' + (run.reference || '') + ' sent to ' + (results.length - failed.length) + ' of ' + results.length +
    ' members; acknowledgement due by ' + fmtUTC(run.deadline_at) + '.');
  box.appendChild(h('ul', null, results.map(x => h('li', { dataset: { country: x.country } }, h('strong', null, x.country), ': ',
    x.case_id ? ['case ', caseLink(x.case_id)] : h('span', { class: 'error-text' }, x.error || 'not sent')))));
  if (!failed.length) document.getElementById('drill-countries').value = '';
  await loadDrills();
}

async function load() {
  const [r] = await Promise.all([loadPeers(), loadDrills()]);
  if (!r.ok) {
    if (r.status !== 401) {
      showBox('network-error', errorText(r, 'Could not load the roster') + ' Retrying by itself.');
      setText('network-roster', 'Not loaded: the node did not answer.');
    }
    return;
  }
  showBox('network-error', '');
  render(r.data);
}

export const networkPage = {
  id: 'page-network',
  title: 'Network',
  enter() {
    if (!wired) {
      wired = true;
      document.getElementById('network-refresh').addEventListener('click', load);
      document.getElementById('drill-run-reachability').addEventListener('click', runReachability);
      document.getElementById('drill-response-form').addEventListener('submit', sendResponse);
      window.addEventListener('vigil:recovered', () => {
        if (!document.getElementById('page-network').hidden) load();
      });
    }
    // Running drills needs manage_roster, which only admins hold
    // (node/accounts/roles.go); the API enforces it regardless.
    document.getElementById('drill-tools').hidden = !isAdmin();
    setText('network-roster', 'Loading…');
    load();
    window.clearInterval(timer);
    timer = window.setInterval(load, 15000);
  },
  leave() {
    window.clearInterval(timer);
  },
};
