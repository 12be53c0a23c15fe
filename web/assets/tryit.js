// The try-it page: pick or drop an image, send it with the chosen options to /web/remove, show
// the result over the original with a before/after slider, and offer it for download.
import { csrfToken, describeError, formatBytes, maxImageBytes, tooLargeMessage } from './common.js';

const $ = (id) => document.getElementById(id);

const form = $('tryit');
const fileInput = $('image_file');
const drop = $('drop');
const submit = $('submit');
const progress = $('progress');
const statusLine = $('status');
const errorBox = $('error');
const result = $('result');
const before = $('before');
const after = $('after');
const compare = $('compare');
const afterPane = $('after-pane');
const reveal = $('reveal');
const download = $('download');
const useBg = $('use-bg');
const bgColor = $('bg_color');
const bgImage = $('bg_image_file');

let chosen = null;       // the File to send
let beforeUrl = null;    // object URLs, revoked when replaced
let afterUrl = null;

function showError(text) {
  errorBox.textContent = text;
  errorBox.hidden = !text;
}

function choose(file) {
  chosen = file || null;
  showError('');
  $('file-name').textContent = file ? `${file.name} (${formatBytes(file.size)})` : '';
  if (file && file.size > maxImageBytes()) showError(tooLargeMessage());
}

fileInput.addEventListener('change', () => choose(fileInput.files[0]));

// One background at most: a picture replaces the colour.
bgImage.addEventListener('change', () => {
  if (!bgImage.files[0]) return;
  useBg.checked = false;
  bgColor.disabled = true;
});

for (const type of ['dragenter', 'dragover']) {
  drop.addEventListener(type, (e) => {
    e.preventDefault();
    drop.classList.add('dragging');
  });
}
for (const type of ['dragleave', 'drop']) {
  drop.addEventListener(type, () => drop.classList.remove('dragging'));
}
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  const file = e.dataTransfer.files[0];
  if (!file) return;
  const list = new DataTransfer();
  list.items.add(file);
  fileInput.files = list.files;
  choose(file);
});

useBg.addEventListener('change', () => {
  bgColor.disabled = !useBg.checked;
  if (useBg.checked) bgImage.value = '';  // a colour replaces the picture
});

function setReveal(value) {
  // The result shows left of the handle, the original right of it.
  afterPane.style.clipPath = `inset(0 ${100 - value}% 0 0)`;
  compare.style.setProperty('--reveal', `${value}%`);
  reveal.setAttribute('aria-valuetext', `${value}% of the result shown`);
}
reveal.addEventListener('input', () => setReveal(Number(reveal.value)));

function extensionFor(mime) {
  return { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/webp': 'webp', 'image/avif': 'avif' }[mime] || 'png';
}

function busy(on, text) {
  submit.disabled = on;
  progress.hidden = !on;
  statusLine.textContent = text || '';
}

function send(data) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/web/remove');
    xhr.responseType = 'blob';
    xhr.setRequestHeader('X-CSRF-Token', csrfToken());
    xhr.upload.addEventListener('progress', (e) => {
      if (!e.lengthComputable) return;
      const pct = Math.round((e.loaded / e.total) * 100);
      progress.value = pct;
      statusLine.textContent = `Uploading… ${pct}%`;
    });
    xhr.upload.addEventListener('load', () => {
      progress.removeAttribute('value');  // indeterminate while the model runs
      statusLine.textContent = 'Removing the background…';
    });
    xhr.addEventListener('load', () => resolve(xhr));
    xhr.addEventListener('error', () => resolve(null));
    xhr.addEventListener('timeout', () => resolve(null));
    xhr.send(data);
  });
}

form.addEventListener('submit', async (e) => {
  e.preventDefault();
  showError('');
  if (!chosen) {
    showError('Choose an image first.');
    fileInput.focus();
    return;
  }
  if (chosen.size > maxImageBytes()) {
    showError(tooLargeMessage());
    return;
  }
  const data = new FormData();
  data.append('image_file', chosen, chosen.name);
  data.append('format', $('format').value);
  data.append('size', $('size').value);
  data.append('crop', $('crop').checked ? 'true' : 'false');
  data.append('despill', $('despill').checked ? 'true' : 'false');
  data.append('quality_mode', $('quality_mode').value);
  const picture = bgImage.files[0];
  if (picture && picture.size > maxImageBytes()) {
    showError(`The background image: ${tooLargeMessage()}`);
    return;
  }
  if (picture) {
    data.append('bg_image_file', picture, picture.name);
  } else if (useBg.checked) {
    data.append('bg_color', bgColor.value);
  }
  data.append('add_shadow', $('add_shadow').checked ? 'true' : 'false');
  if (document.body.dataset.signedIn === 'true') {
    data.append('store', $('store').checked ? 'true' : 'false');
    const holder = $('on_behalf_of').value.trim();
    if (holder) data.append('on_behalf_of', holder);
  }
  progress.value = 0;
  busy(true, 'Uploading…');
  const xhr = await send(data);
  if (!xhr || xhr.status === 0) {
    busy(false);
    showError(describeError(0, null));
    return;
  }
  if (xhr.status !== 200) {
    let body = null;
    try { body = JSON.parse(await xhr.response.text()); } catch { /* not JSON */ }
    busy(false);
    showError(describeError(xhr.status, body));
    return;
  }
  const blob = xhr.response;
  const mime = (xhr.getResponseHeader('Content-Type') || blob.type).split(';')[0];
  if (beforeUrl) URL.revokeObjectURL(beforeUrl);
  if (afterUrl) URL.revokeObjectURL(afterUrl);
  beforeUrl = URL.createObjectURL(chosen);
  afterUrl = URL.createObjectURL(new Blob([blob], { type: mime }));
  const width = xhr.getResponseHeader('X-Image-Width');
  const height = xhr.getResponseHeader('X-Image-Height');
  const ms = xhr.getResponseHeader('X-Processing-Time-Ms');
  const stored = xhr.getResponseHeader('X-Stored-Item-Id');

  await Promise.all([
    new Promise((r) => { after.onload = r; after.onerror = r; after.src = afterUrl; }),
    new Promise((r) => { before.onload = r; before.onerror = r; before.src = beforeUrl; }),
  ]);
  // The slider overlays the two only when they have the same shape (no crop); otherwise the
  // result is shown beside the original.
  const sameShape = before.naturalWidth > 0 && after.naturalWidth > 0 &&
    Math.abs(before.naturalWidth / before.naturalHeight - after.naturalWidth / after.naturalHeight) < 0.01;
  // Some inputs (HEIC, TIFF) have no preview in the browser: then only the result is shown.
  const previewed = before.naturalWidth > 0;
  before.parentElement.hidden = !previewed;
  compare.classList.toggle('side', !sameShape && previewed);
  compare.classList.toggle('single', !previewed);
  $('slider-row').hidden = !sameShape;
  compare.style.maxWidth = sameShape ? `${Math.min(after.naturalWidth, 900)}px` : '';
  reveal.value = 50;
  setReveal(sameShape ? 50 : 100);

  const base = chosen.name.replace(/\.[^.]+$/, '') || 'image';
  download.href = afterUrl;
  download.download = `${base}-cutout.${extensionFor(mime)}`;
  download.textContent = `Download ${extensionFor(mime).toUpperCase()} (${formatBytes(blob.size)})`;
  $('result-facts').textContent =
    `${width} × ${height} px, ${formatBytes(blob.size)}, ${(Number(ms) / 1000).toFixed(1)} s.` +
    (stored ? ' Kept for later — see Your data on the account page.' : ' Nothing was stored.');
  result.hidden = false;
  busy(false, previewed ? 'Done.' : 'Done. This browser cannot show the original’s format, so only the result is shown.');
  $('result-h').setAttribute('tabindex', '-1');
  $('result-h').focus();
});
