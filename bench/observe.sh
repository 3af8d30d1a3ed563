#!/usr/bin/env bash
# What health checks and metrics cost, and that they cost nothing else: in one run,
#   1. CPU time of the supervisor for 1,000 HTTP probes,
#   2. /metrics scrape latency with 1 and 50 services,
#   3. memory per extra service in `tend up` with [health] and [metrics] on (and off),
#   4. restart latency and log throughput of this tend against the tend before health
#      checks and metrics (BENCH_BASE_REV, default 027f447), each through its own
#      bench/run.sh --quick, one after the other,
#   5. and the throughput of the two again, sharper: a 512 MiB flood through `tend run`
#      into a tmpfs, 6 times each, the two binaries taking turns.
#
#   bench/observe.sh            (as root: run.sh mounts a tmpfs)
#
# Writes bench/out/observe/summary.md (BENCH_OUT=DIR to change), with base/ and head/
# holding the two run.sh outputs. BENCH_TEND / BENCH_BASE_TEND name ready binaries
# (else both are built: `cargo build --release`, into target-bench and
# target-bench-base; the base from a detached worktree of BENCH_BASE_REV).
set -euo pipefail

while read -r v; do unset "$v"; done < <(compgen -e | grep '^TEND_' || true)

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$BENCH_DIR")
OUT=${BENCH_OUT:-$BENCH_DIR/out/observe}
BASE_REV=${BENCH_BASE_REV:-027f447}
W=/tmp/tend-observe
PROBES=1000
SCRAPES=200
MANY=50

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }
now_us() { local t=$EPOCHREALTIME; echo "${t/./}"; }
wait_until() { # secs cmd...
  local deadline=$(($(now_us) + $1 * 1000000))
  shift
  until "$@"; do
    (($(now_us) > deadline)) && return 1
    sleep 0.05
  done
}
# stdin: numbers. Prints "n median p90 p99 min max" (nearest rank).
stats() {
  sort -g | awk '
    { a[NR] = $1 }
    function rank(p,   i) { i = int(p * NR); if (i < p * NR) i++; if (i < 1) i = 1; return a[i] }
    END {
      if (NR == 0) { print "0 NA NA NA NA NA"; exit }
      med = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
      print NR, med, rank(0.9), rank(0.99), a[1], a[NR]
    }'
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# CPU time (ns) of every thread of process $1 so far.
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s+=$1} END{print s+0}'; }
mem_of() { # pids... -> "rss pss" KiB
  local p
  for p in "$@"; do cat "/proc/$p/smaps_rollup"; done 2>/dev/null |
    awk '/^Rss:/{r+=$2} /^Pss:/{p+=$2} END{print r+0, p+0}'
}
metric() { # url name -> value (first sample of that exact name and labels)
  curl -s --max-time 5 "$1" | awk -v n="$2" '$1==n {print $2; exit}'
}

PIDS=()
stop_all() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}
trap 'stop_all' EXIT

[[ $(id -u) == 0 ]] || die "run as root (bench/run.sh mounts a tmpfs)"
command -v curl >/dev/null || die "needs curl"

# ---------------------------------------------------------------- the two binaries
if [[ -n ${BENCH_TEND:-} ]]; then
  TEND=$BENCH_TEND FIXTURE=${BENCH_FIXTURE:-$(dirname "$BENCH_TEND")/tend-fixture}
else
  log "building tend and tend-fixture (release) into target-bench"
  (cd "$REPO" && CARGO_TARGET_DIR="$REPO/target-bench" cargo build --release -q -p tend -p tend-fixture)
  TEND=$REPO/target-bench/release/tend FIXTURE=$REPO/target-bench/release/tend-fixture
fi
BASE_WT=$REPO/target-bench-base/src
if [[ -n ${BENCH_BASE_TEND:-} ]]; then
  BASE_TEND=$BENCH_BASE_TEND
else
  log "building the base tend ($BASE_REV, release) into target-bench-base"
  rm -rf "$BASE_WT"
  mkdir -p "$BASE_WT"
  git -C "$REPO" archive "$BASE_REV" | tar -x -C "$BASE_WT"
  (cd "$BASE_WT" && CARGO_TARGET_DIR="$REPO/target-bench-base" cargo build --release -q -p tend)
  BASE_TEND=$REPO/target-bench-base/release/tend
fi
[[ -x $TEND && -x $FIXTURE && -x $BASE_TEND ]] || die "missing binaries"

rm -rf "$W" "$OUT"
mkdir -p "$W" "$OUT"

# ---------------------------------------------------------------- 1. probes
log "== 1. CPU time of $PROBES HTTP probes (interval 10ms)"
d=$W/probes
mkdir -p "$d/state" "$d/log"
port=$(free_port) mport=$(free_port)
cat >"$d/p.toml" <<EOF
name = "probed"
command = "$FIXTURE"
args = ["--http-stop", "$port", "--hang"]
[health]
http = "http://127.0.0.1:$port/healthz"
interval = "10ms"
timeout = "1s"
[metrics]
listen = "127.0.0.1:$mport"
EOF
TEND_STATE_DIR=$d/state TEND_LOG_DIR=$d/log "$TEND" run --no-guard "$d/p.toml" 2>"$d/tend.log" &
sup=$!
PIDS+=("$sup")
URL="http://127.0.0.1:$mport/metrics"
PROBED='tend_service_probes_total{service="probed",result="ok"}'
wait_until 30 eval '[ "$(metric "$URL" "$PROBED")" -ge 10 ] 2>/dev/null' || die "no probes (see $d/tend.log)"
p0=$(metric "$URL" "$PROBED") c0=$(cpu_ns "$sup") t0=$(now_us)
# One scrape a second: their cost is in the figure (a scrape is measured below).
wait_until 120 eval '[ "$(metric "$URL" "$PROBED")" -ge $((p0 + PROBES)) ]' || die "probes too slow"
c1=$(cpu_ns "$sup") t1=$(now_us) p1=$(metric "$URL" "$PROBED")
stop_all
NPROBED=$((p1 - p0))
PROBE_CPU_MS=$(awk -v a="$c0" -v b="$c1" -v n="$NPROBED" -v k="$PROBES" 'BEGIN{printf "%.1f", (b-a)/1e6*k/n}')
PROBE_US=$(awk -v a="$c0" -v b="$c1" -v n="$NPROBED" 'BEGIN{printf "%.1f", (b-a)/1e3/n}')
PROBE_WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", (b-a)/1e6}')
log "   $NPROBED probes in ${PROBE_WALL}s: ${PROBE_CPU_MS} ms CPU per $PROBES (${PROBE_US} µs each)"

# ---------------------------------------------------------------- 2 and 3. tend up
# A tend up of N fixture services; with "on", each with [health] (tcp to one shared
# listener, every second) and the file with [metrics].
up_file() { # n on|off port mport
  local i
  [[ $2 == on ]] && printf '[metrics]\nlisten = "127.0.0.1:%s"\n\n' "$4"
  for ((i = 1; i <= $1; i++)); do
    printf '[[service]]\nname = "s%d"\ncommand = "%s"\nargs = ["--hang"]\n' "$i" "$FIXTURE"
    [[ $2 == on ]] && printf '[service.health]\ntcp = "127.0.0.1:%s"\ninterval = "1s"\n' "$3"
    echo
  done
}
running_all() { # state dir, n
  local f c=0
  for f in "$1"/*.json; do grep -q '"state": *"running"' "$f" 2>/dev/null && c=$((c + 1)); done
  [[ $c -ge $2 ]]
}
healthy_all() {
  local f c=0
  for f in "$1"/*.json; do grep -q '"state": *"healthy"' "$f" 2>/dev/null && c=$((c + 1)); done
  [[ $c -ge $2 ]]
}

log "== 2. /metrics scrape latency ($SCRAPES scrapes) and 3. memory per service"
lport=$(free_port)
"$FIXTURE" --http-stop "$lport" --hang >/dev/null 2>&1 &
PIDS+=("$!")
LISTENER=$!
MEM_ROWS=()
for on in off on; do
  for n in 1 "$MANY"; do
    d=$W/up-$on-$n
    mkdir -p "$d/state" "$d/log"
    mport=$(free_port)
    up_file "$n" "$on" "$lport" "$mport" >"$d/up.toml"
    TEND_STATE_DIR=$d/state TEND_LOG_DIR=$d/log "$TEND" up "$d/up.toml" >"$d/out.log" 2>&1 &
    guard=$!
    wait_until 60 running_all "$d/state" "$n" || die "tend up $n ($on): not running (see $d/out.log)"
    [[ $on == on ]] && { wait_until 60 healthy_all "$d/state" "$n" || die "tend up $n: not healthy"; }
    sup=$(pgrep -P "$guard" | head -n1)
    sleep 2 # settle: every service probed at least once, the supervisor idle
    for s in 1 2 3; do
      read -r rss pss < <(mem_of "$guard" "$sup")
      MEM_ROWS+=("$on $n $s $rss $pss")
      sleep 0.5
    done
    if [[ $on == on ]]; then
      # One curl for every scrape (each its own connection: tend answers with
      # Connection: close), each body to /dev/null.
      urls=()
      for ((i = 0; i < SCRAPES; i++)); do urls+=(-o /dev/null "http://127.0.0.1:$mport/metrics"); done
      curl -s -w '%{time_total}\n' "${urls[@]}" >"$OUT/scrape-$n.txt"
      SIZE[$n]=$(curl -s "http://127.0.0.1:$mport/metrics" | wc -c)
    fi
    kill -TERM "$guard"
    wait "$guard" 2>/dev/null || true
  done
done
kill -TERM "$LISTENER" 2>/dev/null || true
printf '%s\n' "${MEM_ROWS[@]}" >"$OUT/memory.txt"
memmed() { awk -v o="$1" -v n="$2" -v c="$3" '$1==o && $2==n {print $c}' "$OUT/memory.txt" | stats | awk '{print $2}'; }
per_service() { # on|off column
  awk -v a="$(memmed "$1" 1 "$2")" -v b="$(memmed "$1" "$MANY" "$2")" -v m="$MANY" 'BEGIN{printf "%.1f", (b-a)/(m-1)}'
}

# ---------------------------------------------------------------- 4. base against head
log "== 4. restart latency and log throughput: base ($BASE_REV) then head, bench/run.sh --quick each"
BENCH_TEND=$BASE_TEND BENCH_OUT=$OUT/base bash "$BASE_WT/bench/run.sh" --quick >"$OUT/base.log" 2>&1 ||
  die "the base run failed (see $OUT/base.log)"
BENCH_TEND=$TEND BENCH_OUT=$OUT/head bash "$BENCH_DIR/run.sh" --quick >"$OUT/head.log" 2>&1 ||
  die "the head run failed (see $OUT/head.log)"
lat() { awk -F, '$1=="tend" {print $6/1e6}' "$1/latency.csv" | stats; }
tp() { awk -F, -v c="$2" '$1==c {print $5}' "$1/throughput.csv" | stats | awk '{print $2}'; }

# ---------------------------------------------------------------- 5. throughput, in turns
log "== 5. log throughput, 512 MiB, base and head in turns"
TP=$W/tp
mkdir -p "$TP"
mountpoint -q "$TP" || mount -t tmpfs -o size=3G tmpfs "$TP" || die "cannot mount a tmpfs on $TP"
gcc -O2 -o "$W/flood" "$BENCH_DIR/flood.c"
printf 'name = "flood"\ncommand = "%s"\nargs = ["5368709", "%s"]\n[restart]\npolicy = "never"\n[log]\nmax_size = "64MiB"\nkeep = 100\n' \
  "$W/flood" "$TP/start" >"$W/flood.toml"
: >"$OUT/turns.txt"
for r in 1 2 3 4 5 6; do
  for which in base head; do
    bin=$TEND
    [[ $which == base ]] && bin=$BASE_TEND
    rm -rf "${TP:?}"/*
    t0=$(now_us)
    TEND_STATE_DIR=$TP/state TEND_LOG_DIR=$TP/log "$bin" run --no-guard "$W/flood.toml" 2>/dev/null
    echo "$which $(( ($(now_us) - t0) / 1000 ))" >>"$OUT/turns.txt"
  done
done
rm -rf "${TP:?}"/*
umount "$TP" 2>/dev/null || umount -l "$TP"
turn() { awk -v w="$1" '$1==w {print $2}' "$OUT/turns.txt" | stats; }

# ---------------------------------------------------------------- summary
S=$OUT/summary.md
{
  echo "# Health checks and metrics: what they cost"
  echo
  echo "Reproduce (from the repository root, as root): \`bench/observe.sh\`"
  echo
  echo '```'
  echo "date_utc: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "nproc: $(nproc), cpu: $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)"
  echo "head: $("$TEND" --version) $(git -C "$REPO" rev-parse --short HEAD) ($(stat -c %s "$TEND") bytes)"
  echo "base: $BASE_REV ($(stat -c %s "$BASE_TEND") bytes)"
  echo "loadavg: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo '```'
  echo
  echo "## 1. CPU time of $PROBES HTTP probes"
  echo
  echo "\`tend run --no-guard\` of a fixture answering \`GET /healthz\`, probed every 10 ms; the"
  echo "supervisor's CPU time (every thread, /proc/PID/task/*/schedstat) over $NPROBED probes"
  echo "(${PROBE_WALL} s), with the state file's rewrites (at most one a second for a probe) and"
  echo "a /metrics scrape a second."
  echo
  echo "| probes | CPU per $PROBES probes | CPU per probe |"
  echo "|---:|---:|---:|"
  echo "| $NPROBED | $PROBE_CPU_MS ms | $PROBE_US µs |"
  echo
  echo "## 2. /metrics scrape latency (curl's time_total, $SCRAPES scrapes, ms)"
  echo
  echo "| services | exposition bytes | median | p90 | p99 | max |"
  echo "|---:|---:|---:|---:|---:|---:|"
  for n in 1 "$MANY"; do
    awk '{print $1*1000}' "$OUT/scrape-$n.txt" | stats |
      awk -v n="$n" -v b="${SIZE[$n]}" '{printf "| %s | %s | %.3f | %.3f | %.3f | %.3f |\n", n, b, $2, $3, $4, $6}'
  done
  echo
  echo "## 3. Memory of \`tend up\` (guard + supervisor, median of 3, KiB)"
  echo
  echo "| health + metrics | 1 service RSS | PSS | $MANY services RSS | PSS | per extra service RSS | PSS |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  for on in off on; do
    echo "| $on | $(memmed "$on" 1 4) | $(memmed "$on" 1 5) | $(memmed "$on" "$MANY" 4) | $(memmed "$on" "$MANY" 5) | $(per_service "$on" 4) | $(per_service "$on" 5) |"
  done
  echo
  echo "## 4. Restart latency and log throughput, base ($BASE_REV) and head, one after the other"
  echo
  echo "Each from its own \`bench/run.sh --quick\` (raw data in base/ and head/): the restart"
  echo "latency is SIGKILL → the new child's first instruction; the throughput a 128 MiB flood"
  echo "through \`tend run\` into rotating files on tmpfs, beside \`flood | cat\` in the same run."
  echo
  echo "| tend | restart median ms | p90 | log GB/s | \`cat\` GB/s | tend / cat |"
  echo "|---|---:|---:|---:|---:|---:|"
  for which in base head; do
    read -r _ lm lp _ <<<"$(lat "$OUT/$which")"
    g=$(tp "$OUT/$which" tend) c=$(tp "$OUT/$which" cat)
    awk -v w="$which" -v lm="$lm" -v lp="$lp" -v g="$g" -v c="$c" \
      'BEGIN{printf "| %s | %.3f | %.3f | %.3f | %.3f | %.2f |\n", w, lm, lp, g, c, g/c}'
  done
  echo
  echo "## 5. Log throughput in turns (ms)"
  echo
  echo "512 MiB (5,368,709 lines of 100 bytes) through \`tend run --no-guard\` into rotating files"
  echo "(64 MiB) on tmpfs, until tend exits; 6 runs each, base and head taking turns."
  echo
  echo "| tend | runs | median | min | max | GB/s (median) |"
  echo "|---|---:|---:|---:|---:|---:|"
  for which in base head; do
    turn "$which" | awk -v w="$which" '{printf "| %s | %d | %d | %d | %d | %.2f |\n", w, $1, $2, $5, $6, 536870900/($2/1000)/1e9}'
  done
} >"$S"
cat "$S"
log "done: $S"
