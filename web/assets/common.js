// Shared by the page scripts: the page's CSRF token, JSON calls with readable errors, and the
// formatting of sizes and times.

export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : '';
}

// The largest upload the server takes, in bytes, as the page was rendered with it.
export function maxImageBytes() {
  const meta = document.querySelector('meta[name="max-image-bytes"]');
  return meta ? Number(meta.content) : Infinity;
}

export function tooLargeMessage() {
  return `The file is larger than ${Math.round(maxImageBytes() / 1e6)} MB. Make it smaller and retry.`;
}

// What to tell the customer for each error code the server can answer.
const kMessages = {
  bad_request: 'The request was not understood. Pick the image again and retry.',
  unsupported_image: 'This file is not an image type bgerase reads (PNG, JPEG, WebP, AVIF, HEIC, TIFF or GIF).',
  corrupt_image: 'The image is damaged or cut short; try another copy of it.',
  invalid_bg_color: 'The background colour is not a colour.',
  image_too_large: 'The image has more than 100 megapixels. Make it smaller and retry.',
  validation_error: 'Some options are not valid.',
  rate_limited: 'Too many tries at once. Wait a moment and retry.',
  login_rate_limited: 'Too many sign-in attempts. Wait a moment and retry.',
  overloaded: 'The server is busy right now. Retry in a few seconds.',
  not_ready: 'The server is still starting. Retry in a few seconds.',
  csrf_failed: 'This page has expired. Reload it and retry.',
  not_signed_in: 'You are signed out. Sign in again and retry.',
  not_found: 'That no longer exists — it may have been deleted or expired.',
  confirmation_required: 'Type your email address exactly as shown to confirm.',
  internal_error: 'Something went wrong on our side. Retry, and tell your administrator if it keeps happening.',
};

// A readable sentence for an error answer ({error:{code,message,details}}), whatever its form.
export function describeError(status, body) {
  const err = body && body.error;
  if (!err) {
    if (status === 0) return 'The server could not be reached. Check your connection and retry.';
    return `The server answered ${status}.`;
  }
  let text = err.code === 'payload_too_large' ? tooLargeMessage()
    : kMessages[err.code] || err.message || `The server answered ${status}.`;
  if (err.code === 'validation_error' && Array.isArray(err.details) && err.details.length) {
    text += ' ' + err.details.map((d) => d.msg).join(' ');
  } else if ((err.code === 'rate_limited' || err.code === 'bad_request') && err.message) {
    text = err.message;
  }
  return text;
}

export class ApiError extends Error {
  constructor(status, body) {
    super(describeError(status, body));
    this.status = status;
    this.code = body && body.error ? body.error.code : '';
  }
}

// fetch() for the account endpoints: sends the CSRF token, parses JSON, throws ApiError.
export async function callJson(method, url, body) {
  const headers = { 'X-CSRF-Token': csrfToken(), Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(url, {
      method, headers, credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, null);
  }
  let parsed = null;
  try { parsed = await res.json(); } catch { /* not JSON */ }
  if (res.status === 401 && parsed && parsed.error && parsed.error.code === 'not_signed_in') {
    window.location.assign('/login?next=' + encodeURIComponent(window.location.pathname));
  }
  if (!res.ok) throw new ApiError(res.status, parsed);
  return parsed;
}

export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10240 ? 1 : 0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

const kDateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const kDay = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', timeZone: 'UTC' });

export function formatDateTime(iso) {
  return kDateTime.format(new Date(iso));
}

// "Nov 27" for a "YYYY-MM-DD" UTC day.
export function formatDay(day) {
  return kDay.format(new Date(day + 'T00:00:00Z'));
}

// "just now", "5 minutes ago", "3 days ago".
export function relativeTime(iso, now = Date.now()) {
  const s = Math.round((now - new Date(iso).getTime()) / 1000);
  if (s < 45) return 'just now';
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
  if (s < 3600) return rtf.format(-Math.round(s / 60), 'minute');
  if (s < 86400) return rtf.format(-Math.round(s / 3600), 'hour');
  return rtf.format(-Math.round(s / 86400), 'day');
}

// "23 h 04 min 09 s" until `iso`; "now" once it has passed.
export function countdown(iso, now = Date.now()) {
  let s = Math.max(0, Math.floor((new Date(iso).getTime() - now) / 1000));
  if (s === 0) return 'now';
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  const pad = (v) => String(v).padStart(2, '0');
  return h > 0 ? `${h} h ${pad(m)} min ${pad(s)} s` : m > 0 ? `${m} min ${pad(s)} s` : `${s} s`;
}
