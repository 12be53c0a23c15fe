# Sourced by tls_front_test.sh and deb_test.sh: a self-signed certificate and a private nginx
# (its own prefix, pid, logs and temp folders under WORK; never the system service, /etc/nginx or
# ports 80/443) running a copy of a shipped packaging/nginx/bgerase.conf with only its listen
# address, upstream port and certificate paths substituted. The caller defines `fail` and
# `nginx` (the binary), and kills "$front" when done.

name=bgerase.example.com  # the shipped file's server_name

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# substitute_once SRC DST OLD NEW [OLD NEW ...]: DST is SRC with each OLD replaced by its NEW,
# and each OLD must occur exactly once in SRC, so a change to a shipped file that a test no longer
# covers fails there rather than testing something else. (An empty NEW drops the line's text;
# the IPv6 listeners are dropped so, as loopback IPv6 may be absent.)
substitute_once() {
  python3 - "$@" <<'PY'
import sys
src, dst, pairs = sys.argv[1], sys.argv[2], sys.argv[3:]
text = open(src).read()
for old, new in zip(pairs[0::2], pairs[1::2]):
    if text.count(old) != 1:
        sys.exit(f"substitute_once: {src} has {text.count(old)} of '{old}', expected 1")
    text = text.replace(old, new)
open(dst, "w").write(text)
PY
}

# make_certificate WORK: WORK/tls.key and WORK/tls.pem for $name.
make_certificate() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=$name" -addext "subjectAltName=DNS:$name" \
    -keyout "$1/tls.key" -out "$1/tls.pem" 2>/dev/null || fail "openssl could not make a certificate"
}

# start_nginx_front CONF WORK UPSTREAM_PORT: runs nginx with CONF in front of bgerase on
# 127.0.0.1:UPSTREAM_PORT and waits until /v2/health answers through it. Sets front (its pid),
# nport, base (https://$name:$nport) and tls (curl's options to trust and reach it).
start_nginx_front() {
  local conf=$1 work=$2 upstream=$3
  nport=$(free_port)
  substitute_once "$conf" "$work/bgerase.conf" \
    "listen 443 ssl http2;" "listen 127.0.0.1:$nport ssl http2;" \
    "listen [::]:443 ssl http2;" "" \
    "server 127.0.0.1:8080;" "server 127.0.0.1:$upstream;" \
    "ssl_certificate     /etc/ssl/certs/bgerase.example.com.pem;" "ssl_certificate $work/tls.pem;" \
    "ssl_certificate_key /etc/ssl/private/bgerase.example.com.key;" "ssl_certificate_key $work/tls.key;"
  mkdir -p "$work/nginx"
  # As root the workers run as root too: the temp dir is root's alone (0700).
  {
    [[ $(id -u) -eq 0 ]] && echo "user root;"
    cat <<CONF
daemon off;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log info;
events { worker_connections 256; }
http {
    access_log $work/nginx-access.log;
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
    include $work/bgerase.conf;
}
CONF
  } >"$work/nginx.conf"
  "$nginx" -t -q -p "$work/nginx" -e "$work/nginx-error.log" -c "$work/nginx.conf" 2>"$work/nginx-t.log" ||
    { cat "$work/nginx-t.log" >&2; fail "nginx -t refused the configuration"; }
  "$nginx" -p "$work/nginx" -e "$work/nginx-error.log" -c "$work/nginx.conf" >>"$work/nginx-error.log" 2>&1 &
  front=$!
  base="https://$name:$nport"
  tls=(--cacert "$work/tls.pem" --resolve "$name:$nport:127.0.0.1")
  local _
  for _ in $(seq 1 200); do
    curl -sf -o /dev/null "${tls[@]}" "$base/v2/health" && return 0
    kill -0 "$front" 2>/dev/null || fail "nginx exited"
    sleep 0.1
  done
  fail "nginx did not answer /v2/health"
}
