#!/usr/bin/env bash
# run-checked must fail a test when a process the test started reported, even though the test
# itself ignored that process's exit status and stderr and exited 0; and must not fail a clean one.
#   harness_test.sh CANARY SANITIZERS   (SANITIZERS: address,undefined or thread)
set -uo pipefail
canary=$1
sanitize=$2
run=$(dirname "$0")/run-checked
fails=0

expect() {  # MODE STATUS(0 or "fail") REGEX
  local out status
  out=$("$run" --sanitize="$sanitize" "$canary" spawn "$1" 2>&1)
  status=$?
  if [[ $2 == 0 ]]; then
    if ((status != 0)); then echo "FAIL: $1: status $status, expected 0"; echo "$out"; fails=1; else echo "ok: $1"; fi
    return
  fi
  if ((status == 0)); then echo "FAIL: $1: the report did not fail the run"; echo "$out"; fails=1; fi
  if ! [[ $out =~ $3 ]]; then echo "FAIL: $1: nothing matching '$3' in the output:"; echo "$out"; fails=1; fi
  [[ $out == *"run-checked: "*"sanitizer report"* ]] || { echo "FAIL: $1: no summary line"; fails=1; }
  echo "ok: $1 (status $status)"
}

expect clean 0
if [[ $sanitize == *address* ]]; then
  expect oob fail "ERROR: AddressSanitizer: heap-buffer-overflow"
  expect leak fail "ERROR: LeakSanitizer: detected memory leaks"
fi
if [[ $sanitize == *undefined* ]]; then
  # UBSan's text, or with BGERASE_UBSAN_TRAP (g++ with ASan) the trap as ASan reports it.
  expect overflow fail "signed integer overflow|ERROR: AddressSanitizer: ILL"
fi
if [[ $sanitize == *thread* ]]; then
  expect race fail "WARNING: ThreadSanitizer: data race"
fi
exit $fails
