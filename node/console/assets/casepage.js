// Case page (/ui/cases/{id}): GET /api/v1/cases/{id} (a CaseView) shown as
// status, the legal basis (legal.terms), deadlines and pending facts
// (legal.facts), the next actions (POST /api/v1/cases/{id}/actions), the
// request in template order and a timeline of messages, actions and
// deadlines. Supervisors can assign the case (POST .../assign).
//
// The action forms are schema.js's, completed from legal.actions: the
// article and doc of each rule, the grounds the treaty basis allows, the
// limits of the period. An emergency request received shows its
// verification contact first.

import { h, api, clear, countdown, fmtUTC, fmtInZone, localClock, officeHoursBadge, showBox, setText, state, errorText,
  clearFieldErrors, showFieldErrors, addDays, parseTime, isSupervisor, labelize, announce, loadPeers, zoneParts } from './lib.js';
import { renderRequest, actions, actionLabel, actionDetailLabels, describeOption, kindLabels } from './schema.js';
import { buildField, collect, updateConditions } from './forms.js';
import { basisFacts, pendingFacts, problemWarning, verificationBox, groundOptions, dayInZone } from './legal.js';

let current = null;   // the CaseView shown
let currentID = '';
let openAction = '';
let openFields = [];  // the descriptors of the open action form, as completed for the case
let wired = false;
let reloadTimer = 0;

function roleText(role) {
  if (role === 'responder') return 'responder — we were asked for help';
  if (role === 'requester') return 'requester — we asked for help';
  return role || '—';
}

function requesterContact(v) {
  const r = v.request || {};
  return r.requesting_authority || r.competent_authority || {};
}

function dd(...children) {
  return h('dd', null, ...children);
}

function fact(label, ...value) {
  return h('div', null, h('dt', null, label), dd(...value));
}

function renderDeadlines(v) {
  const dl = clear(document.getElementById('case-deadlines'));
  const c = requesterContact(v);
  const tz = v.requester_time_zone || c.time_zone;
  const hours = v.requester_office_hours || c.office_hours;
  // Each UTC time with the requester's wall-clock time beside it.
  const local = iso => {
    const s = tz ? fmtInZone(iso, tz) : '';
    return s ? h('span', { class: 'muted small' }, ' (requester: ' + s + ')') : null;
  };
  dl.appendChild(fact(v.direction === 'incoming' ? 'Received' : 'Sent', fmtUTC(v.created_at, { seconds: true }), local(v.created_at)));
  if (v.ack_due_at || v.acknowledged_at) {
    const closed = !!v.closed_at;
    dl.appendChild(fact('Acknowledgement',
      v.acknowledged_at ? h('span', { class: 'ok-text' }, '✓ acknowledged ' + fmtUTC(v.acknowledged_at)) :
        closed ? h('span', { class: 'muted' }, 'not acknowledged (closed)') :
          [h('span', null, 'due ' + fmtUTC(v.ack_due_at)), local(v.ack_due_at), h('br'), countdown(v.ack_due_at)]));
  }
  if (v.kind === 'preservation' || v.expires_at || v.hold) {
    let val;
    if (v.hold) val = h('strong', { class: 'hold' }, 'held (MLA)' + (v.expires_at ? ' — was due to expire ' + fmtUTC(v.expires_at) : ''));
    else if (v.expires_at) val = [h('span', null, 'expires ' + fmtUTC(v.expires_at)), local(v.expires_at), h('br'), countdown(v.expires_at)];
    else val = h('span', { class: 'muted' }, 'not preserved yet');
    dl.appendChild(fact('Preservation', val));
  }
  for (const p of pendingFacts(v)) dl.appendChild(p);
  if (v.closed_at) dl.appendChild(fact('Closed', fmtUTC(v.closed_at) + (v.outcome ? ' — outcome: ' + describeOption(v.outcome) : '')));
  if (v.purged_at) dl.appendChild(fact('Contents purged', fmtUTC(v.purged_at)));
  if (tz || hours) {
    dl.appendChild(fact('Requester\'s time now', tz ? localClock(tz, { long: true }) : '—'));
    dl.appendChild(fact('Requester\'s office hours', officeHoursBadge(hours, tz)));
  }
  if (c.phone || c.email) {
    dl.appendChild(fact('Requester contact', [c.person || '', c.phone ? ' · ' + c.phone : '', c.mobile ? ' · mobile ' + c.mobile : '', c.email ? ' · ' + c.email : ''].join('')));
  }
}

function renderHeader(v) {
  const incoming = v.direction === 'incoming';
  const ref = v.request && v.request.reference ? ' — ' + v.request.reference : '';
  setText('case-h', (incoming ? 'Incoming ' : 'Outgoing ') + (kindLabels[v.kind] || v.kind || 'request') +
    (incoming ? ' from ' : ' to ') + (v.country || '?') + ref);
  const st = document.getElementById('case-state');
  st.textContent = v.state || '—';
  st.dataset.state = v.state || '';
  const dv = document.getElementById('case-delivery');
  dv.textContent = v.delivery || '—';
  dv.dataset.delivery = v.delivery || '';
  const urg = clear(document.getElementById('case-urgency'));
  urg.appendChild(h('span', { class: 'urgency-tag urgency-' + (v.urgency || 'none') }, v.urgency || '—'));
  setText('case-kind', kindLabels[v.kind] || v.kind || '—');
  setText('case-role', roleText(v.role));
  const co = clear(document.getElementById('case-country'));
  co.append(v.country || '?', ' ', v.peer ? h('code', { class: 'muted small', title: 'peer ID' }, v.peer.slice(0, 16) + '…') : '');
  setText('case-assignee', v.assignee || 'nobody');
  setText('case-id', v.id);
  const flags = clear(document.getElementById('case-flags'));
  for (const f of v.flags || []) flags.appendChild(h('span', { class: 'flag' }, f));
}

// legalOf is what the API says of action name on this case.
function legalOf(v, name) {
  return (v && v.legal && v.legal.actions && v.legal.actions[name]) || {};
}

function renderLegal(v) {
  const top = clear(document.getElementById('case-top'));
  const fallback = ((state.peers && state.peers.peers) || []).find(p => p.country === v.country);
  const verify = verificationBox(v, fallback && { phone: fallback.fallback_phone });
  if (verify) top.appendChild(verify);
  const problem = problemWarning(v);
  if (problem) top.appendChild(problem);
  top.hidden = !top.children.length;
  clear(document.getElementById('case-legal')).appendChild(basisFacts(v));
}

function renderActions(v) {
  const box = clear(document.getElementById('case-actions'));
  const avail = (state.me && state.me.role === 'auditor') ? [] : (v.available_actions || []);
  if (state.me && state.me.role === 'auditor') {
    box.appendChild(h('p', { class: 'muted' }, 'Auditors read cases; they do not act on them.'));
  } else if (!avail.length) {
    box.appendChild(h('p', { class: 'muted' }, v.purged_at ? 'Contents purged: no further actions.' : 'No action is open to us in this state.'));
  }
  for (const a of avail) {
    const def = actions[a] || {};
    const lg = legalOf(v, a);
    const cls = 'btn ' + (def.primary ? 'btn-primary' : def.danger ? 'btn-danger' : '');
    const doc = lg.doc || def.doc;
    box.appendChild(h('button', { type: 'button', class: cls, dataset: { action: a }, title: (lg.article ? lg.article + ': ' : '') + (doc || '') || null,
      'aria-expanded': openAction === a ? 'true' : 'false', 'aria-controls': 'action-panel',
      onclick: () => openActionForm(a) }, actionLabel(a)));
  }
  if (openAction && !avail.includes(openAction)) {
    showBox('action-error', 'This case changed: "' + actionLabel(openAction) + '" is no longer available (state is now ' + v.state + ').');
  }
  const assign = document.getElementById('assign-form');
  assign.hidden = !isSupervisor();
}

// ---- action form ----------------------------------------------------------------

function lastExtensionDays(v) {
  let days = 0;
  for (const he of v.history || []) {
    if (he.action !== 'request_extension' || he.invalid) continue;
    const d = parseDetails(he.details);
    if (d && d.period_days) days = d.period_days;
  }
  return days;
}

// usualPeriod is our state's usual preservation period from the roster
// (the node fills it in when the field is left empty), 0 if not stated.
function usualPeriod() {
  const self = ((state.peers && state.peers.peers) || []).find(p => p.self);
  return (self && self.preservation && self.preservation.period_days) || 0;
}

function responderZone(v) {
  return (v.legal && v.legal.terms && v.legal.terms.responder_zone) || 'UTC';
}

function todayIn(zone) {
  const z = zoneParts(zone, new Date());
  return z ? z.date : new Date().toISOString().slice(0, 10);
}

// identifierItems are the identifiers of the request, for the outcome per
// identifier: from the request if we can read it, else by number.
function identifierItems(v) {
  const ids = (v.request && Array.isArray(v.request.identifiers)) ? v.request.identifiers : null;
  if (ids) return ids.map((x, i) => ({ index: i, label: '#' + (i + 1) + ' ' + (x.type || '') + ' ' + (x.value || '') }));
  const n = (v.legal && v.legal.terms && v.legal.terms.identifiers) || 0;
  return Array.from({ length: n }, (_, i) => ({ index: i, label: 'Identifier #' + (i + 1) }));
}

// actionFields completes schema.js's fields of action name for case v.
function actionFields(name, v) {
  const def = actions[name] || { fields: [] };
  const lg = legalOf(v, name);
  const zone = responderZone(v);
  const out = [{ key: 'operator', label: 'Operator (the named person acting)', required: true }];
  for (const f0 of def.fields || []) {
    const f = Object.assign({}, f0);
    if (f.options === 'grounds') {
      f.options = groundOptions(lg.grounds);
      f.empty = 'The treaty basis of this case offers no ground for this action.';
    }
    if (name === 'confirm_preservation') {
      if (f.key === 'period_days') {
        f.min = lg.min_period_days || 60;
        f.max = lg.max_period_days || null;
        f.label = 'Period (days, at least ' + f.min + (f.max ? ', at most ' + f.max : '') + ')';
        const usual = usualPeriod();
        f.required = !usual;
        f.hint = (usual ? 'Leave empty for our usual period of ' + usual + ' days. ' : '') +
          'Budapest Art. 29(7): not less than sixty days, counted from the actual start.';
      } else if (f.key === 'start_date') {
        const req = v.legal && v.legal.terms && v.legal.terms.requested_at;
        f.hint = 'Leave empty for today (' + todayIn(zone) + ' in ' + zone + '). Not before the request was made' +
          (parseTime(req) ? ' (' + dayInZone(req, zone) + ')' : '') + ', not after today.';
      } else if (f.key === 'identifier_outcomes') {
        f.items = identifierItems(v);
        f.default = 'preserved';
        if (!f.items.length) continue;
      }
    }
    out.push(f);
  }
  return out;
}

// expiryPreview says when a confirmation as filled in would end: at the
// start of start + period in the requested state's zone.
function expiryPreview(form, v) {
  const zone = responderZone(v);
  const start = form.querySelector('[name="start_date"]').value || todayIn(zone);
  const days = parseInt(form.querySelector('[name="period_days"]').value, 10) || usualPeriod();
  const end = days ? addDays(start, days) : '';
  setText('action-preview', end ? 'Preservation from ' + start + ' for ' + days + ' days ends at 00:00 on ' + end + ' (' + zone + ').' : '');
}

function openActionForm(name) {
  openAction = name;
  const v = current || {};
  const def = actions[name] || { label: labelize(name), doc: '', fields: [] };
  const lg = legalOf(v, name);
  const panel = document.getElementById('action-panel');
  const fieldsBox = clear(document.getElementById('action-fields'));
  setText('action-title', def.label || labelize(name));
  const doc = clear(document.getElementById('action-doc'));
  if (lg.article) doc.append(h('strong', { class: 'article', id: 'action-article' }, lg.article), ' — ');
  doc.append(lg.doc || def.doc || '');
  showBox('action-error', '');
  showBox('action-result', '');
  const form = document.getElementById('action-form');
  clearFieldErrors(form);
  form.dataset.action = name;
  openFields = actionFields(name, v);
  for (const f of openFields) fieldsBox.appendChild(buildField(f, f.key));
  fieldsBox.appendChild(h('p', { id: 'action-preview', class: 'muted', role: 'status' }));
  if (def.confirm) {
    // Dangerous actions are sent only once the operator confirms them.
    fieldsBox.appendChild(h('div', { class: 'check-row confirm-danger' },
      h('input', { type: 'checkbox', id: 'action-confirm', name: 'confirm_danger' }),
      h('label', { for: 'action-confirm' }, def.confirm)));
  }
  updateConditions(form);
  const set = (k, val) => { const el = form.querySelector('[name="' + k + '"]'); if (el && val !== undefined && val !== null) el.value = String(val); };
  set('operator', state.me ? state.me.name : '');
  if (name === 'confirm_preservation') {
    const req = v.request || {};
    // Without a usual period of our own, start from the period asked for.
    if (!usualPeriod()) set('period_days', Math.max(lg.min_period_days || 60, req.preservation_period_days || 90));
    const upd = () => expiryPreview(form, v);
    form.querySelector('[name="start_date"]').addEventListener('input', upd);
    form.querySelector('[name="period_days"]').addEventListener('input', upd);
    upd();
  } else if (name === 'confirm_extension') {
    const days = lastExtensionDays(v);
    if (days && parseTime(v.expires_at)) set('expiry_date', addDays(dayInZone(v.expires_at, responderZone(v)), days));
  } else if (name === 'close') {
    const guess = { refused: 'refused', withdrawn: 'withdrawn', released: 'released', answered: 'completed', data_provided: 'data_provided' }[v.state];
    if (guess) set('outcome', guess);
  }
  panel.hidden = false;
  for (const b of document.querySelectorAll('#case-actions button[data-action]')) {
    b.setAttribute('aria-expanded', b.dataset.action === name ? 'true' : 'false');
    b.classList.toggle('active', b.dataset.action === name);
  }
  const first = fieldsBox.querySelector('input:not([readonly]), select, textarea');
  // The operator is prefilled: start at the first field that needs typing.
  const next = Array.from(fieldsBox.querySelectorAll('input:not([readonly]), select, textarea')).find(x => !x.value) || first;
  if (next) next.focus();
  panel.scrollIntoView({ block: 'nearest' });
}

function closeActionForm() {
  openAction = '';
  document.getElementById('action-panel').hidden = true;
  for (const b of document.querySelectorAll('#case-actions button[data-action]')) {
    b.setAttribute('aria-expanded', 'false');
    b.classList.remove('active');
  }
}

async function submitAction(e) {
  e.preventDefault();
  const form = document.getElementById('action-form');
  const name = form.dataset.action;
  if (!name || !currentID) return;
  clearFieldErrors(form);
  showBox('action-error', '');
  const confirm = document.getElementById('action-confirm');
  if (confirm && !confirm.checked) {
    showFieldErrors(form, [{ field: 'confirm_danger', message: 'confirm before sending: this cannot be undone' }]);
    showBox('action-error', 'Not sent: tick the confirmation first.');
    return;
  }
  const body = Object.assign({ action: name }, collect(form, openFields));
  const btn = document.getElementById('action-submit');
  btn.disabled = true;
  const r = await api('POST', '/api/v1/cases/' + encodeURIComponent(currentID) + '/actions', body);
  btn.disabled = false;
  if (r.status === 201 || r.ok) {
    closeActionForm();
    const msg = actionLabel(name) + ' recorded. State: ' + ((r.data && r.data.state) || '?') +
      '. It is sealed and queued for delivery to ' + ((current && current.country) || 'the other party') + '.';
    showBox('action-result', msg);
    announce(msg);
    await load(currentID, { quiet: true });
    return;
  }
  if (r.status === 422) {
    const unplaced = showFieldErrors(form, r.data && r.data.fields);
    const extra = unplaced.map(f => (f.field || '') + ': ' + f.message).join('; ');
    showBox('action-error', 'Not sent: ' + ((r.data && r.data.error) || 'the action is incomplete') + (extra ? ' — ' + extra : '') + '.');
    return;
  }
  if (r.status === 409) {
    showBox('action-error', 'Not allowed now: ' + ((r.data && r.data.error) || 'the case changed') + '. The case has been reloaded.');
    load(currentID, { quiet: true });
    return;
  }
  if (r.status === 401) return;
  showBox('action-error', errorText(r, 'The action was NOT taken'));
}

// ---- timeline ----------------------------------------------------------------------

function parseDetails(d) {
  if (!d) return null;
  if (typeof d === 'object') return d;
  try { return JSON.parse(d); } catch { return null; }
}

function deliveryLine(m) {
  if (!m) return null;
  const parts = [];
  if (m.direction === 'incoming') {
    parts.push(h('span', { class: 'delivery-tag', dataset: { delivery: m.state } }, m.state || 'received'));
  } else {
    parts.push(h('span', { class: 'delivery-tag', dataset: { delivery: m.state } }, m.state || '?'));
    if (m.attempts) parts.push(' · ' + m.attempts + ' attempt' + (m.attempts === 1 ? '' : 's'));
    if (m.delivered_at) parts.push(' · delivered ' + fmtUTC(m.delivered_at, { seconds: true }));
  }
  if (m.receipt) {
    parts.push(' · ', m.receipt.verified
      ? h('span', { class: 'ok-text' }, 'receipt verified ✓')
      : h('strong', { class: 'error-text' }, 'receipt NOT verified ✗'));
    parts.push(' ', h('span', { class: 'muted small', title: 'receipt time (receiver\'s clock)' }, '(receipt ' + fmtUTC(m.receipt.received_at, { seconds: true }) + ')'));
  }
  if (m.last_error) parts.push(' · ', h('span', { class: 'error-text' }, 'last error: ' + m.last_error));
  if (m.flags && m.flags.length) parts.push(' ', m.flags.map(f => h('span', { class: 'flag' }, f)));
  return h('p', { class: 'tl-delivery' }, parts);
}

// detailText shows one field of an action on the timeline.
function detailText(v, k, val) {
  if (k === 'ground') return labelize(val) + ' (' + val + ')';
  if (k === 'reason' || k === 'outcome' || k === 'decision') return describeOption(val);
  if (k === 'identifier_outcomes' && Array.isArray(val)) {
    const items = identifierItems(v);
    return val.map(o => ((items[o.index] && items[o.index].label) || '#' + (Number(o.index) + 1)) + ': ' + describeOption(o.outcome) +
      (o.note ? ' — ' + o.note : '')).join('\n');
  }
  if (val === true || val === false) return val ? 'yes' : 'no';
  return typeof val === 'object' ? JSON.stringify(val) : String(val);
}

function renderTimeline(v) {
  const ol = clear(document.getElementById('case-timeline'));
  const msgs = v.messages || [];
  const byID = new Map(msgs.map(m => [m.id, m]));
  const used = new Set();
  const items = [];
  for (const he of v.history || []) {
    if (he.message_id) used.add(he.message_id);
    items.push({ at: he.at, type: 'action', he, m: byID.get(he.message_id) });
  }
  for (const m of msgs) {
    if (used.has(m.id)) continue;
    items.push({ at: m.created_at, type: 'message', m });
  }
  const now = Date.now();
  if (v.ack_due_at && !v.acknowledged_at) items.push({ at: v.ack_due_at, type: 'deadline', title: 'Acknowledgement due' });
  if (v.expires_at && !v.hold) items.push({ at: v.expires_at, type: 'deadline', title: 'Preservation expires' });
  const facts = (v.legal && v.legal.facts) || {};
  if (parseTime(facts.decision_due_at)) items.push({ at: facts.decision_due_at, type: 'deadline', title: 'Requester\'s decision due (Art. 29(6))' });
  if (v.hold && parseTime(facts.review_due_at)) items.push({ at: facts.review_due_at, type: 'deadline', title: 'Review of the MLA hold (Protocol Art. 14(5))' });
  if (parseTime(facts.postponed_until)) items.push({ at: facts.postponed_until, type: 'deadline', title: 'Postponement ends (Art. 27(5))' });
  items.sort((a, b) => (parseTime(a.at) || 0) - (parseTime(b.at) || 0));
  const mine = v.role;
  for (const it of items) {
    const time = h('time', { class: 'tl-time', datetime: it.at || '' }, fmtUTC(it.at, { seconds: true }));
    if (it.type === 'deadline') {
      const past = (parseTime(it.at) || 0) < now;
      ol.appendChild(h('li', { class: 'tl-item tl-deadline' + (past ? ' tl-past' : '') }, time,
        h('p', { class: 'tl-title' }, h('strong', null, 'Deadline: '), it.title, ' — ', countdown(it.at))));
      continue;
    }
    if (it.type === 'message') {
      const m = it.m;
      const isReq = m.type === 'request';
      const title = (isReq ? 'Request ' : 'Message (' + (m.type || '?') + ') ') + (m.direction === 'incoming' ? 'received from ' : 'sent to ') + (m.country || v.country || '?');
      ol.appendChild(h('li', { class: 'tl-item tl-message', dataset: { messageId: m.id } }, time,
        h('p', { class: 'tl-title' }, m.direction === 'incoming' ? '⬇ ' : '⬆ ', title), deliveryLine(m)));
      continue;
    }
    const he = it.he;
    const ours = he.by === mine;
    const who = ours ? 'us' : (v.country || 'other party');
    const li = h('li', { class: 'tl-item tl-action' + (he.invalid ? ' tl-invalid' : ''), dataset: { messageId: he.message_id || '', action: he.action || '' } }, time,
      h('p', { class: 'tl-title' }, ours ? '⬆ ' : '⬇ ', h('strong', null, actionLabel(he.action || '(unreadable)')),
        ' — by ', who, ' (', he.by || '?', ')', he.operator ? ', operator ' + he.operator : '',
        he.from || he.to ? [' · ', h('span', { class: 'transition' }, (he.from || '?') + ' → ' + (he.to || '?'))] : ''));
    if (he.invalid) li.appendChild(h('p', { class: 'tl-invalid-reason', role: 'note' }, h('strong', null, 'NOT APPLIED: '), he.invalid));
    const d = parseDetails(he.details);
    if (d) {
      const dl = h('dl', { class: 'kv tl-details' });
      for (const [k, val] of Object.entries(d)) {
        if (k === 'action' || k === 'seq' || k === 'operator' || val === '' || val === null || val === 0) continue;
        const shown = detailText(v, k, val);
        dl.appendChild(h('div', null, h('dt', null, actionDetailLabels[k] || labelize(k)), h('dd', { class: 'prewrap' }, shown)));
      }
      if (dl.children.length) li.appendChild(dl);
    }
    const dl = deliveryLine(it.m);
    if (dl) li.appendChild(dl);
    ol.appendChild(li);
  }
  if (!items.length) ol.appendChild(h('li', { class: 'muted' }, 'Nothing yet.'));
}

function renderRequestSection(v) {
  const box = clear(document.getElementById('case-request'));
  if (v.request && typeof v.request === 'object') box.appendChild(renderRequest(v.request));
  else if (v.purged_at) box.appendChild(h('p', { class: 'muted' }, 'The request contents were purged on ' + fmtUTC(v.purged_at) + ' under the retention rules.'));
  else box.appendChild(h('p', { class: 'muted' }, 'The request contents are not shown: they could not be decrypted, or your account has no content access.'));
}

function render(v) {
  current = v;
  document.getElementById('case-body').hidden = false;
  renderHeader(v);
  renderLegal(v);
  renderDeadlines(v);
  renderActions(v);
  renderRequestSection(v);
  renderTimeline(v);
}

let loadSeq = 0;

async function load(id, { quiet = false } = {}) {
  const seq = ++loadSeq;
  if (!quiet) showBox('case-error', '');
  const r = await api('GET', '/api/v1/cases/' + encodeURIComponent(id));
  if (seq !== loadSeq || id !== currentID) return; // superseded or navigated away
  if (!r.ok) {
    if (r.status === 401) return;
    showBox('case-error', r.status === 404 ? 'There is no case ' + id + ' on this node.' : errorText(r, 'Could not load the case'));
    if (r.status === 404 || r.status === 400) document.getElementById('case-body').hidden = true;
    return;
  }
  showBox('case-error', '');
  render(r.data);
}

async function loadAssignees() {
  const dl = document.getElementById('assign-users');
  if (dl.children.length) return;
  const r = await api('GET', '/api/v1/users', undefined, { quiet401: true });
  if (!r.ok || !r.data) return;
  for (const u of r.data.users || []) if (!u.disabled) dl.appendChild(h('option', { value: u.name }, u.role));
}

async function assign(e) {
  e.preventDefault();
  const user = document.getElementById('assign-user').value.trim();
  setText('assign-error', '');
  if (!user) { setText('assign-error', 'Give a user name.'); return; }
  const r = await api('POST', '/api/v1/cases/' + encodeURIComponent(currentID) + '/assign', { user });
  if (r.ok) {
    document.getElementById('assign-user').value = '';
    showBox('action-result', 'Assigned to ' + user + '.');
    load(currentID, { quiet: true });
  } else if (r.status !== 401) {
    const f = r.data && r.data.fields && r.data.fields[0];
    setText('assign-error', f ? f.field + ' ' + f.message : errorText(r, 'Not assigned'));
  }
}

function printCase() {
  document.body.classList.add('print-mode');
  setText('print-meta', 'printed ' + fmtUTC(new Date(), { seconds: true }) + (state.me ? ' by ' + state.me.name : '') +
    (current && current.request && current.request.safeguards ? ' · handling code ' + current.request.safeguards.handling_code : '') +
    ' · case ' + currentID);
  document.getElementById('case-print-close').hidden = false;
  // Let the print layout render before the dialog opens.
  window.setTimeout(() => { try { window.print(); } catch { /* printing unavailable */ } }, 150);
}

function endPrint() {
  document.body.classList.remove('print-mode');
  document.getElementById('case-print-close').hidden = true;
}

function wire() {
  wired = true;
  document.getElementById('action-form').addEventListener('submit', submitAction);
  document.getElementById('action-cancel').addEventListener('click', closeActionForm);
  document.getElementById('action-form').addEventListener('keydown', e => {
    if (e.key === 'Escape') { e.preventDefault(); closeActionForm(); }
  });
  document.getElementById('case-refresh').addEventListener('click', () => load(currentID));
  document.getElementById('case-print').addEventListener('click', printCase);
  document.getElementById('case-print-close').addEventListener('click', endPrint);
  window.addEventListener('afterprint', () => { if (document.body.classList.contains('print-mode')) endPrint(); });
  document.getElementById('assign-form').addEventListener('submit', assign);
  window.addEventListener('vigil:case', e => {
    const c = e.detail;
    const page = document.getElementById('page-case');
    if (!c || c.id !== currentID || page.hidden) return;
    window.clearTimeout(reloadTimer);
    reloadTimer = window.setTimeout(() => load(currentID, { quiet: true }), 500);
  });
  // Back from a node that stopped answering: drop the stale error, reload.
  window.addEventListener('vigil:recovered', () => {
    const page = document.getElementById('page-case');
    if (!page.hidden && currentID) load(currentID);
  });
}

export const casePage = {
  id: 'page-case',
  title: 'Case',
  enter(params) {
    if (!wired) wire();
    const id = params.id;
    if (id !== currentID) {
      closeActionForm();
      showBox('action-result', '');
      current = null;
      document.getElementById('case-body').hidden = true;
      setText('case-h', 'Case ' + id);
    }
    currentID = id;
    endPrint();
    if (isSupervisor()) loadAssignees();
    // The roster gives our usual preservation period and the requester's
    // fallback contact; the case shows without them.
    if (!state.peers) loadPeers().then(() => { if (current && current.id === currentID) renderLegal(current); });
    load(id);
  },
  leave() {
    endPrint();
  },
};
