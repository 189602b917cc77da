// Users (admin): GET/POST /api/v1/users, PATCH/DELETE /api/v1/users/{name}.
// My account (everyone): own API tokens (GET/POST/DELETE /api/v1/tokens)
// and two-factor login (POST /api/v1/me/totp, POST /api/v1/me/totp/confirm).

import { h, $, clear, api, fmtUTC, showBox, setText, errorText, state, copyText } from './lib.js';

const baseRoles = ['operator', 'supervisor', 'auditor', 'admin'];
let usersWired = false;
let accountWired = false;
let seq = 0;

function hiddenLabel(forID, text) {
  return h('label', { for: forID, class: 'visually-hidden' }, text);
}

async function patchUser(name, body, statusEl) {
  statusEl.textContent = 'Saving…';
  const r = await api('PATCH', '/api/v1/users/' + encodeURIComponent(name), body);
  statusEl.textContent = r.ok ? 'Saved.' : errorText(r, 'Not saved');
  statusEl.classList.toggle('error-text', !r.ok);
  if (!r.ok) loadUsers();
  return r.ok;
}

function userRow(u, roles) {
  const n = ++seq;
  const status = h('span', { class: 'row-status muted', role: 'status' });
  const roleID = 'u-role-' + n, disID = 'u-dis-' + n, caID = 'u-ca-' + n, pwID = 'u-pw-' + n;
  const role = h('select', { id: roleID, name: 'role' }, roles.map(r => h('option', { value: r, selected: r === u.role }, r)));
  // A role change grants or removes powers at once: the new role is only
  // saved after "Confirm" next to the select; "Cancel" puts it back.
  let saved = u.role;
  const ask = h('span', { class: 'role-confirm', hidden: true });
  role.addEventListener('change', () => {
    if (role.value === saved) { ask.hidden = true; return; }
    clear(ask);
    const yes = h('button', { type: 'button', class: 'btn btn-small btn-primary', dataset: { confirmRole: u.name } }, 'Confirm');
    const no = h('button', { type: 'button', class: 'btn btn-small btn-quiet' }, 'Cancel');
    ask.append(' Make ' + u.name + ' ' + role.value + ' (now ' + saved + ')? ', yes, ' ', no);
    ask.hidden = false;
    yes.addEventListener('click', async () => {
      ask.hidden = true;
      if (await patchUser(u.name, { role: role.value }, status)) saved = role.value;
    });
    no.addEventListener('click', () => { role.value = saved; ask.hidden = true; });
  });
  const dis = h('input', { type: 'checkbox', id: disID, name: 'disabled', checked: !!u.disabled });
  dis.addEventListener('change', () => patchUser(u.name, { disabled: dis.checked }, status));
  const ca = h('input', { type: 'checkbox', id: caID, name: 'content_access', checked: !!u.content_access });
  ca.addEventListener('change', () => patchUser(u.name, { content_access: ca.checked }, status));

  const pwBox = h('span', { class: 'pw-box', hidden: true },
    hiddenLabel(pwID, 'New password for ' + u.name),
    h('input', { type: 'password', id: pwID, name: 'password', autocomplete: 'new-password', placeholder: 'new password' }));
  const pwSave = h('button', { type: 'button', class: 'btn btn-small' }, 'Save password');
  pwBox.appendChild(pwSave);
  pwSave.addEventListener('click', async () => {
    const inp = pwBox.querySelector('input');
    if (!inp.value) { status.textContent = 'Type the new password first.'; return; }
    if (await patchUser(u.name, { password: inp.value }, status)) { inp.value = ''; pwBox.hidden = true; }
  });
  const pwBtn = h('button', { type: 'button', class: 'btn btn-small btn-quiet' }, 'Set password…');
  pwBtn.addEventListener('click', () => { pwBox.hidden = !pwBox.hidden; if (!pwBox.hidden) pwBox.querySelector('input').focus(); });

  // Deleting takes two clicks; no browser dialogs.
  const del = h('button', { type: 'button', class: 'btn btn-small btn-danger', dataset: { user: u.name } }, 'Delete');
  let armed = 0;
  del.addEventListener('click', async () => {
    if (!armed) {
      del.textContent = 'Really delete ' + u.name + '?';
      armed = window.setTimeout(() => { armed = 0; del.textContent = 'Delete'; }, 5000);
      return;
    }
    window.clearTimeout(armed);
    armed = 0;
    const r = await api('DELETE', '/api/v1/users/' + encodeURIComponent(u.name));
    if (r.ok) loadUsers();
    else { status.textContent = errorText(r, 'Not deleted'); status.classList.add('error-text'); del.textContent = 'Delete'; }
  });

  // Failed logins slow down the source that failed (no lock); Unlock
  // clears the count and every source's wait at once.
  let failures = '—';
  if (u.failed_logins > 0) {
    const unlock = h('button', { type: 'button', class: 'btn btn-small', dataset: { unlock: u.name } }, 'Unlock');
    unlock.addEventListener('click', async () => {
      if (await patchUser(u.name, { unlock: true }, status)) loadUsers();
    });
    failures = h('span', null, h('strong', { class: 'error-text' }, String(u.failed_logins)), ' ', unlock);
  }
  return h('tr', { dataset: { user: u.name }, class: u.disabled ? 'row-closed' : '' },
    h('th', { scope: 'row' }, u.name, state.me && state.me.name === u.name ? h('span', { class: 'muted' }, ' (you)') : ''),
    h('td', null, hiddenLabel(roleID, 'Role of ' + u.name), role, ask),
    h('td', null, hiddenLabel(disID, 'Disable ' + u.name), dis),
    h('td', null, hiddenLabel(caID, 'Content access for ' + u.name), ca),
    h('td', null, u.totp_enabled ? '✓ on' : 'off'),
    h('td', null, failures),
    h('td', { class: 'row-actions' }, pwBtn, ' ', del, pwBox, ' ', status));
}

async function loadUsers() {
  const r = await api('GET', '/api/v1/users');
  const tb = clear($('#users-table tbody'));
  if (!r.ok) {
    if (r.status !== 401) showBox('users-error', r.status === 403 ? 'Only administrators manage users.' : errorText(r, 'Could not load users'));
    return;
  }
  showBox('users-error', '');
  const users = (r.data && r.data.users) || [];
  const roles = baseRoles.slice();
  for (const u of users) if (u.role && !roles.includes(u.role)) roles.push(u.role);
  users.sort((a, b) => a.name.localeCompare(b.name));
  for (const u of users) tb.appendChild(userRow(u, roles));
}

async function createUser(e) {
  e.preventDefault();
  const name = document.getElementById('user-new-name').value.trim();
  const role = document.getElementById('user-new-role').value;
  const password = document.getElementById('user-new-password').value;
  setText('user-new-error', '');
  if (!name || !password) { setText('user-new-error', 'Give a name and an initial password.'); return; }
  const r = await api('POST', '/api/v1/users', { name, role, password });
  if (r.ok) {
    document.getElementById('user-new-name').value = '';
    document.getElementById('user-new-password').value = '';
    setText('user-new-error', '');
    loadUsers();
  } else if (r.status !== 401) {
    const f = r.data && r.data.fields;
    setText('user-new-error', f && f.length ? f.map(x => x.field + ' ' + x.message).join('; ') : errorText(r, 'User not created'));
  }
}

export const usersPage = {
  id: 'page-users',
  title: 'Users',
  enter() {
    if (!usersWired) {
      usersWired = true;
      document.getElementById('user-new-form').addEventListener('submit', createUser);
    }
    loadUsers();
  },
};

// ---- my account ----------------------------------------------------------------------

async function loadTokens() {
  const r = await api('GET', '/api/v1/tokens');
  const tb = clear($('#tokens-table tbody'));
  if (!r.ok) {
    if (r.status !== 401) setText('token-error', errorText(r, 'Could not load tokens'));
    return;
  }
  const toks = (r.data && r.data.tokens) || [];
  for (const t of toks) {
    const del = h('button', { type: 'button', class: 'btn btn-small btn-danger', dataset: { token: t.id } }, 'Revoke');
    del.addEventListener('click', async () => {
      const rr = await api('DELETE', '/api/v1/tokens/' + encodeURIComponent(t.id));
      if (rr.ok) loadTokens(); else setText('token-error', errorText(rr, 'Not revoked'));
    });
    tb.appendChild(h('tr', { dataset: { tokenId: t.id } },
      h('th', { scope: 'row' }, t.name || '(unnamed)'),
      h('td', null, fmtUTC(t.created_at)),
      h('td', null, t.last_used_at ? fmtUTC(t.last_used_at) : 'never'),
      h('td', null, del)));
  }
  if (!toks.length) tb.appendChild(h('tr', null, h('td', { colspan: '4', class: 'muted' }, 'No tokens.')));
}

async function createToken(e) {
  e.preventDefault();
  const name = document.getElementById('token-new-name').value.trim();
  setText('token-error', '');
  if (!name) { setText('token-error', 'Name the token (where it will be used).'); return; }
  const r = await api('POST', '/api/v1/tokens', { name });
  if (!r.ok || !r.data) {
    if (r.status !== 401) setText('token-error', errorText(r, 'Token not created'));
    return;
  }
  document.getElementById('token-new-name').value = '';
  const box = document.getElementById('token-created');
  document.getElementById('token-raw').value = r.data.token || '';
  setText('token-copy-status', '');
  box.hidden = false;
  document.getElementById('token-raw').select();
  loadTokens();
}

function renderTOTPState() {
  const on = !!(state.me && state.me.totp_enabled);
  setText('totp-state', on ? 'Two-factor login is ON for your account.' : 'Two-factor login is OFF. Turn it on: a password alone is not enough for a node that holds urgent legal requests.');
  document.getElementById('totp-start').textContent = on ? 'Re-enrol an authenticator app' : 'Set up an authenticator app';
}

async function startTOTP() {
  setText('totp-error', '');
  const r = await api('POST', '/api/v1/me/totp');
  if (!r.ok || !r.data) {
    if (r.status !== 401) setText('totp-state', errorText(r, 'Could not start the set-up'));
    return;
  }
  const secret = String(r.data.secret || '');
  setText('totp-secret', secret.replace(/(.{4})/g, '$1 ').trim());
  setText('totp-url', r.data.otpauth_url || '');
  document.getElementById('totp-setup').hidden = false;
  document.getElementById('totp-code').focus();
}

async function confirmTOTP(e) {
  e.preventDefault();
  const code = document.getElementById('totp-code').value.replace(/\s+/g, '');
  setText('totp-error', '');
  const r = await api('POST', '/api/v1/me/totp/confirm', { code });
  if (r.ok) {
    if (state.me) state.me.totp_enabled = true;
    document.getElementById('totp-setup').hidden = true;
    document.getElementById('totp-code').value = '';
    setText('totp-secret', '');
    setText('totp-url', '');
    renderTOTPState();
  } else if (r.status !== 401) {
    setText('totp-error', errorText(r, 'Code not accepted'));
  }
}

export const accountPage = {
  id: 'page-account',
  title: 'My account',
  enter() {
    if (!accountWired) {
      accountWired = true;
      document.getElementById('token-new-form').addEventListener('submit', createToken);
      document.getElementById('token-copy').addEventListener('click', async () => {
        const inp = document.getElementById('token-raw');
        inp.select();
        const ok = await copyText(inp.value);
        setText('token-copy-status', ok ? 'Copied.' : 'Copy it by hand (Ctrl+C): the clipboard is not available.');
      });
      document.getElementById('token-dismiss').addEventListener('click', () => {
        document.getElementById('token-raw').value = '';
        document.getElementById('token-created').hidden = true;
      });
      document.getElementById('totp-start').addEventListener('click', startTOTP);
      document.getElementById('totp-confirm-form').addEventListener('submit', confirmTOTP);
    }
    setText('account-who', state.me ? 'Signed in as ' + state.me.name + ' (' + state.me.role + ').' : '');
    renderTOTPState();
    loadTokens();
  },
  leave() {
    // A raw token is never left on screen.
    document.getElementById('token-raw').value = '';
    document.getElementById('token-created').hidden = true;
  },
};
