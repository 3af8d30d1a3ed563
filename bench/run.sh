#!/usr/bin/env bash
# tend benchmark suite: memory, restart latency and log throughput of tend against
# supervisord, runit, s6 and a minimal C respawn loop (the lower bound).
#
#   bench/run.sh            full run (~8-10 minutes on 2 cores)
#   bench/run.sh --quick    smoke run: fewer samples, 128 MiB flood
#
# Writes raw CSVs and summary.md to bench/out/ (override with BENCH_OUT=DIR).
# Environment: BENCH_TEND=/path/to/tend skips the build of tend (default: builds
# `cargo build --release -p tend` into <repo>/target-bench and uses that binary);
# BENCH_TEND_MUSL=/path/to/tend measures a second tend (the static musl build of
# .ci/static/build.sh) beside the first, as `tend-musl` (memory of one `tend run`,
# restart latency, log throughput);
# BENCH_WORK=DIR is the scratch directory a 3 GiB tmpfs is mounted on
# (default /tmp/tend-bench). Needs root (tmpfs mount, apt-get for missing packages).
set -euo pipefail

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }

QUICK=0
for arg in "$@"; do
  case $arg in
    --quick) QUICK=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "run.sh: unknown argument: $arg" >&2; usage >&2; exit 64 ;;
  esac
done

# tend reads TEND_* variables as settings (an unknown one is an error): start clean.
while read -r v; do unset "$v"; done < <(compgen -e | grep '^TEND_' || true)

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$BENCH_DIR")
OUT=${BENCH_OUT:-$BENCH_DIR/out}
W=${BENCH_WORK:-/tmp/tend-bench}
BIN=$W/bin
REPRO="bench/run.sh${1:+ $*}"
[[ -n ${BENCH_TEND:-} ]] && REPRO="BENCH_TEND=$BENCH_TEND $REPRO"
[[ -n ${BENCH_TEND_MUSL:-} ]] && REPRO="BENCH_TEND_MUSL=$BENCH_TEND_MUSL $REPRO"

if ((QUICK)); then
  MEM_SAMPLES=3 LAT_SAMPLES=10 LAT_SAMPLES_SLOW=3 TP_RUNS=3
  FLOOD_LINES=1342177 # 128 MiB / 100 bytes
else
  MEM_SAMPLES=5 LAT_SAMPLES=50 LAT_SAMPLES_SLOW=10 TP_RUNS=3
  FLOOD_LINES=10737418 # 1 GiB / 100 bytes
fi
FLOOD_BYTES=$((FLOOD_LINES * 100))
MANY=50                 # services in the "many" memory case
PACE_NS=1200000000      # a child lives >= 1.2 s before it is killed (runit/s6 throttle at 1 s)
ROT_BYTES=67108864      # 64 MiB rotation for every logger
ROT_KEEP=100            # rotated files kept: far more than the 16 a 1 GiB flood needs

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }
now_us() { local t=$EPOCHREALTIME; echo "${t/./}"; }

# ---------------------------------------------------------------- process bookkeeping
STARTED=()   # pids of every supervisor this script launched and has not stopped yet
LEFTOVERS=() # "label: pids" of processes that outlived their supervisor's stop
MOUNTED=0

# The process is running (not gone, not a zombie).
alive() {
  local line rest
  read -r line 2>/dev/null <"/proc/$1/stat" || return 1
  rest=${line##*) }
  [[ ${rest%% *} != Z ]]
}

# All descendants of $1 (pids), from one snapshot of the process table.
descendants() {
  ps -e -o pid=,ppid= | awk -v root="$1" '
    { par[$1] = $2 }
    END {
      keep[root] = 1
      do { changed = 0
           for (p in par) if (!(p in keep) && (par[p] in keep)) { keep[p] = 1; changed = 1 }
      } while (changed)
      for (p in keep) if (p != root) print p
    }'
}

# Starts "$@" in the background in its own session, output to $1. Sets LASTPID.
start_bg() {
  local logf=$1
  shift
  setsid "$@" >"$logf" 2>&1 </dev/null &
  LASTPID=$!
  STARTED+=("$LASTPID")
}

# Stops supervisor $2 (label $1) with signal $3 (default TERM): waits up to 10 s for it
# and every process below it to end, then SIGKILLs what is left and records it.
stop_tree() {
  local label=$1 pid=$2 sig=${3:-TERM} kids left="" deadline p
  kids=$(descendants "$pid")
  kill -s "$sig" "$pid" 2>/dev/null || true
  deadline=$(($(now_us) + 10000000))
  while :; do
    left=""
    for p in $pid $kids; do alive "$p" && left+=" $p"; done
    [[ -z $left ]] && break
    (($(now_us) > deadline)) && break
    sleep 0.02
  done
  if [[ -n $left ]]; then
    LEFTOVERS+=("$label:$left")
    log "WARNING: $label: still running 10 s after SIG$sig:$left (sending SIGKILL)"
    # shellcheck disable=SC2086
    kill -KILL $left 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  local keep=() s
  for s in "${STARTED[@]}"; do [[ $s != "$pid" ]] && keep+=("$s"); done
  STARTED=("${keep[@]}")
}

cleanup() {
  local rc=$? p
  set +e
  trap - EXIT INT TERM
  for p in "${STARTED[@]}"; do
    if alive "$p"; then
      log "cleanup: stopping pid $p"
      stop_tree "cleanup" "$p" TERM
    fi
  done
  cd /
  if ((rc != 0 && MOUNTED)); then
    # Keep the small logs of the failed run: the tmpfs goes away below.
    mkdir -p "$OUT/failed-run"
    (cd "$W" && find . -name '*.log' -size -1M -exec cp --parents {} "$OUT/failed-run/" \;) 2>/dev/null
    log "logs of the failed run copied to $OUT/failed-run/"
  fi
  if ((MOUNTED)); then umount "$W" 2>/dev/null || umount -l "$W"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Polls "$@" every 20 ms until it succeeds; fails after $1 seconds.
wait_until() {
  local secs=$1 deadline
  shift
  deadline=$(($(now_us) + secs * 1000000))
  until "$@"; do
    (($(now_us) > deadline)) && return 1
    sleep 0.02
  done
}

all_exist() { local f; for f in "$@"; do [[ -s $f ]] || return 1; done; }

# ---------------------------------------------------------------- stats helpers
# stdin: numbers, one a line. Prints "n median p10 p90 min max" (nearest-rank percentiles).
stats() {
  sort -g | awk '
    { a[NR] = $1 }
    function rank(p,   i) { i = int(p * NR); if (i < p * NR) i++; if (i < 1) i = 1; return a[i] }
    END {
      if (NR == 0) { print "0 NA NA NA NA NA"; exit }
      med = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
      print NR, med, rank(0.1), rank(0.9), a[1], a[NR]
    }'
}
median() { stats | awk '{print $2}'; }

# ---------------------------------------------------------------- setup
[[ $(id -u) == 0 ]] || die "run as root (tmpfs mount, apt-get)"
mkdir -p "$OUT"
rm -rf "$OUT"/*.csv "$OUT"/summary.md "$OUT"/*.txt "$OUT/failed-run"

need_pkgs=()
command -v gcc >/dev/null || need_pkgs+=(gcc libc6-dev)
command -v supervisord >/dev/null || need_pkgs+=(supervisor)
command -v runsvdir >/dev/null || need_pkgs+=(runit)
command -v s6-svscan >/dev/null || need_pkgs+=(s6)
command -v ps >/dev/null || need_pkgs+=(procps)
if ((${#need_pkgs[@]})); then
  log "installing ${need_pkgs[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi
# Debian's packages may start their own daemons where an init system runs; ours are
# started by this script only.

if [[ -n ${BENCH_TEND:-} ]]; then
  TEND=$BENCH_TEND
else
  log "building tend (release) into $REPO/target-bench"
  (cd "$REPO" && CARGO_TARGET_DIR="$REPO/target-bench" cargo build --release -q -p tend)
  TEND=$REPO/target-bench/release/tend
fi
[[ -x $TEND ]] || die "no tend binary at $TEND"
TEND_MUSL=${BENCH_TEND_MUSL:-}
[[ -z $TEND_MUSL || -x $TEND_MUSL ]] || die "no tend binary at $TEND_MUSL"

# Scratch tmpfs: logs and floods never touch the disk.
if mountpoint -q "$W"; then umount "$W" 2>/dev/null || umount -l "$W"; fi
mkdir -p "$W"
if mount -t tmpfs -o size=3G,mode=0755 tmpfs "$W"; then
  MOUNTED=1
else
  die "cannot mount a tmpfs on $W"
fi
mkdir -p "$BIN"
for c in stamp flood killstamp respawn verify waitsize monotime; do
  gcc -O2 -Wall -o "$BIN/$c" "$BENCH_DIR/$c.c"
done

# ---------------------------------------------------------------- machine info
{
  echo "date_utc: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "mode: $([[ $QUICK == 1 ]] && echo quick || echo full)"
  echo "nproc: $(nproc)"
  echo "cpu: $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)"
  echo "mem_total: $(awk '/^MemTotal/{print $2, $3}' /proc/meminfo)"
  echo "kernel: $(uname -srm)"
  echo "os: $(. /etc/os-release && echo "$PRETTY_NAME") (debian_version $(cat /etc/debian_version 2>/dev/null))"
  echo "tend: $("$TEND" --version) ($TEND, $(stat -c %s "$TEND") bytes, sha256 $(sha256sum "$TEND" | cut -c1-16))"
  [[ -z $TEND_MUSL ]] || echo "tend-musl: $("$TEND_MUSL" --version) ($TEND_MUSL, $(stat -c %s "$TEND_MUSL") bytes, sha256 $(sha256sum "$TEND_MUSL" | cut -c1-16))"
  echo "supervisord: $(supervisord --version 2>&1) (python $(/usr/bin/python3 -c 'import sys; print(sys.version.split()[0])'))"
  echo "runit: $(dpkg-query -W -f '${Version}' runit 2>/dev/null || echo unknown)"
  echo "s6: $(dpkg-query -W -f '${Version}' s6 2>/dev/null || echo unknown)"
  echo "gcc: $(gcc --version | head -1)"
  echo "tmpfs: $W ($(findmnt -n -o FSTYPE,OPTIONS "$W" 2>/dev/null || echo '?'))"
  echo "loadavg_start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt" >&2

# ---------------------------------------------------------------- config writers
# A tend spec (single service, or one [[service]] table with $3 = "service.").
tend_service() { # name prefix(""|"service.") policy command args...
  local name=$1 pre=$2 policy=$3 cmd=$4 a args=""
  shift 4
  for a in "$@"; do args+="\"$a\", "; done
  cat <<EOF
name = "$name"
command = "$cmd"
args = [${args%, }]
[${pre}restart]
policy = "$policy"
max_restarts = 0
[${pre}restart.backoff]
initial = "0s"
max = "0s"
[${pre}stop]
timeout = "2s"
[${pre}log]
stdout = "file"
stderr = "file"
max_size = "64MiB"
keep = $ROT_KEEP
EOF
}

supervisord_conf() { # dir  then lines "name|command" on stdin
  local d=$1 name cmd
  cat <<EOF
[supervisord]
nodaemon = true
logfile = $d/supervisord.log
pidfile = $d/supervisord.pid
childlogdir = $d
loglevel = warn
EOF
  while IFS='|' read -r name cmd; do
    cat <<EOF

[program:$name]
command = $cmd
autostart = true
autorestart = true
startsecs = 0
stopwaitsecs = 2
stdout_logfile = $d/logs/$name.out.log
stderr_logfile = $d/logs/$name.err.log
stdout_logfile_maxbytes = 64MB
stdout_logfile_backups = $ROT_KEEP
EOF
  done
}

# A runit/s6 scan directory of $2 services; each ./run is a symlink to the stamp
# binary itself (no shell in between), which then writes <service dir>/stamp.
scandir() { # dir n
  local i
  mkdir -p "$1"
  for ((i = 1; i <= $2; i++)); do
    mkdir -p "$1/s$i"
    ln -sf "$BIN/stamp" "$1/s$i/run"
  done
}

# ---------------------------------------------------------------- 1. memory
MEM_CSV=$OUT/memory.csv
echo "supervisor,services,sample,part,rss_kb,pss_kb,uss_kb" >"$MEM_CSV"

mem_of() { # pids... -> "rss pss uss" (KiB, summed; USS = Private_Clean + Private_Dirty)
  local p
  for p in "$@"; do cat "/proc/$p/smaps_rollup"; done 2>/dev/null |
    awk '/^Rss:/{r+=$2} /^Pss:/{p+=$2} /^Private_(Clean|Dirty):/{u+=$2} END{print r+0, p+0, u+0}'
}

# Samples memory of named process groups: label n "part:pid pid..."...
sample_mem() {
  local label=$1 n=$2 s spec part pids all rss pss uss
  shift 2
  sleep 1 # settle: the children are up (polled before); let the supervisor go idle
  for ((s = 1; s <= MEM_SAMPLES; s++)); do
    all=""
    for spec in "$@"; do
      part=${spec%%:*} pids=${spec#*:}
      all+=" $pids"
      # shellcheck disable=SC2086
      read -r rss pss uss < <(mem_of $pids)
      echo "$label,$n,$s,$part,$rss,$pss,$uss" >>"$MEM_CSV"
    done
    if (($# > 1)); then
      # shellcheck disable=SC2086
      read -r rss pss uss < <(mem_of $all)
      echo "$label,$n,$s,total,$rss,$pss,$uss" >>"$MEM_CSV"
    fi
    ((s < MEM_SAMPLES)) && sleep 0.5
  done
  return 0
}

stamps_of() { local d=$1 n=$2 i; for ((i = 1; i <= n; i++)); do echo "$d/s$i/stamp"; done; }

mem_tend() { # mode(run|up) n [label binary]
  local mode=$1 n=$2 label=${3:-tend} TEND=${4:-$TEND}
  local d=$W/mem/$label-$1-$2 i guard sup stamps=()
  mkdir -p "$d/state" "$d/log"
  for ((i = 1; i <= n; i++)); do mkdir -p "$d/s$i"; stamps+=("$d/s$i/stamp"); done
  if [[ $mode == run ]]; then
    tend_service s1 "" always "$BIN/stamp" "$d/s1/stamp" >"$d/spec.toml"
    start_bg "$d/tend.log" env TEND_STATE_DIR="$d/state" TEND_LOG_DIR="$d/log" "$TEND" run "$d/spec.toml"
  else
    for ((i = 1; i <= n; i++)); do
      echo "[[service]]"
      tend_service "s$i" "service." always "$BIN/stamp" "$d/s$i/stamp"
      echo
    done >"$d/up.toml"
    start_bg "$d/tend.log" env TEND_STATE_DIR="$d/state" TEND_LOG_DIR="$d/log" "$TEND" up --log-files "$d/up.toml"
  fi
  guard=$LASTPID
  wait_until 30 all_exist "${stamps[@]}" || die "tend $mode $n: children did not start (see $d/tend.log)"
  sup=$(pgrep -P "$guard") || die "tend $mode $n: no supervisor process under the guard"
  [[ $(wc -w <<<"$sup") == 1 ]] || die "tend $mode $n: guard has several children: $sup"
  sample_mem "$label-$mode" "$n" "guard:$guard" "supervisor:$sup"
  stop_tree "$label-$mode-$n" "$guard" TERM
}

# $1 concurrent `tend run` instances of one service each (how a service manager runs
# tend: one instance per service); their text pages are shared, so PSS per instance drops.
mem_tend_instances() { # k
  local k=$1 d=$W/mem/tend-run-x$1 i pids=() stamps=()
  for ((i = 1; i <= k; i++)); do
    mkdir -p "$d/$i/state" "$d/$i/log"
    tend_service "i$i" "" always "$BIN/stamp" "$d/$i/stamp" >"$d/$i/spec.toml"
    start_bg "$d/$i/tend.log" env TEND_STATE_DIR="$d/$i/state" TEND_LOG_DIR="$d/$i/log" "$TEND" run "$d/$i/spec.toml"
    pids+=("$LASTPID")
    stamps+=("$d/$i/stamp")
  done
  wait_until 30 all_exist "${stamps[@]}" || die "tend run x$k: children did not start"
  local all="${pids[*]}" g
  for g in "${pids[@]}"; do all+=" $(pgrep -P "$g")"; done
  sample_mem "tend-run-x$k" "$k" "all:$all"
  for g in "${pids[@]}"; do stop_tree "tend-run-x$k" "$g" TERM; done
}

mem_supervisord() { # n
  local n=$1 d=$W/mem/supervisord-$1 i stamps=() pid
  mkdir -p "$d/logs"
  for ((i = 1; i <= n; i++)); do
    mkdir -p "$d/s$i"
    stamps+=("$d/s$i/stamp")
    echo "s$i|$BIN/stamp $d/s$i/stamp"
  done | supervisord_conf "$d" >"$d/supervisord.conf"
  start_bg "$d/out.log" supervisord -n -c "$d/supervisord.conf"
  pid=$LASTPID
  wait_until 60 all_exist "${stamps[@]}" || die "supervisord $n: children did not start"
  sample_mem supervisord "$n" "python:$pid"
  stop_tree "supervisord-$n" "$pid" TERM
}

mem_scan() { # kind(s6|runit) n
  local kind=$1 n=$2 d=$W/mem/$1-$2 root kids stamps
  scandir "$d/sv" "$n"
  mapfile -t stamps < <(stamps_of "$d/sv" "$n")
  if [[ $kind == s6 ]]; then
    start_bg "$d/out.log" s6-svscan "$d/sv"
  else
    start_bg "$d/out.log" runsvdir "$d/sv"
  fi
  root=$LASTPID
  wait_until 30 all_exist "${stamps[@]}" || die "$kind $n: children did not start"
  kids=$(pgrep -P "$root" | tr '\n' ' ')
  [[ $(wc -w <<<"$kids") == "$n" ]] || die "$kind $n: expected $n per-service supervisors, got: $kids"
  sample_mem "$kind" "$n" "scanner:$root" "per-service:$kids"
  if [[ $kind == s6 ]]; then
    stop_tree "$kind-$n" "$root" TERM
  else
    stop_tree "$kind-$n" "$root" HUP # runsvdir: HUP = TERM every runsv, then exit
  fi
}

mem_respawn() {
  local d=$W/mem/respawn
  mkdir -p "$d"
  start_bg "$d/out.log" "$BIN/respawn" "$BIN/stamp" "$d/stamp"
  wait_until 10 all_exist "$d/stamp" || die "respawn: child did not start"
  sample_mem respawn 1 "loop:$LASTPID"
  stop_tree respawn "$LASTPID" TERM
}

log "== memory ($MEM_SAMPLES samples each)"
mem_respawn
mem_tend run 1
[[ -z $TEND_MUSL ]] || mem_tend run 1 tend-musl "$TEND_MUSL"
mem_tend up 1
mem_tend up "$MANY"
mem_tend_instances 5
mem_supervisord 1
mem_supervisord "$MANY"
mem_scan runit 1
mem_scan runit "$MANY"
mem_scan s6 1
mem_scan s6 "$MANY"

# ---------------------------------------------------------------- 2. restart latency
LAT_CSV=$OUT/latency.csv
echo "supervisor,sample,kill_ns,stamp_ns,new_pid,latency_ns" >"$LAT_CSV"

# Kills the child named in stamp file $3 $2 times, each time once it has lived PACE_NS,
# and records SIGKILL -> first instruction of the next child.
measure_latency() { # label samples stampfile
  local label=$1 samples=$2 f=$3 i ns pid now rem out k s np l
  wait_until 30 all_exist "$f" || die "$label: child did not start"
  for ((i = 1; i <= samples; i++)); do
    read -r ns pid <"$f"
    alive "$pid" || die "$label: child $pid is not running"
    now=$("$BIN/monotime")
    rem=$((ns + PACE_NS - now))
    if ((rem > 0)); then sleep "$((rem / 1000000000)).$(printf '%09d' $((rem % 1000000000)))"; fi
    out=$("$BIN/killstamp" "$pid" "$f" 10000) || die "$label: no restart within 10 s"
    read -r k s np l <<<"$out"
    echo "$label,$i,$k,$s,$np,$l" >>"$LAT_CSV"
  done
}

lat_respawn() {
  local d=$W/lat/respawn
  mkdir -p "$d"
  start_bg "$d/out.log" "$BIN/respawn" "$BIN/stamp" "$d/stamp"
  measure_latency respawn "$LAT_SAMPLES" "$d/stamp"
  stop_tree lat-respawn "$LASTPID" TERM
}

lat_tend() { # [label binary]
  local label=${1:-tend} TEND=${2:-$TEND}
  local d=$W/lat/$label pid
  mkdir -p "$d/state" "$d/log"
  tend_service b1 "" always "$BIN/stamp" "$d/stamp" >"$d/spec.toml"
  start_bg "$d/tend.log" env TEND_STATE_DIR="$d/state" TEND_LOG_DIR="$d/log" "$TEND" run "$d/spec.toml"
  pid=$LASTPID
  measure_latency "$label" "$LAT_SAMPLES" "$d/stamp"
  grep -o '"restarts": *[0-9]*' "$d/state/b1.json" >"$OUT/$label-latency-state.txt" || true
  stop_tree "lat-$label" "$pid" TERM
}

lat_supervisord() {
  local d=$W/lat/supervisord pid
  mkdir -p "$d/logs"
  echo "b1|$BIN/stamp $d/stamp" | supervisord_conf "$d" >"$d/supervisord.conf"
  start_bg "$d/out.log" supervisord -n -c "$d/supervisord.conf"
  pid=$LASTPID
  measure_latency supervisord "$LAT_SAMPLES_SLOW" "$d/stamp"
  stop_tree lat-supervisord "$pid" TERM
}

lat_scan() { # kind
  local kind=$1 d=$W/lat/$1 pid
  scandir "$d/sv" 1
  if [[ $kind == s6 ]]; then start_bg "$d/out.log" s6-svscan "$d/sv"; else start_bg "$d/out.log" runsvdir "$d/sv"; fi
  pid=$LASTPID
  measure_latency "$kind" "$LAT_SAMPLES" "$d/sv/s1/stamp"
  if [[ $kind == s6 ]]; then stop_tree "lat-$kind" "$pid" TERM; else stop_tree "lat-$kind" "$pid" HUP; fi
}

log "== restart latency ($LAT_SAMPLES samples; supervisord $LAT_SAMPLES_SLOW; pace $((PACE_NS / 1000000)) ms)"
lat_respawn
lat_tend
[[ -z $TEND_MUSL ]] || lat_tend tend-musl "$TEND_MUSL"
lat_scan runit
lat_scan s6
lat_supervisord

# ---------------------------------------------------------------- 3. log throughput
TP_CSV=$OUT/throughput.csv
echo "case,run,bytes,seconds,gb_per_s,exit_seconds,lines,missing,duplicates,malformed,out_of_order,files,dropped_reported" >"$TP_CSV"
TPD=$W/tp

# Verifies the files (given in rotation order) and appends a CSV row.
tp_record() { # case run start_ns end_ns exit_ns dropped files...
  local c=$1 r=$2 t0=$3 t1=$4 tx=$5 dropped=$6 v secs xsecs
  shift 6
  v=$("$BIN/verify" "$FLOOD_LINES" "$@" || true)
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.4f", (b-a)/1e9}')
  xsecs=NA
  [[ $tx != NA ]] && xsecs=$(awk -v a="$t0" -v b="$tx" 'BEGIN{printf "%.4f", (b-a)/1e9}')
  # shellcheck disable=SC2046
  set -- $(sed 's/[a-z_]*=//g' <<<"$v") # lines distinct missing dup malformed bytes ooo
  echo "$c,$r,$FLOOD_BYTES,$secs,$(awk -v b="$FLOOD_BYTES" -v s="$secs" 'BEGIN{printf "%.3f", b/s/1e9}'),$xsecs,$1,$3,$4,$5,$7,$NFILES,$dropped" >>"$TP_CSV"
  log "   $c run $r: ${secs}s  $v"
}

tp_reset() { rm -rf "$TPD"; mkdir -p "$TPD/logs"; }

tp_direct() { # run
  tp_reset
  "$BIN/flood" "$FLOOD_LINES" "$TPD/start" >"$TPD/logs/flood.out.log"
  local t1; t1=$("$BIN/monotime")
  NFILES=1 tp_record direct "$1" "$(cat "$TPD/start")" "$t1" NA NA "$TPD/logs/flood.out.log"
}

tp_cat() {
  tp_reset
  "$BIN/flood" "$FLOOD_LINES" "$TPD/start" | cat >"$TPD/logs/flood.out.log"
  local t1; t1=$("$BIN/monotime")
  NFILES=1 tp_record cat "$1" "$(cat "$TPD/start")" "$t1" NA NA "$TPD/logs/flood.out.log"
}

# Waits until all bytes are in the files, then until the supervisor pid exits.
tp_wait() { # label pid prefix -> sets T1 TX
  local label=$1 pid=$2 prefix=$3
  T1=$("$BIN/waitsize" "$TPD/logs" "$prefix" "$FLOOD_BYTES" 300000) || {
    log "WARNING: $label: only $T1 bytes arrived within 300 s"
    T1=$("$BIN/monotime")
  }
  TX=NA
}

tp_tend() { # run [label binary]
  tp_reset
  local label=${2:-tend} TEND=${3:-$TEND}
  local pid dropped files
  tend_service flood "" never "$BIN/flood" "$FLOOD_LINES" "$TPD/start" >"$TPD/spec.toml"
  start_bg "$TPD/tend.log" env TEND_STATE_DIR="$TPD/state" TEND_LOG_DIR="$TPD/logs" "$TEND" run "$TPD/spec.toml"
  pid=$LASTPID
  # one file for both streams, each line tagged ("out "): 4 bytes more a line
  FLOOD_BYTES=$((FLOOD_BYTES + 4 * FLOOD_LINES)) tp_wait "$label" "$pid" flood.
  # tend exits by itself once the child has exited and its output is drained.
  if wait_until 120 eval '! alive '"$pid"; then TX=$("$BIN/monotime"); else log "WARNING: $label did not exit"; fi
  stop_tree "tp-$label" "$pid" TERM
  dropped=$(grep -o '"log_dropped_lines": *[0-9]*' "$TPD/state/flood.json" | grep -o '[0-9]*$' || echo NA)
  mapfile -t files < <(find "$TPD/logs" -name 'flood.2*.log' | sort)
  NFILES=$((${#files[@]} + 1)) tp_record "$label" "$1" "$(cat "$TPD/start")" "$T1" "$TX" "$dropped" \
    "${files[@]}" "$TPD/logs/flood.log"
}

tp_supervisord() {
  tp_reset
  local pid files
  printf '[supervisord]\nnodaemon = true\nlogfile = %s\npidfile = %s\nchildlogdir = %s\nloglevel = warn\n\n' \
    "$TPD/supervisord.log" "$TPD/supervisord.pid" "$TPD" >"$TPD/supervisord.conf"
  cat >>"$TPD/supervisord.conf" <<EOF
[program:flood]
command = $BIN/flood $FLOOD_LINES $TPD/start
autostart = true
autorestart = false
startsecs = 0
stdout_logfile = $TPD/logs/flood.out.log
stdout_logfile_maxbytes = 64MB
stdout_logfile_backups = $ROT_KEEP
stderr_logfile = $TPD/logs/flood.err.log
EOF
  start_bg "$TPD/out.log" supervisord -n -c "$TPD/supervisord.conf"
  pid=$LASTPID
  tp_wait supervisord "$pid" flood.out
  stop_tree tp-supervisord "$pid" TERM
  # supervisord's backups: flood.out.log.N is the oldest.
  mapfile -t files < <(find "$TPD/logs" -name 'flood.out.log.*' -printf '%f\n' | sort -t. -k4,4nr | sed "s|^|$TPD/logs/|")
  NFILES=$((${#files[@]} + 1)) tp_record supervisord "$1" "$(cat "$TPD/start")" "$T1" NA NA \
    "${files[@]}" "$TPD/logs/flood.out.log"
}

tp_s6log() {
  tp_reset
  local files t1
  "$BIN/flood" "$FLOOD_LINES" "$TPD/start" | s6-log "n$ROT_KEEP" "s$ROT_BYTES" "$TPD/logs/s6"
  t1=$("$BIN/monotime")
  mapfile -t files < <(find "$TPD/logs/s6" -name '@*.s' | sort)
  NFILES=$((${#files[@]} + 1)) tp_record s6-log "$1" "$(cat "$TPD/start")" "$t1" "$t1" NA \
    "${files[@]}" "$TPD/logs/s6/current"
}

log "== log throughput ($FLOOD_LINES lines = $FLOOD_BYTES bytes, $TP_RUNS runs each, on tmpfs $W)"
# Warm-up: the first GiB written to a fresh tmpfs is much slower (page allocation).
"$BIN/flood" "$FLOOD_LINES" >"$W/warmup" && rm -f "$W/warmup"
for ((r = 1; r <= TP_RUNS; r++)); do
  tp_direct "$r"
  tp_cat "$r"
  tp_tend "$r"
  [[ -z $TEND_MUSL ]] || tp_tend "$r" tend-musl "$TEND_MUSL"
  tp_supervisord "$r"
  tp_s6log "$r"
done
rm -rf "$TPD"

echo "loadavg_end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"
: >"$OUT/leftovers.txt"
((${#LEFTOVERS[@]} == 0)) || printf '%s\n' "${LEFTOVERS[@]}" >"$OUT/leftovers.txt"

# ---------------------------------------------------------------- summary
log "== summary"
S=$OUT/summary.md
memstat() { # supervisor n part column(5=rss,6=pss) -> median
  awk -F, -v s="$1" -v n="$2" -v p="$3" -v c="$4" '$1==s && $2==n && $4==p {print $c}' "$MEM_CSV" | median
}
memrange() { # same args -> "min–max"
  awk -F, -v s="$1" -v n="$2" -v p="$3" -v c="$4" '$1==s && $2==n && $4==p {print $c}' "$MEM_CSV" | stats | awk '{print $5 "–" $6}'
}
fmt_mb() { awk -v k="$1" 'BEGIN{ if (k == "NA") print "NA"; else printf "%.2f MiB", k/1024 }'; }
pass() { if awk "BEGIN{exit !($1)}"; then echo "PASS"; else echo "**FAIL**"; fi; }

{
  echo "# tend benchmark summary"
  echo
  echo "Reproduce (from the repository root, as root): \`$REPRO\`"
  echo
  echo '```'
  cat "$OUT/machine.txt"
  echo '```'
  echo
  echo "## 1. Memory (median of $MEM_SAMPLES samples, KiB, from /proc/PID/smaps_rollup)"
  echo
  echo "| supervisor | processes counted | services | RSS | PSS | USS | RSS range | PSS range |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|"
  row() { # label what sup n part
    echo "| $1 | $2 | $4 | $(memstat "$3" "$4" "$5" 5) | $(memstat "$3" "$4" "$5" 6) | $(memstat "$3" "$4" "$5" 7) | $(memrange "$3" "$4" "$5" 5) | $(memrange "$3" "$4" "$5" 6) |"
  }
  row "C respawn loop" "loop" respawn 1 loop
  row "tend run" "supervisor only" tend-run 1 supervisor
  row "tend run" "guard only" tend-run 1 guard
  row "tend run" "guard + supervisor" tend-run 1 total
  if [[ -n $TEND_MUSL ]]; then
    row "tend run (musl)" "supervisor only" tend-musl-run 1 supervisor
    row "tend run (musl)" "guard only" tend-musl-run 1 guard
    row "tend run (musl)" "guard + supervisor" tend-musl-run 1 total
  fi
  row "tend up" "guard + supervisor" tend-up 1 total
  row "5 × tend run (sum)" "5 guards + 5 supervisors" tend-run-x5 5 all
  row "tend up" "supervisor only" tend-up "$MANY" supervisor
  row "tend up" "guard + supervisor" tend-up "$MANY" total
  row "supervisord" "python process" supervisord 1 python
  row "supervisord" "python process" supervisord "$MANY" python
  row "runit" "runsvdir + runsv" runit 1 total
  row "runit" "runsvdir + runsv" runit "$MANY" total
  row "s6" "s6-svscan + s6-supervise" s6 1 total
  row "s6" "s6-svscan + s6-supervise" s6 "$MANY" total
  echo
  echo "USS = Private_Clean + Private_Dirty (pages no other process maps). Sums of RSS over"
  echo "several processes count shared pages (libc, a shared binary's text) once per process."
  echo "The 5 × tend run row: $(awk -F, '$1=="tend-run-x5" && $4=="all" {print $6}' "$MEM_CSV" | median | awk '{printf "%.0f", $1/5}') KiB PSS per instance."
  echo
  echo "Per extra service, (mem$MANY - mem1) / $((MANY - 1)), KiB:"
  echo
  echo "| supervisor | RSS / service | PSS / service |"
  echo "|---|---:|---:|"
  incr() { # label sup1 part1 supN partN
    local r1 p1 rn pn
    r1=$(memstat "$2" 1 "$3" 5) p1=$(memstat "$2" 1 "$3" 6)
    rn=$(memstat "$4" "$MANY" "$5" 5) pn=$(memstat "$4" "$MANY" "$5" 6)
    awk -v l="$1" -v a="$r1" -v b="$rn" -v c="$p1" -v d="$pn" -v m="$MANY" \
      'BEGIN{printf "| %s | %.1f | %.1f |\n", l, (b-a)/(m-1), (d-c)/(m-1)}'
  }
  incr "tend (tend run → tend up $MANY)" tend-run total tend-up total
  incr "tend (tend up 1 → tend up $MANY)" tend-up total tend-up total
  incr "supervisord" supervisord python supervisord python
  incr "runit" runit total runit total
  incr "s6" s6 total s6 total
  echo
  echo "## 2. Restart latency: SIGKILL → first instruction of the new child (ms)"
  echo
  echo "Each child lives ≥ $((PACE_NS / 1000000)) ms before it is killed (runsv delays a restart by 1 s when the child ran < 1 s)."
  echo "s6-supervise $(dpkg-query -W -f '${Version}' s6 2>/dev/null) was seen to wait 1 s before every respawn here, however long the child ran."
  echo
  echo "| supervisor | samples | median | p10 | p90 | min | max |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  for s in respawn tend tend-musl runit s6 supervisord; do
    grep -q "^$s," "$LAT_CSV" || continue
    awk -F, -v s="$s" '$1==s {print $6/1e6}' "$LAT_CSV" | stats |
      awk -v s="$s" '{printf "| %s | %d | %.3f | %.3f | %.3f | %.3f | %.3f |\n", s, $1, $2, $3, $4, $5, $6}'
  done
  echo
  echo "## 3. Log throughput: $FLOOD_LINES lines of 100 bytes ($FLOOD_BYTES bytes) through each logger, on tmpfs"
  echo
  echo "Time from the flood's first instruction until every byte is in the log files. GB = 10^9 bytes."
  echo
  echo "| case | runs | median s | GB/s (median) | GB/s range | lines lost (max) | dup/malformed (max) | files |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  for c in direct cat tend tend-musl supervisord s6-log; do
    grep -q "^$c," "$TP_CSV" || continue
    read -r n ms _ <<<"$(awk -F, -v c="$c" '$1==c {print $4}' "$TP_CSV" | stats)"
    read -r _ mg _ _ gmin gmax <<<"$(awk -F, -v c="$c" '$1==c {print $5}' "$TP_CSV" | stats)"
    awk -F, -v c="$c" -v n="$n" -v ms="$ms" -v mg="$mg" -v lo="$gmin" -v hi="$gmax" '
      $1==c { if ($8>lost) lost=$8; if ($9+$10>bad) bad=$9+$10; files=$12 }
      END { printf "| %s | %d | %.3f | %.3f | %.3f–%.3f | %d | %d | %s |\n", c, n, ms, mg, lo, hi, lost, bad, files }' "$TP_CSV"
  done
  echo
  # Targets.
  lat_tend=$(awk -F, '$1=="tend" {print $6/1e6}' "$LAT_CSV" | median)
  lat_c=$(awk -F, '$1=="respawn" {print $6/1e6}' "$LAT_CSV" | median)
  rss_sup=$(memstat tend-run 1 supervisor 5) pss_sup=$(memstat tend-run 1 supervisor 6)
  rss_tot=$(memstat tend-run 1 total 5) pss_tot=$(memstat tend-run 1 total 6)
  inc_r=$(awk -v a="$rss_tot" -v b="$(memstat tend-up "$MANY" total 5)" -v m="$MANY" 'BEGIN{print (b-a)/(m-1)}')
  inc_p=$(awk -v a="$pss_tot" -v b="$(memstat tend-up "$MANY" total 6)" -v m="$MANY" 'BEGIN{print (b-a)/(m-1)}')
  gb_tend=$(awk -F, '$1=="tend" {print $5}' "$TP_CSV" | median)
  gb_cat=$(awk -F, '$1=="cat" {print $5}' "$TP_CSV" | median)
  lost_tend=$(awk -F, '$1=="tend" {l+=$8+$9+$10; if ($13!="0" && $13!="NA") l+=$13} END{print l+0}' "$TP_CSV")
  echo "## Targets for tend (this run)"
  echo
  echo "| target | measured | result |"
  echo "|---|---|---|"
  echo "| restart latency median ≤ 1.2× the C loop ($lat_c ms) | $lat_tend ms ($(awk -v a="$lat_tend" -v b="$lat_c" 'BEGIN{printf "%.2f", a/b}')× the C loop) | $(pass "$lat_tend <= 1.2 * $lat_c") |"
  echo "| \`tend run\` RSS ≤ 3 MiB — supervisor alone | $(fmt_mb "$rss_sup") | $(pass "$rss_sup <= 3072") |"
  echo "| \`tend run\` RSS ≤ 3 MiB — guard + supervisor | $(fmt_mb "$rss_tot") | $(pass "$rss_tot <= 3072") |"
  echo "| \`tend run\` PSS ≤ 1 MiB — supervisor alone | $(fmt_mb "$pss_sup") | $(pass "$pss_sup <= 1024") |"
  echo "| \`tend run\` PSS ≤ 1 MiB — guard + supervisor | $(fmt_mb "$pss_tot") | $(pass "$pss_tot <= 1024") |"
  echo "| ≤ 50 KiB per extra service (\`tend run\` → \`tend up $MANY\`), RSS | $(printf '%.1f' "$inc_r") KiB | $(pass "$inc_r <= 50") |"
  echo "| ≤ 50 KiB per extra service (\`tend run\` → \`tend up $MANY\`), PSS | $(printf '%.1f' "$inc_p") KiB | $(pass "$inc_p <= 50") |"
  echo "| log capture with rotation ≥ 0.9× \`flood \| cat\` ($gb_cat GB/s) | $gb_tend GB/s ($(awk -v a="$gb_tend" -v b="$gb_cat" 'BEGIN{printf "%.2f", a/b}')×) | $(pass "$gb_tend >= 0.9 * $gb_cat") |"
  echo "| zero lines lost by tend (all runs) | $lost_tend lost/duplicated/malformed | $(pass "$lost_tend == 0") |"
  echo
  echo "## Leftover processes after stopping a supervisor"
  echo
  if ((${#LEFTOVERS[@]})); then printf -- '- %s\n' "${LEFTOVERS[@]}"; else echo "None."; fi
  echo
  echo "Raw data: memory.csv, latency.csv, throughput.csv, machine.txt in $(basename "$OUT")/."
} >"$S"

cat "$S"
log "done: $S"
