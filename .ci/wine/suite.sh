#!/usr/bin/env bash
# The Windows service suite, run under Wine 8 in a fresh private prefix.
#
# Checks, each printed as PASS:/FAIL: (the last line is "N passed, M failed"; the exit
# status is non-zero on any failure):
#   1. tend_service::cmdline against the real Windows parsers (argv-roundtrip.exe:
#      Rust std's argv and CommandLineToArgvW, through raw_arg and CreateProcessW);
#   2. hello-service.exe as a self-installing service from "C:\Program Files\tend test"
#      (a path with a space): install → quoted ImagePath → sc start → RUNNING → HTTP on
#      loopback → sc stop with a request in flight → that request still answered,
#      STOPPED, exit code 0, graceful marker written → install again is "unchanged",
#      a changed start type is "updated" → run-service outside the SCM is refused →
#      uninstall of a running service stops it first → sc query: no such service →
#      a setting Wine cannot store (delayed auto-start) fails install without leaving
#      a half-installed service.
# Every wait polls with a deadline; every wine command runs under `timeout`. The prefix
# gets a persistent wineserver (Debian's wrapper runs it with -p0, so it and
# services.exe would otherwise exit between commands) which is killed at the end.
# Needs .ci/wine/setup.sh and .ci/wine/build.sh first (run-all.sh does all three).
set -uo pipefail
. "$(dirname "$0")/env.sh"

EXE_DIR=$WIN_OUT
SVC=hello-service
WORK=$(mktemp -d /tmp/tend-wine-suite.XXXXXX)
export WINEPREFIX=$WORK/prefix WINEDEBUG=-all
# No Mono/Gecko installers during prefix creation: nothing here needs them.
export WINEDLLOVERRIDES="mscoree,mshtml="
INST_UNIX="$WINEPREFIX/drive_c/Program Files/tend test"
INST_WIN='C:\Program Files\tend test'
EXE_WIN="$INST_WIN\\hello-service.exe"
MARKER_WIN="$INST_WIN\\graceful marker.txt"
MARKER_UNIX="$INST_UNIX/graceful marker.txt"
LOG=$WORK/wine.log

passed=0
failed=0
t0=$(date +%s)
pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
# check "description" command...: one PASS/FAIL line from the command's status.
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }

cleanup() {
  timeout 30 wineserver -k >/dev/null 2>&1 || true
  timeout 30 wineserver -w >/dev/null 2>&1 || true
  if [ "${KEEP_WINE_WORK:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

w() { timeout 60 wine "$@"; }                     # a bounded wine command
svc_state() { w sc query "$SVC" 2>/dev/null | tr -d '\r' | awk '/STATE/ {print $4}'; }
svc_field() { w sc query "$SVC" 2>/dev/null | tr -d '\r' | awk -v f="$1" '$1 == f {print $3}'; }
# wait_until SECONDS command...: polls the command every 0.2 s until it succeeds.
wait_until() {
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@"; do
    [ "$(date +%s)" -ge "$deadline" ] && return 1
    sleep 0.2
  done
}
state_is() { [ "$(svc_state)" = "$1" ]; }
# http_get PATH: prints the response (headers and body) from the service.
http_get() {
  timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" "$2" >&3; cat <&3' _ "$PORT" "$1" 2>/dev/null
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port_closed() { ! port_open "$PORT"; }
healthy() { http_get /healthz | tr -d '\r' | tail -n1 | grep -qx ok; }
svc_absent() { local out; out=$(w sc query "$SVC" 2>&1 | tr -d '\r'); [ $? -ne 0 ] && ! grep -q SERVICE_NAME <<<"$out"; }
reg_absent() { ! w reg query "HKLM\\SYSTEM\\CurrentControlSet\\Services\\$SVC" >/dev/null 2>&1; }
# in_prefix PATTERN: a process matching PATTERN runs in this suite's prefix (not in
# another Wine session on the machine).
in_prefix() {
  local p
  for p in $(pgrep -f "$1"); do
    { tr '\0' '\n' <"/proc/$p/environ"; } 2>/dev/null | grep -qxF "WINEPREFIX=$WINEPREFIX" && return 0
  done
  return 1
}
services_up() { in_prefix 'services\.exe'; }
no_service_process() { ! in_prefix 'hello-service\.exe run-service'; }
install() { w "$EXE_WIN" install --listen "127.0.0.1:$PORT" --shutdown-marker "$MARKER_WIN" "$@" 2>&1 | tr -d '\r'; }

for tool in wine wineserver wineboot timeout pgrep; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is missing (run .ci/wine/setup.sh)"; echo "0 passed, 1 failed"; exit 1; }
done
for exe in "$EXE_DIR/hello-service.exe" "$EXE_DIR/examples/argv-roundtrip.exe"; do
  [ -f "$exe" ] || { echo "FAIL: $exe is missing (run .ci/wine/build.sh)"; echo "0 passed, 1 failed"; exit 1; }
done

# A free loopback port: start at a pid-dependent place, skip ports in use.
PORT=$(( 20000 + $$ % 20000 ))
while port_open "$PORT"; do PORT=$((PORT + 1)); done

echo "==> fresh prefix $WINEPREFIX, persistent wineserver"
s=$(date +%s)
timeout 180 wineboot -i >>"$LOG" 2>&1
timeout 60 wineserver -w
timeout 30 wineserver -p
timeout 120 wineboot >>"$LOG" 2>&1
check "wine prefix booted, services.exe running ($(( $(date +%s) - s ))s)" wait_until 20 services_up

echo "==> 1. command-line quoting against the Windows parsers"
s=$(date +%s)
out=$(w "$EXE_DIR/examples/argv-roundtrip.exe" 2>>"$LOG" | tr -d '\r'); rc=$?
while IFS= read -r line; do
  case $line in
    PASS:*) pass "cmdline: ${line#PASS: }" ;;
    FAIL:*) fail "cmdline: ${line#FAIL: }" ;;
    note:*) echo "$line" ;;
  esac
done <<<"$out"
check "argv-roundtrip.exe exited 0 ($(( $(date +%s) - s ))s)" [ "$rc" = 0 ]

echo "==> 2. hello-service.exe as a self-installing service (port $PORT)"
mkdir -p "$INST_UNIX"
cp "$EXE_DIR/hello-service.exe" "$INST_UNIX/"
out=$(install)
check "install: created ($out)" grep -q "service $SVC created" <<<"$out"
image=$(w reg query "HKLM\\SYSTEM\\CurrentControlSet\\Services\\$SVC" /v ImagePath 2>/dev/null | tr -d '\r')
want="\"$EXE_WIN\" run-service --listen 127.0.0.1:$PORT --shutdown-marker \"$MARKER_WIN\""
check "ImagePath is the quoted command line: $want" grep -qF "$want" <<<"$image"
check "sc query: STOPPED after install" wait_until 10 state_is STOPPED
w sc start "$SVC" >>"$LOG" 2>&1
check "sc start: RUNNING" wait_until 20 state_is RUNNING
check "GET /healthz answers ok on 127.0.0.1:$PORT" wait_until 10 healthy
greeting=$(http_get / | tr -d '\r' | tail -n1)
pid=$(sed -n 's/.*(pid \([0-9]*\)).*/\1/p' <<<"$greeting")
check "GET / greets with the service's pid ($greeting)" [ -n "$pid" ]

# A request in flight across the stop: connect and send half of the head, stop the
# service, then finish the request; it must still be answered.
exec 5<>"/dev/tcp/127.0.0.1/$PORT"
printf 'GET /healthz HTTP/1.1\r\n' >&5
w sc stop "$SVC" >>"$LOG" 2>&1
printf 'Host: localhost\r\n\r\n' >&5
inflight=$(timeout 10 cat <&5 | tr -d '\r')
exec 5>&-
check "a request in flight during the stop is still answered (200)" grep -q '^HTTP/1.1 200' <<<"$inflight"
check "sc stop: STOPPED" wait_until 20 state_is STOPPED
check "stopped cleanly: WIN32_EXIT_CODE 0" [ "$(svc_field WIN32_EXIT_CODE)" = 0 ]
check "port $PORT closed after the stop" wait_until 10 port_closed
check "graceful marker written: graceful $pid" grep -qx "graceful $pid" "$MARKER_UNIX"

out=$(install)
check "install again: unchanged ($out)" grep -q "service $SVC unchanged" <<<"$out"
out=$(install --start manual)
check "install --start manual: updated ($out)" grep -q "service $SVC updated (start type)" <<<"$out"
start=$(w reg query "HKLM\\SYSTEM\\CurrentControlSet\\Services\\$SVC" /v Start 2>/dev/null | tr -d '\r')
check "start type stored as demand start (3)" grep -q '0x3' <<<"$start"

out=$(w "$EXE_WIN" run-service 2>&1 | tr -d '\r'); rc=$?
check "run-service outside the SCM is refused (exit $rc)" \
  bash -c '[ "$1" = 64 ] && grep -q "started by the service control manager" <<<"$2"' _ "$rc" "$out"

w sc start "$SVC" >>"$LOG" 2>&1
check "sc start again: RUNNING" wait_until 20 state_is RUNNING
check "answers again" wait_until 10 healthy
out=$(w "$EXE_WIN" uninstall 2>&1 | tr -d '\r')
check "uninstall of the running service: removed ($out)" grep -q "service $SVC removed" <<<"$out"
check "its process is gone" wait_until 10 no_service_process
check "port $PORT closed" wait_until 10 port_closed
check "sc query: the service does not exist" svc_absent
check "registry key removed" reg_absent
out=$(w "$EXE_WIN" uninstall 2>&1 | tr -d '\r')
check "uninstall again: not installed ($out)" grep -q "service $SVC not installed" <<<"$out"

# Wine's SCM cannot store delayed auto-start (QueryServiceConfig2W/ChangeServiceConfig2W
# level 3): install must fail and leave nothing half-installed behind.
out=$(install --start delayed-auto); rc=$?
check "install --start delayed-auto fails cleanly under Wine (exit $rc: ${out##*: })" \
  bash -c '[ "$1" != 0 ] && grep -q "cannot store the delayed auto-start" <<<"$2"' _ "$rc" "$out"
check "and leaves no service behind" svc_absent

echo "suite took $(( $(date +%s) - t0 ))s"
if [ "$failed" -gt 0 ]; then
  echo "--- wine log (tail)"; tail -n 40 "$LOG" 2>/dev/null
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
