// make bench-load: drives a real `bgerase serve` on loopback with concurrent clients posting
// real photographs to POST /v2, and measures the CLI's batch throughput on the same photos before
// and after it. Reports images/s, p50/p95/p99 latency, status counts, the server's RSS after
// 100 and after 1000 requests, and the ratios the issue asks for. A benchmark, never a test.
//   node bench/load.mjs [--clients 4] [--seconds 60] [--requests 1000]
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const args = Object.fromEntries(process.argv.slice(2).reduce((a, v, i, all) =>
  (v.startsWith('--') ? [...a, [v.slice(2), all[i + 1]]] : a), []));
const clients = +(args.clients ?? 4), seconds = +(args.seconds ?? 60), target = +(args.requests ?? 1000);
const bin = path.resolve('build/bgerase');
const photosDir = '/usr/lib/python3/dist-packages/skimage/data';
const photos = ['astronaut.png', 'coffee.png', 'chelsea.png', 'rocket.jpg', 'motorcycle_left.png']
  .map((f) => ({ name: f, bytes: fs.readFileSync(path.join(photosDir, f)) }));
const data = fs.mkdtempSync(path.join(os.tmpdir(), 'bgerase-load-'));
const port = 18000 + (process.pid % 1000);

// The CLI's batch throughput on the same photos, after its model load (its own summary times the
// batch from the first image, as a running server is already loaded). Run before and after the
// server, so both see the same machine state, and compared with their mean.
function cliBatch(copies) {
  const batch = fs.mkdtempSync(path.join(os.tmpdir(), 'bgerase-load-cli-'));
  for (let r = 0; r < copies; r++) for (const p of photos) fs.writeFileSync(path.join(batch, `${r}-${p.name}`), p.bytes);
  const cli = spawnSync(bin, ['remove', batch, '--out-dir', `${batch}-out`, '--json']);
  const images = cli.stdout.toString().trim().split('\n').length;
  const processing = +/processed, \d+ failed, ([\d.]+) s/.exec(cli.stderr.toString())[1];
  fs.rmSync(batch, { recursive: true, force: true });
  fs.rmSync(`${batch}-out`, { recursive: true, force: true });
  return { images, processing, rate: images / processing };
}
const cliBefore = cliBatch(8);

execFileSync(bin, ['admin', 'create-account', 'load@example.com', '--data', data]);
const key = execFileSync(bin, ['admin', 'create-key', 'load@example.com', '--data', data]).toString().trim();
const server = spawn(bin, ['serve', '--host', '127.0.0.1', '--port', String(port), '--data', data,
  '--workers', '1', '--max-queue', String(clients * 2), '--quiet'], { stdio: ['ignore', 'ignore', 'inherit'] });
const base = `http://127.0.0.1:${port}`;
const rss = () => +/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${server.pid}/status`, 'utf8'))[1] * 1024;
for (let i = 0; i < 300; i++) {
  try { if ((await fetch(`${base}/v2/health`)).status === 200) break; } catch {}
  await new Promise((r) => setTimeout(r, 200));
}

const statuses = {}, latencies = [];
let sent = 0, rss100 = 0, rss1000 = 0;
const start = performance.now();
const deadline = start + seconds * 1000;
async function client(c) {
  for (let i = c; performance.now() < deadline || sent < target; i += clients) {
    const p = photos[i % photos.length];
    const form = new FormData();
    form.append('image_file', new Blob([p.bytes]), p.name);
    const t = performance.now();
    const res = await fetch(`${base}/v2`, { method: 'POST', headers: { 'x-api-key': key }, body: form });
    await res.arrayBuffer();
    statuses[res.status] = (statuses[res.status] ?? 0) + 1;
    if (res.status === 200) latencies.push(performance.now() - t);
    else await new Promise((r) => setTimeout(r, 1000 * +(res.headers.get('retry-after') ?? 1)));
    if (++sent === 100) rss100 = rss();
    if (sent === 1000) rss1000 = rss();
  }
}
await Promise.all([...Array(clients).keys()].map(client));
const elapsed = (performance.now() - start) / 1000;
server.kill('SIGTERM');
await new Promise((r) => server.on('exit', r));

const cliAfter = cliBatch(8);
const cliRate = (cliBefore.rate + cliAfter.rate) / 2;

latencies.sort((a, b) => a - b);
const pct = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))].toFixed(0);
const ok = statuses[200] ?? 0;
console.log(`load: ${clients} clients, ${elapsed.toFixed(0)} s, ${sent} requests, statuses ${JSON.stringify(statuses)}`);
console.log(`server: ${(ok / elapsed).toFixed(2)} images/s; latency p50 ${pct(0.5)} ms, p95 ${pct(0.95)} ms, p99 ${pct(0.99)} ms`);
for (const [when, c] of [['before', cliBefore], ['after', cliAfter]])
  console.log(`CLI batch ${when}: ${c.images} images in ${c.processing.toFixed(1)} s after model load: ${c.rate.toFixed(2)} images/s`);
console.log(`server/CLI (mean of both CLI runs, ${cliRate.toFixed(2)} images/s): ${((ok / elapsed) / cliRate).toFixed(2)}`);
console.log(`server RSS after 100 requests ${(rss100 / 1048576).toFixed(0)} MB, after 1000 ${(rss1000 / 1048576).toFixed(0)} MB, ratio ${(rss1000 / rss100).toFixed(2)}`);
fs.rmSync(data, { recursive: true, force: true });
