#!/usr/bin/env bash
# make bench-e2e: `bgerase remove` against @imgly/background-removal-node on the same real
# photographs (Debian's python3-skimage data) in one run: per-image median latency with the
# model loaded, batch wall time and peak RSS, with ratios. A benchmark, never a test.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=build/bench/e2e
rm -rf "$OUT" && mkdir -p "$OUT/in"
D=/usr/lib/python3/dist-packages/skimage/data
for f in astronaut.png coffee.png chelsea.png rocket.jpg motorcycle_left.png; do cp "$D/$f" "$OUT/in/"; done
PHOTOS=("$OUT"/in/*)

/usr/bin/time -v node bench/imgly_run.mjs "$OUT/imgly" "${PHOTOS[@]}" >"$OUT/imgly.json" 2>"$OUT/imgly.time"
start=$(date +%s.%N)
/usr/bin/time -v ./build/bgerase remove "$OUT/in" --out-dir "$OUT/bgerase" --json \
  >"$OUT/bgerase.jsonl" 2>"$OUT/bgerase.time"
end=$(date +%s.%N)

node - "$OUT" "$start" "$end" <<'JS'
const fs = require('fs');
const [out, start, end] = process.argv.slice(2);
const rss = (f) => +/Maximum resident set size \(kbytes\): (\d+)/.exec(fs.readFileSync(f, 'utf8'))[1] * 1024;
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const imgly = JSON.parse(fs.readFileSync(`${out}/imgly.json`, 'utf8'));
const ours = fs.readFileSync(`${out}/bgerase.jsonl`, 'utf8').trim().split('\n').map(JSON.parse);
const ourMs = ours.map((j) => j.ms);
const im = imgly.median_ms, om = median(ourMs);
const ir = rss(`${out}/imgly.time`), or = rss(`${out}/bgerase.time`);
console.log(`e2e benchmark: ${ours.length} photos (${ours.map((j) => `${j.width}x${j.height}`).join(', ')})`);
console.log(`${'runtime'.padEnd(40)} ${'median_ms'.padStart(10)} ${'ratio'.padStart(7)} ${'peak_rss_MB'.padStart(12)} ${'ratio'.padStart(7)}`);
console.log(`${imgly.peer.padEnd(40)} ${im.toFixed(1).padStart(10)} ${'1.00'.padStart(7)} ${(ir / 1048576).toFixed(0).padStart(12)} ${'1.00'.padStart(7)}`);
console.log(`${'bgerase remove (auto precision)'.padEnd(40)} ${om.toFixed(1).padStart(10)} ${(om / im).toFixed(2).padStart(7)} ${(or / 1048576).toFixed(0).padStart(12)} ${(or / ir).toFixed(2).padStart(7)}`);
console.log(`bgerase batch wall time incl. model load: ${(end - start).toFixed(1)} s; per-image ms: ${ourMs.join(', ')}`);
console.log(`imgly per-image ms: ${imgly.ms.join(', ')}`);
JS
