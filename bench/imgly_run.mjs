// The end-to-end peer: @imgly/background-removal-node (npm, ISNet "medium" on onnxruntime-node)
// removing backgrounds from the given photos, one after another in one process, after one
// warm-up call so the model is loaded. Never used by bgerase itself.
//   node bench/imgly_run.mjs OUT_DIR photo...
// Prints one JSON line: per-image milliseconds, median, peak RSS.
import fs from 'node:fs';
import path from 'node:path';
import { removeBackground } from '@imgly/background-removal-node';

const [outDir, ...photos] = process.argv.slice(2);
fs.mkdirSync(outDir, { recursive: true });
const config = { model: 'medium', output: { format: 'image/png' } };
const blobOf = (p) => new Blob([fs.readFileSync(p)], { type: p.endsWith('.png') ? 'image/png' : 'image/jpeg' });

await removeBackground(blobOf(photos[0]), config);  // warm-up: loads the model
const times = [];
for (const p of photos) {
  const t = performance.now();
  const blob = await removeBackground(blobOf(p), config);
  const out = Buffer.from(await blob.arrayBuffer());
  times.push(performance.now() - t);
  fs.writeFileSync(path.join(outDir, path.basename(p).replace(/\.\w+$/, '.png')), out);
}
const sorted = [...times].sort((a, b) => a - b);
console.log(JSON.stringify({
  peer: '@imgly/background-removal-node 1.4.5',
  ms: times.map((t) => +t.toFixed(1)),
  median_ms: +sorted[Math.floor(sorted.length / 2)].toFixed(1),
  peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
}));
