// The try-it page in a real browser, signed out: a real photo in, a cut-out with a transparent
// background out, shown on a checkerboard with a keyboard-operable before/after slider, and
// downloaded as a PNG with alpha. API errors come back as readable messages.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import {
  alphaFacts, alphaFactsOfImage, isRgbaPng, launchBrowser, newPage, photo, screenshots, startServer, unnamedControls,
} from './harness.mjs';

let server;
let browser;
let page;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  page = await newPage(browser);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('the page before any upload: every control named, keep-for-later only when signed in', async () => {
  await page.goto(`${server.base}/`);
  assert.deepEqual(await unnamedControls(page), []);
  assert.equal(await page.getByLabel('Keep for later').isVisible(), false);
  for (const label of ['Format', 'Size', 'Crop to the subject', 'Remove colour spill on the edges',
    'Fill the background with a colour', 'Background colour']) {
    assert.ok(await page.getByLabel(label, { exact: true }).count(), label);
  }
  await screenshots(page, 'tryit');
});

test('a real photo becomes a cut-out with a transparent background that downloads as an RGBA PNG', async () => {
  await page.goto(`${server.base}/`);
  await page.getByLabel('Choose an image').setInputFiles(`${'/usr/lib/python3/dist-packages/skimage/data'}/astronaut.png`);
  await page.getByRole('button', { name: 'Remove background' }).click();
  await page.locator('#progress').waitFor({ state: 'visible' });
  await page.locator('#result').waitFor({ state: 'visible', timeout: 180_000 });
  assert.match(await page.locator('#result-facts').innerText(), /512 × 512 px.*Nothing was stored/);

  // What the page shows: the cut-out, over a checkerboard.
  const board = await page.locator('#after-pane').evaluate((e) => getComputedStyle(e).backgroundImage);
  assert.match(board, /linear-gradient/, 'a checkerboard behind the result');
  const facts = await alphaFactsOfImage(page.locator('#after'));
  assert.equal(facts.width, 512);
  assert.equal(facts.corner, 0, 'the background is transparent');
  assert.equal(facts.centre, 255, 'the astronaut is opaque');
  assert.ok(facts.transparent > 0.2, JSON.stringify(facts));

  // The slider works by keyboard: the result's clip follows it.
  await page.getByLabel('Before / after').focus();
  for (let i = 0; i < 10; ++i) await page.keyboard.press('ArrowLeft');
  assert.equal(await page.getByLabel('Before / after').inputValue(), '40');
  assert.match(await page.locator('#after-pane').evaluate((e) => e.style.clipPath), /inset\(0(px)? 60% 0(px)? 0(px)?\)/);
  await screenshots(page, 'tryit-result');

  // Download: a PNG with an alpha channel, transparent where the background was.
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: /Download PNG/ }).click()]);
  assert.equal(download.suggestedFilename(), 'astronaut-cutout.png');
  const file = readFileSync(await download.path());
  assert.ok(isRgbaPng(file), 'RGBA PNG');
  const downloaded = await alphaFacts(page, file);
  assert.equal(downloaded.corner, 0);
  assert.ok(downloaded.transparent > 0.2);
  assert.deepEqual(page.problems, []);
});

test('options reach the server: a crop is shown beside the original, JPEG on a colour', async () => {
  await page.goto(`${server.base}/`);
  await page.getByLabel('Choose an image').setInputFiles({ name: 'astronaut.png', mimeType: 'image/png', buffer: photo('astronaut.png') });
  await page.getByLabel('Format').selectOption('jpg');
  await page.getByLabel('Crop to the subject').check();
  await page.getByLabel('Fill the background with a colour').check();
  await page.getByLabel('Background colour', { exact: true }).fill('#ff0000');
  assert.equal(await page.getByLabel('Quality').inputValue(), 'balanced', 'balanced is the default');
  await page.getByLabel('Quality').selectOption('fast');
  // The form's text fields as the page hands them to XHR (Chromium does not expose a multipart
  // body with a file to the test).
  await page.evaluate(() => {
    const send = XMLHttpRequest.prototype.send;
    XMLHttpRequest.prototype.send = function (body) {
      if (body instanceof FormData) window.sentFields = Object.fromEntries([...body.entries()].filter(([, v]) => typeof v === 'string'));
      return send.call(this, body);
    };
  });
  await page.getByRole('button', { name: 'Remove background' }).click();
  assert.equal((await page.evaluate(() => window.sentFields)).quality_mode, 'fast');
  await page.locator('#result').waitFor({ state: 'visible', timeout: 180_000 });
  await page.getByRole('link', { name: /Download JPG/ }).waitFor();
  const sizes = await page.evaluate(() => [before.naturalWidth, before.naturalHeight, after.naturalWidth, after.naturalHeight]);
  assert.equal(await page.locator('#compare').evaluate((e) => e.classList.contains('side')), true, `${sizes}`);
  const facts = await alphaFactsOfImage(page.locator('#after'));
  assert.ok(facts.height < 512, `cropped: ${facts.height}`);  // astronaut.png is 512×512
  assert.equal(facts.opaque, 1);
});

test('a background image and a shadow: the subject on the picture, opaque everywhere', async () => {
  await page.goto(`${server.base}/`);
  await page.getByLabel('Choose an image').setInputFiles({ name: 'astronaut.png', mimeType: 'image/png', buffer: photo('astronaut.png') });
  await page.getByLabel('Size').selectOption('preview');
  await page.getByLabel('Fill the background with a colour').check();
  await page.getByLabel('Background image (optional)').setInputFiles({ name: 'coffee.png', mimeType: 'image/png', buffer: photo('coffee.png') });
  assert.equal(await page.getByLabel('Fill the background with a colour').isChecked(), false, 'a picture replaces the colour');
  await page.getByLabel('Add a shadow under the subject').check();
  await page.getByRole('button', { name: 'Remove background' }).click();
  await page.locator('#result').waitFor({ state: 'visible', timeout: 180_000 });
  await page.getByRole('link', { name: /Download/ }).waitFor();
  const facts = await alphaFactsOfImage(page.locator('#after'));
  assert.equal(facts.opaque, 1, 'the picture covers the whole result');
  assert.equal(facts.corner, 255);
  await screenshots(page, 'tryit-background-image');
  assert.deepEqual(page.problems, []);
});

test('every API error gets a clear message', async () => {
  await page.goto(`${server.base}/`);
  await page.getByLabel('Choose an image').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not an image at all') });
  await page.getByRole('button', { name: 'Remove background' }).click();
  const error = page.getByRole('alert');
  await error.filter({ hasText: 'not an image type bgerase reads' }).waitFor();

  // A page whose CSRF cookie is gone (another tab signed out, cookies cleared) says to reload.
  await page.context().clearCookies();
  await page.getByLabel('Choose an image').setInputFiles(`${'/usr/lib/python3/dist-packages/skimage/data'}/astronaut.png`);
  await page.getByRole('button', { name: 'Remove background' }).click();
  await error.filter({ hasText: 'This page has expired. Reload it and retry.' }).waitFor();
});
