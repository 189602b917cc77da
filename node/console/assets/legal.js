// The legal side of a case and of a roster member, as the console shows
// it: the treaty basis (protocol/treaty.go), the reservations and
// declarations that change the case model, the terms a case runs under
// (protocol/terms.go, `legal.terms` of GET /api/v1/cases/{id}) and the facts
// the rules keep (`legal.facts`). docs/legal-model.md says which article
// each comes from; console_test.go checks the names here against protocol/.

import { h, fmtUTC, fmtInZone, countdown, parseTime, zoneParts, labelize } from './lib.js';

// Treaties: protocol.Treaties.
export const treatyNames = {
  budapest: 'Convention on Cybercrime (Budapest, ETS 185)',
  second_protocol: 'Second Additional Protocol (CETS 224)',
  un: 'UN Convention against Cybercrime',
};

// Reservations and declarations: protocol.DeclarationKinds, with what each
// does in Vigil.
export const declarationLabels = {
  budapest_29_4: 'Budapest Art. 29(4) reservation: may refuse preservation on dual criminality, for offences other than Arts. 2–11',
  un_42_4: 'UN Art. 42(4) reservation: may refuse preservation on dual criminality, for offences other than Arts. 7–11',
  protocol_9_1_b: 'Protocol Art. 9(1)(b) declaration: does not execute emergency requests seeking only subscriber information',
  protocol_9_5: 'Protocol Art. 9(5) declaration: after execution, the request must be submitted again in the format and channel stated',
  protocol_10_9: 'Protocol Art. 10(9) declaration: emergency mutual assistance requests may be sent to its 24/7 point of contact',
  budapest_25_3: 'Budapest Art. 25(3) declaration: urgent requests sent by expedited means need formal confirmation',
};

export function treatyName(t) {
  return treatyNames[t] || String(t || '');
}

function span(from, until) {
  return until ? 'from ' + from + ' until ' + until : 'since ' + from;
}

// treatyList lists a member's treaties with their dates. A member entry
// that lists none was signed before treaty bases were kept and is read as
// a Party to the Budapest Convention only (docs/legal-model.md, Migration).
export function treatyList(treaties) {
  if (!treaties || !treaties.length) {
    return h('p', { class: 'muted small legacy-basis' }, 'None recorded: read as a Party to the Budapest Convention only.');
  }
  return h('ul', { class: 'basis-list' }, treaties.map(p =>
    h('li', { dataset: { treaty: p.treaty } }, h('strong', null, treatyName(p.treaty)), ' ', h('span', { class: 'muted small' }, span(p.from, p.until)))));
}

// declarationList lists a member's reservations and declarations.
export function declarationList(decls) {
  if (!decls || !decls.length) return h('span', { class: 'muted' }, 'none');
  return h('ul', { class: 'basis-list' }, decls.map(d =>
    h('li', { dataset: { declaration: d.kind } }, h('code', null, d.kind), ' ', declarationLabels[d.kind] || labelize(d.kind), ' ',
      h('span', { class: 'muted small' }, span(d.from, d.until)),
      d.text ? h('div', { class: 'small prewrap' }, d.text) : null)));
}

// ---- a case ---------------------------------------------------------------

// problemWarning is the warning shown at the top of a case the two states
// share no treaty basis for, or null.
export function problemWarning(v) {
  const t = v.legal && v.legal.terms;
  if (!t || !t.problem) return null;
  const incoming = v.direction === 'incoming';
  return h('div', { id: 'case-basis-problem', class: 'error-box basis-problem', role: 'alert' },
    h('p', null, h('strong', null, 'No treaty basis for this request. '), t.problem + '.'),
    h('p', null, incoming
      ? 'Nothing obliges us to act on it: it can be taken up, asked about, or refused on the ground "no treaty basis".'
      : 'The requested state has no obligation to act on it; it may refuse it on that ground.'));
}

// verificationBox shows, on the receiving side of an emergency request,
// the person who can confirm the request is genuine: the usual defence
// against forged emergency requests. Requests from older nodes carry none.
export function verificationBox(v, fallback) {
  const emergency = v.kind === 'emergency' || v.kind === 'emergency_mla';
  if (!emergency || v.direction !== 'incoming' || !v.request) return null;
  const c = v.request.verification_contact;
  if (!c || !(c.person || c.phone || c.email)) {
    return h('section', { id: 'case-verify', class: 'verify-box verify-missing', role: 'alert', 'aria-label': 'Verify before acting' },
      h('h2', null, 'Verify before acting'),
      h('p', null, 'This emergency request names no verification contact (it was sent by an older node). ',
        'Confirm it is genuine through the roster\'s fallback contact of ', v.country || 'the requester',
        fallback && fallback.phone ? [' (', h('a', { href: 'tel:' + fallback.phone.replace(/[^+0-9]/g, '') }, fallback.phone), ')'] : '',
        ' before acting.'));
  }
  return h('section', { id: 'case-verify', class: 'verify-box', role: 'alert', 'aria-label': 'Verify before acting' },
    h('h2', null, 'Verify before acting'),
    h('p', null, 'Call the requester\'s verification contact to confirm this emergency request is genuine before disclosing anything.'),
    h('dl', { class: 'facts verify-contact' },
      h('div', null, h('dt', null, 'Person'), h('dd', { class: 'verify-person' }, c.person || '—')),
      h('div', null, h('dt', null, 'Job title'), h('dd', { class: 'verify-job-title' }, c.job_title || '—')),
      h('div', null, h('dt', null, 'Phone'), h('dd', { class: 'verify-phone' },
        c.phone ? h('a', { href: 'tel:' + c.phone.replace(/[^+0-9]/g, '') }, c.phone) : '—')),
      h('div', null, h('dt', null, 'E-mail'), h('dd', { class: 'verify-email' },
        c.email ? h('a', { href: 'mailto:' + c.email }, c.email) : '—'))));
}

const confirmationLabels = {
  budapest_25_3: 'Formal confirmation of the request to follow (Budapest Art. 25(3))',
  protocol_9_5: 'Resubmission of the request in the declared format and channel (Protocol Art. 9(5))',
};

function fact(label, cls, ...value) {
  return h('div', { class: cls }, h('dt', null, label), h('dd', null, ...value));
}

// dayInZone is the calendar day of an instant in zone, "YYYY-MM-DD".
export function dayInZone(iso, zone) {
  const d = iso instanceof Date ? iso : parseTime(iso);
  if (!d) return '';
  const z = zoneParts(zone || 'UTC', d);
  return z ? z.date : d.toISOString().slice(0, 10);
}

// basisFacts lays out the treaty basis and the reservations that apply.
export function basisFacts(v) {
  const lg = v.legal;
  const dl = h('dl', { class: 'facts legal-facts' });
  if (!lg || !lg.terms) {
    dl.appendChild(fact('Treaty basis', 'legal-treaty', h('span', { class: 'muted' }, 'not known')));
    return dl;
  }
  const t = lg.terms;
  dl.appendChild(fact('Treaty basis', 'legal-treaty',
    t.treaty ? h('strong', { dataset: { treaty: t.treaty } }, treatyName(t.treaty)) : h('strong', { class: 'error-text' }, 'none'),
    t.legacy ? h('span', { class: 'muted small' }, ' (case stored before treaty bases were kept: read as two Budapest Parties, no reservation)') : null));
  if (t.requested_at && parseTime(t.requested_at)) {
    dl.appendChild(fact('Judged on', 'legal-judged', dayInZone(t.requested_at, 'UTC') + (t.roster_serial ? ', roster serial ' + t.roster_serial : ''),
      h('span', { class: 'muted small' }, ' (reservations in force on the day of the request)')));
  }
  const res = [];
  if (t.dual_criminality) {
    const art = t.treaty === 'un' ? 'UN Art. 42(4)' : 'Budapest Art. 29(4)';
    res.push(h('li', { dataset: { reservation: 'dual-criminality' } }, h('strong', null, 'Dual criminality (' + art + '): '),
      'the requested state may refuse, for this offence, if it has reasons to believe the condition cannot be fulfilled at the time of disclosure.'));
  }
  if (t.subscriber_only_declared) {
    res.push(h('li', { dataset: { reservation: 'subscriber-only' } }, h('strong', null, 'Protocol Art. 9(1)(b): '),
      'the request seeks only subscriber information, which the requested state declared it does not execute in an emergency.'));
  }
  dl.appendChild(fact('Reservations that apply', 'legal-reservations',
    res.length ? h('ul', { class: 'basis-list' }, res) : h('span', { class: 'muted' }, 'none of the requested state\'s reservations applies to this request')));
  if (t.confirmation) {
    const sent = lg.facts && lg.facts.confirmation_sent;
    dl.appendChild(fact('Formal confirmation', 'legal-confirmation', confirmationLabels[t.confirmation] || t.confirmation, ': ',
      sent ? h('span', { class: 'ok-text' }, 'sent ✓') : h('strong', { class: 'warn-text' }, v.role === 'requester' ? 'due from us' : 'due from the requester'),
      t.confirmation_text ? h('div', { class: 'small prewrap' }, t.confirmation_text) : null));
  }
  if (t.kind === 'preservation') {
    dl.appendChild(fact('Traffic data', 'legal-traffic', t.traffic ? 'asked for: disclosure of the path or withholding is possible (Art. 30)' : 'not asked for'));
    const zone = t.responder_zone || 'UTC';
    dl.appendChild(fact('Requested state\'s periods', 'legal-periods',
      'at least 60 days (Art. 29(7))' + (t.max_total_days ? ', at most ' + t.max_total_days + ' days in all' : '') + '; dates are calendar days in ' + zone));
  }
  return dl;
}

// pendingFacts lists what the rules keep open on the case: questions,
// deadlines, the hold and its review, the postponement, the explanation.
export function pendingFacts(v) {
  const lg = v.legal || {};
  const f = lg.facts || {};
  const zone = (lg.terms && lg.terms.responder_zone) || 'UTC';
  const out = [];
  const when = iso => [fmtUTC(iso), ' ', h('span', { class: 'muted small' }, '(' + fmtInZone(iso, zone) + ')'), ' ', countdown(iso)];
  if (f.info_pending) out.push(fact('Information requested', 'pending-info', h('strong', { class: 'warn-text' }, 'awaiting the requester\'s answer'),
    h('span', { class: 'muted small' }, ' (preservation can be confirmed meanwhile, Art. 29(3))')));
  if (parseTime(f.decision_due_at)) out.push(fact('Requester\'s decision due', 'pending-decision', ...when(f.decision_due_at),
    h('span', { class: 'muted small' }, ' — proceed or withdraw after the insufficiency notice (Art. 29(6))')));
  if (v.hold) {
    out.push(fact('MLA hold', 'pending-hold', h('strong', { class: 'hold' }, 'data held pending the decision on the MLA request (Art. 29(7))'),
      parseTime(f.review_due_at) ? [h('br'), 'next review ', dayInZone(f.review_due_at, zone), ' (', zone, ') ', countdown(f.review_due_at),
        h('span', { class: 'muted small' }, ' (Protocol Art. 14(5))')] : null));
  } else if (f.mla_submitted) {
    out.push(fact('MLA request', 'pending-mla', 'the requester says it was sent; the hold starts when the requested side records its receipt'));
  }
  if (parseTime(f.postponed_until)) out.push(fact('Postponed until', 'pending-postponed', dayInZone(f.postponed_until, zone) + ' (' + zone + ') ',
    countdown(f.postponed_until), h('span', { class: 'muted small' }, ' (Art. 27(5))')));
  if (f.explanation_due) out.push(fact('Explanation of use', 'pending-explanation', h('strong', { class: 'warn-text' },
    v.role === 'requester' ? 'asked of us (Protocol Art. 9(7)(b))' : 'asked of the requester (Protocol Art. 9(7)(b))')));
  if (parseTime(f.preserved_from)) out.push(fact('Preserved from', 'pending-preserved', dayInZone(f.preserved_from, zone) + ' (' + zone + ')'));
  if (lg.expires_responder || lg.expires_requester) {
    out.push(fact('Preservation expires', 'legal-expiry',
      lg.expires_responder ? h('span', { class: 'expires-responder' }, lg.expires_responder, ' requested state') : null,
      lg.expires_responder && lg.expires_requester ? h('br') : null,
      lg.expires_requester ? h('span', { class: 'expires-requester' }, lg.expires_requester, ' requesting state') : null));
  }
  return out;
}

// groundOptions turns an action's grounds into radio options: the key in
// words and its meaning, with the article that allows it.
export function groundOptions(grounds) {
  return (grounds || []).map(g => [g.key, [h('strong', null, labelize(g.key)), ' — ', g.text], g.article]);
}
