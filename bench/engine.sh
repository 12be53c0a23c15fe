#!/usr/bin/env bash
# make bench-engine: ONNX Runtime (npm onnxruntime-node, fp32 copy of the model) and our engine
# in every precision (fp32, bf16, int8), same input, same thread count, in one run. Prints
# medians, peak RSS and ratios; a precision this CPU cannot run is marked, never fatal. A
# benchmark, never a test. Env: THREADS (default: cores), REPEAT (default 5), and
# DNNL_MAX_CPU_ISA=AVX2 (or SSE41) to measure a lesser CPU class on this one (ORT ignores it).
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-$(nproc)}
REPEAT=${REPEAT:-5}
OUT=build/bench
mkdir -p "$OUT"
BGERASE=./build/bgerase

[[ -f $OUT/isnet-fp32.onnx ]] || $BGERASE models convert-fp32 "$OUT/isnet-fp32.onnx"
# A deterministic input tensor: timing does not depend on the pixels.
[[ -f $OUT/input.bin ]] || node -e '
  const n = 3 * 1024 * 1024, a = new Float32Array(n); let s = 1;
  for (let i = 0; i < n; i++) { s = (s * 1664525 + 1013904223) >>> 0; a[i] = s / 4294967296 - 0.5; }
  require("fs").writeFileSync(process.argv[1], Buffer.from(a.buffer));' "$OUT/input.bin"

rss() { grep "Maximum resident" "$1" | awk '{print $6 * 1024}'; }
field() { node -e 'const j=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8").trim().split("\n").pop()); console.log(j[process.argv[2]])' "$1" "$2"; }

echo "engine benchmark: 1x3x1024x1024, threads=$THREADS, warmup 1, repeat $REPEAT"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); oneDNN $(./build/bgerase info | grep cpu: | sed 's/cpu: *//')${DNNL_MAX_CPU_ISA:+ (capped by DNNL_MAX_CPU_ISA=$DNNL_MAX_CPU_ISA)}"
/usr/bin/time -v node bench/ort_run.mjs "$OUT/isnet-fp32.onnx" --input "$OUT/input.bin" \
  --threads "$THREADS" --warmup 1 --repeat "$REPEAT" >"$OUT/ort.json" 2>"$OUT/ort.time"
PRECISIONS=(fp32 bf16 int8)
for p in "${PRECISIONS[@]}"; do
  if ! /usr/bin/time -v $BGERASE engine run --input "$OUT/input.bin" --precision $p \
    --threads "$THREADS" --warmup 1 --repeat "$REPEAT" >"$OUT/$p.json" 2>"$OUT/$p.time"; then
    grep -m1 '^error' "$OUT/$p.time" >"$OUT/$p.refused" || echo "error: failed" >"$OUT/$p.refused"
  else
    rm -f "$OUT/$p.refused"
  fi
done

ort_ms=$(field "$OUT/ort.json" median_ms)
ort_rss=$(rss "$OUT/ort.time")
printf '%-22s %10s %8s %12s %8s\n' runtime median_ms ratio peak_rss_MB ratio
printf '%-22s %10.1f %8s %12.0f %8s\n' "onnxruntime-node fp32" "$ort_ms" "1.00" "$((ort_rss / 1048576))" "1.00"
for p in "${PRECISIONS[@]}"; do
  if [[ -f $OUT/$p.refused ]]; then
    printf '%-22s not supported on this CPU (%s)\n' "bgerase $p" "$(cut -c1-90 "$OUT/$p.refused")"
    continue
  fi
  ms=$(field "$OUT/$p.json" median_ms)
  r=$(rss "$OUT/$p.time")
  printf '%-22s %10.1f %8.2f %12.0f %8.2f\n' "bgerase $p" "$ms" "$(awk "BEGIN{print $ms / $ort_ms}")" \
    "$((r / 1048576))" "$(awk "BEGIN{print $r / $ort_rss}")"
done
