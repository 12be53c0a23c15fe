// The web pages' defences, in a real browser and with plain HTTP: security headers on every page,
// session and CSRF cookies, CSRF refusals, the signed-out redirect, sign-in throttling that says
// nothing about which emails exist, safe `next` values, and keyboard/label accessibility.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  firstTabStopInMain, launchBrowser, newPage, screenshots, signUp, startServer, unnamedControls,
} from './harness.mjs';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

// A signed-in HTTP client: cookies from a real sign-up through the form, and the page's token.
async function signedInClient(email) {
  const page = await newPage(browser);
  await signUp(page, server.base, email);
  const cookies = await page.context().cookies();
  const cookie = cookies.map((c) => `${c.name}=${c.value}`).join('; ');
  const csrf = await page.locator('meta[name="csrf-token"]').getAttribute('content');
  return { page, cookie, csrf, session: cookies.find((c) => c.name === 'bgerase_session') };
}

// The double-submit pair a signed-out visitor gets: the cookie the server sets and the token the
// page carries.
async function signedOutPair() {
  const res = await fetch(`${server.base}/login`);
  const cookie = /bgerase_csrf=[0-9a-f]{64}/.exec(res.headers.get('set-cookie'))[0];
  const token = /name="csrf-token" content="([0-9a-f]{64})"/.exec(await res.text())[1];
  assert.equal(cookie, `bgerase_csrf=${token}`);
  return { cookie, token };
}

function checkHeaders(res, where) {
  const csp = res.headers.get('content-security-policy') || '';
  assert.match(csp, /default-src 'self'/, where);
  assert.match(csp, /script-src 'self'(;|$)/, where);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, where);
  assert.match(csp, /frame-ancestors 'none'/, where);
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff', where);
  assert.equal(res.headers.get('referrer-policy'), 'no-referrer', where);
  assert.equal(res.headers.get('x-frame-options'), 'DENY', where);
}

test('every page and asset carries the security headers; pages have no inline script', async () => {
  const { cookie } = await signedInClient('headers@example.com');
  for (const path of ['/', '/signup', '/login', '/account', '/logout', '/assets/style.css', '/assets/tryit.js']) {
    const res = await fetch(`${server.base}${path}`, { headers: { cookie }, redirect: 'manual' });
    checkHeaders(res, path);
    const body = await res.text();
    if (path === '/account') assert.equal(res.headers.get('cache-control'), 'no-store');
    if (path === '/signup' || path === '/login') {
      assert.equal(res.status, 303, `${path} signed in goes to the account`);
    } else if (!path.startsWith('/assets')) {
      assert.equal(res.status, 200, path);
      assert.doesNotMatch(body, /<script(?![^>]*\bsrc=)[^>]*>/, `${path}: inline script`);
      assert.doesNotMatch(body, /\son[a-z]+\s*=/, `${path}: inline event handler`);
      assert.doesNotMatch(body, /https?:\/\//, `${path}: no external resources`);
    }
  }
  for (const path of ['/signup', '/login', '/account', '/web/account/keys']) {
    checkHeaders(await fetch(`${server.base}${path}`, { redirect: 'manual' }), `${path} signed out`);
  }
});

test('session cookie: HttpOnly, SameSite=Strict, Secure behind https', async () => {
  const { session } = await signedInClient('cookie@example.com');
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, 'Strict');
  // X-Forwarded-Proto from a client that is no --trusted-proxy says nothing: no Secure.
  const direct = await fetch(`${server.base}/login`, { headers: { 'x-forwarded-proto': 'https' } });
  assert.match(direct.headers.get('set-cookie'), /bgerase_csrf=[0-9a-f]{64}; Path=\/; HttpOnly; SameSite=Strict$/);
  // Behind a TLS-terminating proxy (a trusted one) the cookie is Secure.
  const proxied = await startServer(['--trusted-proxy', '127.0.0.1']);
  try {
    const page = await fetch(`${proxied.base}/login`, { headers: { 'x-forwarded-proto': 'https' } });
    assert.match(page.headers.get('set-cookie'), /bgerase_csrf=[0-9a-f]{64}; Path=\/; HttpOnly; SameSite=Strict; Secure$/);
    const plain = await fetch(`${proxied.base}/login`);
    assert.doesNotMatch(plain.headers.get('set-cookie'), /Secure/);
  } finally {
    await proxied.stop();
  }
});

test('logged out, /account redirects to the login page', async () => {
  const res = await fetch(`${server.base}/account`, { redirect: 'manual' });
  assert.equal(res.status, 303);
  assert.equal(res.headers.get('location'), '/login?next=/account');
  const page = await newPage(browser);
  await page.goto(`${server.base}/account`);
  assert.equal(new URL(page.url()).pathname, '/login');
  assert.equal((await (await fetch(`${server.base}/web/account/keys`)).json()).error.code, 'not_signed_in');
});

test('state-changing requests without the right CSRF token fail', async () => {
  const { cookie, csrf } = await signedInClient('csrf@example.com');
  const call = (method, path, token, body) => fetch(`${server.base}${path}`, {
    method, headers: { cookie, 'content-type': 'application/json', ...(token ? { 'x-csrf-token': token } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  for (const [method, path, body] of [['POST', '/web/account/keys'], ['PUT', '/web/account/training-consent', { opt_in: true }],
    ['DELETE', '/web/account/data'], ['DELETE', '/web/account', { confirm_email: 'csrf@example.com' }]]) {
    for (const token of [undefined, 'f'.repeat(64)]) {
      const res = await call(method, path, token, body);
      assert.equal(res.status, 403, `${method} ${path} with ${token ? 'a wrong' : 'no'} token`);
      assert.equal((await res.json()).error.code, 'csrf_failed');
    }
  }
  // Nothing happened: no key, still opted out, account still there.
  const state = await (await fetch(`${server.base}/web/account`, { headers: { cookie } })).json();
  assert.equal(state.training_consent.opt_in, false);
  assert.equal(state.training_consent.changed_at, null);
  const keys = await (await fetch(`${server.base}/web/account/keys`, { headers: { cookie } })).json();
  assert.deepEqual(keys.keys, []);
  // With the page's token the same request works.
  assert.equal((await call('POST', '/web/account/keys', csrf)).status, 201);

  // Signed-out forms use a double-submit cookie: a cross-site post carries neither.
  const signup = await fetch(`${server.base}/signup`, {
    method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'email=forged%40example.com&password=abcdefghijk',
  });
  assert.equal(signup.status, 403);
  const login = await fetch(`${server.base}/login`, {
    method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `bgerase_csrf=${'a'.repeat(64)}` },
    body: `csrf_token=${'b'.repeat(64)}&email=csrf%40example.com&password=correct+horse+battery`,
  });
  assert.equal(login.status, 403);
  // A pair the attacker picks (cookie planted from a sibling host, same value in the form) is not
  // one this server signed: refused too, so no account can be made in a victim's browser.
  const picked = 'a'.repeat(64);
  const planted = await fetch(`${server.base}/signup`, {
    method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `bgerase_csrf=${picked}` },
    body: `csrf_token=${picked}&email=planted%40example.com&password=abcdefghijk`,
  });
  assert.equal(planted.status, 403);
  const pair = await signedOutPair();
  const genuine = await fetch(`${server.base}/signup`, {
    method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: pair.cookie },
    body: `csrf_token=${pair.token}&email=genuine%40example.com&password=abcdefghijk`,
  });
  assert.equal(genuine.status, 303, 'the pair the server handed out works');
  const form = new FormData();
  form.append('image_file', new Blob([Buffer.from('x')]), 'x.png');
  const remove = await fetch(`${server.base}/web/remove`, { method: 'POST', body: form });
  assert.equal((await remove.json()).error.code, 'csrf_failed');
});

test('signed-out try-it is throttled per address before its body is parsed', async () => {
  // A double-submit pair as the page would hold it, then field floods (40,000 unknown fields)
  // until the address's budget (5 at once) is spent: the refused one is answered 429 without its
  // flood being parsed, so a stranger's CPU cost stops at the throttle.
  const { cookie, token } = await signedOutPair();
  const flood = `csrf_token=${token}&` + Array(40000).fill('a=').join('&');
  const codes = [];
  for (let i = 0; i < 7 && !codes.includes('rate_limited'); ++i) {
    const res = await fetch(`${server.base}/web/remove`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
      body: flood,
    });
    const code = (await res.json()).error.code;
    codes.push(code);
    if (code === 'rate_limited') {
      assert.equal(res.status, 429);
      assert.ok(Number(res.headers.get('retry-after')) >= 1);
    }
  }
  assert.equal(codes.at(-1), 'rate_limited', codes.join(','));
  // Every answer before the throttle came from parsing the flood, none from the image step.
  for (const code of codes.slice(0, -1)) assert.ok(['validation_error', 'bad_request'].includes(code), codes.join(','));
});

test('sign-in: same answer for a wrong password and an unknown email; throttled per account', async () => {
  const { page } = await signedInClient('throttle@example.com');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(/\/login/);
  const attempt = async (email, password) => {
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(password);
    const [res] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/login') && r.request().method() === 'POST'),
      page.getByRole('button', { name: 'Sign in' }).click()]);
    await page.waitForLoadState();
    return { status: res.status(), text: await page.getByRole('alert').innerText().catch(() => '') };
  };
  const unknown = await attempt('nobody@example.com', 'whatever-it-is');
  const wrong = await attempt('throttle@example.com', 'not the password');
  assert.deepEqual(unknown, wrong);
  assert.deepEqual(wrong, { status: 401, text: 'The email or password is not right.' });
  await screenshots(page, 'login-error');
  let last;
  for (let i = 0; i < 5; ++i) last = await attempt('throttle@example.com', 'not the password');
  assert.equal(last.status, 429);
  assert.match(last.text, /Too many sign-in attempts; retry in \d+ s\./);
  // Even the right password waits now: the throttle does not tell a guesser when they are right.
  assert.equal((await attempt('throttle@example.com', 'correct horse battery')).status, 429);
});

test('login only follows same-site `next` values', async () => {
  const page = await newPage(browser);
  await signUp(page, server.base, 'next@example.com');
  await page.getByRole('button', { name: 'Sign out' }).click();
  for (const next of ['//evil.example/', 'https://evil.example/', '/\\evil.example']) {
    await page.goto(`${server.base}/login?next=${encodeURIComponent(next)}`);
    await page.getByLabel('Email').fill('next@example.com');
    await page.getByLabel('Password').fill('correct horse battery');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${server.base}/account`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/login/);
  }
});

test('sign-up and sign-in pages: labelled, keyboard-first, readable; screenshots', async () => {
  const page = await newPage(browser);
  for (const path of ['signup', 'login']) {
    await page.goto(`${server.base}/${path}`);
    assert.deepEqual(await unnamedControls(page), [], path);
    const first = await firstTabStopInMain(page);
    assert.equal(first.id, 'email', path);
    assert.notEqual(first.outline, 'none', `${path}: focus is visible`);
    await screenshots(page, path);
  }
  // The whole sign-up works by keyboard alone.
  await page.goto(`${server.base}/signup`);
  await page.getByLabel('Email').focus();
  await page.keyboard.type('keys@example.com');
  await page.keyboard.press('Tab');
  await page.keyboard.type('correct horse battery');
  await page.keyboard.press('Enter');
  await page.waitForURL(`${server.base}/account`);
  // Too short a password is refused with the reason.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.goto(`${server.base}/signup`);
  await page.getByLabel('Email').fill('short@example.com');
  await page.getByLabel('Password').evaluate((e) => e.removeAttribute('minlength'));
  await page.getByLabel('Password').fill('short');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('alert').filter({ hasText: 'at least 8 characters' }).waitFor();
  assert.deepEqual(page.problems, []);
});
