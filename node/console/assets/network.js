// Network: GET /api/v1/peers — every roster member with its connection
// state, last contact, round-trip time, outbox depth, local time, whether it
// is within office hours, and the fallback phone and e-mail.

import { h, $, clear, fmtUTC, relative, localClock, officeHoursBadge, showBox, setText, loadPeers, errorText, parseTime } from './lib.js';

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
      h('td', { class: 'conn' }, conn),
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
}

async function load() {
  const r = await loadPeers();
  if (!r.ok) {
    if (r.status !== 401) showBox('network-error', errorText(r, 'Could not load the roster'));
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
    }
    setText('network-roster', 'Loading…');
    load();
    window.clearInterval(timer);
    timer = window.setInterval(load, 15000);
  },
  leave() {
    window.clearInterval(timer);
  },
};
