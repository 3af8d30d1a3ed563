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
#      a half-installed service;
#   3. tend_service::windows's service control, acl and eventlog APIs (winapi-probe.exe,
#      which installs itself as the service tend-probe): query/start/stop/wait_state,
#      a custom control code received by the service, account SIDs, grant/restrict read
#      back as far as Wine stores DACLs (see the probe's note line), an event source
#      registered (values checked with reg.exe), reported to and removed.
# The prefix, the bookkeeping and the helpers come from lib.sh (shared with
# tend-suite.sh): every wait polls with a deadline, every wine command runs under
# `timeout`, the prefix's persistent wineserver is killed at the end.
# Needs .ci/wine/setup.sh and .ci/wine/build.sh first (run-all.sh does all three).
set -uo pipefail
SUITE=suite
. "$(dirname "$0")/lib.sh"

SVC=hello-service
INST_UNIX="$WINEPREFIX/drive_c/Program Files/tend test"
INST_WIN='C:\Program Files\tend test'
EXE_WIN="$INST_WIN\\hello-service.exe"
MARKER_WIN="$INST_WIN\\graceful marker.txt"
MARKER_UNIX="$INST_UNIX/graceful marker.txt"

svc_state() { svc_state_of "$SVC"; }
svc_field() { svc_field_of "$SVC" "$1"; }
state_is() { [ "$(svc_state)" = "$1" ]; }
port_closed() { ! port_open "$PORT"; }
healthy() { http_get "$PORT" /healthz | tr -d '\r' | tail -n1 | grep -qx ok; }
svc_absent() { svc_absent_of "$SVC"; }
reg_absent() { ! w reg query "HKLM\\SYSTEM\\CurrentControlSet\\Services\\$SVC" >/dev/null 2>&1; }
no_service_process() { ! in_prefix 'hello-service\.exe run-service'; }
install() { w "$EXE_WIN" install --listen "127.0.0.1:$PORT" --shutdown-marker "$MARKER_WIN" "$@" 2>&1 | tr -d '\r'; }

need_tools "$EXE_DIR/hello-service.exe" "$EXE_DIR/examples/argv-roundtrip.exe" \
  "$EXE_DIR/examples/winapi-probe.exe" "$EXE_DIR/examples/ctrl-c-probe.exe" "$EXE_DIR/tend-fixture.exe"
PORT=$(free_port)
boot_prefix

echo "==> 1. command-line quoting against the Windows parsers"
probe cmdline "$EXE_DIR/examples/argv-roundtrip.exe"

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
greeting=$(http_get "$PORT" / | tr -d '\r' | tail -n1)
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

echo "==> 3. service control, permissions and the event log through the API"
probe winapi "$EXE_DIR/examples/winapi-probe.exe"

echo "==> 4. console Ctrl-C, the way tend stops a child, against the test fixture"
probe ctrl-c "$EXE_DIR/examples/ctrl-c-probe.exe"

finish
