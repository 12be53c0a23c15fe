// The account page's live parts: the training opt-in, API keys, usage, held data with live
// deletion countdowns, and account deletion. All calls go to /web/account/... with the session
// cookie and the page's CSRF token.
import { callJson, countdown, formatBytes, formatDateTime, formatDay, relativeTime } from './common.js';

const $ = (id) => document.getElementById(id);

function say(id, text) {
  $(id).textContent = text;
}

function cell(label, content) {
  const td = document.createElement('td');
  td.dataset.label = label;
  if (content instanceof Node) td.append(content); else td.textContent = content;
  return td;
}

// ---- 1. AI training data ----

const optIn = $('opt-in');

function showConsent(optedIn, changedAt) {
  optIn.checked = optedIn;
  const state = $('opt-in-state');
  state.textContent = optedIn ? 'opted in' : 'opted out';
  state.classList.toggle('on', optedIn);
  $('opt-in-when').textContent = changedAt ? `Last changed ${formatDateTime(changedAt)}.` : 'Never changed.';
}

showConsent(optIn.checked, $('training-changed').dataset.changedAt);

optIn.addEventListener('change', async () => {
  const wanted = optIn.checked;
  optIn.disabled = true;
  say('training-status', 'Saving…');
  try {
    const answer = await callJson('PUT', '/web/account/training-consent', { opt_in: wanted });
    showConsent(answer.opt_in, answer.changed_at);
    let text = answer.opt_in ? 'Opted in. Images you upload from now on may be used for training.'
      : 'Opted out. Nothing you upload will be used for training.';
    if (answer.training_objects_deleted) text += ` ${answer.training_objects_deleted} training copies deleted.`;
    say('training-status', text);
    loadData();
  } catch (e) {
    optIn.checked = !wanted;
    say('training-status', `Not saved: ${e.message}`);
  } finally {
    optIn.disabled = false;
    optIn.focus();
  }
});

// ---- 2. API access ----

// Keys are shown as they begin ("bge_" and the public prefix), never in full.
function shownPrefix(prefix) {
  return prefix.startsWith('bge_') ? prefix : `bge_${prefix}`;
}

async function loadKeys() {
  let keys;
  try {
    ({ keys } = await callJson('GET', '/web/account/keys'));
  } catch (e) {
    say('keys-status', `Keys could not be loaded: ${e.message}`);
    return;
  }
  const body = $('key-table').tBodies[0];
  body.replaceChildren();
  for (const k of keys) {
    const tr = document.createElement('tr');
    const name = document.createElement('code');
    name.textContent = `${shownPrefix(k.prefix)}…`;
    tr.append(cell('Key', name));
    tr.append(cell('Created', formatDateTime(k.created_at)));
    tr.append(cell('Last used', k.last_used_at ? relativeTime(k.last_used_at) : 'never'));
    if (k.revoked_at) {
      tr.classList.add('revoked');
      tr.append(cell('', `revoked ${relativeTime(k.revoked_at)}`));
    } else {
      const revoke = document.createElement('button');
      revoke.type = 'button';
      revoke.className = 'danger';
      revoke.textContent = 'Revoke';
      revoke.setAttribute('aria-label', `Revoke key ${shownPrefix(k.prefix)}`);
      revoke.addEventListener('click', () => revokeKey(k.prefix));
      tr.append(cell('', revoke));
    }
    body.append(tr);
  }
  $('key-table').hidden = keys.length === 0;
  $('no-keys').hidden = keys.length !== 0;
}

async function revokeKey(prefix) {
  if (!window.confirm(`Revoke key ${shownPrefix(prefix)}…? Programs using it will stop working.`)) return;
  try {
    await callJson('DELETE', `/web/account/keys/${encodeURIComponent(prefix)}`);
    say('keys-status', `Key ${shownPrefix(prefix)}… revoked.`);
  } catch (e) {
    say('keys-status', `Not revoked: ${e.message}`);
  }
  await loadKeys();
  $('create-key').focus();
}

$('create-key').addEventListener('click', async () => {
  const button = $('create-key');
  button.disabled = true;
  try {
    const created = await callJson('POST', '/web/account/keys');
    $('new-key-value').value = created.key;
    $('new-key').hidden = false;
    say('copy-status', '');
    say('keys-status', `Key ${shownPrefix(created.prefix)}… created.`);
    $('new-key-value').focus();
    $('new-key-value').select();
    await loadKeys();
  } catch (e) {
    say('keys-status', `No key created: ${e.message}`);
  } finally {
    button.disabled = false;
  }
});

$('copy-key').addEventListener('click', async () => {
  const field = $('new-key-value');
  try {
    await navigator.clipboard.writeText(field.value);
  } catch {
    field.select();
    document.execCommand('copy');
  }
  say('copy-status', 'Copied to the clipboard.');
});

// ---- 3. Usage ----

// The first day of the month after `start` ("YYYY-MM-01"), as a date a person reads.
function nextMonth(start) {
  const d = new Date(`${start}T00:00:00Z`);
  d.setUTCMonth(d.getUTCMonth() + 1);
  return d.toLocaleDateString(undefined, { timeZone: 'UTC', day: 'numeric', month: 'long', year: 'numeric' });
}

async function loadUsage() {
  let usage;
  try {
    usage = await callJson('GET', '/web/account/usage');
  } catch (e) {
    say('usage-summary', `Usage could not be loaded: ${e.message}`);
    return;
  }
  const days = usage.daily;
  const month = days.reduce((n, d) => n + d.images, 0);
  const today = days.length ? days[days.length - 1].images : 0;
  const plural = (n) => `${n} image${n === 1 ? '' : 's'}`;
  say('usage-summary', `${plural(month)} in the last 30 days, ${plural(today)} today ` +
    `(${plural(usage.images_total)} in all).`);
  // Credits, remove.bg's unit (1 per image, 0.25 at preview sizes), counted per calendar month.
  const c = usage.credits;
  const credits = (n) => `${n} credit${n === 1 ? '' : 's'}`;
  say('credits-summary', c.unlimited
    ? `Credits this month: ${credits(c.spent)} used; your allowance is unlimited.`
    : `Credits this month: ${credits(c.spent)} used of ${c.allowance}, ${credits(c.remaining)} ` +
      `left. Requests past the allowance are refused until ${nextMonth(c.period_start)}.`);
  const max = Math.max(1, ...days.map((d) => d.images));
  const bars = $('usage-bars');
  bars.replaceChildren();
  for (const d of days) {
    const li = document.createElement('li');
    const text = document.createElement('span');
    text.className = 'visually-hidden';
    text.textContent = `${formatDay(d.day)}: ${plural(d.images)}`;
    const count = document.createElement('span');
    count.className = 'count';
    count.setAttribute('aria-hidden', 'true');
    count.textContent = d.images > 0 ? String(d.images) : '';
    const bar = document.createElement('span');
    bar.className = 'bar';
    bar.setAttribute('aria-hidden', 'true');
    bar.style.height = `${(d.images / max) * 100}%`;
    li.title = `${formatDay(d.day)}: ${plural(d.images)}`;
    li.append(text, count, bar);
    bars.append(li);
  }
  if (days.length) {
    say('axis-first', formatDay(days[0].day));
    say('axis-last', formatDay(days[days.length - 1].day));
  }
}

// ---- 4. Your data ----

let heldItems = [];

function describeItem(item) {
  const kinds = item.objects.map((o) => o.kind).join(' + ');
  const types = [...new Set(item.objects.map((o) => o.mime.replace('image/', '').toUpperCase()))].join(', ');
  return `${kinds} (${types}), ${item.purpose === 'training' ? 'training copy' : 'kept'} ${formatDateTime(item.created_at)}`;
}

async function loadData() {
  try {
    ({ items: heldItems } = await callJson('GET', '/web/account/data'));
  } catch (e) {
    say('data-status', `Your data could not be loaded: ${e.message}`);
    return;
  }
  const body = $('data-table').tBodies[0];
  body.replaceChildren();
  for (const item of heldItems) {
    const tr = document.createElement('tr');
    tr.dataset.itemId = item.item_id;
    tr.append(cell('Item', describeItem(item)));
    const size = cell('Size', formatBytes(item.size));
    size.className = 'num';
    tr.append(size);
    tr.append(cell('Rights holder', item.on_behalf_of || '—'));
    const left = document.createElement('time');
    left.className = 'countdown';
    if (item.expires_at) {
      left.dateTime = item.expires_at;
      left.dataset.expiresAt = item.expires_at;
      left.textContent = countdown(item.expires_at);
      left.title = `Deleted at ${formatDateTime(item.expires_at)}`;
    } else {
      left.textContent = 'while you are opted in';
    }
    tr.append(cell('Deleted in', left));
    const del = document.createElement('button');
    del.type = 'button';
    del.className = 'danger';
    del.textContent = 'Delete now';
    del.setAttribute('aria-label', `Delete now: ${describeItem(item)}`);
    del.addEventListener('click', () => deleteItem(item.item_id));
    tr.append(cell('', del));
    body.append(tr);
  }
  $('data-table').hidden = heldItems.length === 0;
  $('no-data').hidden = heldItems.length !== 0;
  $('delete-all').disabled = heldItems.length === 0;
}

async function deleteItem(itemId) {
  try {
    await callJson('DELETE', `/web/account/data/${encodeURIComponent(itemId)}`);
    say('data-status', 'Deleted.');
  } catch (e) {
    say('data-status', `Not deleted: ${e.message}`);
  }
  await loadData();
  $('data-h').setAttribute('tabindex', '-1');
  $('data-h').focus();
}

$('delete-all').addEventListener('click', async () => {
  if (!window.confirm('Delete everything stored for you now? This cannot be undone.')) return;
  try {
    const answer = await callJson('DELETE', '/web/account/data');
    say('data-status', `Deleted ${answer.deleted} stored object${answer.deleted === 1 ? '' : 's'}.`);
  } catch (e) {
    say('data-status', `Not deleted: ${e.message}`);
  }
  await loadData();
});

// Live countdowns; an item whose time has come is dropped from the list (the server no longer
// lists it either).
setInterval(() => {
  const now = Date.now();
  let expired = false;
  for (const t of document.querySelectorAll('time[data-expires-at]')) {
    t.textContent = countdown(t.dataset.expiresAt, now);
    if (new Date(t.dataset.expiresAt).getTime() <= now) expired = true;
  }
  if (expired) loadData();
}, 1000);

// ---- 5. Delete account ----

$('delete-account').addEventListener('submit', async (e) => {
  e.preventDefault();
  const box = $('delete-status');
  box.hidden = true;
  try {
    await callJson('DELETE', '/web/account', { confirm_email: $('confirm-email').value });
    window.location.assign('/login?deleted=1');
  } catch (err) {
    box.textContent = err.message;
    box.hidden = false;
    $('confirm-email').focus();
  }
});

loadKeys();
loadUsage();
loadData();
