// Compose: pick the kind and the recipient, fill the form (fields in T-CY
// order), Review (POST /api/v1/requests/validate: 422 field errors appear
// inline), then Send (POST /api/v1/requests) and open the new case.
// Drafts live on the node: PUT/GET/DELETE /api/v1/drafts/{id}.

import { h, $, $$, api, clear, navigate, errorText, fmtUTC, randomID, newIdempotencyKey, showBox, setText, loadPeers,
  clearFieldErrors, showFieldErrors, localClock, officeHoursBadge, relative, zoneParts, officeHours } from './lib.js';
import { requestSchemas, renderRequest, kindLabels, normalizeRequest, emergencyKinds } from './schema.js';
import { treatyList, declarationList } from './legal.js';
import { buildFields, collect, fill } from './forms.js';

let draftID = '';
let wired = false;
let peers = [];
let sending = false;

const form = () => document.getElementById('compose-form');

function currentKind() {
  const r = $('input[name="kind"]:checked', form());
  return r ? r.value : 'preservation';
}

// doc returns the request document the form describes.
function doc() {
  const d = { kind: currentKind(), to: document.getElementById('compose-to').value };
  return Object.assign(d, collect(document.getElementById('compose-fields'), requestSchemas[d.kind]));
}

function ensureTZList() {
  if (document.getElementById('tz-list')) return;
  const dl = h('datalist', { id: 'tz-list' });
  let zones = [];
  try { zones = Intl.supportedValuesOf('timeZone'); } catch { zones = []; }
  if (!zones.includes('UTC')) zones.unshift('UTC');
  for (const z of zones) dl.appendChild(h('option', { value: z }));
  document.body.appendChild(dl);
}

// kindNote says, above the form, what an emergency request must carry
// beyond the template: the verification contact is what the receiving
// point checks first.
function kindNote(k) {
  if (!emergencyKinds.includes(k)) return null;
  return h('p', { id: 'compose-kind-note', class: 'warning', role: 'note' },
    h('strong', null, 'Verification contact required. '),
    'Name the supervisor or another official who can confirm that this request is genuine; the receiving point calls them back before acting. ',
    k === 'emergency_mla'
      ? 'Send emergency mutual assistance only to a Party that declared under Protocol Art. 10(9) that its 24/7 point receives it, and send the copy to its central authority through ours.'
      : 'Emergency disclosure (Protocol Art. 9) is for a significant and imminent risk to the life or safety of a person.');
}

// setKind rebuilds the form for k, carrying over what fits.
function setKind(k, carry) {
  const r = document.getElementById('compose-kind-' + k);
  if (r) r.checked = true;
  const container = document.getElementById('compose-fields');
  buildFields(container, requestSchemas[k]);
  for (const f of requestSchemas[k]) {
    const fs = f.important && $('fieldset[data-path="' + f.key + '"]', container);
    if (fs) fs.classList.add('warning');
  }
  const note = kindNote(k);
  if (note) container.insertBefore(note, container.firstChild);
  if (carry) {
    const c = Object.assign({}, normalizeRequest(carry));
    // The requester's contact block has a different name per kind.
    const contact = c.requesting_authority || c.competent_authority;
    if (contact) {
      c.requesting_authority = c.requesting_authority || contact;
      c.competent_authority = c.competent_authority || contact;
    }
    fill(container, requestSchemas[k], c);
  }
  clearErrors();
}

function clearErrors() {
  clearFieldErrors(form());
  showBox('compose-errors', '');
}

function showErrors(fields, message) {
  clearErrors();
  const unplaced = showFieldErrors(form(), fields || []);
  const box = clear(document.getElementById('compose-errors'));
  const n = (fields || []).length;
  box.appendChild(h('p', null, h('strong', null, message || 'The request is not complete.'),
    n ? ' ' + n + ' problem' + (n === 1 ? '' : 's') + (unplaced.length < n ? ': fix the marked fields.' : '.') : ''));
  if (unplaced.length) {
    const ul = h('ul', { class: 'unplaced' });
    for (const fe of unplaced) {
      ul.appendChild(h('li', { class: 'field-error', dataset: { field: fe.field || '' } }, h('code', null, fe.field || '(request)'), ': ', fe.message));
    }
    box.appendChild(ul);
  }
  box.hidden = false;
  if (unplaced.length || !n) box.focus();
}

// ---- recipients ---------------------------------------------------------------

async function loadRecipients() {
  const sel = document.getElementById('compose-to');
  const r = await loadPeers();
  if (!r.ok) {
    setText('compose-peer-info', errorText(r, 'Could not load the roster'));
    return;
  }
  peers = (r.data.peers || []).filter(p => !p.self).sort((a, b) => a.country.localeCompare(b.country));
  const keep = sel.value;
  while (sel.options.length > 1) sel.remove(1);
  for (const p of peers) sel.appendChild(h('option', { value: p.country }, peerLabel(p)));
  if (keep) sel.value = keep;
  showPeerInfo();
}

// peerLabel: "DE — BKA · 01:37 CET · outside office hours".
function peerLabel(p, now = new Date()) {
  const z = zoneParts(p.time_zone, now);
  const oh = officeHours(p.office_hours, p.time_zone, now);
  const parts = [p.country + ' — ' + (p.organisation || '')];
  if (z) parts.push(z.weekdayName + ' ' + z.hm + ' ' + (z.zoneName || p.time_zone));
  if (oh.known) parts.push(oh.always ? '24/7' : (oh.open ? 'in office hours' : 'outside office hours'));
  else if (p.office_hours) parts.push(p.office_hours);
  if (!p.connected) parts.push('NOT CONNECTED');
  return parts.join(' · ');
}

function refreshPeerLabels() {
  const sel = document.getElementById('compose-to');
  for (const o of Array.from(sel.options)) {
    const p = peers.find(x => x.country === o.value);
    if (p) {
      const t = peerLabel(p);
      if (o.textContent !== t) o.textContent = t;
    }
  }
}

function showPeerInfo() {
  const info = clear(document.getElementById('compose-peer-info'));
  const p = peers.find(x => x.country === document.getElementById('compose-to').value);
  if (!p) return;
  info.appendChild(h('p', null,
    h('span', { class: 'dot ' + (p.connected ? 'dot-up' : 'dot-down'), 'aria-hidden': 'true' }),
    h('strong', null, p.connected ? 'Connected' : 'Not connected'), ' · local time ', localClock(p.time_zone), ' · ',
    officeHoursBadge(p.office_hours, p.time_zone)));
  if (!p.connected) {
    info.appendChild(h('p', { class: 'warning' }, 'The request will wait in the outbox until ' + p.country +
      ' is reachable' + (p.last_seen ? ' (last seen ' + relative(p.last_seen) + ')' : '') +
      '. For an emergency also call ' + (p.fallback_phone || 'their fallback number') + '.'));
  }
  if (p.outbox > 0) info.appendChild(h('p', { class: 'muted' }, p.outbox + ' message(s) already queued for ' + p.country + '.'));
  info.appendChild(h('p', { class: 'muted' }, 'Fallback: ', p.fallback_phone || '—', ' · ', p.fallback_email || '—',
    p.languages && p.languages.length ? ' · languages: ' + p.languages.join(', ') : ''));
  // The treaty basis decides what can be asked and how it may be refused
  // (docs/legal-model.md); the node checks it again on submit.
  const basis = h('div', { class: 'recipient-basis', id: 'compose-basis' }, h('strong', null, 'Treaty basis of ' + p.country + ': '),
    treatyList(p.treaties));
  if (p.declarations && p.declarations.length) basis.appendChild(h('div', null, 'Reservations and declarations: ', declarationList(p.declarations)));
  info.appendChild(basis);
}

// ---- drafts ---------------------------------------------------------------------

async function loadDrafts() {
  const r = await api('GET', '/api/v1/drafts');
  const ul = clear(document.getElementById('drafts-list'));
  if (!r.ok) {
    setText('drafts-count', r.status === 404 ? '' : '(' + errorText(r) + ')');
    document.getElementById('drafts-empty').hidden = false;
    return;
  }
  const drafts = (r.data && r.data.drafts) || [];
  setText('drafts-count', drafts.length ? '(' + drafts.length + ')' : '');
  document.getElementById('drafts-empty').hidden = drafts.length > 0;
  for (const d of drafts) {
    const li = h('li', { class: 'draft-item', dataset: { draftId: d.id } },
      h('span', null, h('strong', null, kindLabels[d.kind] || d.kind || '?'), ' to ', d.to || '(no recipient)',
        ' — saved ', fmtUTC(d.updated_at)),
      ' ');
    li.appendChild(h('button', { type: 'button', class: 'btn btn-small', onclick: () => openDraft(d.id) }, 'Open'));
    li.appendChild(h('button', { type: 'button', class: 'btn btn-small btn-quiet', onclick: () => deleteDraft(d.id) }, 'Delete'));
    ul.appendChild(li);
  }
  if (drafts.length) document.getElementById('drafts').open = true;
}

async function openDraft(id) {
  const r = await api('GET', '/api/v1/drafts/' + encodeURIComponent(id));
  if (!r.ok || !r.data) {
    setText('compose-draft-status', errorText(r, 'Could not open the draft'));
    return;
  }
  const d = r.data;
  draftID = d.id || id;
  const body = d.doc || {};
  showEdit();
  setKind(body.kind || d.kind || 'preservation', body);
  document.getElementById('compose-to').value = body.to || d.to || '';
  showPeerInfo();
  setText('compose-draft-status', 'Editing draft saved ' + fmtUTC(d.updated_at) + '.');
  history.replaceState(null, '', '/ui/compose?draft=' + encodeURIComponent(draftID));
}

async function deleteDraft(id) {
  const r = await api('DELETE', '/api/v1/drafts/' + encodeURIComponent(id));
  if (!r.ok && r.status !== 404) {
    setText('compose-draft-status', errorText(r, 'Could not delete the draft'));
    return;
  }
  if (id === draftID) {
    draftID = '';
    history.replaceState(null, '', '/ui/compose');
    setText('compose-draft-status', '');
  }
  loadDrafts();
}

async function saveDraft() {
  if (!draftID) draftID = randomID();
  const d = doc();
  setText('compose-status', 'Saving draft…');
  const r = await api('PUT', '/api/v1/drafts/' + draftID, { kind: d.kind, to: d.to, doc: d });
  if (r.ok) {
    const at = (r.data && r.data.updated_at) || new Date().toISOString();
    setText('compose-status', 'Draft saved ' + fmtUTC(at, { seconds: true }) + '.');
    setText('compose-draft-status', 'Editing a saved draft.');
    history.replaceState(null, '', '/ui/compose?draft=' + encodeURIComponent(draftID));
    loadDrafts();
  } else {
    setText('compose-status', errorText(r, 'Draft NOT saved'));
  }
}

// ---- review and send ------------------------------------------------------------

function showEdit() {
  document.getElementById('compose-review-view').hidden = true;
  document.getElementById('compose-edit-view').hidden = false;
}

let reviewed = null;
// reviewedKey is the Idempotency-Key of the reviewed request: made once
// per review, and sent again by every Send of it, so pressing Send again
// after a lost answer cannot store the request twice.
let reviewedKey = '';

async function review(e) {
  if (e) e.preventDefault();
  const d = doc();
  clearErrors();
  setText('compose-status', 'Checking with the node…');
  const btn = document.getElementById('compose-review');
  btn.disabled = true;
  const r = await api('POST', '/api/v1/requests/validate', d);
  btn.disabled = false;
  setText('compose-status', '');
  if (r.ok) {
    reviewed = d;
    reviewedKey = newIdempotencyKey();
    const body = clear(document.getElementById('compose-review-body'));
    body.appendChild(renderRequest(d));
    setText('review-to', d.to);
    showBox('compose-send-error', '');
    setText('compose-send-status', '');
    document.getElementById('compose-edit-view').hidden = true;
    const view = document.getElementById('compose-review-view');
    view.hidden = false;
    document.getElementById('compose-send').disabled = false;
    view.focus();
    window.scrollTo(0, 0);
    return;
  }
  if (r.status === 422 || (r.data && r.data.fields)) {
    showErrors(r.data && r.data.fields, r.data && r.data.error ? 'The node says: ' + r.data.error + '.' : null);
    return;
  }
  if (r.status === 401) return;
  showErrors([], errorText(r, 'Could not check the request'));
}

async function send() {
  if (sending || !reviewed) return;
  sending = true;
  const btn = document.getElementById('compose-send');
  btn.disabled = true;
  setText('compose-send-status', 'Sending — sealing and storing in the outbox…');
  showBox('compose-send-error', '');
  const r = await api('POST', '/api/v1/requests', reviewed, { headers: { 'Idempotency-Key': reviewedKey } });
  sending = false;
  if (r.status === 201 || (r.ok && r.data && r.data.case_id)) {
    const caseID = r.data.case_id;
    if (draftID) await api('DELETE', '/api/v1/drafts/' + draftID);
    resetForm();
    navigate('/ui/cases/' + encodeURIComponent(caseID));
    return;
  }
  btn.disabled = false;
  setText('compose-send-status', '');
  if (r.status === 422) {
    showEdit();
    showErrors(r.data && r.data.fields, 'The node refused the request as incomplete. Nothing was sent.');
    return;
  }
  if (r.status === 0) {
    // No answer: it may have been stored. The same key makes Send safe.
    showBox('compose-send-error', 'The node did not answer, so the request may or may not be stored. ' +
      'Press Send again: it sends the same request under the same Idempotency-Key, which the node stores at most once.');
    return;
  }
  showBox('compose-send-error', errorText(r, 'The request was NOT sent'));
}

function resetForm() {
  draftID = '';
  reviewed = null;
  reviewedKey = '';
  document.getElementById('compose-to').value = '';
  setKind('preservation');
  showEdit();
  setText('compose-status', '');
  setText('compose-draft-status', '');
  showPeerInfo();
}

function importJSON() {
  const ta = document.getElementById('compose-import');
  let d;
  try {
    d = JSON.parse(ta.value);
  } catch (e) {
    setText('compose-import-error', 'Not valid JSON: ' + e.message);
    return;
  }
  if (!d || typeof d !== 'object' || !requestSchemas[d.kind]) {
    setText('compose-import-error', 'The document needs "kind": ' + Object.keys(requestSchemas).join(', ') + '.');
    return;
  }
  setText('compose-import-error', '');
  setKind(d.kind, d);
  if (d.to) {
    document.getElementById('compose-to').value = d.to;
    showPeerInfo();
  }
  ta.value = '';
  const first = $('#compose-fields input, #compose-fields select, #compose-fields textarea');
  if (first) first.focus();
}

function wire() {
  wired = true;
  ensureTZList();
  setKind('preservation');
  for (const r of $$('input[name="kind"]', form())) {
    r.addEventListener('change', () => { if (r.checked) setKind(r.value, doc()); });
  }
  document.getElementById('compose-to').addEventListener('change', showPeerInfo);
  form().addEventListener('submit', review);
  document.getElementById('compose-save-draft').addEventListener('click', saveDraft);
  document.getElementById('compose-send').addEventListener('click', send);
  document.getElementById('compose-back').addEventListener('click', () => {
    showEdit();
    document.getElementById('compose-review').focus();
  });
  document.getElementById('compose-import-load').addEventListener('click', importJSON);
  const reset = h('button', { id: 'compose-reset', type: 'button', class: 'btn btn-quiet' }, 'Start over');
  reset.addEventListener('click', () => {
    resetForm();
    history.replaceState(null, '', '/ui/compose');
  });
  document.getElementById('compose-save-draft').insertAdjacentElement('afterend', reset);
}

let labelTimer = 0;

export const composePage = {
  id: 'page-compose',
  title: 'Compose',
  leave() {
    window.clearInterval(labelTimer);
  },
  async enter(params) {
    if (!wired) wire();
    window.clearInterval(labelTimer);
    labelTimer = window.setInterval(refreshPeerLabels, 30000);
    loadRecipients();
    loadDrafts();
    const want = params.query.get('draft');
    if (want && want !== draftID) await openDraft(want);
  },
};
