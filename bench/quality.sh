#!/usr/bin/env bash
# make bench-quality DIR=...: the whole pipeline (`bgerase remove --channels alpha`) in every
# precision this CPU runs, on a folder of photos with true alpha (DIR/img/*.jpg, DIR/gt/*.png),
# scored at full resolution by bench/score_masks.py: MAE, IoU, edge-band error, and each
# precision's mean |diff| against fp32. A measurement, never a test.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:?usage: bench/quality.sh DIR (with img/ and gt/)}
OUT=build/bench/quality${DNNL_MAX_CPU_ISA:+-$DNNL_MAX_CPU_ISA}
rm -rf "$OUT" && mkdir -p "$OUT"
runs=()
for p in fp32 bf16 int8; do
  if ./build/bgerase remove "$DIR/img" --out-dir "$OUT/$p" --channels alpha --format png \
      --precision "$p" --json >"$OUT/$p.jsonl" 2>"$OUT/$p.err"; then
    runs+=("$p=$OUT/$p")
  else
    echo "$p: not run on this CPU ($(grep -m1 -o 'unsupported_precision[^)]*' "$OUT/$p.err" || tail -1 "$OUT/$p.err"))"
  fi
done
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); oneDNN $(./build/bgerase info | grep cpu: | sed 's/cpu: *//')${DNNL_MAX_CPU_ISA:+ (DNNL_MAX_CPU_ISA=$DNNL_MAX_CPU_ISA)}"
/usr/bin/python3 bench/score_masks.py "$DIR/gt" "${runs[@]}"
