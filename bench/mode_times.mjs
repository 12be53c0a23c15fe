// Median milliseconds per photo, by size class, from `bgerase remove --json` lines (one file per
// quality mode), with each mode's ratio to the first: what balanced and best cost over fast.
//   node bench/mode_times.mjs fast=FILE.jsonl balanced=FILE.jsonl best=FILE.jsonl
// A photo's size class is its megapixels rounded (from the output's width x height).
import fs from 'node:fs';

const runs = process.argv.slice(2).map((a) => a.split('='));
const median = (v) => [...v].sort((a, b) => a - b)[v.length >> 1];
const table = runs.map(([name, file]) => {
  const by = {};
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    const j = JSON.parse(line);
    if (!j.ms) continue;
    const mp = Math.max(1, Math.round((j.width * j.height) / 1e6));
    (by[mp] ||= []).push(j.ms);
  }
  return [name, by];
});
const sizes = Object.keys(table[0][1]).map(Number).sort((a, b) => a - b);
console.log(['mode'.padEnd(10), ...sizes.map((s) => `${s} MP ms (x ${table[0][0]})`.padStart(22))].join(''));
for (const [name, by] of table) {
  console.log([name.padEnd(10), ...sizes.map((s) => {
    const m = median(by[s] || [NaN]), ref = median(table[0][1][s]);
    return `${m.toFixed(0)} (${(m / ref).toFixed(2)})`.padStart(22);
  })].join(''));
}
