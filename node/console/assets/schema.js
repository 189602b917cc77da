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
//
// One form per rule of protocol.Rules (protocol/lifecycle.go); the fields
// follow Action.Validate (protocol/action.go). What depends on the case is
// not written here but filled in from the case's `legal.actions` (node/api
// LegalView): the article and doc of each rule, and the grounds of refusal
// or withholding, which depend on the treaty basis of the two states, the
// kind of request and the reservations in force (protocol/grounds.go).
// Descriptors may carry:
//   options: 'grounds'  the grounds legal.actions[action].grounds lists
//   when: {field, is}   shown (and sent) only while field has one of is
//   type: 'outcomes'    one outcome per identifier of the request
// The lists below are the protocol's closed lists; console_test.go checks
// them against protocol/action.go.

export const insufficiencyReasons = [
  ['will_not_secure', 'Preservation will not ensure the future availability of the data'],
  ['threatens_confidentiality', 'Preservation would threaten the confidentiality of the investigation'],
  ['prejudices_investigation', 'Preservation would otherwise prejudice the investigation'],
];

// Budapest Art. 27(6): a request may be granted in part, per identifier.
export const identifierOutcomes = [
  ['preserved', 'Data preserved'],
  ['not_found', 'No such account, address or data at the provider'],
  ['not_held', 'The provider named does not hold these data'],
  ['not_preserved', 'Not preserved, for the reasons stated'],
];

// The decision on the MLA request that ends the hold (Budapest Art. 29(7)).
export const mlaDecisions = [
  ['granted', 'Granted: the data will be handed over under MLA'],
  ['partially_granted', 'Partially granted'],
  ['refused', 'Refused'],
  ['withdrawn', 'The MLA request was withdrawn'],
];

// Protocol Art. 9(6): provide, provide subject to conditions, or refuse.
export const determineDecisions = [
  ['provide', 'Provide the data'],
  ['provide_with_conditions', 'Provide the data subject to conditions'],
  ['refuse', 'Refuse'],
];

export const outcomes = [
  ['completed', 'Assistance given'],
  ['data_provided', 'Emergency data provided'],
  ['refused', 'Request refused'],
  ['withdrawn', 'Withdrawn or no longer needed'],
  ['released', 'Preservation ended and data released'],
  ['expired', 'Preservation expired without follow-up'],
  ['conditions_rejected', 'Emergency conditions rejected'],
  ['other', 'Other outcome'],
];

const note = { key: 'text', label: 'Note (optional)', type: 'textarea', rows: 3 };
const reasons = { key: 'reasons', label: 'Reasons (sent to the requester, Art. 27(7))', type: 'textarea', required: true, rows: 5 };
const ground = {
  key: 'ground', label: 'Ground', type: 'radios', required: true, options: 'grounds',
  hint: 'Only the grounds the treaty basis of this case allows are offered.',
};
// Budapest Art. 29(4): a dual-criminality refusal needs reasons to believe.
const reasonsToBelieve = {
  key: 'reasons_to_believe', type: 'bool', when: { field: 'ground', is: ['dual_criminality'] },
  label: 'We have reasons to believe that the condition of dual criminality cannot be fulfilled at the time of disclosure (Budapest Art. 29(4))',
};

// Each action: label, doc (a fallback for the rule's doc from the API),
// fields after "operator", and for dangerous ones the confirmation asked
// before sending.
export const actions = {
  acknowledge: { label: 'Acknowledge', doc: 'A named operator takes up the request. This stops the acknowledgement clock.', fields: [note], primary: true },
  request_info: { label: 'Ask for information', doc: 'Ask the requester for missing or unclear information. Preservation can still be confirmed meanwhile.', fields: [
    { key: 'text', label: 'What is missing or unclear', type: 'textarea', required: true, rows: 5 }] },
  provide_info: { label: 'Provide information', doc: 'Answer the other side\'s information request.', primary: true, fields: [
    { key: 'text', label: 'Information', type: 'textarea', required: true, rows: 6 }] },
  confirm_preservation: { label: 'Confirm preservation', doc: 'Data preserved: authority, legal basis, period of at least 60 days from the actual start, outcome per identifier.', primary: true, fields: [
    { key: 'executing_authority', label: 'Executing authority', required: true },
    { key: 'domestic_legal_basis', label: 'Domestic legal basis', required: true },
    { key: 'period_days', label: 'Period (days)', type: 'number', min: 60 },
    { key: 'start_date', label: 'Start date (our calendar day)', type: 'date' },
    { key: 'identifier_outcomes', label: 'Outcome per identifier', type: 'outcomes', options: identifierOutcomes,
      hint: 'Budapest Art. 27(6): say what became of each identifier. At least one must be preserved; if none could be, send an insufficiency notice or refuse.' },
    note] },
  insufficiency_notice: { label: 'Insufficiency notice', doc: 'Preservation will not secure the data or would prejudice the investigation; the requester decides by a deadline.', fields: [
    { key: 'reason', label: 'Reason', type: 'select', required: true, options: insufficiencyReasons },
    { key: 'text', label: 'Explanation', type: 'textarea', required: true },
    { key: 'respond_by', label: 'Requester\'s decision due by (UTC)', type: 'datetime',
      hint: 'Leave empty for the node\'s default deadline (72 hours unless configured otherwise).' }] },
  proceed: { label: 'Proceed despite the notice', doc: 'The requester decides the request should nevertheless be executed.', primary: true, fields: [note] },
  postpone: { label: 'Postpone', doc: 'Action postponed because it would prejudice a domestic investigation; reasons and a date.', fields: [
    reasons,
    { key: 'until', label: 'Postponed until (our calendar day)', type: 'date', required: true }] },
  resume: { label: 'Resume', doc: 'The postponement ends.', primary: true, fields: [note] },
  refuse: { label: 'Refuse', doc: 'Refusal on a ground the treaty basis allows, with reasons.', danger: true,
    confirm: 'I confirm the refusal. It is sent to the requester at once and cannot be undone.',
    fields: [ground, reasonsToBelieve, reasons] },
  disclose_traffic: { label: 'Disclose traffic data', doc: 'Traffic data identifying another provider and the path.', fields: [
    { key: 'provider', label: 'Service provider', required: true },
    { key: 'path', label: 'Communication path', type: 'textarea', required: true },
    note] },
  withhold_traffic: { label: 'Withhold traffic data', doc: 'Traffic data withheld on an Art. 30(2) ground, with reasons.', danger: true,
    confirm: 'I confirm that the traffic data are withheld. This is sent to the requester at once.',
    fields: [ground, reasons, note] },
  request_extension: { label: 'Request extension', doc: 'Ask to extend preservation.', fields: [
    { key: 'period_days', label: 'Extra days requested', type: 'number', min: 1, required: true }, note] },
  confirm_extension: { label: 'Confirm extension', doc: 'Extension granted: a new expiry later than the current one.', primary: true, fields: [
    { key: 'expiry_date', label: 'New expiry date (our calendar day)', type: 'date', required: true,
      hint: 'Preservation ends at the start of this day in our time zone. It must be later than the current expiry.' }, note] },
  decline_extension: { label: 'Decline extension', doc: 'Extension not granted; the current expiry stands.', fields: [reasons, note] },
  mla_submitted: { label: 'MLA request submitted', doc: 'Tell the requested side that the MLA request was sent (the hold starts only when they receive it).', fields: [
    { key: 'mla_reference', label: 'MLA reference', required: true }, note] },
  mla_received: { label: 'MLA request received', doc: 'MLA request received: the data stay preserved pending a decision on it; a review date.', primary: true, fields: [
    { key: 'mla_reference', label: 'MLA reference', required: true },
    { key: 'review_by', label: 'Next review of the hold (our calendar day)', type: 'date',
      hint: 'Leave empty for the node\'s default review interval (30 days unless configured otherwise).' },
    note] },
  review_hold: { label: 'Review the hold', doc: 'Periodic review of the retention; the next review date.', fields: [
    { key: 'text', label: 'Outcome of the review', type: 'textarea', required: true },
    { key: 'review_by', label: 'Next review (our calendar day)', type: 'date',
      hint: 'Leave empty for the node\'s default review interval.' }] },
  mla_decided: { label: 'MLA decision recorded', doc: 'A decision on the MLA request is recorded; the hold ends.', fields: [
    { key: 'decision', label: 'Decision on the MLA request', type: 'select', required: true, options: mlaDecisions }, note] },
  withdraw: { label: 'Withdraw', doc: 'Request withdrawn or no longer needed.', danger: true,
    confirm: 'I confirm the withdrawal. The other side is told at once; the case cannot be reopened.',
    fields: [note] },
  release: { label: 'Release preserved data', doc: 'Preserved data released: after the period, the MLA decision or a withdrawal, never during the hold.', danger: true,
    confirm: 'I confirm that the preserved data may be released. This ends the preservation for good.',
    fields: [note] },
  determine: { label: 'Emergency determination', doc: 'Determination on a rapidly expedited basis: provide, provide subject to conditions, or refuse.', primary: true, fields: [
    { key: 'decision', label: 'Decision', type: 'select', required: true, options: determineDecisions },
    { key: 'conditions', label: 'Conditions', type: 'textarea', required: true, when: { field: 'decision', is: ['provide_with_conditions'] },
      hint: 'Protocol Art. 9(7)(a): the requester accepts them and is bound by them, or tells you it cannot comply.' },
    Object.assign({}, ground, { when: { field: 'decision', is: ['refuse'] } }),
    { key: 'other_cooperation', label: 'Other forms of co-operation available', type: 'textarea',
      hint: 'Protocol Art. 9(6): say what else may be available, if anything.' },
    { key: 'text', label: 'Reasons / message', type: 'textarea', required: true }] },
  accept_conditions: { label: 'Accept conditions', doc: 'Accept the conditions and be bound by them.', primary: true, fields: [note] },
  reject_conditions: { label: 'Reject conditions', doc: 'The requester cannot comply with the conditions.', danger: true, fields: [note] },
  hand_over: { label: 'Hand over the data', doc: 'The data are provided (after conditions were rejected: provided nevertheless).', primary: true, fields: [
    { key: 'channel', label: 'Channel', placeholder: 'vigil, secure e-mail, courier…' },
    { key: 'text', label: 'What was handed over', type: 'textarea', required: true }] },
  request_explanation: { label: 'Ask how the data were used', doc: 'Ask the requester to explain the use made of the data in relation to a condition.', fields: [
    { key: 'text', label: 'Question', type: 'textarea', required: true }] },
  explain_use: { label: 'Explain the use of the data', doc: 'Explain the use made of the data.', primary: true, fields: [
    { key: 'text', label: 'Explanation', type: 'textarea', required: true, rows: 5 }] },
  confirmation_sent: { label: 'Formal confirmation sent', doc: 'Formal confirmation, or resubmission in the declared format, sent.', fields: [
    { key: 'reference', label: 'Reference of the formal request' },
    { key: 'channel', label: 'Channel', placeholder: 'diplomatic channel, central authority, e-mail…' },
    { key: 'text', label: 'Note', type: 'textarea', required: true }] },
  answer: { label: 'Answer', doc: 'Answer an assistance query.', primary: true, fields: [{ key: 'text', label: 'Answer', type: 'textarea', required: true, rows: 8 }] },
  close: { label: 'Close case', doc: 'Close with an outcome.', fields: [
    { key: 'outcome', label: 'Outcome', type: 'select', required: true, options: outcomes }, note] },
};

export function actionLabel(name) {
  return actions[name] ? actions[name].label : labelize(name);
}

// Labels for action detail keys on the timeline.
export const actionDetailLabels = {
  text: 'Text', ground: 'Ground', reasons: 'Reasons', reasons_to_believe: 'Reasons to believe (Art. 29(4))',
  executing_authority: 'Executing authority', domestic_legal_basis: 'Domestic legal basis', period_days: 'Period (days)',
  start_date: 'Start date', expiry_date: 'Expiry date', identifier_outcomes: 'Outcome per identifier', reason: 'Reason',
  respond_by: 'Decision due by', provider: 'Provider', path: 'Communication path', mla_reference: 'MLA reference',
  review_by: 'Next review', until: 'Postponed until', conditions: 'Conditions', decision: 'Decision',
  other_cooperation: 'Other co-operation available', channel: 'Channel', reference: 'Reference', outcome: 'Outcome',
};

const optionLabel = {};
for (const list of [insufficiencyReasons, identifierOutcomes, mlaDecisions, determineDecisions, outcomes, handlingCodes, identifierTypes, assistanceTopics]) {
  for (const [v, l] of list) optionLabel[v] = optionLabel[v] || l;
}

// describeOption shows a key of the closed lists with its meaning; grounds
// are described by the case's legal view, anything else as it is.
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
