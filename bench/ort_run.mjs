// Runs an ONNX model with ONNX Runtime (npm onnxruntime-node) on raw float32 tensors: the
// peer for parity tests and benchmarks. Never used by bgerase itself.
//   node bench/ort_run.mjs MODEL.onnx --input a.bin [--input b.bin] [--shape 1,3,1024,1024]
//        [--out-dir DIR] [--threads N] [--repeat R] [--warmup W] [--output NAME]
// Prints one JSON line: load_ms, median_ms, runs, peak_rss_bytes.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const ort = require('onnxruntime-node');

const args = process.argv.slice(2);
const model = args[0];
const opt = { input: [], shape: '1,3,1024,1024', threads: 0, repeat: 1, warmup: 0, output: 'output' };
for (let i = 1; i < args.length; i += 2) {
  const key = args[i].replace(/^--/, '').replace(/-/g, '_');
  if (key === 'input') opt.input.push(args[i + 1]);
  else opt[key] = args[i + 1];
}
const shape = opt.shape.split(',').map(Number);
const threads = Number(opt.threads) || 0;

const t0 = performance.now();
const session = await ort.InferenceSession.create(model, {
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
});
const loadMs = performance.now() - t0;
const inputName = session.inputNames[0];
const times = [];
for (let i = 0; i < opt.input.length; i++) {
  const buf = fs.readFileSync(opt.input[i]);
  const data = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  const tensor = new ort.Tensor('float32', data, shape);
  let out;
  for (let r = 0; r < Number(opt.warmup) + Number(opt.repeat); r++) {
    const t = performance.now();
    out = await session.run({ [inputName]: tensor }, [opt.output]);
    if (r >= Number(opt.warmup)) times.push(performance.now() - t);
  }
  if (opt.out_dir) {
    const o = out[opt.output].data;
    fs.writeFileSync(path.join(opt.out_dir, `${i}.out.bin`), Buffer.from(o.buffer, o.byteOffset, o.byteLength));
  }
}
times.sort((a, b) => a - b);
console.log(JSON.stringify({
  peer: `onnxruntime-node ${require('onnxruntime-node/package.json').version}`,
  threads,
  load_ms: +loadMs.toFixed(1),
  median_ms: times.length ? +times[Math.floor(times.length / 2)].toFixed(1) : 0,
  runs: times.length,
  peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
}));
