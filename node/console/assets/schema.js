// Request and action schemas as the console shows them. Field keys and
// their order follow protocol/request.go, protocol/contact.go,
// protocol/kinds.go and protocol/request_emergency_mla.go (the T-CY
// template order); the action forms follow Action.Validate in
// protocol/lifecycle.go. renderRequest lays a request document out
// read-only in the same order, for the review step and the case page.

import { h, fmtUTC, labelize } from './lib.js';

// The Europol SIENA handling codes (protocol.HandlingCodes).
export const handlingCodes = [
  ['H0', 'H0 — may be used only for preventing and combating crime'],
  ['H1', 'H1 — not to be disclosed in judicial proceedings without the provider\'s permission'],
  ['H2', 'H2 — not to be disseminated without the provider\'s permission'],
  ['H3', 'H3 — other restrictions, stated below'],
];

export const identifierTypes = [
  ['ip', 'IP address'], ['account', 'Account'], ['email', 'E-mail address'], ['url', 'URL'],
  ['phone', 'Phone number'], ['domain', 'Domain'], ['other', 'Other'],
];

// Budapest Art. 35(1) (a) and (c).
export const assistanceTopics = [
  ['technical_advice', 'Technical advice'],
  ['collection_of_evidence', 'Collection of evidence'],
  ['legal_information', 'Legal information'],
  ['data_location', 'Location of data or a service provider'],
  ['suspect_location', 'Locating a suspect'],
  ['other', 'Other assistance'],
];

export const kindLabels = {
  preservation: 'Preservation (Art. 29)',
  emergency: 'Emergency disclosure (Art. 9)',
  emergency_mla: 'Emergency mutual assistance (Art. 10)',
  assistance: 'Assistance query (Art. 35)',
};

// The kinds that need a verification contact (Second Protocol Arts. 9, 10).
export const emergencyKinds = ['emergency', 'emergency_mla'];

const treaties = [['budapest', 'Budapest Convention'], ['un', 'UN Convention against Cybercrime']];
const treaty = { key: 'treaty', label: 'Treaty the request is made under', type: 'select', options: treaties,
  hint: 'Leave unchosen to let the node use the common treaty: the Budapest Convention where both states are Parties, else the UN Convention.' };

// Contact blocks, as T-CY(2018)11 items 5-7 list their fields; "required"
// follows protocol/contact.go (contactRules).
const cf = {
  organisation: (required) => ({ key: 'organisation', label: 'Organisation', required }),
  person: (label, required) => ({ key: 'person', label, required }),
  jobTitle: (required) => ({ key: 'job_title', label: 'Job title', required }),
  fn: { key: 'function', label: 'Function', placeholder: 'role in the case' },
  address: { key: 'address', label: 'Address' },
  phone: (required) => ({ key: 'phone', label: 'Telephone', type: 'tel', required }),
  mobile: { key: 'mobile', label: 'Cell phone', type: 'tel' },
  email: (required) => ({ key: 'email', label: 'E-mail', type: 'email', required }),
  fax: { key: 'fax', label: 'Fax', type: 'tel' },
  officeHours: (required) => ({ key: 'office_hours', label: 'Office hours', required, placeholder: 'Mon-Fri 08:00-18:00' }),
  timeZone: (required) => ({ key: 'time_zone', label: 'Time zone (IANA name)', required, placeholder: 'Europe/Paris', list: 'tz-list' }),
};

// Item 5: the requesting authority (Art. 29(2)(a)).
const requestingContact = [
  cf.organisation(true), cf.person('Person in charge', true), cf.address,
  Object.assign(cf.phone(true), { hint: 'Numbers: digits, an optional leading +, spaces and ( ) - . / only.' }), cf.mobile, cf.email(true), cf.fax,
  cf.officeHours(true), cf.timeZone(true),
  { key: 'reply_by_expedited_means', label: 'Response by e-mail or other expedited means preferred', type: 'bool' },
  { key: 'preferred_channel', label: 'Response preferred by means of', placeholder: 'vigil, phone, e-mail' },
];
// Item 6: the contact for additional confirmation.
const confirmationContact = [cf.person('Name', true), cf.jobTitle(false), cf.fn, cf.phone(true), cf.mobile, cf.email(true)];
// Item 7: the investigative/operational authority, if different.
const investigatingContact = [cf.organisation(true), cf.person('Person in charge', false), cf.address, cf.phone(false), cf.mobile, cf.email(false), cf.fax];
// The official who confirms an emergency request is genuine.
const verificationContact = [cf.organisation(false), cf.person('Name', true), cf.jobTitle(true), cf.fn, cf.phone(true), cf.mobile, cf.email(true)];
// The requesting Party's central authority (Protocol Art. 10(9)).
const centralAuthorityContact = [cf.organisation(true), cf.person('Person on duty', false), cf.address, cf.phone(true), cf.email(true), cf.fax,
  cf.officeHours(false), cf.timeZone(false)];

const verification = {
  key: 'verification_contact', label: 'Verification contact — required for every emergency request', type: 'group', important: true,
  hint: 'The supervisor or another official, not the requester, who can confirm that this request is genuine. The receiving 24/7 point calls this person back before it acts: it is the defence against forged emergency requests.',
  fields: verificationContact,
};

const oralRequest = {
  key: 'oral_request', label: 'Confirmation of an oral request (if one was made)', type: 'group', optional: true,
  hint: 'Fill in only if this request confirms in electronic form a request made earlier by telephone (Protocol Art. 9(4)).',
  fields: [
    { key: 'made_at', label: 'Oral request made at (UTC)', type: 'datetime', required: true },
    { key: 'made_to', label: 'Made to (person at the requested point)', required: true },
    { key: 'made_by', label: 'Made by', required: true },
  ],
};

const formalConfirmation = { key: 'formal_confirmation_to_follow', label: 'Formal confirmation to follow', type: 'bool',
  hint: 'Budapest Art. 25(3): where the requested Party requires formal confirmation of an urgent request.' };

const identifier = [
  { key: 'type', label: 'Type', type: 'select', required: true, options: identifierTypes },
  { key: 'value', label: 'Value', required: true, placeholder: '203.0.113.47, user name, URL…' },
  { key: 'from', label: 'From (UTC)', type: 'datetime', required: true, hint: 'Enter the time in UTC, not local time.' },
  { key: 'to', label: 'To (UTC)', type: 'datetime', hint: 'Optional end of the window, in UTC.' },
  { key: 'time_zone_given', label: 'Time zone of the source', placeholder: 'e.g. Europe/Paris', list: 'tz-list', hint: 'For the record: the zone your source used before conversion to UTC.' },
];

const offence = [
  { key: 'description', label: 'Description of the offence', type: 'textarea', required: true },
  { key: 'legal_provisions', label: 'Legal provisions', required: true },
  { key: 'maximum_penalty', label: 'Maximum penalty' },
];
const emergencyOffences = { key: 'offences', label: 'Offences', type: 'list', itemLabel: 'Offence', min: 1,
  item: offence.map(x => x.key === 'maximum_penalty' ? Object.assign({}, x, { required: true }) : x) };

const prosecutor = { key: 'prosecutor_or_court', label: 'Prosecutor or court (if any)', type: 'group', optional: true, fields: [
  { key: 'name', label: 'Name' }, { key: 'case_number', label: 'Case number' }] };

const dataCategoryOptions = [['subscriber', 'Subscriber'], ['traffic', 'Traffic'], ['content', 'Content']];

const safeguards = {
  key: 'safeguards', label: 'Safeguards', type: 'group', fields: [
    { key: 'legal_basis', label: 'Legal basis', required: true },
    { key: 'proportionality', label: 'Proportionality', type: 'textarea', required: true },
    { key: 'handling_code', label: 'Handling code (SIENA)', type: 'select', required: true, options: handlingCodes, default: 'H2' },
    { key: 'handling_restrictions', label: 'Handling restrictions', type: 'textarea', rows: 2,
      hint: 'Required with H3; with any code, further restrictions on access, use, transfer or erasure.' },
  ],
};

const dateField = { key: 'date', label: 'Date of request', type: 'date', required: true, default: 'today' };
const referenceField = { key: 'reference', label: 'Our reference', required: true };

// Fields after "kind" and "to", per kind, in template order.
export const requestSchemas = {
  preservation: [
    treaty,
    Object.assign({}, dateField, { label: '1. Date of request' }),
    Object.assign({}, referenceField, { label: '2. Reference / case number' }),
    { key: 'request_type', label: '3. Request status', type: 'select', required: true, options: [['new', 'New request'], ['extension', 'Extension of a previous request']], default: 'new' },
    { key: 'previous_reference', label: '3. Reference of the previous request (for an extension)' },
    { key: 'requested_authority', label: '4. Requested authority', required: true },
    { key: 'requesting_authority', label: '5. Requesting authority (Art. 29(2)(a))', type: 'group', fields: requestingContact },
    { key: 'confirmation_contact', label: '6. Contact for additional confirmation', type: 'group', fields: confirmationContact },
    { key: 'investigating_authority', label: '7. Investigative or operational authority in charge of the case (if different)', type: 'group', optional: true,
      hint: 'Leave empty if it is the requesting authority.', fields: investigatingContact },
    prosecutor,
    { key: 'related_references', label: 'Related references', type: 'lines', hint: 'One per line.' },
    { key: 'offence', label: '(b) Offence', type: 'group', fields: offence },
    { key: 'facts_summary', label: '(b) Summary of the facts', type: 'textarea', required: true, rows: 6 },
    { key: 'data_to_preserve', label: '(c) Stored computer data to be preserved', type: 'textarea', required: true, rows: 5 },
    { key: 'data_relationship', label: '(c) Relationship of the data to the offence', type: 'textarea', required: true },
    { key: 'data_categories', label: '(c) Categories of data', type: 'checks', required: true, options: dataCategoryOptions },
    { key: 'identifiers', label: '(c) Identifiers (each with its UTC time)', type: 'list', item: identifier, itemLabel: 'Identifier', min: 1 },
    { key: 'custodian', label: '(d) Custodian of the data or location of the system', type: 'group', hint: 'Any available information (Art. 29(2)(d)); leave empty if the custodian is not known — the requested point can often find it from the identifiers.', fields: [
      { key: 'name', label: 'Custodian' }, { key: 'address', label: 'Address' }, { key: 'system_location', label: 'Location of the computer system' }] },
    { key: 'necessity', label: '(e) Necessity of preservation', type: 'textarea', required: true },
    { key: 'mla_to_follow', label: '(f) A mutual legal assistance request will follow', type: 'bool', default: true, hint: 'Required: preservation is granted on that understanding (Art. 29(2)(f)).' },
    { key: 'confidential', label: '(g) The request is confidential', type: 'bool', default: true },
    { key: 'no_user_notification', label: '(g) The user must not be notified', type: 'bool', default: true },
    { key: 'preservation_period_days', label: 'Preservation period (days, at least 60)', type: 'number', min: 60, max: 3650, default: 90, required: true,
      hint: 'Art. 29(7): not less than sixty days. Domestic regimes vary (90, 90 + 90, 120 days…).' },
    safeguards,
  ],
  emergency: [
    dateField,
    referenceField,
    { key: 'competent_authority', label: 'Competent authority', type: 'group', fields: requestingContact },
    verification,
    { key: 'legal_basis_statement', label: 'Statement that the request is made under Art. 9', type: 'textarea', required: true, default: 'Request made under Article 9 of the Second Additional Protocol to the Convention on Cybercrime (CETS No. 224).' },
    { key: 'provider', label: 'Service provider holding the data', type: 'group', fields: [
      { key: 'name', label: 'Provider', required: true }, { key: 'address', label: 'Address', required: true }, { key: 'system_location', label: 'Location of the computer system' }] },
    emergencyOffences,
    { key: 'emergency_facts', label: 'Facts establishing the emergency', type: 'textarea', required: true, rows: 6 },
    { key: 'data_relationship', label: 'How the data relate to the emergency', type: 'textarea', required: true },
    { key: 'data_description', label: 'Data sought', type: 'textarea', required: true },
    { key: 'data_categories', label: 'Categories of data', type: 'checks', options: dataCategoryOptions },
    { key: 'identifiers', label: 'Identifiers (each with its UTC time)', type: 'list', item: identifier, itemLabel: 'Identifier', min: 0 },
    { key: 'procedural_instructions', label: 'Procedural instructions', type: 'textarea' },
    { key: 'subscriber_information_only', label: 'Only subscriber information is sought', type: 'bool',
      hint: 'A Party with a declaration under Protocol Art. 9(1)(b) does not execute such requests.' },
    oralRequest,
    formalConfirmation,
    safeguards,
  ],
  emergency_mla: [
    dateField,
    referenceField,
    { key: 'requesting_authority', label: 'Requesting authority', type: 'group', fields: requestingContact },
    verification,
    { key: 'central_authority', label: 'Central authority of the requesting Party', type: 'group', fields: centralAuthorityContact },
    prosecutor,
    emergencyOffences,
    { key: 'emergency_facts', label: 'Facts that demonstrate the emergency (Art. 10(1))', type: 'textarea', required: true, rows: 6 },
    { key: 'assistance_relationship', label: 'How the assistance sought relates to the emergency (Art. 10(1))', type: 'textarea', required: true },
    { key: 'assistance_sought', label: 'Assistance sought', type: 'textarea', required: true, rows: 5 },
    { key: 'identifiers', label: 'Identifiers (each with its UTC time)', type: 'list', item: identifier, itemLabel: 'Identifier', min: 0 },
    { key: 'procedural_instructions', label: 'Procedural instructions', type: 'textarea' },
    { key: 'central_authority_copy', label: 'A copy is sent at the same time to the requested Party\'s central authority through ours', type: 'bool', default: true,
      hint: 'Required (Protocol Art. 10(9)).' },
    oralRequest,
    formalConfirmation,
    safeguards,
  ],
  assistance: [
    treaty,
    dateField,
    referenceField,
    { key: 'requesting_authority', label: 'Requesting authority', type: 'group', fields: requestingContact },
    { key: 'topic', label: 'Topic', type: 'select', required: true, options: assistanceTopics },
    { key: 'question', label: 'Question', type: 'textarea', required: true, rows: 6 },
    safeguards,
  ],
};

// normalizeRequest reads a request document of any age as the schemas
// above expect it: before T-CY item 7 was a contact block, the
// investigating authority was a string naming the organisation.
export function normalizeRequest(doc) {
  if (!doc || typeof doc !== 'object' || typeof doc.investigating_authority !== 'string') return doc;
  const d = Object.assign({}, doc);
  d.investigating_authority = d.investigating_authority.trim() ? { organisation: d.investigating_authority } : undefined;
  if (d.investigating_authority === undefined) delete d.investigating_authority;
  return d;
}

// ---- actions ----------------------------------------------------------------

export const refusalGrounds = [
  ['political_offence', 'Political offence or connected with one'],
  ['essential_interests', 'Prejudice to sovereignty, security, ordre public or other essential interests'],
  ['dual_criminality', 'Dual-criminality reservation (Art. 29(4))'],
  ['persecution', 'Persecution on grounds of sex, race, language, religion, nationality, ethnic origin or political opinions (UN Art. 40)'],
  ['other', 'Other ground, stated in the reasons'],
];

export const insufficiencyReasons = [
  ['will_not_secure', 'Preservation will not ensure the future availability of the data'],
  ['threatens_confidentiality', 'Preservation would threaten the confidentiality of the investigation'],
  ['prejudices_investigation', 'Preservation would otherwise prejudice the investigation'],
];

export const outcomes = [
  ['completed', 'Assistance given'],
  ['refused', 'Request refused'],
  ['withdrawn', 'Withdrawn or no longer needed'],
  ['released', 'Preservation ended and data released'],
  ['expired', 'Preservation expired without follow-up'],
  ['conditions_rejected', 'Emergency conditions rejected'],
  ['other', 'Other outcome'],
];

const note = { key: 'text', label: 'Note (optional)', type: 'textarea', rows: 3 };

// Each action: label, doc (from the Rules), fields after "operator".
export const actions = {
  acknowledge: { label: 'Acknowledge', doc: 'A named operator takes up the request. This stops the acknowledgement clock.', fields: [note], primary: true },
  request_info: { label: 'Ask for information', doc: 'Ask the requester for missing or unclear information.', fields: [{ key: 'text', label: 'What is missing or unclear', type: 'textarea', required: true, rows: 5 }] },
  provide_info: { label: 'Provide information', doc: 'Answer the other side\'s information request.', fields: [{ key: 'text', label: 'Information', type: 'textarea', required: true, rows: 6 }], primary: true },
  confirm_preservation: { label: 'Confirm preservation', doc: 'Data preserved: executing authority, domestic legal basis, period (at least 60 days) and dates.', primary: true, fields: [
    { key: 'executing_authority', label: 'Executing authority', required: true },
    { key: 'domestic_legal_basis', label: 'Domestic legal basis', required: true },
    { key: 'period_days', label: 'Period (days, at least 60)', type: 'number', min: 60, required: true },
    { key: 'start_date', label: 'Start date (UTC)', type: 'date', required: true },
    { key: 'expiry_date', label: 'Expiry date (start + period, computed)', type: 'date', readOnly: true },
    note] },
  insufficiency_notice: { label: 'Insufficiency notice (Art. 29(6))', doc: 'Preservation will not secure the data, or would threaten confidentiality or prejudice the investigation; the requester decides whether to proceed.', fields: [
    { key: 'reason', label: 'Reason', type: 'select', required: true, options: insufficiencyReasons },
    { key: 'text', label: 'Explanation', type: 'textarea', required: true }] },
  proceed: { label: 'Proceed despite the notice', doc: 'The requester decides to proceed despite the insufficiency notice.', fields: [note], primary: true },
  refuse: { label: 'Refuse', doc: 'Refusal with one of the permitted grounds and the reasons.', danger: true, fields: [
    { key: 'ground', label: 'Ground', type: 'select', required: true, options: refusalGrounds },
    { key: 'reasons', label: 'Reasons', type: 'textarea', required: true, rows: 5 }] },
  disclose_traffic: { label: 'Disclose traffic data (Art. 30)', doc: 'Provider identity and the path through which the communication was transmitted.', fields: [
    { key: 'provider', label: 'Service provider', required: true },
    { key: 'path', label: 'Communication path', type: 'textarea', required: true },
    note] },
  request_extension: { label: 'Request extension', doc: 'Ask to extend the preservation.', fields: [
    { key: 'period_days', label: 'Extra days requested', type: 'number', min: 1, required: true }, note] },
  confirm_extension: { label: 'Confirm extension', doc: 'Extension granted with a new expiry date.', primary: true, fields: [
    { key: 'expiry_date', label: 'New expiry date (UTC)', type: 'date', required: true }, note] },
  mla_submitted: { label: 'MLA request submitted', doc: 'The mutual legal assistance request was submitted: the data are held until a decision.', fields: [
    { key: 'mla_reference', label: 'MLA reference', required: true }, note] },
  withdraw: { label: 'Withdraw', doc: 'The request is withdrawn or no longer needed.', danger: true, fields: [note] },
  release: { label: 'Release preserved data', doc: 'The preserved data are released (preservation ends).', danger: true, fields: [note] },
  determine: { label: 'Emergency determination', doc: 'Decide the emergency request, possibly with conditions.', primary: true, fields: [
    { key: 'decision', label: 'Decision', type: 'select', required: true, options: [['disclose', 'Disclose'], ['refuse', 'Refuse']] },
    { key: 'conditions', label: 'Conditions (if any)', type: 'textarea' },
    { key: 'text', label: 'Reasons / message', type: 'textarea', required: true }] },
  accept_conditions: { label: 'Accept conditions', doc: 'Accept the determination\'s conditions.', primary: true, fields: [note] },
  reject_conditions: { label: 'Reject conditions', doc: 'Reject the determination\'s conditions.', danger: true, fields: [note] },
  answer: { label: 'Answer', doc: 'Answer the assistance query.', primary: true, fields: [{ key: 'text', label: 'Answer', type: 'textarea', required: true, rows: 8 }] },
  close: { label: 'Close case', doc: 'Close the case with an outcome.', fields: [
    { key: 'outcome', label: 'Outcome', type: 'select', required: true, options: outcomes }, note] },
};

export function actionLabel(name) {
  return actions[name] ? actions[name].label : labelize(name);
}

// Labels for action detail keys on the timeline.
export const actionDetailLabels = {
  text: 'Text', ground: 'Ground', reasons: 'Reasons', executing_authority: 'Executing authority',
  domestic_legal_basis: 'Domestic legal basis', period_days: 'Period (days)', start_date: 'Start date',
  expiry_date: 'Expiry date', reason: 'Reason', provider: 'Provider', path: 'Communication path',
  mla_reference: 'MLA reference', conditions: 'Conditions', decision: 'Decision', outcome: 'Outcome',
};

const optionLabel = {};
for (const list of [refusalGrounds, insufficiencyReasons, outcomes, handlingCodes, identifierTypes, assistanceTopics]) {
  for (const [v, l] of list) optionLabel[v] = optionLabel[v] || l;
}

export function describeOption(v) {
  return optionLabel[v] ? v + ' — ' + optionLabel[v] : String(v);
}

// ---- read-only rendering ----------------------------------------------------

function isEmpty(v) {
  return v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0) ||
    (typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0);
}

function valueNode(f, v) {
  if (v === undefined || v === null || v === '') {
    return h('span', { class: 'muted' }, f.required ? 'MISSING' : '—');
  }
  switch (f.type) {
    case 'bool':
      return h('strong', null, v === true ? 'Yes' : v === false ? 'No' : String(v));
    case 'datetime':
      return h('span', { class: 'utc' }, fmtUTC(v, { seconds: true }), ' ', h('span', { class: 'muted' }, '(' + v + ')'));
    case 'select': {
      const o = (f.options || []).find(x => x[0] === v);
      return h('span', null, o ? o[1] : String(v));
    }
    case 'checks':
    case 'lines':
      return h('span', null, Array.isArray(v) ? v.join(', ') : String(v));
    case 'textarea':
      return h('div', { class: 'prewrap' }, String(v));
    default:
      return h('span', { class: 'prewrap' }, typeof v === 'object' ? JSON.stringify(v) : String(v));
  }
}

function renderFields(fields, obj, pathPrefix) {
  const dl = h('dl', { class: 'kv' });
  const used = new Set();
  for (const f of fields) {
    used.add(f.key);
    const v = obj ? obj[f.key] : undefined;
    const path = pathPrefix + f.key;
    if (f.type === 'group') {
      if (f.optional && isEmpty(v)) continue;
      dl.appendChild(h('div', { class: f.important ? 'kv-group warning' : 'kv-group', dataset: { path } },
        h('dt', null, f.label),
        h('dd', null, renderFields(f.fields, v || {}, path + '.'))));
    } else if (f.type === 'list') {
      const items = Array.isArray(v) ? v : [];
      const ol = h('ol', { class: 'kv-list' });
      items.forEach((it, i) => ol.appendChild(h('li', null, renderFields(f.item, it || {}, path + '[' + i + '].'))));
      dl.appendChild(h('div', { class: 'kv-group', dataset: { path } }, h('dt', null, f.label),
        h('dd', null, items.length ? ol : h('span', { class: 'muted' }, f.min ? 'MISSING' : 'none'))));
    } else {
      if (!f.required && isEmpty(v) && f.type !== 'bool') continue;
      dl.appendChild(h('div', { dataset: { path } }, h('dt', null, f.label), h('dd', null, valueNode(f, v))));
    }
  }
  // Never hide what the form does not know.
  if (obj && typeof obj === 'object') {
    for (const [k, v] of Object.entries(obj)) {
      if (used.has(k) || (pathPrefix === '' && (k === 'kind' || k === 'to'))) continue;
      dl.appendChild(h('div', { class: 'unknown', dataset: { path: pathPrefix + k } }, h('dt', null, labelize(k) + ' (other field)'),
        h('dd', null, h('code', { class: 'prewrap' }, typeof v === 'string' ? v : JSON.stringify(v, null, 2)))));
    }
  }
  return dl;
}

// renderRequest lays out a request document read-only, in template order.
export function renderRequest(doc) {
  if (!doc || typeof doc !== 'object') return h('p', { class: 'muted' }, 'No request contents.');
  doc = normalizeRequest(doc);
  const schema = requestSchemas[doc.kind];
  const head = h('dl', { class: 'kv kv-head' },
    h('div', null, h('dt', null, 'Kind'), h('dd', null, kindLabels[doc.kind] || String(doc.kind || '—'))),
    h('div', null, h('dt', null, 'To'), h('dd', null, String(doc.to || '—'))));
  if (!schema) {
    return h('div', null, head, h('pre', { class: 'prewrap' }, JSON.stringify(doc, null, 2)));
  }
  return h('div', null, head, renderFields(schema, doc, ''));
}
