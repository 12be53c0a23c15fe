#!/usr/bin/env bash
# make bench-quality [DIR=...]: cut-out quality against exact truth, every quality mode and the
# peer in one run. A measurement, never a test.
#  - The composite set (always): bench/make_composites.py builds it from Debian packages
#    (tuxpaint-stamps-default cut-outs over lomiri-wallpapers-16.04 and python3-skimage photos,
#    1, 4 and 12 MP; true alpha and true foreground colour), once, under build/bench/composites.
#  - DIR (optional): a folder of real photos with hand-made mattes, DIR/img/*.jpg|png and
#    DIR/gt/*.png, scored the same way (no foreground colour there, so no edge-colour column).
# Each set runs `bgerase remove` (RGBA PNG, int8 or what auto picks) with --quality-mode fast,
# balanced and best, and @imgly/background-removal-node (ISNet through onnxruntime-node), then
# bench/score_masks.py prints MAE, MSE, SAD, gradient error, IoU, edge-band MAE, edge colour
# error and the time per photo. PRECISIONS=1 also scores every precision this CPU runs (fast mode).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-}
ROOT=build/bench/quality${DNNL_MAX_CPU_ISA:+-$DNNL_MAX_CPU_ISA}
COMPOSITES=build/bench/composites
PER_SIZE=${PER_SIZE:-6}  # per size: 6 is the set docs/design/quality.md reports
SIZES=${SIZES:-1,4,12}
mkdir -p build/bench
if [[ ! -f $COMPOSITES/.done-$PER_SIZE-$SIZES ]]; then
  rm -rf "$COMPOSITES"
  echo "building the composite set ($PER_SIZE per size) in $COMPOSITES ..."
  /usr/bin/python3 bench/make_composites.py "$COMPOSITES" --per-size "$PER_SIZE" --sizes "$SIZES" >"$ROOT.composites.log" 2>&1 ||
    { cat "$ROOT.composites.log"; exit 1; }
  touch "$COMPOSITES/.done-$PER_SIZE-$SIZES"
fi
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(./build/bgerase info | grep -E '^(cpu|precision):' | tr -s ' ' | paste -sd';')${DNNL_MAX_CPU_ISA:+ (DNNL_MAX_CPU_ISA=$DNNL_MAX_CPU_ISA)}"

# One set: NAME, its photo folder, its truth folder.
run_set() {
  local name=$1 img=$2 gt=$3 out=$ROOT/$1
  rm -rf "$out" && mkdir -p "$out"
  local runs=() photos=("$img"/*)
  echo
  echo "== $name: ${#photos[@]} photos ($img)"
  for mode in fast balanced best; do
    local t0=$SECONDS
    ./build/bgerase remove "$img" --out-dir "$out/$mode" --format png --quality-mode "$mode" \
      --json >"$out/$mode.jsonl" 2>"$out/$mode.err"
    echo "$mode: $((SECONDS - t0)) s for the set"
    runs+=("$mode=$out/$mode")
  done
  node bench/mode_times.mjs fast="$out/fast.jsonl" balanced="$out/balanced.jsonl" best="$out/best.jsonl"
  if [[ ${PRECISIONS:-0} == 1 ]]; then
    for p in fp32 bf16 int8; do
      if ./build/bgerase remove "$img" --out-dir "$out/fast-$p" --format png --quality-mode fast \
          --precision "$p" --json >"$out/fast-$p.jsonl" 2>"$out/fast-$p.err"; then
        runs+=("fast-$p=$out/fast-$p")
      else
        echo "$p: not run on this CPU ($(grep -m1 -o 'unsupported_precision[^)]*' "$out/fast-$p.err" || tail -1 "$out/fast-$p.err"))"
      fi
    done
  fi
  if node bench/imgly_run.mjs "$out/imgly" "${photos[@]}" >"$out/imgly.json" 2>"$out/imgly.err"; then
    echo "imgly: median $(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).median_ms)' "$out/imgly.json") ms per photo"
    runs+=("imgly=$out/imgly")
  else
    echo "imgly: failed ($(tail -1 "$out/imgly.err"))"
  fi
  /usr/bin/python3 bench/score_masks.py "$gt" "${runs[@]}"
}

run_set composites "$COMPOSITES/img" "$COMPOSITES/gt"
[[ -n $DIR ]] && run_set "$(basename "$DIR")" "$DIR/img" "$DIR/gt"
exit 0
