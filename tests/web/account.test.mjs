// The account page in a real browser: the training opt-in first and off, its ledger event; API
// keys and the usage they cause; held data with live countdowns and deletion; sign out and in;
// account deletion. One server and one browser for the whole file; the tests run in order.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  firstTabStopInMain, launchBrowser, newPage, photo, removeWithKey, screenshots, signUp,
  startServer, unnamedControls, zipEntry,
} from './harness.mjs';

const EMAIL = 'ada@example.com';
const PASSWORD = 'correct horse battery';
let server;
let browser;
let page;
let apiKey = '';

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  page = await newPage(browser);
  page.on('dialog', (d) => d.accept());
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function v2(path, init = {}) {
  const res = await fetch(`${server.base}${path}`, { ...init, headers: { 'x-api-key': apiKey, ...(init.headers || {}) } });
  return res;
}

test('sign up lands on /account, whose first control is the training opt-in, off', async () => {
  await signUp(page, server.base, EMAIL, PASSWORD);
  const first = await page.evaluate(() => {
    const focusable = 'a[href], button, input:not([type="hidden"]), select, textarea, [tabindex]:not([tabindex="-1"])';
    const el = [...document.querySelector('main').querySelectorAll(focusable)]
      .find((e) => !e.disabled && e.offsetParent !== null);
    return { id: el.id, role: el.getAttribute('role'), checked: el.checked };
  });
  assert.deepEqual(first, { id: 'opt-in', role: 'switch', checked: false });
  // The keyboard gets there first too, and the focus is visible.
  const tab = await firstTabStopInMain(page);
  assert.equal(tab.id, 'opt-in');
  assert.ok(tab.inMain);
  assert.notEqual(tab.outline, 'none', 'focus must be visible');
  await assert.doesNotReject(page.getByText('Your images stay yours').waitFor());
  await assert.doesNotReject(page.getByText('nothing is kept longer than 24 hours').waitFor());
  assert.deepEqual(await unnamedControls(page), []);
});

test('create a key: shown once with a copy button, listed by prefix', async () => {
  await page.getByRole('button', { name: 'Create a key' }).click();
  const field = page.getByLabel('New API key');
  await field.waitFor();
  apiKey = await field.inputValue();
  assert.match(apiKey, /^bge_[0-9a-f]{64}$/);
  await page.getByRole('button', { name: 'Copy' }).click();
  await page.getByText('Copied to the clipboard.').waitFor();
  const row = page.locator('#key-table tbody tr');
  await assert.doesNotReject(row.first().waitFor());
  const text = await row.first().innerText();
  assert.ok(text.includes(apiKey.slice(0, 12)), text);
  assert.ok(!text.includes(apiKey.slice(20)), 'the full key is never listed');
  assert.match(text, /never/);
  // After a reload the key itself is gone from the page; only its prefix remains.
  await page.reload();
  await page.locator('#key-table tbody tr').first().waitFor();
  assert.ok(!(await page.content()).includes(apiKey));
});

test('turning the opt-in on writes the ledger and shows in the API; it survives a reload', async () => {
  await page.locator('#opt-in').focus();
  await page.keyboard.press('Space');  // keyboard only
  await page.locator('#training-status').filter({ hasText: 'Opted in.' }).waitFor();
  assert.equal(await page.locator('#opt-in').isChecked(), true);
  assert.match(await page.locator('#training-changed').innerText(), /Last changed/);

  const consent = await (await v2('/v2/account/training-consent')).json();
  assert.equal(consent.opt_in, true);
  assert.ok(consent.changed_at);
  // The ledger (as exported to the customer) has the grant, made on the web page.
  const zip = Buffer.from(await (await v2('/v2/account/export')).arrayBuffer());
  const data = JSON.parse(zipEntry(zip, 'data.json').toString());
  const events = data.consent_history;
  assert.equal(events.length, 1, JSON.stringify(events));
  assert.equal(events[0].action, 'grant');
  assert.equal(events[0].actor, 'web');

  await page.reload();
  assert.equal(await page.locator('#opt-in').isChecked(), true);
  assert.match(await page.locator('#opt-in-state').innerText(), /opted in/);
});

test('an API call with the key appears under Usage, and the key shows as used', async () => {
  const res = await removeWithKey(server.base, apiKey, photo('chelsea.png'));
  assert.equal(res.status, 200, await res.clone().text());
  await res.arrayBuffer();
  await page.reload();
  await page.locator('#usage-summary').filter({ hasText: /1 image in the last 30 days, 1 image today/ }).waitFor();
  // A full-size image costs one credit; no allowance was set, so it is unlimited.
  assert.equal(await page.locator('#credits-summary').innerText(),
    'Credits this month: 1 credit used; your allowance is unlimited.');
  const bars = await page.locator('#usage-bars li').count();
  assert.equal(bars, 30);
  assert.equal(await page.locator('#usage-bars li').last().locator('.count').innerText(), '1');
  await page.locator('#key-table tbody tr').first().filter({ hasText: /just now|minute/ }).waitFor();
});

test('turning the opt-in off deletes the training copies', async () => {
  // The upload above was made while opted in, so a training copy exists.
  let held = await (await v2('/v2/account/data')).json();
  assert.ok(held.items.some((i) => i.purpose === 'training'), JSON.stringify(held));
  await page.locator('#opt-in').click();
  await page.locator('#training-status').filter({ hasText: /Opted out\..*training copies deleted/ }).waitFor();
  held = await (await v2('/v2/account/data')).json();
  assert.ok(!held.items.some((i) => i.purpose === 'training'), JSON.stringify(held));
});

test('a kept upload appears under Your data with a live countdown; deleting it removes it everywhere', async () => {
  // Keep one through the try-it page ("Keep for later"), signed in.
  await page.goto(`${server.base}/`);
  await page.getByLabel('Choose an image').setInputFiles({ name: 'astronaut.png', mimeType: 'image/png', buffer: photo('astronaut.png') });
  await page.getByLabel('Keep for later').check();
  await page.getByLabel('Rights holder (optional)').fill('NASA');
  await page.getByRole('button', { name: 'Remove background' }).click();
  await page.locator('#result').waitFor({ state: 'visible', timeout: 180_000 });
  assert.match(await page.locator('#result-facts').innerText(), /Kept for later/);

  const held = await (await v2('/v2/account/data')).json();
  assert.equal(held.items.length, 2, 'input and result');
  const itemId = held.items[0].item_id;

  await page.goto(`${server.base}/account`);
  const row = page.locator(`#data-table tr[data-item-id="${itemId}"]`);
  await row.waitFor();
  assert.match(await row.innerText(), /NASA/);
  const first = await row.locator('time.countdown').innerText();
  assert.match(first, /^2[34] h \d\d min \d\d s$/);
  await page.waitForTimeout(2100);
  assert.notEqual(await row.locator('time.countdown').innerText(), first, 'the countdown ticks');
  assert.equal(await page.locator('#usage-bars li').last().locator('.count').innerText(), '2');
  await screenshots(page, 'account');

  await row.getByRole('button', { name: /Delete now/ }).click();
  await row.waitFor({ state: 'detached' });
  await page.getByText('Nothing is stored for you.').waitFor();
  const after = await (await v2('/v2/account/data')).json();
  assert.ok(!after.items.some((i) => i.item_id === itemId), JSON.stringify(after));
});

test('revoking a key stops it working', async () => {
  await page.getByRole('button', { name: /^Revoke key/ }).click();
  await page.locator('#key-table tbody tr.revoked').waitFor();
  assert.equal((await v2('/v2/account')).status, 401);
});

test('sign out, then /account asks for sign-in and comes back after it', async () => {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(/\/login\?signed_out=1$/);
  await page.goto(`${server.base}/account`);
  await page.waitForURL(/\/login\?next=\/account$/);
  await page.getByLabel('Email').fill(EMAIL);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${server.base}/account`);
  assert.equal(await page.locator('#opt-in').isChecked(), false);
});

test('delete the account, with confirmation', async () => {
  await page.getByLabel('Type your email address to confirm').fill('someone@else.example');
  await page.getByRole('button', { name: 'Delete my account' }).click();
  await page.getByText('Type your email address exactly as shown to confirm.').waitFor();
  await page.getByLabel('Type your email address to confirm').fill(EMAIL);
  await page.getByRole('button', { name: 'Delete my account' }).click();
  await page.waitForURL(/\/login\?deleted=1$/);
  await page.getByText('Your account and everything held for it are deleted.').waitFor();
  await page.getByLabel('Email').fill(EMAIL);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('The email or password is not right.').waitFor();
  assert.deepEqual(page.problems, []);
});
