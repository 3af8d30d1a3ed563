#!/usr/bin/env bash
# The smoke suite of the static builds: each binary in DIST (default dist/, made by
# .ci/static/build.sh) runs, the ARM ones under qemu-user (qemu-aarch64-static,
# qemu-arm-static), the x86_64 one natively. For each:
#   tend --version; tend check of a spec (and a bad one refused at its line);
#   tend run of a small child: it starts, is restarted after a SIGKILL, its log file
#   rotates at log.max_size, and SIGTERM to tend stops it gracefully (the child's TERM
#   trap runs, tend exits 0, nothing is left running); then, started again, SIGKILL
#   to the supervisor itself: the guard kills the child and its grandchild.
# qemu-user does not emulate PR_SET_CHILD_SUBREAPER, so under it `tend run` must start
# with the documented weaker containment and say so; natively it must not warn.
# Usage: .ci/static/smoke.sh [DIST]
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/.ci/lib/check.sh"
DIST=${1:-$ROOT/dist}
command -v jq >/dev/null || { echo "smoke: jq is missing" >&2; exit 1; }

WORK=$(mktemp -d /tmp/tend-static-smoke.XXXXXX)
# The child's and grandchild's $0, so that this run's processes (and no other run's)
# can be found.
MARK=tend-static-smoke-$$
SUP_PIDS=()
cleanup() {
  for p in "${SUP_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  # Children of an emulated tend run natively (/bin/sh): end any that a failed check left.
  pkill -KILL -f "$MARK" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
# This run's processes, but not the pgrep itself nor a shell whose command line
# names the marker.
left() { pgrep -f "^/bin/sh -c .* $MARK-(child|grandchild)\$" >/dev/null; }

# The child: a shell that starts a grandchild (a loop in its process group), writes
# 200-byte lines every 10 ms (so the 4 kB log rotates within a second) and ends
# cleanly on SIGTERM.
cat >"$WORK/edge.toml" <<SPEC
name = "edge"
command = "/bin/sh"
args = ["-c", "/bin/sh -c 'while :; do sleep 1; done' $MARK-grandchild & trap 'echo stopping on TERM; exit 0' TERM; while :; do printf 'line %0194d\\n' 0; sleep 0.01; done", "$MARK-child"]
[restart]
policy = "always"
[restart.backoff]
initial = "100ms"
[stop]
timeout = "10s"
[log]
max_size = "4kB"
keep = 2
SPEC
printf 'name = "bad"\ncommand = "/bin/true"\n[restart]\npolicy = "sometimes"\n' >"$WORK/bad.toml"

# run_one LABEL EMULATOR... : the checks for one binary ($BIN), run with EMULATOR (none
# for native).
run_one() {
  local label=$1; shift
  local -a T=("$@" "$BIN")
  local d="$WORK/$label" st log out pid pid2 sup seen
  mkdir -p "$d"; st="$d/state"; log="$d/log"; out="$d/run.out"
  CHECK_LABEL=$label

  check "tend --version runs" "${T[@]}" --version
  check "tend check accepts the spec" "${T[@]}" check -q "$WORK/edge.toml"
  if "${T[@]}" check "$WORK/bad.toml" >/dev/null 2>"$d/bad.err"; then
    fail "tend check refuses restart.policy = \"sometimes\""
  else
    check "tend check refuses a bad value at its line (bad.toml:4)" grep -q 'bad.toml:4' "$d/bad.err"
  fi

  "${T[@]}" run --state-dir "$st" --log-dir "$log" "$WORK/edge.toml" >"$out" 2>&1 &
  sup=$!; SUP_PIDS+=("$sup")
  status() { "${T[@]}" status --state-dir "$st" --json 2>/dev/null; }
  child_pid() { status | jq -er '.[0] | select(.state == "running") | .pid'; }
  if wait_until 30 child_pid; then
    pid=$(child_pid); pass "tend run starts the child (pid $pid)"
  else
    fail "tend run starts the child"; sed 's/^/  | /' "$out"; kill -KILL "$sup" 2>/dev/null; return
  fi
  if [ "$#" -gt 0 ]; then
    check "under qemu-user: a warning names the weaker containment" grep -q 'cannot make tend a child subreaper' "$out"
  else
    if grep -q 'subreaper' "$out"; then fail "natively: no containment warning"; else pass "natively: no containment warning"; fi
  fi

  kill -KILL "$pid"
  restarted() { local p; p=$(child_pid) && [ "$p" != "$pid" ] && status | jq -e '.[0].restarts >= 1' >/dev/null; }
  if wait_until 30 restarted; then
    pid2=$(child_pid); pass "a killed child is restarted (pid $pid -> $pid2, restarts counted)"
  else
    fail "a killed child is restarted"; status | sed 's/^/  | /'
  fi

  # Rotated files are edge.<timestamp>.log; keep = 2 of them. Every name seen is
  # noted, until 5 rotations have happened.
  old_logs() { find "$log" -name 'edge.*.log*' -printf '%f\n'; }
  # (Not "$d": check's own local d would shadow it.)
  seen="$d/seen"
  rotated_5() { old_logs >>"$seen"; [ "$(sort -u "$seen" | wc -l)" -ge 5 ]; }
  nothing_dropped() { status | jq -e '.[0].log_dropped_lines == 0'; }
  check "the log rotates at log.max_size (5 edge.<time>.log files seen)" wait_until 30 rotated_5 ||
    ls -la "$log" | sed 's/^/  | /'
  check "after 5 rotations, 2 old files are kept, no more" test "$(old_logs | wc -l)" -le 2 ||
    ls -la "$log" | sed 's/^/  | /'
  check "tend counted no dropped log lines" nothing_dropped

  kill -TERM "$sup"
  local code=0
  if wait_until 30 bash -c "! kill -0 $sup"; then
    wait "$sup" || code=$?
    check "SIGTERM stops tend run with status 0 (got $code)" test "$code" = 0
  else
    fail "SIGTERM stops tend run within 30 s"; kill -KILL "$sup"
  fi
  check "the child stopped gracefully (its TERM trap ran)" grep -rq 'stopping on TERM' "$log"
  check "nothing of the service is left running" wait_until 5 eval '! left'

  # The supervisor itself killed: the guard kills the groups it listed (without a
  # subreaper, under qemu-user, the grandchild is re-parented to init, not the guard).
  "${T[@]}" run --state-dir "$st" --log-dir "$log" "$WORK/edge.toml" >"$out" 2>&1 &
  sup=$!; SUP_PIDS+=("$sup")
  grandchild() { pgrep -f "^/bin/sh -c .* $MARK-grandchild\$" >/dev/null; }
  supervisor() { status | jq -er '.[0] | select(.state == "running" and .supervisor_alive) | .supervisor_pid'; }
  if wait_until 30 grandchild && wait_until 30 supervisor; then
    kill -KILL "$(supervisor)"
    code=0
    if wait_until 30 bash -c "! kill -0 $sup"; then
      wait "$sup" || code=$?
      check "SIGKILL to the supervisor: the guard exits non-zero (got $code)" test "$code" != 0
    else
      fail "SIGKILL to the supervisor: the guard exits"; kill -KILL "$sup"
    fi
    check "SIGKILL to the supervisor: the child and its grandchild are killed" wait_until 5 eval '! left' ||
      pgrep -af "$MARK" | sed 's/^/  | /'
  else
    fail "tend run starts again, with the grandchild"; sed 's/^/  | /' "$out"; kill -KILL "$sup" 2>/dev/null
  fi
}

found=0
for BIN in "$DIST"/tend-*-linux-musl*; do
  [ -x "$BIN" ] || continue
  found=1
  target=${BIN##*/tend-}
  echo "==> $target ($(stat -c %s "$BIN") bytes)"
  case $target in
    # Natively. (Not under qemu-x86_64 too: there, with qemu-user 7.2, the guard
    # faults inside its SIGTERM handler (SIGSEGV, si_code SI_KERNEL, before its one
    # system call), which the same binary never does on an x86_64 kernel.)
    x86_64-*)   run_one "$target/native" ;;
    aarch64-*)  emu=qemu-aarch64-static ;;
    armv7-*)    emu=qemu-arm-static ;;
    *) fail "no emulator known for $target"; continue ;;
  esac
  [[ $target == x86_64-* ]] && continue
  command -v "$emu" >/dev/null || { fail "$emu is missing (Debian's qemu-user-static)"; continue; }
  run_one "$target/qemu" "$emu"
done
[ "$found" = 1 ] || fail "no static builds in $DIST (run .ci/static/build.sh first)"
CHECK_LABEL=
check_summary
