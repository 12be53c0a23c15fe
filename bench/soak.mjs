// make bench-soak: a real `bgerase serve` on loopback for SOAK_MINUTES (default 10) at its
// capacity — valid POST /v2 requests with real photographs — mixed with hostile clients: trickled
// headers, wrong keys, oversized bodies, 10,000-field forms, JSON nested 10,000 deep and garbage
// multipart. Every minute: valid throughput and p50/p99, every answer by status, and the server's
// RSS and open fds (/proc/PID). It fails (exit 1) on a crash, an answer other than the intended
// ones (2xx; 4xx to hostile clients; 503 overloaded), a valid request without an answer, or RSS
// or fds growing (last minute over 1.1x the second). A benchmark, never a test.
//   SOAK_MINUTES=3 node bench/soak.mjs [--clients 3]
import { spawn, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const args = Object.fromEntries(process.argv.slice(2).reduce((a, v, i, all) =>
  (v.startsWith('--') ? [...a, [v.slice(2), all[i + 1]]] : a), []));
const minutes = +(process.env.SOAK_MINUTES ?? 10);
const clients = +(args.clients ?? 3);
const bin = path.resolve('build/bgerase');
const photosDir = '/usr/lib/python3/dist-packages/skimage/data';
const photos = ['coffee.png', 'chelsea.png', 'astronaut.png', 'rocket.jpg']
  .map((f) => ({ name: f, bytes: fs.readFileSync(path.join(photosDir, f)) }));
const data = fs.mkdtempSync(path.join(os.tmpdir(), 'bgerase-soak-'));
const port = 19000 + (process.pid % 1000);

execFileSync(bin, ['admin', 'create-account', 'soak@example.com', '--data', data]);
const key = execFileSync(bin, ['admin', 'create-key', 'soak@example.com', '--data', data]).toString().trim();
const server = spawn(bin, ['serve', '--host', '127.0.0.1', '--port', String(port), '--data', data,
  '--max-queue', String(clients), '--quiet'], { stdio: ['ignore', 'ignore', 'pipe'] });
let serverLog = '', exited = null;
server.stderr.on('data', (d) => { serverLog = (serverLog + d).slice(-20000); });
server.on('exit', (code, signal) => { exited = { code, signal }; });
for (let i = 0; i < 600; i++) {
  const ok = await request({ method: 'GET', path: '/v2/health' }).then((r) => r.status === 200, () => false);
  if (ok) break;
  await sleep(200);
}

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

// One HTTP request from `from` (a loopback address: hostile clients use their own, so the
// per-address wrong-key throttle never reaches the valid clients). Resolves {status, ms}.
function request({ method = 'POST', path: p = '/v2', headers = {}, body, from = '127.0.0.1', timeout = 120000 }) {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const req = http.request({ host: '127.0.0.1', port, method, path: p, headers, localAddress: from,
      agent: false, timeout }, (res) => {
      res.on('data', () => {});
      res.on('end', () => resolve({ status: res.statusCode, ms: performance.now() - t }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    if (body) req.end(body); else req.end();
  });
}

function multipart(parts) {
  const boundary = '----soak' + crypto.randomBytes(8).toString('hex');
  const chunks = [];
  for (const { name, value, filename } of parts) {
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"` +
      (filename ? `; filename="${filename}"\r\nContent-Type: application/octet-stream` : '') + '\r\n\r\n'));
    chunks.push(Buffer.isBuffer(value) ? value : Buffer.from(value));
    chunks.push(Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), type: `multipart/form-data; boundary=${boundary}` };
}

// Per minute: valid latencies and statuses; hostile statuses per kind.
const minuteStats = () => ({ latencies: [], valid: {}, hostile: {} });
let current = minuteStats();
const unexpected = [];
const count = (bucket, k) => { bucket[k] = (bucket[k] ?? 0) + 1; };
const hostileAllowed = new Set([400, 401, 403, 404, 405, 408, 411, 413, 414, 422, 429, 431, 503]);
function hostile(kind, status) {
  count(current.hostile, `${kind} ${status}`);
  if (typeof status === 'number' && !hostileAllowed.has(status) && !(status >= 200 && status < 300))
    unexpected.push(`${kind}: ${status}`);
}

const start = performance.now();
const deadline = start + minutes * 60000;
const running = () => performance.now() < deadline && !exited;

async function validClient(c) {
  for (let i = c; running(); i += clients) {
    const p = photos[i % photos.length];
    const { body, type } = multipart([{ name: 'image_file', value: p.bytes, filename: p.name }]);
    try {
      const r = await request({ headers: { 'x-api-key': key, 'content-type': type, 'content-length': body.length }, body });
      count(current.valid, r.status);
      if (r.status === 200) current.latencies.push(r.ms);
      else if (r.status === 503) await sleep(200);
      else unexpected.push(`valid: ${r.status}`);
    } catch (e) {
      count(current.valid, 'no answer');
      if (running()) unexpected.push(`valid: ${e.message}`);
    }
  }
}

// Trickled headers: one byte a second; the server's header deadline ends each (408 or close).
async function slowHeaders() {
  while (running()) {
    await new Promise((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.4' });
      let answer = '';
      const line = 'POST /v2 HTTP/1.1\r\nHost: soak\r\nX-Slow: ' + 'a'.repeat(1000);
      let at = 0;
      const timer = setInterval(() => { if (at < line.length) s.write(line[at++]); }, 1000);
      s.on('data', (d) => { answer += d; });
      s.on('error', () => {});
      s.on('close', () => {
        clearInterval(timer);
        const m = /^HTTP\/1\.1 (\d+)/.exec(answer);
        hostile('slow headers', m ? +m[1] : 'closed');
        resolve();
      });
      setTimeout(() => s.destroy(), 60000);
    });
  }
}

async function hostileLoop(kind, make, from, pauseMs) {
  while (running()) {
    const { headers, body, method, path: p } = make();
    try {
      const r = await request({ method, path: p, headers, body, from, timeout: 30000 });
      hostile(kind, r.status);
    } catch (e) {
      // An oversized body is answered 413 and the connection closed while it is still sent.
      hostile(kind, e.code === 'EPIPE' || e.code === 'ECONNRESET' ? 'closed' : e.message);
    }
    await sleep(pauseMs);
  }
}

const auth = { 'x-api-key': key };
const wrongKey = () => ({ method: 'GET', path: '/v2/account',
  headers: { 'x-api-key': 'bge_' + crypto.randomBytes(32).toString('hex') } });
const oversized = () => {
  const body = Buffer.alloc(50 * 1024 * 1024, 0x41);
  return { headers: { ...auth, 'content-type': 'application/octet-stream', 'content-length': body.length }, body };
};
const manyFields = () => {
  const fields = [...Array(10000).keys()].map((i) => ({ name: `f${i}`, value: 'x' }));
  const { body, type } = multipart(fields);
  return { headers: { ...auth, 'content-type': type, 'content-length': body.length }, body };
};
const deepJson = () => {
  const body = Buffer.from('{"image_url":' + '['.repeat(10000) + ']'.repeat(10000) + '}');
  return { headers: { ...auth, 'content-type': 'application/json', 'content-length': body.length }, body };
};
const garbage = () => {
  const body = crypto.randomBytes(64 * 1024);
  return { headers: { ...auth, 'content-type': 'multipart/form-data; boundary=xyz', 'content-length': body.length }, body };
};

const rssKb = () => +/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${server.pid}/status`, 'utf8'))[1];
const fds = () => fs.readdirSync(`/proc/${server.pid}/fd`).length;
const pct = (xs, q) => (xs.length ? xs[Math.min(xs.length - 1, Math.floor(q * xs.length))].toFixed(0) : '-');
const report = [];
const ticker = setInterval(() => {
  if (exited) return;
  const m = current; current = minuteStats();
  m.latencies.sort((a, b) => a - b);
  const row = { minute: report.length + 1, ok: m.latencies.length, rss: rssKb(), fds: fds() };
  report.push(row);
  console.log(`minute ${row.minute}: ${(row.ok / 60).toFixed(2)} images/s, p50 ${pct(m.latencies, 0.5)} ms, ` +
    `p99 ${pct(m.latencies, 0.99)} ms; valid ${JSON.stringify(m.valid)}; hostile ${JSON.stringify(m.hostile)}; ` +
    `RSS ${(row.rss / 1024).toFixed(0)} MB, ${row.fds} fds`);
}, 60000);

const loops = [...Array(clients).keys()].map(validClient);
for (let i = 0; i < 8; i++) loops.push(slowHeaders());
loops.push(hostileLoop('wrong key', wrongKey, '127.0.0.2', 20));
loops.push(hostileLoop('oversized', oversized, '127.0.0.3', 1000));
loops.push(hostileLoop('10000 fields', manyFields, '127.0.0.3', 250));
loops.push(hostileLoop('json 10000 deep', deepJson, '127.0.0.3', 100));
loops.push(hostileLoop('garbage multipart', garbage, '127.0.0.3', 100));
await Promise.all(loops);
clearInterval(ticker);

let failed = false;
if (exited) {
  console.log(`FAIL: the server exited (${JSON.stringify(exited)}); its log:\n${serverLog}`);
  failed = true;
} else {
  server.kill('SIGTERM');
  await new Promise((r) => server.on('exit', r));
  if (exited.code !== 0) { console.log(`FAIL: exit ${JSON.stringify(exited)} on SIGTERM`); failed = true; }
}
if (unexpected.length) {
  const by = {};
  for (const u of unexpected) count(by, u);
  console.log(`FAIL: unintended answers ${JSON.stringify(by)}`);
  failed = true;
}
if (report.length >= 3) {
  const second = report[1], last = report[report.length - 1];
  const rssRatio = last.rss / second.rss, fdRatio = last.fds / second.fds;
  console.log(`RSS last/second minute ${rssRatio.toFixed(2)}, fds ${fdRatio.toFixed(2)}`);
  if (rssRatio > 1.1 || fdRatio > 1.1) { console.log('FAIL: RSS or fds grew'); failed = true; }
}
const total = report.reduce((s, r) => s + r.ok, 0);
console.log(`soak: ${minutes} min, ${clients} valid clients, ${total} images (${(total / (minutes * 60)).toFixed(2)}/s), ` +
  `${failed ? 'FAILED' : 'no crash, only intended errors'}`);
fs.rmSync(data, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
