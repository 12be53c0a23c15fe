#!/usr/bin/env bash
# packaging/nginx/bgerase.conf as shipped, in front of the built `bgerase serve`: the file is
# copied with only its listen address, upstream port and certificate paths substituted, and run by
# this machine's nginx (its own prefix, pid, logs and temp folders in a temp dir; never the system
# service, /etc/nginx or ports 80/443) with a self-signed certificate. Checks, over HTTPS:
#   - TLS 1.2 and 1.3 and HTTP/2; POST /v2 with a photo answers 200 and a PNG (timed, and timed
#     straight to bgerase for comparison); /metrics is refused (403);
#   - the client's address reaches bgerase's per-address throttle of wrong keys (loopback source
#     addresses 127.0.0.2 and 127.0.0.3): a throttled address gets 429 even with a valid key while
#     another gets 200; an X-Forwarded-For sent by the client does not change its address, neither
#     to escape the throttle nor to put another address under it;
#   - the body cap is the same byte count in nginx and bgerase: 41,000,000 bytes pass both,
#     41,000,001 get nginx's 413 (before bgerase; with Content-Length and chunked) and bgerase's
#     413 payload_too_large when sent to it directly;
#   - no upload or answer was written to nginx's disk (its temp-file warnings).
# Then, where haproxy is installed, packaging/haproxy/bgerase.cfg the same way (see below).
# Skips (77) without nginx, openssl, curl, python3, the model or the photo. Prints the times as
# min/median/max of TLS_FRONT_POSTS cutouts each way (default 3).
#   tests/packaging/tls_front_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
bgerase=$(realpath "$1")/bgerase
src=$(realpath "$2")
skip() { echo "tls_front_test: skipped: $*"; exit 77; }
nginx=$(PATH=$PATH:/usr/sbin:/sbin command -v nginx) || skip "no nginx"
command -v openssl >/dev/null || skip "no openssl"
command -v curl >/dev/null || skip "no curl"
command -v python3 >/dev/null || skip "no python3"
[[ -f $src/models/isnet-general-fp16.onnx ]] || skip "no model"
photo=/usr/lib/python3/dist-packages/skimage/data/chelsea.png  # python3-skimage (scripts/setup)
[[ -f $photo ]] || skip "no $photo"
"$nginx" -V 2>&1 | grep -q -- --with-http_v2_module || skip "nginx without http_v2"
"$nginx" -V 2>&1 | grep -q -- --with-http_ssl_module || skip "nginx without ssl"

# shellcheck source=nginx_front.sh
source "$(dirname "$0")/nginx_front.sh"

work=$(mktemp -d /tmp/bgerase-tls.XXXXXX)
server=
front=
balancer=
cleanup() {
  local rc=$?
  if [[ -n $balancer ]]; then kill -TERM "$balancer" 2>/dev/null || true; wait "$balancer" 2>/dev/null || true; fi
  if [[ -n $front ]]; then kill -TERM "$front" 2>/dev/null || true; wait "$front" 2>/dev/null || true; fi
  # bgerase last, and killed outright: here the test has failed (the passing path stops it with
  # SIGTERM and checks that it exits 0), so nothing in flight is worth waiting for.
  if [[ -n $server ]]; then kill -KILL "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
fail() {
  echo "tls_front_test: FAIL: $*" >&2
  echo "--- bgerase log" >&2; tail -15 "$work/log" >&2 || true
  echo "--- nginx error log" >&2; tail -15 "$work/nginx-error.log" >&2 || true
  exit 1
}
spread() {  # min/median/max of the numbers given
  printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { printf "%s/%s/%s", v[1], v[int((NR + 1) / 2)], v[NR] }'
}
posts=${TLS_FRONT_POSTS:-3}

# The certificate, for the shipped file's server name.
make_certificate "$work"

# bgerase, as behind the proxy.
"$bgerase" admin create-account a@example.com --data "$work/data" >/dev/null
key=$("$bgerase" admin create-key a@example.com --data "$work/data" 2>/dev/null)
: >"$work/log"
"$bgerase" serve --port 0 --data "$work/data" --model-dir "$src/models" \
  --trusted-proxy 127.0.0.1 >"$work/stdout" 2>"$work/log" &
server=$!
port=
for _ in $(seq 1 600); do
  port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$work/log")
  [[ -n $port ]] && break
  kill -0 "$server" 2>/dev/null || fail "serve exited"
  sleep 0.1
done
[[ -n $port ]] || fail "serve did not listen"
for _ in $(seq 1 1200); do
  curl -sf -o /dev/null "http://127.0.0.1:$port/v2/health" && break
  sleep 0.1
done
curl -sf -o /dev/null "http://127.0.0.1:$port/v2/health" || fail "serve not healthy"

start_nginx_front "$src/packaging/nginx/bgerase.conf" "$work" "$port"

# TLS versions and HTTP/2.
got=$(curl -s -o /dev/null -w '%{http_code} %{http_version}' --http2 "${tls[@]}" "$base/v2/health") || true
[[ $got == "200 2" ]] || fail "GET /v2/health over HTTPS answered '$got', expected '200 2'"
# /metrics is not served to the internet (direct: 200).
got=$(curl -s -o /dev/null -w '%{http_code}' "${tls[@]}" "$base/metrics") || true
[[ $got == 403 ]] || fail "GET /metrics through nginx answered $got, expected 403"
curl -sf -o /dev/null "http://127.0.0.1:$port/metrics" || fail "GET /metrics straight to bgerase failed"
for v in 1.2 1.3; do
  curl -sf -o /dev/null -v "${tls[@]}" --tlsv"$v" --tls-max "$v" "$base/v2/health" 2>"$work/tls-v" ||
    fail "TLS $v refused"
  grep -q "SSL connection using TLSv$v" "$work/tls-v" || fail "TLS $v not negotiated"
done

# A cutout through nginx, and the same straight to bgerase (warmed up first: the first inference
# also pays oneDNN's JIT).
curl -sf -o /dev/null -H "x-api-key: $key" -F "image_file=@$photo" "http://127.0.0.1:$port/v2" ||
  fail "POST /v2 straight to bgerase failed"
times_front=() times_direct=()
for _ in $(seq 1 "$posts"); do
  got=$(curl -s -o "$work/out.png" -D "$work/headers" -w '%{http_code} %{http_version} %{time_total}' \
    --http2 "${tls[@]}" -H "x-api-key: $key" -F "image_file=@$photo" "$base/v2") || true
  read -r code version t <<<"$got"
  [[ $code == 200 && $version == 2 ]] || fail "POST /v2 through nginx answered '$got'"
  grep -qi '^content-type: image/png' "$work/headers" || fail "POST /v2 through nginx: not image/png"
  [[ $(head -c 8 "$work/out.png" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] ||
    fail "POST /v2 through nginx: not a PNG"
  times_front+=("$(printf '%.2f' "$t")")
  got=$(curl -s -o "$work/direct.png" -w '%{http_code} %{time_total}' -H "x-api-key: $key" \
    -F "image_file=@$photo" "http://127.0.0.1:$port/v2") || true
  read -r code t <<<"$got"
  [[ $code == 200 ]] || fail "POST /v2 straight to bgerase answered '$got'"
  times_direct+=("$(printf '%.2f' "$t")")
done
cmp -s "$work/out.png" "$work/direct.png" || fail "the cutout through nginx differs from the direct one"

# The client's address reaches the throttle. Wrong keys from 127.0.0.2 until 429.
n=0 code=
while ((n < 40)); do
  n=$((n + 1))
  code=$(curl -s -o /dev/null -w '%{http_code}' "${tls[@]}" --interface 127.0.0.2 \
    -H "x-api-key: bge_wrong$n" "$base/v2/account") || true
  [[ $code == 429 ]] && break
  [[ $code == 401 ]] || fail "wrong key $n from 127.0.0.2 answered $code"
done
[[ $code == 429 ]] || fail "40 wrong keys from 127.0.0.2 were never throttled"
((n > 20)) || fail "throttled after $n wrong keys, expected more than 20"
wrong_keys=$n
# Then, over one run of curl (so within milliseconds: the address gets a token back each second),
# one more wrong key to empty its bucket and, in order:
#   127.0.0.2, valid key, its own X-Forwarded-For: 10.9.9.9            -> 429 (cannot pick its address)
#   127.0.0.1, valid key, X-Forwarded-For: 127.0.0.2 (the throttled one) -> 200 (cannot take another's;
#     127.0.0.1 is the trusted proxy's own address, where appending to the client's header would fail)
#   127.0.0.3, valid key                                               -> 200 (another address)
#   127.0.0.3, valid key, X-Forwarded-For: 127.0.0.2                   -> 200
#   127.0.0.2, valid key                                               -> 429 (still throttled)
# A token regained in between (a stalled machine) can only turn a 429 into a 200: tried 3 times.
expect="429 429 200 200 200 429"
for attempt in 1 2 3; do
  one=(-s -o /dev/null -w '%{http_code}\n' "${tls[@]}")
  got=$(curl "${one[@]}" --interface 127.0.0.2 -H "x-api-key: bge_wrong_again" "$base/v2/account" \
    --next "${one[@]}" --interface 127.0.0.2 -H "x-api-key: $key" -H "X-Forwarded-For: 10.9.9.9" \
      "$base/v2/account" \
    --next "${one[@]}" --interface 127.0.0.1 -H "x-api-key: $key" -H "X-Forwarded-For: 127.0.0.2" \
      "$base/v2/account" \
    --next "${one[@]}" --interface 127.0.0.3 -H "x-api-key: $key" "$base/v2/account" \
    --next "${one[@]}" --interface 127.0.0.3 -H "x-api-key: $key" -H "X-Forwarded-For: 127.0.0.2" \
      "$base/v2/account" \
    --next "${one[@]}" --interface 127.0.0.2 -H "x-api-key: $key" "$base/v2/account" |
    tr '\n' ' ' | sed 's/ $//') || true
  # The first answer is 401 or 429, depending on whether a token had come back.
  [[ ${got#* } == "${expect#* }" && ${got%% *} =~ ^(401|429)$ ]] && break
  ((attempt < 3)) || fail "throttle checks answered '$got', expected '(401|429) ${expect#* }'"
  sleep 0.2
done
# bgerase's access log carries no client address (docs/reference/api.md): it shows the 429s came
# from bgerase, after nginx.
grep -q '"route":"/v2/account","status":429' "$work/log" || fail "no 429 in bgerase's access log"

# The body cap. JSON bodies: at the cap bgerase reads it all and answers 400 (not JSON), so an
# answer other than 413 shows it passed both caps.
head -c 41000000 /dev/zero >"$work/at-cap"
head -c 41000001 /dev/zero >"$work/over-cap"
post() {  # post URL FILE [curl options]: prints "status body-start"
  local url=$1 file=$2; shift 2
  local code
  code=$(curl -s -o "$work/answer" -w '%{http_code} %{time_total}' -H "x-api-key: $key" \
    -H "Content-Type: application/json" --data-binary "@$file" "$@" "$url") || true
  printf '%.2f\n' "${code#* }" >"$work/answer-time"
  echo "${code%% *} $(head -c 200 "$work/answer" | tr -d '\r\n')"
}
routes_before=$(grep -c '"route":"/v2","status":413' "$work/log" || true)
got=$(post "$base/v2" "$work/at-cap" "${tls[@]}" --http2)
[[ $got == 400* && $got == *bad_request* ]] || fail "41,000,000 bytes through nginx answered '$got', expected bgerase's 400"
time_cap_front=$(cat "$work/answer-time")
got=$(post "http://127.0.0.1:$port/v2" "$work/at-cap")
[[ $got == 400* && $got == *bad_request* ]] || fail "41,000,000 bytes straight to bgerase answered '$got', expected 400"
time_cap_direct=$(cat "$work/answer-time")
got=$(post "$base/v2" "$work/over-cap" "${tls[@]}" --http2)
[[ $got == 413* && $got == *nginx* ]] || fail "41,000,001 bytes over HTTP/2 through nginx answered '$got', expected nginx's 413"
got=$(post "$base/v2" "$work/over-cap" "${tls[@]}" --http1.1)
[[ $got == 413* && $got == *nginx* ]] || fail "41,000,001 bytes over HTTP/1.1 through nginx answered '$got', expected nginx's 413"
got=$(post "$base/v2" "$work/over-cap" "${tls[@]}" --http1.1 -H "Transfer-Encoding: chunked")
[[ $got == 413* && $got == *nginx* ]] || fail "41,000,001 chunked bytes through nginx answered '$got', expected nginx's 413"
got=$(post "http://127.0.0.1:$port/v2" "$work/over-cap")
[[ $got == 413* && $got == *payload_too_large* ]] || fail "41,000,001 bytes straight to bgerase answered '$got', expected 413 payload_too_large"
routes_after=$(grep -c '"route":"/v2","status":413' "$work/log" || true)
# Only the direct one reached bgerase with a 413. (A chunked body nginx had begun to stream and
# then cut at the cap reaches bgerase as a complete, shorter request: nginx ends the chunked
# stream. bgerase answers that one itself, here 400 as it is not JSON; the client gets the 413.)
((routes_after - routes_before == 1)) ||
  fail "bgerase answered $((routes_after - routes_before)) 413s on /v2, expected 1 (the direct one)"

# No upload and no answer went to nginx's disk: nginx warns (in its error log, level info here)
# whenever it writes a request body or an upstream answer to a temporary file.
if grep -q "buffered to a temporary file" "$work/nginx-error.log"; then
  fail "nginx wrote a body to a temporary file: $(grep -m1 "buffered to a temporary file" "$work/nginx-error.log")"
fi

# nginx still serves, and stops cleanly. Just after a request, the connections nginx keeps to
# bgerase (informational: a stalled machine may have let them expire).
curl -sf -o /dev/null "${tls[@]}" "$base/v2/health" || fail "nginx no longer serves"
kept=$(ss -Htn state established "( dport = :$port )" 2>/dev/null | wc -l) || kept="?"
kill -TERM "$front"
wait "$front" || fail "nginx did not stop cleanly"
front=
# HAProxy, where it is installed: packaging/haproxy/bgerase.cfg as shipped, both replicas pointed
# at this one bgerase, checked with `haproxy -c` and then run: the health check passes (L7OK on
# the stats socket), a cutout over HTTP/2, the throttle sees the client (fresh addresses
# 127.0.0.4 and .5), a body over the cap gets bgerase's own 413 (HAProxy has no cap).
haproxy_summary="HAProxy: not installed, not checked"
if haproxy=$(PATH=$PATH:/usr/sbin:/sbin command -v haproxy); then
  hport=$(free_port)
  cat "$work/tls.pem" "$work/tls.key" >"$work/haproxy.pem"
  crt="ssl crt /etc/haproxy/certs/bgerase.example.com.pem alpn h2,http/1.1"
  substitute_once "$src/packaging/haproxy/bgerase.cfg" "$work/haproxy.cfg" \
    "log /dev/log local0" "log stderr format raw local0 notice" \
    "bind :443 $crt" "bind 127.0.0.1:$hport ssl crt $work/haproxy.pem alpn h2,http/1.1" \
    "bind :::443 v6only $crt" "" \
    "server replica1 10.0.0.11:8080" "server replica1 127.0.0.1:$port" \
    "server replica2 10.0.0.12:8080" "server replica2 127.0.0.1:$port"
  printf 'global\n    stats socket %s/haproxy.sock mode 600 level user\n' "$work" >"$work/haproxy-test.cfg"
  "$haproxy" -c -q -f "$work/haproxy.cfg" -f "$work/haproxy-test.cfg" >"$work/haproxy-c.log" 2>&1 ||
    { cat "$work/haproxy-c.log" >&2; fail "haproxy -c refused packaging/haproxy/bgerase.cfg"; }
  "$haproxy" -db -f "$work/haproxy.cfg" -f "$work/haproxy-test.cfg" >"$work/haproxy.log" 2>&1 &
  balancer=$!
  hbase="https://$name:$hport"
  htls=(--cacert "$work/tls.pem" --resolve "$name:$hport:127.0.0.1")
  # Both servers UP by their health check (GET /v2/health answering 200: L7OK).
  checks=
  for _ in $(seq 1 150); do
    checks=$(python3 - "$work/haproxy.sock" <<'PY' 2>/dev/null || true
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"show stat\n")
data = b""
while chunk := s.recv(65536):
    data += chunk
rows = [line.split(",") for line in data.decode().splitlines() if line]
head = rows[0]
head[0] = head[0].lstrip("# ")
col = {name: i for i, name in enumerate(head)}
print(" ".join(f"{r[col['svname']]}={r[col['status']]}/{r[col['check_status']]}"
               for r in rows[1:] if r[col["pxname"]] == "bgerase_replicas" and r[col["svname"]].startswith("replica")))
PY
)
    [[ $checks == "replica1=UP/L7OK replica2=UP/L7OK" ]] && break
    kill -0 "$balancer" 2>/dev/null || { cat "$work/haproxy.log" >&2; fail "haproxy exited"; }
    sleep 0.1
  done
  [[ $checks == "replica1=UP/L7OK replica2=UP/L7OK" ]] ||
    { cat "$work/haproxy.log" >&2; fail "HAProxy's health checks: '$checks'"; }
  times_haproxy=()
  for _ in $(seq 1 "$posts"); do
    got=$(curl -s -o "$work/out-h.png" -w '%{http_code} %{http_version} %{time_total}' --http2 \
      "${htls[@]}" -H "x-api-key: $key" -F "image_file=@$photo" "$hbase/v2") || true
    read -r code version t <<<"$got"
    [[ $code == 200 && $version == 2 ]] || fail "POST /v2 through HAProxy answered '$got'"
    cmp -s "$work/out-h.png" "$work/direct.png" || fail "the cutout through HAProxy differs from the direct one"
    times_haproxy+=("$(printf '%.2f' "$t")")
  done
  n=0 code=
  while ((n < 40)); do
    n=$((n + 1))
    code=$(curl -s -o /dev/null -w '%{http_code}' "${htls[@]}" --interface 127.0.0.4 \
      -H "x-api-key: bge_wrong$n" "$hbase/v2/account") || true
    [[ $code == 429 ]] && break
    [[ $code == 401 ]] || fail "wrong key $n from 127.0.0.4 through HAProxy answered $code"
  done
  [[ $code == 429 ]] || fail "40 wrong keys from 127.0.0.4 through HAProxy were never throttled"
  for attempt in 1 2 3; do
    one=(-s -o /dev/null -w '%{http_code}\n' "${htls[@]}")
    got=$(curl "${one[@]}" --interface 127.0.0.4 -H "x-api-key: bge_wrong_again" "$hbase/v2/account" \
      --next "${one[@]}" --interface 127.0.0.4 -H "x-api-key: $key" -H "X-Forwarded-For: 10.9.9.9" \
        "$hbase/v2/account" \
      --next "${one[@]}" --interface 127.0.0.1 -H "x-api-key: $key" -H "X-Forwarded-For: 127.0.0.4" \
        "$hbase/v2/account" \
      --next "${one[@]}" --interface 127.0.0.5 -H "x-api-key: $key" "$hbase/v2/account" \
      --next "${one[@]}" --interface 127.0.0.4 -H "x-api-key: $key" "$hbase/v2/account" |
      tr '\n' ' ' | sed 's/ $//') || true
    [[ ${got#* } == "429 200 200 429" && ${got%% *} =~ ^(401|429)$ ]] && break
    ((attempt < 3)) || fail "throttle checks through HAProxy answered '$got', expected '(401|429) 429 200 200 429'"
    sleep 0.2
  done
  got=$(post "$hbase/v2" "$work/over-cap" "${htls[@]}" --http2)
  [[ $got == 413* && $got == *payload_too_large* ]] ||
    fail "41,000,001 bytes through HAProxy answered '$got', expected bgerase's 413 payload_too_large"
  got=$(post "$hbase/v2" "$work/at-cap" "${htls[@]}" --http2)
  [[ $got == 400* && $got == *bad_request* ]] || fail "41,000,000 bytes through HAProxy answered '$got', expected 400"
  kill -TERM "$balancer"
  wait "$balancer" 2>/dev/null || true
  balancer=
  haproxy_summary="HAProxy $("$haproxy" -v | sed -n 's/^HAProxy version \([^ ]*\).*/\1/p'): health checks L7OK, POST /v2 $(spread "${times_haproxy[@]}") s, throttle sees the client, bgerase's cap applies"
fi
kill -TERM "$server"
wait "$server" || fail "serve did not stop cleanly"
server=

echo "tls_front_test: nginx $("$nginx" -v 2>&1 | sed 's|.*nginx/||') in front: HTTP/2 + TLS 1.2/1.3;" \
  "POST /v2 (451x300 photo, min/median/max of $posts) $(spread "${times_front[@]}") s through nginx," \
  "$(spread "${times_direct[@]}") s direct;" \
  "throttled after $wrong_keys wrong keys from 127.0.0.2, 127.0.0.3 served, X-Forwarded-For ignored;" \
  "41,000,000-byte body passes both (${time_cap_front} s through nginx, ${time_cap_direct} s direct)," \
  "41,000,001 refused by both; $kept kept-alive connection(s) to bgerase; $haproxy_summary"
