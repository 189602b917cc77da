// Form building from the field descriptors in schema.js. Every input gets
// name="<JSON path>" (e.g. "requesting_authority.time_zone",
// "identifiers[0].from") and a <label for>, so API field errors land next
// to the right input. collect() turns a form back into the JSON document;
// fill() does the reverse (drafts, imports, kind switches).
//
// Besides the plain types, a descriptor may be 'radios' (options
// [value, label, note], e.g. grounds with their article), 'outcomes' (one
// select and note per item, e.g. per identifier of a request), and may carry
// when: {field, is: [values]}: it is shown, and collected, only while the
// top-level field has one of those values (updateConditions).

import { h, $$, todayUTC } from './lib.js';

let uid = 0;
function idFor(path) {
  return 'f-' + path.replace(/[^A-Za-z0-9_-]+/g, '-') + '-' + (++uid);
}

function defaultValue(f) {
  if (f.default === 'today') return todayUTC();
  return f.default;
}

// parseUTC reads a time typed or pasted as text: RFC 3339 with Z or an
// offset ("2026-11-21T23:40:00Z", "2026-11-22T00:40+01:00"), or a date and
// time without a zone, taken as UTC ("2026-11-21 23:40"). It returns a Date
// or null.
export function parseUTC(v) {
  const m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?\s*(Z|UTC|[+-]\d{2}:?\d{2})?$/i.exec(String(v || '').trim());
  if (!m) return null;
  const [, y, mo, d, hh, mm, ss] = m;
  let zone = (m[7] || 'Z').toUpperCase();
  if (zone === 'UTC') zone = 'Z';
  if (zone !== 'Z' && !zone.includes(':')) zone = zone.slice(0, 3) + ':' + zone.slice(3);
  const t = new Date(y + '-' + mo + '-' + d + 'T' + hh + ':' + mm + ':' + (ss || '00') + zone);
  if (isNaN(t.getTime())) return null;
  // new Date rolls 2026-02-30 over to March: refuse instead.
  if (zone === 'Z' && (t.getUTCDate() !== +d || t.getUTCMonth() + 1 !== +mo)) return null;
  return t;
}

// toRFC3339 turns a time field's text into "YYYY-MM-DDTHH:MM:SSZ"; text it
// cannot read is sent as typed, so the node's validation names the field.
export function toRFC3339(v) {
  if (!v) return '';
  const t = parseUTC(v);
  return t ? t.toISOString().slice(0, 19) + 'Z' : String(v).trim();
}

// fromRFC3339 gives a time field's text for an RFC 3339 time, in UTC.
export function fromRFC3339(v) {
  if (!v) return '';
  const d = new Date(v);
  if (isNaN(d.getTime())) return String(v);
  return d.toISOString().slice(0, 19) + 'Z';
}

// utcInput is a text field for a UTC time: a pasted or typed
// "2026-11-21T23:40:00Z" is kept as it is (a datetime-local control drops
// it), normalised on leaving the field, and checked as the operator types.
function utcInput(common) {
  const input = h('input', Object.assign(common, { type: 'text', inputmode: 'text', autocomplete: 'off', spellcheck: 'false',
    placeholder: common.placeholder || '2026-11-21T23:40:00Z', pattern: '\\d{4}-\\d{2}-\\d{2}[T ]\\d{2}:\\d{2}.*' }));
  input.dataset.utc = '1';
  const check = normalise => {
    const v = input.value.trim();
    const t = v ? parseUTC(v) : null;
    input.setCustomValidity(v && !t ? 'Give the time in UTC as 2026-11-21T23:40:00Z' : '');
    input.classList.toggle('invalid-time', !!v && !t);
    if (normalise && t) input.value = t.toISOString().slice(0, 19) + 'Z';
  };
  input.addEventListener('input', () => check(false));
  input.addEventListener('change', () => check(true));
  input.addEventListener('blur', () => check(true));
  return input;
}

// buildField returns the element(s) for one descriptor at path.
export function buildField(f, path) {
  const el = buildControl(f, path);
  if (f.when) {
    el.dataset.whenField = f.when.field;
    el.dataset.whenIs = f.when.is.join(' ');
  }
  return el;
}

function buildControl(f, path) {
  const hintID = f.hint ? idFor(path + '-hint') : null;
  const hint = f.hint ? h('p', { class: 'hint', id: hintID }, f.hint) : null;
  const req = f.required ? h('span', { class: 'req', title: 'required' }, ' *') : null;
  switch (f.type) {
    case 'group': {
      const fs = h('fieldset', { class: 'group', dataset: { path } }, h('legend', null, f.label), hint);
      for (const sub of f.fields) fs.appendChild(buildField(sub, path + '.' + sub.key));
      return fs;
    }
    case 'list': {
      const items = h('div', { class: 'list-items' });
      const fs = h('fieldset', { class: 'list', dataset: { path, min: String(f.min || 0) } }, h('legend', null, f.label), hint, items);
      const add = h('button', { type: 'button', class: 'btn btn-small add-item', dataset: { list: path } }, '+ Add ' + (f.itemLabel || 'item').toLowerCase());
      add.addEventListener('click', () => {
        const n = items.children.length;
        items.appendChild(buildListItem(f, path, n));
        const first = items.lastChild.querySelector('input, select, textarea');
        if (first) first.focus();
      });
      fs.appendChild(add);
      for (let i = 0; i < (f.min || 0); i++) items.appendChild(buildListItem(f, path, i));
      return fs;
    }
    case 'checks': {
      const fs = h('fieldset', { class: 'checks', dataset: { path } }, h('legend', null, f.label, req), hint);
      const row = h('div', { class: 'check-items' });
      for (const [v, l] of f.options) {
        const id = idFor(path + '-' + v);
        row.appendChild(h('span', { class: 'check-item' },
          h('input', { type: 'checkbox', id, name: path, value: v, 'aria-describedby': hintID }),
          h('label', { for: id }, l)));
      }
      fs.appendChild(row);
      return fs;
    }
    case 'radios': {
      const fs = h('fieldset', { class: 'radios', dataset: { path } }, h('legend', null, f.label, req), hint);
      for (const [v, l, note] of f.options || []) {
        const id = idFor(path + '-' + v);
        fs.appendChild(h('div', { class: 'radio-row' },
          h('input', { type: 'radio', id, name: path, value: v, 'aria-describedby': hintID }),
          h('label', { for: id }, l, note ? h('span', { class: 'article' }, note) : null)));
      }
      if (!(f.options || []).length) fs.appendChild(h('p', { class: 'muted' }, f.empty || 'None is available.'));
      return fs;
    }
    case 'outcomes': {
      const fs = h('fieldset', { class: 'outcomes', dataset: { path } }, h('legend', null, f.label), hint);
      (f.items || []).forEach((it, i) => {
        const ip = path + '[' + i + ']';
        const sid = idFor(ip + '.outcome'), nid = idFor(ip + '.note');
        fs.appendChild(h('div', { class: 'outcome-row', dataset: { path: ip, index: String(it.index) } },
          h('label', { for: sid, class: 'outcome-what' }, it.label),
          h('select', { id: sid, name: ip + '.outcome' }, f.options.map(([v, l]) => h('option', { value: v, selected: v === f.default }, l))),
          h('label', { for: nid, class: 'visually-hidden' }, 'Note on ' + it.label),
          h('input', { id: nid, name: ip + '.note', type: 'text', placeholder: 'Note (optional)', autocomplete: 'off' })));
      });
      return fs;
    }
    case 'bool': {
      const id = idFor(path);
      const dv = defaultValue(f);
      return h('div', { class: 'check-row field-bool' },
        h('input', { type: 'checkbox', id, name: path, checked: dv === true, 'aria-describedby': hintID }),
        h('label', { for: id }, f.label), hint);
    }
    default: {
      const id = idFor(path);
      let input;
      const common = { id, name: path, 'aria-describedby': hintID, required: !!f.required, placeholder: f.placeholder };
      if (f.type === 'textarea' || f.type === 'lines') {
        input = h('textarea', Object.assign(common, { rows: f.rows || (f.type === 'lines' ? 2 : 3) }));
      } else if (f.type === 'select') {
        input = h('select', common, h('option', { value: '' }, '— choose —'),
          f.options.map(([v, l]) => h('option', { value: v }, l)));
      } else if (f.type === 'datetime') {
        input = utcInput(common);
      } else {
        const type = { date: 'date', number: 'number', tel: 'tel', email: 'email' }[f.type] || 'text';
        input = h('input', Object.assign(common, { type, list: f.list, min: f.min, max: f.max, autocomplete: 'off' }));
        if (f.readOnly) { input.readOnly = true; input.tabIndex = -1; input.classList.add('computed'); }
      }
      const dv = defaultValue(f);
      if (dv !== undefined && dv !== null) input.value = String(dv);
      const label = h('label', { for: id }, f.label, f.type === 'datetime' && !/UTC/.test(f.label) ? ' (UTC)' : '', req);
      const extra = f.type === 'datetime' ? h('span', { class: 'utc-tag', 'aria-hidden': 'true' }, 'UTC') : null;
      return h('div', { class: 'field field-' + (f.type || 'text') }, label, h('div', { class: 'input-row' }, input, extra), hint);
    }
  }
}

function buildListItem(f, path, i) {
  const ip = path + '[' + i + ']';
  const fs = h('fieldset', { class: 'list-item', dataset: { path: ip } }, h('legend', null, (f.itemLabel || 'Item') + ' ' + (i + 1)));
  for (const sub of f.item) fs.appendChild(buildField(sub, ip + '.' + sub.key));
  const rm = h('button', { type: 'button', class: 'btn btn-small btn-quiet remove-item' }, 'Remove ' + (f.itemLabel || 'item').toLowerCase() + ' ' + (i + 1));
  rm.addEventListener('click', () => {
    const list = fs.closest('fieldset.list');
    const form = fs.closest('form');
    const values = collectList(f, list);
    values.splice(i, 1);
    setList(f, list, values);
    const add = list.querySelector('.add-item');
    if (add) add.focus();
    if (form) form.dispatchEvent(new Event('input', { bubbles: true }));
  });
  fs.appendChild(rm);
  return fs;
}

function byName(root, name) {
  return root.querySelector('[name="' + (window.CSS && CSS.escape ? CSS.escape(name) : name) + '"]');
}

function readField(f, root, path) {
  switch (f.type) {
    case 'group': {
      const o = {};
      for (const sub of f.fields) {
        const v = readField(sub, root, path + '.' + sub.key);
        if (v !== undefined) o[sub.key] = v;
      }
      if (f.optional && Object.keys(o).length === 0) return undefined;
      return o;
    }
    case 'list': {
      const list = root.querySelector('fieldset.list[data-path="' + path + '"]');
      const arr = list ? collectList(f, list) : [];
      if (!f.min && arr.length === 0) return undefined;
      return arr;
    }
    case 'checks':
      return $$('input[type=checkbox]', root).filter(x => x.name === path && x.checked).map(x => x.value);
    case 'radios': {
      const on = $$('input[type=radio]', root).find(x => x.name === path && x.checked);
      return on ? on.value : undefined;
    }
    case 'outcomes': {
      const fs = root.querySelector('fieldset.outcomes[data-path="' + path + '"]');
      if (!fs) return undefined;
      const out = $$('.outcome-row', fs).map(row => {
        const o = { index: Number(row.dataset.index), outcome: byName(row, row.dataset.path + '.outcome').value };
        const n = byName(row, row.dataset.path + '.note').value.trim();
        if (n) o.note = n;
        return o;
      });
      // Every item at the default and nothing noted reads as no list
      // (for identifier outcomes: every identifier preserved).
      return out.some(o => o.outcome !== f.default || o.note) ? out : undefined;
    }
    case 'bool': {
      const el = byName(root, path);
      return el ? el.checked : undefined;
    }
    case 'lines': {
      const el = byName(root, path);
      const lines = el ? el.value.split('\n').map(s => s.trim()).filter(Boolean) : [];
      return lines.length ? lines : undefined;
    }
    case 'number': {
      const el = byName(root, path);
      if (!el || el.value.trim() === '') return undefined;
      const n = Number(el.value);
      return Number.isFinite(n) ? n : el.value;
    }
    case 'datetime': {
      const el = byName(root, path);
      return el && el.value ? toRFC3339(el.value) : undefined;
    }
    default: {
      const el = byName(root, path);
      if (!el) return undefined;
      const v = el.value;
      return v.trim() === '' ? undefined : v.trim();
    }
  }
}

function collectList(f, list) {
  const items = Array.from(list.querySelector('.list-items').children);
  return items.map(item => {
    const ip = item.dataset.path;
    const o = {};
    for (const sub of f.item) {
      const v = readField(sub, item, ip + '.' + sub.key);
      if (v !== undefined) o[sub.key] = v;
    }
    return o;
  });
}

function setList(f, list, values) {
  const items = list.querySelector('.list-items');
  while (items.firstChild) items.removeChild(items.firstChild);
  const n = Math.max(values.length, f.min || 0);
  for (let i = 0; i < n; i++) {
    const item = buildListItem(f, list.dataset.path, i);
    items.appendChild(item);
    const v = values[i] || {};
    for (const sub of f.item) writeField(sub, item, item.dataset.path + '.' + sub.key, v[sub.key]);
  }
}

function writeField(f, root, path, v) {
  switch (f.type) {
    case 'group':
      for (const sub of f.fields) writeField(sub, root, path + '.' + sub.key, v ? v[sub.key] : undefined);
      return;
    case 'list': {
      const list = root.querySelector('fieldset.list[data-path="' + path + '"]');
      if (list) setList(f, list, Array.isArray(v) ? v : []);
      return;
    }
    case 'checks': {
      const set = new Set(Array.isArray(v) ? v : []);
      for (const x of $$('input[type=checkbox]', root)) if (x.name === path) x.checked = set.has(x.value);
      return;
    }
    case 'radios':
      for (const x of $$('input[type=radio]', root)) if (x.name === path) x.checked = x.value === v;
      return;
    case 'outcomes': {
      const fs = root.querySelector('fieldset.outcomes[data-path="' + path + '"]');
      const byIndex = new Map((Array.isArray(v) ? v : []).map(o => [o.index, o]));
      for (const row of fs ? $$('.outcome-row', fs) : []) {
        const o = byIndex.get(Number(row.dataset.index)) || {};
        byName(row, row.dataset.path + '.outcome').value = o.outcome || f.default || '';
        byName(row, row.dataset.path + '.note').value = o.note || '';
      }
      return;
    }
    case 'bool': {
      const el = byName(root, path);
      if (el) el.checked = v === undefined ? defaultValue(f) === true : v === true;
      return;
    }
    case 'lines': {
      const el = byName(root, path);
      if (el) el.value = Array.isArray(v) ? v.join('\n') : (v || '');
      return;
    }
    case 'datetime': {
      const el = byName(root, path);
      if (el) el.value = fromRFC3339(v);
      return;
    }
    default: {
      const el = byName(root, path);
      if (!el) return;
      if (v === undefined || v === null) {
        const dv = defaultValue(f);
        el.value = dv === undefined ? '' : String(dv);
      } else {
        el.value = String(v);
      }
    }
  }
}

// buildFields renders a list of descriptors into container, at top level.
export function buildFields(container, fields) {
  while (container.firstChild) container.removeChild(container.firstChild);
  for (const f of fields) container.appendChild(buildField(f, f.key));
}

// valueOf is the current value of the top-level field name under root:
// the checked radio, or the control's value.
function valueOf(root, name) {
  const radio = $$('input[type=radio]', root).find(x => x.name === name && x.checked);
  if (radio) return radio.value;
  const el = byName(root, name);
  return el && el.type !== 'radio' ? el.value : '';
}

function conditionHolds(root, when) {
  return when.is.includes(valueOf(root, when.field));
}

// updateConditions shows the conditional fields under root whose
// condition holds and hides the others; it keeps doing so as the form
// changes.
export function updateConditions(root) {
  const update = () => {
    for (const el of $$('[data-when-field]', root)) {
      el.hidden = !el.dataset.whenIs.split(' ').includes(valueOf(root, el.dataset.whenField));
    }
  };
  if (!root.dataset.conditionsWired) {
    root.dataset.conditionsWired = '1';
    root.addEventListener('change', update);
    root.addEventListener('input', update);
  }
  update();
}

// collect reads the fields of schema from root into an object; a field
// whose condition does not hold is left out.
export function collect(root, fields) {
  const o = {};
  for (const f of fields) {
    if (f.when && !conditionHolds(root, f.when)) continue;
    const v = readField(f, root, f.key);
    if (v !== undefined) o[f.key] = v;
  }
  return o;
}

// fill writes doc into the fields of schema under root (missing values
// get their defaults).
export function fill(root, fields, doc) {
  for (const f of fields) writeField(f, root, f.key, doc ? doc[f.key] : undefined);
}
