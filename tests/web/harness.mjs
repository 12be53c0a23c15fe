// What every browser test needs: a real `bgerase serve` (the built binary, the real model, a fresh
// --data folder) on a free loopback port, Debian's Chromium driven by playwright-core, real
// photographs, and full-page screenshots saved as test artefacts.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const BINARY = process.env.BGERASE_BINARY || join(import.meta.dirname, '../../build/bgerase');
export const WEB_DIR = process.env.BGERASE_WEB_DIR || join(import.meta.dirname, '../../web');
export const SCREENSHOTS = process.env.BGERASE_SCREENSHOTS || join(tmpdir(), 'bgerase-web-screenshots');
export const PHOTOS = '/usr/lib/python3/dist-packages/skimage/data';

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Passwords and cookie values the tests sent (signUp notes them): no server log may hold one.
const secrets = new Set();
export function noteSecret(value) {
  if (value && value.length >= 8) secrets.add(value);
}

// docs/security.md: a server log holds no full API key, no noted secret, no image bytes.
export function secretsInLog(log) {
  const found = [];
  if (/bge_[0-9a-f]{64}/.test(log)) found.push('a full API key');
  for (const s of secrets) if (log.includes(s)) found.push(`a noted secret (${s.length} chars)`);
  // The log is read as UTF-8: the ASCII parts of the PNG and JPEG signatures stand for them.
  for (const [mark, what] of [['PNG\r\n\x1a\n', 'PNG bytes'], ['JFIF\0', 'JPEG bytes'],
    ['WEBPVP8', 'WebP bytes'], ['iVBORw0KGgo', 'base64 PNG'], ['/9j/4', 'base64 JPEG'],
    ['UklGR', 'base64 RIFF/WebP']]) {
    if (log.includes(mark)) found.push(what);
  }
  return found;
}

// Starts the server and waits (bounded) until /v2/health says ready.
export async function startServer(extra = []) {
  const dir = mkdtempSync(join(tmpdir(), 'bgerase-web-'));
  const child = spawn(BINARY, ['serve', '--host', '127.0.0.1', '--port', '0', '--data', join(dir, 'data'),
    '--web-dir', WEB_DIR, ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d) => { log += d; });
  // Never leave a server behind: not when the test fails, not when ctest's timeout kills us.
  process.once('exit', () => child.kill('SIGKILL'));
  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.once(signal, () => {
      child.kill('SIGKILL');
      process.exit(128 + (signal === 'SIGTERM' ? 15 : 2));
    });
  }
  let port = 0;
  for (let i = 0; i < 600 && !port; ++i) {
    const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(log);
    if (m) port = Number(m[1]); else await sleep(100);
    if (child.exitCode !== null) break;
  }
  if (!port) throw new Error(`server did not start:\n${log}`);
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 1200; ++i) {
    try {
      if ((await fetch(`${base}/v2/health`)).status === 200) break;
    } catch { /* not yet */ }
    await sleep(100);
  }
  return {
    base,
    dir,
    log: () => log,
    // SIGTERM; the server must exit 0 (graceful shutdown).
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', (code) => r(code)));
        child.kill('SIGTERM');
        const code = await exited;
        if (code !== 0) throw new Error(`serve exited ${code}:\n${log}`);
      }
      rmSync(dir, { recursive: true, force: true });
      const leaked = secretsInLog(log);
      if (leaked.length) throw new Error(`the server log holds ${leaked.join(', ')}`);
    },
  };
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--no-first-run'],
  });
}

// A page that fails the test on any script error or CSP violation it reports.
export async function newPage(browser, viewport = DESKTOP) {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  const page = await context.newPage();
  await installAlphaFacts(page);
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource: the server responded with a status of (4\d\d)/.test(m.text())) {
      page.problems.push(`console: ${m.text()}`);
    }
  });
  return page;
}

// Full-page screenshots of the page as it is, at desktop and phone widths, under SCREENSHOTS.
export async function screenshots(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const original = page.viewportSize();
  for (const [label, size] of [['desktop', DESKTOP], ['phone', PHONE]]) {
    await page.setViewportSize(size);
    await page.waitForTimeout(150);
    await page.screenshot({ path: join(SCREENSHOTS, `${name}-${label}.png`), fullPage: true });
  }
  await page.setViewportSize(original);
}

export function photo(name) {
  return readFileSync(join(PHOTOS, name));
}

export async function signUp(page, base, email, password = 'correct horse battery') {
  await page.goto(`${base}/signup`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.waitForURL(`${base}/account`);
  noteSecret(password);
  for (const cookie of await page.context().cookies()) noteSecret(cookie.value);
}

// Controls without an accessible name (label, aria-label, aria-labelledby, or button text).
export async function unnamedControls(page) {
  return page.evaluate(() => {
    const out = [];
    for (const el of document.querySelectorAll('input, select, textarea, button')) {
      if (el.type === 'hidden') continue;
      const byLabel = el.labels && [...el.labels].some((l) => l.textContent.trim());
      const byAria = (el.getAttribute('aria-label') || '').trim();
      const byRef = (el.getAttribute('aria-labelledby') || '').split(' ')
        .some((id) => id && document.getElementById(id)?.textContent.trim());
      const byText = el.tagName === 'BUTTON' && el.textContent.trim();
      if (!byLabel && !byAria && !byRef && !byText) out.push(el.outerHTML.slice(0, 120));
    }
    return out;
  });
}

// The element the keyboard reaches first inside <main>: Tab to the skip link, follow it, Tab once.
export async function firstTabStopInMain(page) {
  await page.locator('body').focus();
  await page.keyboard.press('Tab');
  const skip = await page.evaluate(() => document.activeElement.className);
  if (skip !== 'skip') throw new Error(`the first Tab stop is not the skip link but .${skip}`);
  await page.keyboard.press('Enter');
  await page.keyboard.press('Tab');
  return page.evaluate(() => ({
    id: document.activeElement.id,
    inMain: !!document.activeElement.closest('main'),
    outline: getComputedStyle(document.activeElement).outlineStyle,
  }));
}

// Decodes image bytes in the browser and reports the alpha of a few points and overall.
export async function alphaFacts(page, bytes, mime = 'image/png') {
  return page.evaluate(async ({ b64, mime }) => {
    const bin = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    return window.bgeraseAlphaFacts(await createImageBitmap(new Blob([bin], { type: mime })));
  }, { b64: Buffer.from(bytes).toString('base64'), mime });
}

// The same for what an <img> on the page shows.
export async function alphaFactsOfImage(locator) {
  return locator.evaluate(async (img) => window.bgeraseAlphaFacts(await createImageBitmap(img)));
}

// Installs the pixel counter the two functions above use (an init script, so every page has it).
export async function installAlphaFacts(page) {
  await page.addInitScript(() => {
    window.bgeraseAlphaFacts = (bmp) => {
    const canvas = new OffscreenCanvas(bmp.width, bmp.height);
    const ctx = canvas.getContext('2d');
    ctx.drawImage(bmp, 0, 0);
    const { data } = ctx.getImageData(0, 0, bmp.width, bmp.height);
    let transparent = 0;
    let opaque = 0;
    for (let i = 3; i < data.length; i += 4) {
      if (data[i] === 0) transparent++;
      if (data[i] === 255) opaque++;
    }
    const at = (x, y) => data[(y * bmp.width + x) * 4 + 3];
    const pixels = bmp.width * bmp.height;
    return { width: bmp.width, height: bmp.height, transparent: transparent / pixels, opaque: opaque / pixels,
      corner: at(2, 2), centre: at(bmp.width >> 1, bmp.height >> 1) };
    };
  });
}

// PNG colour type 6 = RGBA (IHDR byte 25).
export function isRgbaPng(bytes) {
  const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.from(bytes.subarray(0, 8)).equals(sig) && bytes[25] === 6;
}

// One entry of a zip, read with Python's zipfile (python3 is there for skimage's photos).
export function zipEntry(zipBytes, name) {
  const r = spawnSync('python3', ['-c',
    'import sys, zipfile, io; sys.stdout.buffer.write(zipfile.ZipFile(io.BytesIO(sys.stdin.buffer.read())).read(sys.argv[1]))',
    name], { input: zipBytes, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`zip: ${r.stderr}`);
  return r.stdout;
}

// Calls POST /v2 with an API key and a photo, as an API client would.
export async function removeWithKey(base, key, bytes, fields = {}) {
  const form = new FormData();
  form.append('image_file', new Blob([bytes], { type: 'image/png' }), 'photo.png');
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  return fetch(`${base}/v2`, { method: 'POST', headers: { 'x-api-key': key }, body: form });
}
