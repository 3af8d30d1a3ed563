#!/usr/bin/env bash
# Zero downtime with [[listen]]: a load generator (wrk) against the example service
# (hello-service, release build) under `tend run` while the service is restarted
# RESTARTS times (`tend restart hello`, default 20; ACTION changes the command), once
# with the socket held by tend ([[listen]]) and once with the service binding it
# itself (a plain restart).
# Reports failed requests (non-2xx answers and socket errors: connect, read, write,
# timeout) and the latency percentiles wrk measures.
#
#   bench/zero-downtime.sh                   both runs
#   RESTARTS=20 GAP=0.5 CONNECTIONS=16 bench/zero-downtime.sh
#   ACTION="restart hello" bench/zero-downtime.sh   what runs each time: `tend $ACTION`
#
# Writes bench/out/zero-downtime/summary.md (BENCH_OUT=DIR to change) and each run's
# wrk output and tend log beside it. BENCH_TEND / BENCH_HELLO name ready binaries
# (else both are built: `cargo build --release`, into target-bench). Needs wrk
# (`apt-get install wrk`) and curl.
set -euo pipefail

while read -r v; do unset "$v"; done < <(compgen -e | grep '^TEND_' || true)

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$BENCH_DIR")
OUT=${BENCH_OUT:-$BENCH_DIR/out/zero-downtime}
W=/tmp/tend-zero-downtime
RESTARTS=${RESTARTS:-20}
GAP=${GAP:-0.5}
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-2}
ACTION=${ACTION:-restart hello}
REPRO="RESTARTS=$RESTARTS GAP=$GAP CONNECTIONS=$CONNECTIONS THREADS=$THREADS ACTION=\"$ACTION\" bench/zero-downtime.sh"

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

command -v wrk >/dev/null || die "needs wrk (apt-get install wrk)"
command -v curl >/dev/null || die "needs curl"

if [[ -n ${BENCH_TEND:-} ]]; then
  TEND=$BENCH_TEND HELLO=${BENCH_HELLO:-$(dirname "$BENCH_TEND")/hello-service}
else
  log "building tend and hello-service (release) into target-bench"
  (cd "$REPO" && CARGO_TARGET_DIR="$REPO/target-bench" cargo build --release -q -p tend -p hello-service)
  TEND=$REPO/target-bench/release/tend HELLO=$REPO/target-bench/release/hello-service
fi
[[ -x $TEND && -x $HELLO ]] || die "missing binaries"

SUP=
stop_sup() {
  if [[ -n $SUP ]]; then
    kill -TERM "$SUP" 2>/dev/null || true
    wait "$SUP" 2>/dev/null || true
    SUP=
  fi
}
trap stop_sup EXIT

rm -rf "$W" "$OUT"
mkdir -p "$W" "$OUT"

# One run: $1 = listen | plain. Prints "failed non2xx connect read write timeout
# requests p50 p90 p99 max restarts_seconds".
run() {
  local mode=$1 d=$W/$1 port
  port=$(free_port)
  mkdir -p "$d/state" "$d/log"
  {
    printf 'name = "hello"\ncommand = "%s"\nargs = ["--listen", "127.0.0.1:%s"]\n' "$HELLO" "$port"
    # One log line per request would measure the log writer too.
    printf '[log]\nstdout = "null"\n'
    if [[ $mode == listen ]]; then
      printf '[[listen]]\nname = "http"\naddress = "127.0.0.1:%s"\n' "$port"
    fi
  } >"$d/hello.toml"
  export TEND_STATE_DIR=$d/state TEND_LOG_DIR=$d/log
  "$TEND" run "$d/hello.toml" 2>"$OUT/$mode.tend.log" &
  SUP=$!
  local i
  for ((i = 0; i < 200; i++)); do
    curl -sf --max-time 1 "http://127.0.0.1:$port/" >/dev/null && break
    sleep 0.05
  done
  curl -sf --max-time 1 "http://127.0.0.1:$port/" >/dev/null || die "$mode: the service does not answer"
  # wrk runs for the restarts, a second of load before them and two after.
  local secs
  secs=$(awk -v n="$RESTARTS" -v g="$GAP" 'BEGIN{printf "%d", n * (g + 0.15) + 3.5}')
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${secs}s" --timeout 5s --latency "http://127.0.0.1:$port/" >"$OUT/$mode.wrk" &
  local load=$!
  sleep 1
  local t0 t1
  t0=$EPOCHREALTIME
  for ((i = 1; i <= RESTARTS; i++)); do
    # shellcheck disable=SC2086 # ACTION is words: a verb and its arguments.
    "$TEND" $ACTION >/dev/null 2>>"$OUT/$mode.restart.log" || log "$mode: $ACTION $i failed"
    sleep "$GAP"
  done
  t1=$EPOCHREALTIME
  wait "$load"
  stop_sup
  unset TEND_STATE_DIR TEND_LOG_DIR
  local started
  started=$(grep -cE '(started|restarted on request) \(pid' "$OUT/$mode.tend.log" || true)
  awk -v t0="$t0" -v t1="$t1" -v started="$started" '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /m$/) return v * 60000; return v * 1000 }
    /Non-2xx or 3xx responses:/ { non2xx = $NF }
    /Socket errors:/ { gsub(",", ""); connect = $4; read = $6; write = $8; timeout = $10 }
    / requests in / { requests = $1 }
    $1 == "50%" { p50 = ms($2) } $1 == "90%" { p90 = ms($2) } $1 == "99%" { p99 = ms($2) }
    $1 == "Latency" && NF >= 4 { max = ms($4) }
    END {
      failed = non2xx + connect + read + write + timeout
      printf "%d %d %d %d %d %d %d %.2f %.2f %.2f %.2f %.1f %d\n", failed, non2xx, connect, read, write, timeout, requests, p50, p90, p99, max, t1 - t0, started
    }' "$OUT/$mode.wrk"
}

log "== with [[listen]]: $RESTARTS x tend $ACTION under wrk -c$CONNECTIONS"
LISTEN=$(run listen)
log "   $LISTEN"
log "== without [[listen]] (plain restart)"
PLAIN=$(run plain)
log "   $PLAIN"

{
  echo "# Zero downtime: $RESTARTS \`tend $ACTION\`s under load"
  echo
  echo "hello-service (release) under \`tend run\`, \`wrk -t$THREADS -c$CONNECTIONS --latency\`, one every ${GAP}s."
  echo "Failed = non-2xx answers + socket errors (connect/read/write/timeout)."
  echo
  echo "| | requests | failed | non-2xx | connect | read | write | timeout | p50 ms | p90 ms | p99 ms | max ms | starts |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  for row in "with \`[[listen]]\`:$LISTEN" "plain restart:$PLAIN"; do
    name=${row%%:*}
    read -ra f <<<"${row#*:}"
    echo "| $name | ${f[6]} | **${f[0]}** | ${f[1]} | ${f[2]} | ${f[3]} | ${f[4]} | ${f[5]} | ${f[7]} | ${f[8]} | ${f[9]} | ${f[10]} | ${f[12]} |"
  done
  echo
  echo "$(nproc) CPUs, $(uname -sr), wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}')."
  echo
  echo "Reproduce (from the repository root): \`$REPRO\`"
} >"$OUT/summary.md"
cat "$OUT/summary.md"
