#!/usr/bin/env bash
# The package as an operator gets it: builds build/packages/bgerase_*.deb (CPack), installs it with
# dpkg, installs the model by hand with `bgerase models install`, starts the installed
# /usr/bin/bgerase serve as the bgerase user on the packaged paths (its unit's environment and
# /etc/default/bgerase), creates an account and key with `bgerase admin`, removes a background
# through POST /v2 (directly, and over HTTPS through nginx with the packaged example
# configuration), then purges the package and checks that the user and /var/lib/bgerase are gone.
# Prints the package size and the time from `dpkg -i` to the first cutout.
#
# Needs root and a machine without bgerase installed (no package, no bgerase user, no
# /var/lib/bgerase); otherwise it skips (exit 77) rather than touch what is there. It leaves the
# machine as it found it, also when it fails. Opt-in: runs only with BGERASE_TEST_DEB=1
# (`make test-deb` sets it), since it installs a package system-wide.
#   tests/packaging/deb_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(realpath "$1")
src=$(realpath "$2")
skip() { echo "deb_test: skipped: $*"; exit 77; }
[[ ${BGERASE_TEST_DEB:-} == 1 ]] || skip "opt-in; run it with BGERASE_TEST_DEB=1 (make test-deb)"
[[ $(id -u) -eq 0 ]] || skip "needs root (dpkg -i)"
command -v dpkg-shlibdeps >/dev/null || skip "needs dpkg-dev (dpkg-shlibdeps)"
dpkg-query -W -f='${Status}' bgerase 2>/dev/null | grep -q installed &&
  skip "a bgerase package is installed here already"
getent passwd bgerase >/dev/null && skip "a bgerase user exists here already"
getent group bgerase >/dev/null && skip "a bgerase group exists here already"
[[ -e /var/lib/bgerase ]] && skip "/var/lib/bgerase exists here already"
model=$src/models/isnet-general-fp16.onnx
[[ -f $model ]] || skip "no model at $model (make setup fetches it)"

work=$(mktemp -d /tmp/bgerase-deb-test.XXXXXX)
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
server_pid=
front=
installed=0
cleanup() {
  local rc=$?
  if [[ -n $front ]]; then kill -TERM "$front" 2>/dev/null || true; wait "$front" 2>/dev/null || true; fi
  if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if ((installed)); then dpkg --purge bgerase >"$work/purge.log" 2>&1 || cat "$work/purge.log"; fi
  cd /
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
fail() {
  echo "deb_test: FAIL: $*" >&2
  if [[ -s $work/serve.log ]]; then echo "deb_test: serve's log:" >&2; tail -20 "$work/serve.log" >&2; fi
  exit 1
}
trap 'fail "line $LINENO: $BASH_COMMAND"' ERR

echo "deb_test: building the package"
rm -f "$build"/packages/bgerase_*.deb
cpack --config "$build/CPackConfig.cmake" >"$work/cpack.log" 2>&1 ||
  { cat "$work/cpack.log"; fail "cpack failed"; }
debs=("$build"/packages/bgerase_*_amd64.deb)
[[ ${#debs[@]} -eq 1 && -f ${debs[0]} ]] || fail "expected one bgerase_VERSION_amd64.deb, got ${debs[*]}"
deb=${debs[0]}
dpkg-deb --field "$deb" Depends | grep -q libvips || fail "Depends lacks libvips (shlibdeps)"
echo "deb_test: $(basename "$deb"): $(stat -c %s "$deb") bytes;" \
  "Depends: $(dpkg-deb --field "$deb" Depends)"

t0=$(date +%s.%N)
installed=1
dpkg -i "$deb" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg -i failed"; }
t_dpkg=$(date +%s.%N)
[[ $(stat -c '%U %a' /var/lib/bgerase) == "bgerase 700" ]] || fail "/var/lib/bgerase is not bgerase's, 0700"
[[ $(stat -c '%a' /etc/default/bgerase) == 600 ]] || fail "/etc/default/bgerase is not 0600"
dpkg-query -W -f='${Conffiles}' bgerase | grep -q /etc/default/bgerase || fail "no conffile"
/usr/bin/bgerase --version | grep -qx "bgerase $(dpkg-query -W -f='${Version}' bgerase | tr + -)" ||
  fail "--version is not the package's version: $(/usr/bin/bgerase --version)"

unit=/lib/systemd/system/bgerase.service
[[ -f $unit ]] || unit=/usr/lib/systemd/system/bgerase.service
[[ -f $unit ]] || fail "no bgerase.service installed"
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify "$unit" || fail "systemd-analyze verify $unit"
else
  echo "deb_test: no systemd-analyze here; the unit is not verified"
fi

# The model, carried by hand: a damaged copy is refused and leaves nothing, the real one installs.
head -c 1000 "$model" >"$work/short.onnx"
if /usr/bin/bgerase models install "$work/short.onnx" 2>"$work/err"; then fail "short model accepted"; fi
grep -q "refusing to install" "$work/err" || fail "unclear refusal: $(cat "$work/err")"
[[ -z $(ls -A /var/lib/bgerase/models) ]] || fail "the refused model left files behind"
t_model0=$(date +%s.%N)
/usr/bin/bgerase models install "$model" >/dev/null
t_model=$(date +%s.%N)
[[ $(stat -c %U /var/lib/bgerase/models/isnet-general-fp16.onnx) == bgerase ]] ||
  fail "the installed model is not the bgerase user's"

# The service as the unit runs it: its Environment= lines, then /etc/default/bgerase, as bgerase.
mapfile -t unit_env < <(sed -n 's/^Environment=//p' "$unit" | tr ' ' '\n')
mapfile -t file_env < <(grep -v '^#' /etc/default/bgerase | grep .)  # root-only: read as root
service=(setpriv --reuid=bgerase --regid=bgerase --init-groups
         env -i PATH=/usr/bin:/bin "${unit_env[@]}" "${file_env[@]}")
cd /var/lib/bgerase  # the unit's WorkingDirectory
as_bgerase() { "${service[@]}" "$@"; }
as_bgerase /usr/bin/bgerase serve --print-config >"$work/config"
grep -Eq -- '^--data +BGERASE_DATA +/var/lib/bgerase +env$' "$work/config" || fail "data: $(cat "$work/config")"
grep -Eq -- '^--web-dir .*/usr/share/bgerase/web' "$work/config" || fail "web: $(cat "$work/config")"
# The operator's commands, with the service's environment, find the service's store.
as_bgerase /usr/bin/bgerase admin create-account deb@example.com >/dev/null
key=$(as_bgerase /usr/bin/bgerase admin create-key deb@example.com 2>/dev/null)
[[ -f /var/lib/bgerase/bgerase.db && ! -e /var/lib/bgerase/data ]] || fail "admin used another store"
: >"$work/serve.log"  # there before the server opens it, for the loop below to read
t_serve=$(date +%s.%N)
"${service[@]}" /usr/bin/bgerase serve --port 0 --quiet >"$work/serve.out" 2>"$work/serve.log" &
server_pid=$!  # setpriv and env exec, so this is the server's own pid
port=
for _ in $(seq 1 300); do
  port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$work/serve.log")
  [[ -n $port ]] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/serve.log"; fail "serve exited"; }
  sleep 0.1
done
[[ -n $port ]] || fail "serve did not listen: $(cat "$work/serve.log")"
for _ in $(seq 1 600); do
  curl -sf "http://127.0.0.1:$port/v2/health" >/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/serve.log"; fail "serve exited"; }
  sleep 0.1
done
t_ready=$(date +%s.%N)

photo=/usr/lib/python3/dist-packages/skimage/data/chelsea.png
if [[ ! -f $photo ]]; then  # a plain PNG, if python3-skimage's photos are not here
  photo=$work/in.png
  python3 -c '
import struct, sys, zlib
w, h = 96, 64
rows = b"".join(b"\0" + bytes(v for x in range(w) for v in ((x * 2) % 256, (y * 4) % 256, 128))
                for y in range(h))
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
sys.stdout.buffer.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                        + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))' >"$photo"
fi
code=$(curl -s -o "$work/cutout.png" -w '%{http_code}' -H "x-api-key: $key" \
  -F "image_file=@$photo" "http://127.0.0.1:$port/v2") || fail "POST /v2 failed (curl $?, code $code)"
t1=$(date +%s.%N)
[[ $code == 200 ]] || fail "POST /v2 answered $code: $(head -c 500 "$work/cutout.png")"
[[ $(head -c 8 "$work/cutout.png" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] ||
  fail "the cutout is not a PNG"
curl -sf -o "$work/index.html" "http://127.0.0.1:$port/" || fail "GET / failed"
grep -qi "<html" "$work/index.html" || fail "the installed web pages are not served"

# The same over HTTPS, through nginx running the packaged example configuration.
example=/usr/share/doc/bgerase/examples/nginx/bgerase.conf
[[ -f $example && -f /usr/share/doc/bgerase/examples/haproxy/bgerase.cfg ]] ||
  fail "the package lacks the nginx and haproxy examples"
if nginx=$(PATH=$PATH:/usr/sbin:/sbin command -v nginx) && command -v openssl >/dev/null; then
  # shellcheck source=nginx_front.sh
  source "$src/tests/packaging/nginx_front.sh"
  make_certificate "$work"
  t_tls0=$(date +%s.%N)
  start_nginx_front "$example" "$work" "$port"
  got=$(curl -s -o "$work/tls-cutout.png" -w '%{http_code} %{http_version}' --http2 "${tls[@]}" \
    -H "x-api-key: $key" -F "image_file=@$photo" "$base/v2") || true
  t_tls=$(date +%s.%N)
  [[ $got == "200 2" ]] || fail "POST /v2 over the nginx TLS front answered '$got'"
  cmp -s "$work/tls-cutout.png" "$work/cutout.png" || fail "the cutout over TLS differs"
  kill -TERM "$front"
  wait "$front" || true
  front=
  echo "deb_test: POST /v2 over HTTPS/2 through nginx ($example): 200;" \
    "nginx start and the request $(secs "$t_tls0" "$t_tls") s"
else
  echo "deb_test: no nginx or openssl here (scripts/setup installs them): the TLS front is not checked"
fi
echo "deb_test: dpkg -i to first cutout: $(secs "$t0" "$t1") s (dpkg -i $(secs "$t0" "$t_dpkg") s," \
  "models install $(secs "$t_model0" "$t_model") s, serve start to ready $(secs "$t_serve" "$t_ready") s," \
  "first POST /v2 $(secs "$t_ready" "$t1") s; the rest: checks and admin commands)"

kill "$server_pid"
wait "$server_pid" || fail "serve did not stop cleanly on SIGTERM"
server_pid=

installed=0
dpkg --purge bgerase >"$work/purge.log" 2>&1 || { cat "$work/purge.log"; fail "dpkg --purge failed"; }
getent passwd bgerase >/dev/null && fail "purge left the bgerase user"
getent group bgerase >/dev/null && fail "purge left the bgerase group"
[[ -e /var/lib/bgerase ]] && fail "purge left /var/lib/bgerase"
[[ -e /usr/bin/bgerase || -e /etc/default/bgerase ]] && fail "purge left files"
echo "deb_test: ok"
