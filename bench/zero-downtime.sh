#!/usr/bin/env bash
# Zero downtime with [[listen]]: a load generator (wrk) against the example service
# (hello-service, release build) under `tend run` while the service is restarted
# RESTARTS times (`tend restart hello`, default 20; ACTION changes the command), once
# with the socket held by tend ([[listen]]) and once with the service binding it
# itself (a plain restart).
# MODE=upgrade: RESTARTS `tend upgrade hello RELEASE`s instead. The script makes a
# minisign key pair (`minisign -G -W`), gives the spec [update] public_keys and
# [health] http = /healthz (so each upgrade waits for the new child's first healthy
# probe), signs two copies of hello-service as releases `bench-a` and `bench-b`
# (trusted comment `version:…`) and switches between them, a, b, a, … (the first from
# the spec's own command); every `tend upgrade` must exit 0. Also reports the
# upgrades' wall times (median, max).
# Reports failed requests (non-2xx answers and socket errors: connect, read, write,
# timeout) and the latency percentiles wrk measures. wrk runs from a second before the
# first action to TAIL seconds (default 2) after the last, and is stopped with SIGINT.
#
#   bench/zero-downtime.sh                   both runs
#   RESTARTS=20 GAP=0.5 CONNECTIONS=16 bench/zero-downtime.sh
#   ACTION="restart hello" bench/zero-downtime.sh   what runs each time: `tend $ACTION`
#   MODE=upgrade bench/zero-downtime.sh      20 upgrades (needs minisign)
#
# Writes bench/out/zero-downtime/summary.md (MODE=upgrade: bench/out/zero-downtime-upgrade;
# BENCH_OUT=DIR to change) and each run's wrk output and tend log beside it. BENCH_TEND /
# BENCH_HELLO name ready binaries (else both are built: `cargo build --release`, into
# target-bench). Needs wrk (`apt-get install wrk`) and curl, and for MODE=upgrade
# minisign (`apt-get install minisign`).
set -euo pipefail

while read -r v; do unset "$v"; done < <(compgen -e | grep '^TEND_' || true)

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$BENCH_DIR")
MODE=${MODE:-restart}
case $MODE in
  restart) OUT=${BENCH_OUT:-$BENCH_DIR/out/zero-downtime} ;;
  upgrade) OUT=${BENCH_OUT:-$BENCH_DIR/out/zero-downtime-upgrade} ;;
  *) echo "MODE is restart or upgrade, not $MODE" >&2; exit 2 ;;
esac
W=/tmp/tend-zero-downtime
RESTARTS=${RESTARTS:-20}
GAP=${GAP:-0.5}
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-2}
TAIL=${TAIL:-2}
ACTION=${ACTION:-restart hello}
if [[ $MODE == upgrade ]]; then
  REPRO="MODE=upgrade RESTARTS=$RESTARTS GAP=$GAP CONNECTIONS=$CONNECTIONS THREADS=$THREADS bench/zero-downtime.sh"
else
  REPRO="RESTARTS=$RESTARTS GAP=$GAP CONNECTIONS=$CONNECTIONS THREADS=$THREADS ACTION=\"$ACTION\" bench/zero-downtime.sh"
fi

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

command -v wrk >/dev/null || die "needs wrk (apt-get install wrk)"
command -v curl >/dev/null || die "needs curl"
[[ $MODE != upgrade ]] || command -v minisign >/dev/null || die "MODE=upgrade needs minisign (apt-get install minisign)"

if [[ -n ${BENCH_TEND:-} ]]; then
  TEND=$BENCH_TEND HELLO=${BENCH_HELLO:-$(dirname "$BENCH_TEND")/hello-service}
else
  log "building tend and hello-service (release) into target-bench"
  (cd "$REPO" && CARGO_TARGET_DIR="$REPO/target-bench" cargo build --release -q -p tend -p hello-service)
  TEND=$REPO/target-bench/release/tend HELLO=$REPO/target-bench/release/hello-service
fi
[[ -x $TEND && -x $HELLO ]] || die "missing binaries"

SUP='' LOAD=''
stop_sup() {
  if [[ -n $LOAD ]]; then
    kill -INT "$LOAD" 2>/dev/null || true
    wait "$LOAD" 2>/dev/null || true
    LOAD=
  fi
  if [[ -n $SUP ]]; then
    kill -TERM "$SUP" 2>/dev/null || true
    wait "$SUP" 2>/dev/null || true
    SUP=
  fi
}
trap stop_sup EXIT

rm -rf "$W" "$OUT"
mkdir -p "$W" "$OUT"

PUBKEY=
if [[ $MODE == upgrade ]]; then
  # A key pair without a password, and two signed releases of the same program.
  minisign -G -W -p "$W/bench.pub" -s "$W/bench.key" </dev/null >/dev/null
  PUBKEY=$(sed -n 2p "$W/bench.pub")
  for r in a b; do
    cp "$HELLO" "$W/hello-$r"
    minisign -S -s "$W/bench.key" -m "$W/hello-$r" -t "version:bench-$r" </dev/null >/dev/null
  done
fi

# One run: $1 = listen | plain. Prints "failed non2xx connect read write timeout
# requests p50 p90 p99 max seconds starts actions_failed median_s max_s".
run() {
  # run's output is read through $(…), a subshell, which does not inherit the EXIT
  # trap: without its own, a `die` here would leave wrk and tend running.
  trap stop_sup EXIT
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
    if [[ $MODE == upgrade ]]; then
      printf '[update]\npublic_keys = ["%s"]\nverify_within = "30s"\n' "$PUBKEY"
      printf '[health]\nhttp = "http://127.0.0.1:%s/healthz"\n' "$port"
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
  # wrk runs from a second before the first action to TAIL seconds after the last,
  # stopped with SIGINT (it then prints what it measured).
  wrk -t"$THREADS" -c"$CONNECTIONS" -d1h --timeout 5s --latency "http://127.0.0.1:$port/" >"$OUT/$mode.wrk" &
  LOAD=$!
  sleep 1
  local t0 t1 a0 failed=0 what
  : >"$OUT/$mode.durations"
  t0=$EPOCHREALTIME
  for ((i = 1; i <= RESTARTS; i++)); do
    if [[ $MODE == upgrade ]]; then
      # a, b, a, …: the first switches from the spec's command, the others between
      # two releases (each in the history after the second).
      what="upgrade hello $W/hello-$( ((i % 2)) && echo a || echo b)"
    else
      what=$ACTION
    fi
    a0=$EPOCHREALTIME
    # shellcheck disable=SC2086 # what is words: a verb and its arguments.
    if "$TEND" $what >>"$OUT/$mode.actions.log" 2>&1; then
      echo "$EPOCHREALTIME $a0" | awk '{printf "%.3f\n", $1 - $2}' >>"$OUT/$mode.durations"
    else
      failed=$((failed + 1))
      log "$mode: tend $what ($i) failed (see $OUT/$mode.actions.log)"
    fi
    sleep "$GAP"
  done
  t1=$EPOCHREALTIME
  if [[ $MODE == upgrade ]]; then
    # The child runs the last release's program, and the index says so.
    local last=bench-b status pid current exe
    ((RESTARTS % 2 == 0)) || last=bench-a
    status=$("$TEND" status hello --json)
    read -r pid current < <(python3 -c 'import json,sys; s=json.load(sys.stdin)[0]; print(s["pid"], (s["releases"] or {}).get("current"))' <<<"$status")
    exe=$(readlink "/proc/$pid/exe" || true)
    [[ $current == "$last" && $exe == "$d/state/releases/hello/$last/hello-service" ]] ||
      die "$mode: after the upgrades the current release is $current and pid $pid runs $exe, not release $last"
  fi
  sleep "$TAIL"
  kill -INT "$LOAD"
  wait "$LOAD" || die "$mode: wrk failed"
  LOAD=
  stop_sup
  unset TEND_STATE_DIR TEND_LOG_DIR
  local started median max
  started=$(grep -cE '(started|restarted on request) \(pid' "$OUT/$mode.tend.log" || true)
  median=$(sort -n "$OUT/$mode.durations" | awk '{v[NR] = $1} END {if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}')
  max=$(sort -n "$OUT/$mode.durations" | tail -1)
  awk -v t0="$t0" -v t1="$t1" -v started="$started" -v afailed="$failed" -v median="$median" -v amax="${max:--}" '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /m$/) return v * 60000; return v * 1000 }
    /Non-2xx or 3xx responses:/ { non2xx = $NF }
    /Socket errors:/ { gsub(",", ""); connect = $4; read = $6; write = $8; timeout = $10 }
    / requests in / { requests = $1 }
    $1 == "50%" { p50 = ms($2) } $1 == "90%" { p90 = ms($2) } $1 == "99%" { p99 = ms($2) }
    $1 == "Latency" && NF >= 4 { max = ms($4) }
    END {
      failed = non2xx + connect + read + write + timeout
      printf "%d %d %d %d %d %d %d %.2f %.2f %.2f %.2f %.1f %d %d %s %s\n", failed, non2xx, connect, read, write, timeout, requests, p50, p90, p99, max, t1 - t0, started, afailed, median, amax
    }' "$OUT/$mode.wrk"
}

if [[ $MODE == upgrade ]]; then
  VERB="tend upgrade hello RELEASE"
else
  VERB="tend $ACTION"
fi
log "== with [[listen]]: $RESTARTS x $VERB under wrk -c$CONNECTIONS ($(cut -d' ' -f1-3 /proc/loadavg) load)"
LISTEN=$(run listen)
log "   $LISTEN"
log "== without [[listen]] (the service binds its port) ($(cut -d' ' -f1-3 /proc/loadavg) load)"
PLAIN=$(run plain)
log "   $PLAIN"

{
  echo "# Zero downtime: $RESTARTS \`$VERB\`s under load"
  echo
  echo "hello-service (release) under \`tend run\`, \`wrk -t$THREADS -c$CONNECTIONS --latency\`, one every ${GAP}s after the previous ended."
  if [[ $MODE == upgrade ]]; then
    echo "Releases bench-a, bench-b (copies of hello-service, signed with minisign), switched a, b, a, …; [health] http = /healthz."
  fi
  echo "Failed = non-2xx answers + socket errors (connect/read/write/timeout)."
  echo
  echo "| | requests | failed | non-2xx | connect | read | write | timeout | p50 ms | p90 ms | p99 ms | max ms | starts | actions failed | action median s | action max s |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  for row in "with \`[[listen]]\`:$LISTEN" "without:$PLAIN"; do
    name=${row%%:*}
    read -ra f <<<"${row#*:}"
    echo "| $name | ${f[6]} | **${f[0]}** | ${f[1]} | ${f[2]} | ${f[3]} | ${f[4]} | ${f[5]} | ${f[7]} | ${f[8]} | ${f[9]} | ${f[10]} | ${f[12]} | ${f[13]}/$RESTARTS | ${f[14]} | ${f[15]} |"
  done
  echo
  echo "$(nproc) CPUs, $(uname -sr), wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}'), load $(cut -d' ' -f1-3 /proc/loadavg) at the end."
  echo
  echo "Reproduce (from the repository root): \`$REPRO\`"
} >"$OUT/summary.md"
cat "$OUT/summary.md"
# Every action must have succeeded (the figures are of RESTARTS of them).
read -ra l <<<"$LISTEN"
read -ra p <<<"$PLAIN"
((l[13] == 0 && p[13] == 0)) || die "$((l[13] + p[13])) of the actions failed"
