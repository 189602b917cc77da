// Audit: GET /api/v1/audit?q=&limit=200 (records, newest first) with a
// search box; GET /api/v1/audit/verify checks the hash chain, Merkle tree
// and signed checkpoints; GET /api/v1/stats gives counts for oversight.

import { h, $, clear, api, fmtUTC, showBox, errorText, caseLink, shortID } from './lib.js';

let wired = false;

function pick(o, ...keys) {
  for (const k of keys) if (o && o[k] !== undefined) return o[k];
  return undefined;
}

async function search(e) {
  if (e) e.preventDefault();
  const q = document.getElementById('audit-q').value.trim();
  const url = '/api/v1/audit?limit=200' + (q ? '&q=' + encodeURIComponent(q) : '');
  const r = await api('GET', url);
  const tb = clear($('#audit-records tbody'));
  if (!r.ok) {
    if (r.status !== 401) showBox('audit-error', errorText(r, 'Could not load the audit log'));
    return;
  }
  showBox('audit-error', '');
  const recs = (r.data && r.data.records) || [];
  for (const a of recs) {
    tb.appendChild(h('tr', { dataset: { seq: String(a.seq) } },
      h('td', { class: 'num' }, String(a.seq)),
      h('td', { class: 'time' }, fmtUTC(a.at, { seconds: true })),
      h('td', null, a.actor || '—'),
      h('td', null, h('code', null, a.action || '—')),
      h('td', null, a.case_id ? caseLink(a.case_id) : '—'),
      h('td', null, a.message_id ? h('code', { title: a.message_id + (a.message_hash ? '\nSHA-256 ' + a.message_hash : '') }, shortID(a.message_id)) : '—'),
      h('td', { class: 'prewrap' }, a.detail || '')));
  }
  if (!recs.length) tb.appendChild(h('tr', null, h('td', { colspan: '7', class: 'muted' }, q ? 'No records match.' : 'No records.')));
}

async function verify() {
  const box = clear(document.getElementById('audit-verify-result'));
  box.hidden = false;
  box.className = 'notice';
  box.textContent = 'Verifying the whole log…';
  const btn = document.getElementById('audit-verify');
  btn.disabled = true;
  const r = await api('GET', '/api/v1/audit/verify');
  btn.disabled = false;
  clear(box);
  if (!r.ok || !r.data) {
    box.className = 'error-box';
    box.textContent = errorText(r, 'Verification could not run');
    return;
  }
  const d = r.data;
  const ok = pick(d, 'ok', 'OK') === true;
  const records = pick(d, 'records', 'Records');
  const root = pick(d, 'root', 'Root');
  const cps = pick(d, 'checkpoints', 'Checkpoints');
  const problem = pick(d, 'first_problem', 'FirstProblem');
  const pseq = pick(d, 'problem_seq', 'ProblemSeq');
  box.className = ok ? 'ok-box' : 'error-box';
  box.appendChild(h('p', null, h('strong', null, ok ? '✓ The audit log is intact.' : '✗ The audit log FAILED verification.')));
  const dl = h('dl', { class: 'facts' },
    h('div', null, h('dt', null, 'Records verified'), h('dd', null, String(records ?? '?'))),
    h('div', null, h('dt', null, 'Merkle root'), h('dd', null, h('code', { class: 'wrap' }, root || '—'))),
    h('div', null, h('dt', null, 'Signed checkpoints'), h('dd', null, String(cps ?? '?'))));
  if (!ok) dl.appendChild(h('div', null, h('dt', null, 'First problem'), h('dd', null, (problem || 'unknown') + (pseq ? ' (record ' + pseq + ')' : ''))));
  box.appendChild(dl);
}

function table(title, obj, keyLabel) {
  const entries = Object.entries(obj || {}).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const t = h('table', { class: 'stats-table' }, h('caption', null, title),
    h('thead', null, h('tr', null, h('th', { scope: 'col' }, keyLabel), h('th', { scope: 'col', class: 'num' }, 'Cases'))));
  const tb = h('tbody');
  for (const [k, v] of entries) tb.appendChild(h('tr', null, h('th', { scope: 'row' }, k), h('td', { class: 'num' }, String(v))));
  if (!entries.length) tb.appendChild(h('tr', null, h('td', { colspan: '2', class: 'muted' }, 'none')));
  t.appendChild(tb);
  return t;
}

async function stats() {
  const box = clear(document.getElementById('audit-stats'));
  const r = await api('GET', '/api/v1/stats');
  if (!r.ok || !r.data) {
    if (r.status !== 401) box.appendChild(h('p', { class: 'muted' }, errorText(r, 'Statistics unavailable')));
    return;
  }
  const s = r.data;
  const ack = s.ack_minutes || {};
  const fmtMin = m => (m === undefined || m === null) ? '—' : (Math.round(m * 10) / 10) + ' min';
  box.appendChild(h('div', { class: 'stats-grid' },
    table('By country', s.by_country, 'Country'),
    table('By kind', s.by_kind, 'Kind'),
    table('By state', s.by_state, 'State'),
    table('By outcome', s.by_outcome, 'Outcome'),
    h('table', { class: 'stats-table' }, h('caption', null, 'Time to acknowledge'),
      h('tbody', null,
        h('tr', null, h('th', { scope: 'row' }, 'Acknowledged cases'), h('td', { class: 'num' }, String(ack.count ?? 0))),
        h('tr', null, h('th', { scope: 'row' }, 'Median'), h('td', { class: 'num' }, ack.count ? fmtMin(ack.median) : '—')),
        h('tr', null, h('th', { scope: 'row' }, '90th percentile'), h('td', { class: 'num' }, ack.count ? fmtMin(ack.p90) : '—'))))));
}

export function focusSearch() {
  const q = document.getElementById('audit-q');
  if (q) { q.focus(); q.select(); }
}

export const auditPage = {
  id: 'page-audit',
  title: 'Audit',
  enter() {
    if (!wired) {
      wired = true;
      document.getElementById('audit-search-form').addEventListener('submit', search);
      document.getElementById('audit-verify').addEventListener('click', verify);
    }
    search();
    stats();
  },
};
