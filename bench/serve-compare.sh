#!/bin/bash
# serve-compare.sh: requests per second of one or more 'hallmark serve'
# binaries and of nginx, serving the same data directory, side by side.
#
#   bench/serve-compare.sh DATA_DIR ROUNDS BINARY...
#
# Each round starts every binary in turn (hallmark serve --data DATA_DIR), then
# nginx (Debian package) with its root at DATA_DIR/blobs, and runs wrk (Debian
# package) twice on each: 3 s of warm-up, then 6 s measured, 2 threads and 64
# connections, each request a random path out of 2,000 metadata files and 2,000
# target files sampled once from the blob directory. It prints one line per run
# (requests a second, and the server's CPU time per request: user + system of
# the process, and of nginx's workers) and each hallmark process's resident
# memory after its runs. Traffic stays on
# 127.0.0.1. Work files go to $WORK (default /tmp/serve-compare).
#
# With FILES set to "NAME=PATH ..." (paths below the blob directory, e.g.
# FILES="timestamp=/metadata/0/timestamp.json bin=/metadata/0/4.new.0.json"),
# each named file is measured alone instead of the two random sets. Even rounds
# run the servers in reverse order, so no server always runs first.
set -eu
DATA=$(cd "$1" && pwd); ROUNDS=$2; shift 2
W=${WORK:-/tmp/serve-compare}
BLOBS=$DATA/blobs
mkdir -p "$W/nginx/tmp"
if [ ! -s "$W/meta.txt" ]; then
  (cd "$BLOBS" && find metadata -type f -name '*.json' | shuf -n 2000 --random-source=<(yes) | sed 's|^|/|') > "$W/meta.txt"
  (cd "$BLOBS" && find targets -type f | shuf -n 2000 --random-source=<(yes) | sed 's|^|/|') > "$W/targets.txt"
fi
for k in meta targets; do
  cat > "$W/$k.lua" <<LUA
local paths = {}
for line in io.lines("$W/$k.txt") do paths[#paths + 1] = line end
math.randomseed(42)
request = function() return wrk.format("GET", paths[math.random(#paths)]) end
LUA
done
cat > "$W/nginx/nginx.conf" <<NG
daemon off;
user $(id -un);
worker_processes auto;
pid $W/nginx/nginx.pid;
error_log $W/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off; sendfile on; tcp_nopush on; keepalive_requests 1000000;
  client_body_temp_path $W/nginx/tmp; proxy_temp_path $W/nginx/tmp; fastcgi_temp_path $W/nginx/tmp;
  uwsgi_temp_path $W/nginx/tmp; scgi_temp_path $W/nginx/tmp;
  types { application/json json; } default_type application/octet-stream;
  server { listen 127.0.0.1:18199; root $BLOBS;
    location ~ /timestamp\.json\$ { add_header Cache-Control "no-cache"; }
    location /metadata/ { add_header Cache-Control "public, max-age=31536000, immutable"; }
    location /targets/ { add_header Cache-Control "public, max-age=31536000, immutable"; } }
}
NG
wait_ready() { # port
  for _ in $(seq 900); do curl -sf -o /dev/null "http://127.0.0.1:$1/metadata/trust.json" && return; sleep 0.2; done
  echo "server on port $1 did not start" >&2; exit 1
}
cpu_ticks() { # CPU time (user + system, clock ticks) of $pid and its children (nginx's workers)
  local t=0 p
  for p in $pid $(ps -o pid= --ppid "$pid"); do
    t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo $t
}
run_wrk() { # name kind url [script]
  local s=(); [ -n "${4:-}" ] && s=(-s "$4")
  wrk -t2 -c64 -d3s "${s[@]}" "$3" > /dev/null 2>&1
  local t0; t0=$(cpu_ticks)
  out=$(wrk -t2 -c64 -d6s "${s[@]}" "$3" 2>&1)
  local t1; t1=$(cpu_ticks)
  local n; n=$(echo "$out" | awk '/requests in/ {print $1}')
  # cpu_us: the server's CPU time per request, in microseconds: less moved
  # by other load on the machine than the rate.
  echo "round=$r $1 $2 rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}') cpu_us=$(awk -v t=$((t1 - t0)) -v n="$n" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}') transfer=$(echo "$out" | awk '/Transfer\/sec/ {print $2}') non2xx=$(echo "$out" | awk '/Non-2xx/ {print $5}') load=$(cut -d' ' -f1 /proc/loadavg)"
}
measure() { # name port
  if [ -n "${FILES:-}" ]; then
    for f in $FILES; do run_wrk "$1" "${f%%=*}" "http://127.0.0.1:$2${f#*=}"; done
    return
  fi
  for k in meta targets; do run_wrk "$1" $k "http://127.0.0.1:$2" "$W/$k.lua"; done
}
serve_one() { # server (a hallmark binary, or "nginx"), port
  if [ "$1" = nginx ]; then
    /usr/sbin/nginx -p "$W/nginx" -c "$W/nginx/nginx.conf" > "$W/nginx.log" 2>&1 &
  else
    "$1" serve --data "$DATA" --addr "127.0.0.1:$2" > "$W/hallmark-$2.log" 2>&1 &
  fi
  pid=$!
  wait_ready "$2"
  measure "$1" "$2"
  [ "$1" = nginx ] || echo "  $1: $(grep -E 'VmRSS|VmHWM' /proc/$pid/status | tr -s ' \t\n' ' ')"
  kill $pid; wait $pid 2>/dev/null || true
}
servers=("$@" nginx)
for r in $(seq "$ROUNDS"); do
  order=("${servers[@]}")
  if [ $((r % 2)) -eq 0 ]; then
    order=(); for ((i = ${#servers[@]} - 1; i >= 0; i--)); do order+=("${servers[$i]}"); done
  fi
  for srv in "${order[@]}"; do
    port=18199
    for ((i = 0; i < $#; i++)); do [ "${servers[$i]}" = "$srv" ] && port=$((18191 + i)); done
    serve_one "$srv" $port
  done
done
