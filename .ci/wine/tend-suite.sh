#!/usr/bin/env bash
# tend.exe under Wine's real service control manager, in a fresh private prefix.
#
# A spec for hello-service.exe (installed in "C:\Program Files\tend test", a path with
# a space) goes through the whole operator's cycle: install --dry-run changes nothing →
# install --now (tend.exe copied to C:\Program Files\tend, the spec and its directories
# under C:\ProgramData\tend, the SCM registration with a quoted command line, the
# Event Log source) → sc query RUNNING and `tend status` agrees → HTTP on loopback →
# the child is killed and the supervisor restarts it → custom control 128 restarts it
# (the Ctrl-C sent by the supervisor itself, not a helper process, and not taken as a
# stop by the supervisor) → sc stop: the child got its Ctrl-C and shut down gracefully
# (marker), nothing is left running → tend start/stop → install again is a no-op →
# uninstall --purge leaves nothing. Then the failure paths: a setting Wine cannot store rolls the install back
# completely; a child that always fails stops the service with the service-specific
# exit code 3; a child that ignores Ctrl-C and leaves grandchildren is killed, tree
# and all, when the stop times out; a user account takes its password from the
# environment (refused without it, never written anywhere), and an unknown account
# fails the install without leaving anything; a service of the same name that is not
# tend's is neither taken over nor removed, and a shared log folder survives --purge.
# Then `tend run` in a console: Ctrl-C stops the child gracefully through the helper
# process, and tend itself survives it and exits 0. Last, `tend stop NAME` and `tend
# start NAME` reach one service of a running `tend up` through its control pipe;
# `tend logs NAME` of an installed service shows the line it wrote to stderr; and a
# service with health checks is RUNNING once healthy, and replaced when it hangs.
# Then upgrades of an installed service with [update] and [health], releases signed
# on the host with minisign: a good one goes live, one signed by another key is
# refused, one that never becomes ready is rolled back by itself (the SCM seeing
# RUNNING throughout), `tend rollback` by hand, a stopped service switched for its
# next start, and the Event Log entries 1010/1011/2004 (from Wine's debug output).
# Last, [[listen]]: an installed service's socket, bound and held by the supervisor and
# inherited by each start of hello-service.exe (its environment naming the handle),
# takes four restarts of the child (control 128) under a curl loop on the host without
# a failed request.
# Prints PASS:/FAIL: lines and "N passed, M failed" last; non-zero exit on failure.
# Needs .ci/wine/setup.sh and .ci/wine/build.sh first (run-all.sh does all three).
set -uo pipefail
SUITE=tend
. "$(dirname "$0")/lib.sh"

TEND_EXE=$EXE_DIR/tend.exe
HELLO_EXE=$EXE_DIR/hello-service.exe
FIXTURE_EXE=$EXE_DIR/tend-fixture.exe
need_tools "$TEND_EXE" "$HELLO_EXE" "$FIXTURE_EXE"

C=$WINEPREFIX/drive_c
SRC_UNIX=$C/tend-src                      # where the operator keeps tend.exe and specs
SRC_WIN='C:\tend-src'
APP_UNIX="$C/Program Files/tend test"
APP_WIN='C:\Program Files\tend test'
DATA_UNIX=$C/ProgramData/tend
MARKER_UNIX=$SRC_UNIX/graceful.txt
PORT=$(free_port)

t() { w "$SRC_WIN\\tend.exe" "$@" 2>&1 | tr -d '\r'; }   # tend.exe, output without CRs
state_is() { [ "$(svc_state_of "$1")" = "$2" ]; }
healthy() { http_get "$PORT" /healthz | tr -d '\r' | tail -n1 | grep -qx ok; }
# status_json NAME: `tend status NAME --json` (stdout only, CRLF line ends made LF) as
# one compact object; empty (and status 1) if it printed no JSON object.
status_json() {
  w "$SRC_WIN\\tend.exe" status "$1" --json 2>>"$LOG" | tr -d '\r' |
    jq -ec 'if type == "array" then .[0] else . end | objects' 2>>"$LOG"
}
# status_field NAME FIELD: one top-level field of it, raw (empty if absent or null).
status_field() { status_json "$1" | jq -r --arg f "$2" '.[$f] // empty'; }
child_pid() { status_field hello pid; }
restarts_at_least() { [ "$(status_field hello restarts)" -ge "$1" ] 2>/dev/null; }
no_process() { ! in_prefix "$1"; }
svc_present() { ! svc_absent_of "$1"; }
count_at_least() { [ "$(prefix_pids "$1" | wc -l)" -ge "$2" ]; }

# (services.exe, and the services it starts, print their Event Log calls to $LOG.)
SERVICES_WINEDEBUG=-all,+eventlog,fixme+advapi
boot_prefix

mkdir -p "$SRC_UNIX" "$APP_UNIX"
cp "$TEND_EXE" "$SRC_UNIX/"
cp "$HELLO_EXE" "$APP_UNIX/"
cp "$FIXTURE_EXE" "$APP_UNIX/"
cat >"$SRC_UNIX/hello.toml" <<SPEC
name = "hello"
display_name = "Hello via tend"
description = "hello-service supervised by tend (Wine suite)"
command = '$APP_WIN\\hello-service.exe'
args = ["--listen", "127.0.0.1:$PORT", "--shutdown-marker", '$SRC_WIN\\graceful.txt']

[restart]
policy = "always"

[stop]
timeout = "10s"
SPEC

echo "==> 1. install"
out=$(t install "$SRC_WIN\\hello.toml" --dry-run)
check "install --dry-run lists the registration" grep -q 'create service hello' <<<"$out"
check "install --dry-run changes nothing (no service, no C:\\ProgramData\\tend)" \
  bash -c '! [ -e "$1" ]' _ "$DATA_UNIX"
check "  ... and sc query knows no such service" svc_absent_of hello
out=$(t install "$SRC_WIN\\hello.toml" --now); rc=$?
echo "$out" | sed 's/^/    | /'
check "install --now: exit 0, running" bash -c '[ "$1" = 0 ] && grep -q "is running" <<<"$2"' _ "$rc" "$out"
check "tend.exe copied to C:\\Program Files\\tend" [ -f "$C/Program Files/tend/tend.exe" ]
check "installed spec in C:\\ProgramData\\tend" [ -f "$DATA_UNIX/hello.toml" ]
check "state and log directories beside it" test -d "$DATA_UNIX/state/hello" -a -d "$DATA_UNIX/logs/hello"
image=$(w reg query 'HKLM\SYSTEM\CurrentControlSet\Services\hello' /v ImagePath 2>/dev/null | tr -d '\r')
want='"C:\Program Files\tend\tend.exe" run --service --state-dir C:\ProgramData\tend\state\hello --log-dir C:\ProgramData\tend\logs\hello C:\ProgramData\tend\hello.toml'
check "ImagePath is the quoted tend.exe command line" grep -qF "$want" <<<"$image"
src=$(w reg query 'HKLM\SYSTEM\CurrentControlSet\Services\EventLog\Application\hello' /v EventMessageFile 2>/dev/null | tr -d '\r')
check "Event Log source registered with tend.exe's messages" grep -qF 'C:\Program Files\tend\tend.exe' <<<"$src"

echo "==> 2. running"
check "sc query: RUNNING" wait_until 20 state_is hello RUNNING
st=$(status_json hello)
check "tend status agrees: SCM running, supervisor running" \
  jq -e '.active == "running" and .state == "running"' <<<"$st" || echo "    | $st"
check "GET /healthz answers ok on 127.0.0.1:$PORT" wait_until 15 healthy
pid1=$(child_pid)
check "the child's pid is known ($pid1)" [ -n "$pid1" ]

echo "==> 3. the supervisor restarts a killed child"
w taskkill /f /pid "$pid1" >>"$LOG" 2>&1
check "restarted after taskkill /f (restarts >= 1)" wait_until 20 restarts_at_least 1
pid2=$(child_pid)
check "a new child ($pid1 -> $pid2)" bash -c '[ -n "$1" ] && [ "$1" != "$2" ]' _ "$pid2" "$pid1"
check "answers again" wait_until 15 healthy
check "sc query: still RUNNING" state_is hello RUNNING

echo "==> 4. custom control 128 restarts the child gracefully"
# (Wine's sc.exe has no `control`; tend control calls ControlService the same way.)
# (With the Event Log calls traced, so the audit entry's copy can be read back; the
# trace lines go to $LOG.)
WINE_TRACE='^[0-9a-f]+:(fixme|trace|warn|err):'
out=$(WINEDEBUG=-all,+eventlog,fixme+advapi t control hello 128)
grep -E "$WINE_TRACE" <<<"$out" >>"$LOG"
out=$(grep -vE "$WINE_TRACE" <<<"$out")
check "tend control hello 128: sent, action as the spec spells it ($out)" grep -q "sent control 128 to .hello. (restart)" <<<"$out"
ev=$(event_log_calls | grep -E '^1012 ' | grep -F 'Information: hello|control 128|')
check "  ... audited: Event Log entry 1012 with the account and its SID, the result and the line's hash" \
  grep -qE '^1012 Information: hello\|control 128\|[^|]+ \(S-1-[0-9-]+\)\|[^|]*\|ok\|[0-9a-f]{64}$' <<<"$ev" \
  || event_log_calls | grep -E '^1012 ' | sed 's/^/    | /'
out=$(t audit hello --verify)
check "  ... tend audit hello --verify reads %ProgramData%'s log: chain intact ($out)" \
  grep -qE '^C:\\ProgramData\\tend\\state\\audit\.jsonl: [1-9][0-9]* lines, chain intact' <<<"$out"
js=$(w "$SRC_WIN\\tend.exe" audit hello --json 2>/dev/null | tr -d '\r')
check "  ... tend audit --json: the control's line names the account's SID" \
  jq -e 'map(select(.action == "control 128")) | last | .sid | startswith("S-1-")' <<<"$js" || echo "    | $js"
check "restarts >= 2 after control 128" wait_until 20 restarts_at_least 2
check "the old child stopped gracefully (marker: graceful $pid2)" wait_until 10 grep -qx "graceful $pid2" "$MARKER_UNIX"
log=$DATA_UNIX/logs/hello/tend.log
check "  ... its Ctrl-C came from the supervisor itself, which has no console (no helper)" \
  grep -q "restarting on the service manager's request: sent Ctrl-C to pid $pid2 (directly)" "$log"
check "  ... and the Ctrl-C that reached the supervisor too did not stop the service" state_is hello RUNNING
check "answers again" wait_until 15 healthy
pid3=$(child_pid)

echo "==> 4b. the SCM's PAUSE and CONTINUE, and tend pause: the child's threads suspended"
# (Wine's sc.exe has no pause/continue: winapi-probe sends the same ControlService
# codes. A suspended hello-service.exe does not answer /healthz: what shows it is frozen.)
cp "$EXE_DIR/examples/winapi-probe.exe" "$SRC_UNIX/"
probe() { w "$SRC_WIN\\winapi-probe.exe" "$@" 2>&1 | tr -d '\r'; }
not_healthy() { ! healthy; }
state_word() { status_field hello state; }
out=$(probe control hello pause)
check "SERVICE_CONTROL_PAUSE accepted by the service ($out)" grep -q "sent pause to hello" <<<"$out"
check "sc query: PAUSED" wait_until 15 state_is hello PAUSED
check "  ... tend status --json: paused, the same child ($pid3)" \
  bash -c '[ "$1" = paused ] && [ "$2" = "$3" ]' _ "$(state_word)" "$(child_pid)" "$pid3"
check "  ... its threads are suspended: GET /healthz gets no answer" not_healthy
ev_has() { event_log_calls | grep -qE "$1"; }
check "  ... Event Log entry 1013 (paused) with the child's pid" \
  wait_until 10 ev_has "^1013 Information: hello\|$pid3\|suspended [0-9]+ threads of [0-9]+ processes in its job$"
out=$(probe control hello continue)
check "SERVICE_CONTROL_CONTINUE accepted ($out)" grep -q "sent continue to hello" <<<"$out"
check "sc query: RUNNING again" wait_until 15 state_is hello RUNNING
check "  ... it answers /healthz again" wait_until 15 healthy
check "  ... tend status --json: running, the same child" \
  bash -c '[ "$1" = running ] && [ "$2" = "$3" ]' _ "$(state_word)" "$(child_pid)" "$pid3"
check "  ... Event Log entry 1014 (continued)" \
  wait_until 10 ev_has "^1014 Information: hello\|$pid3\|[^|]+\|resumed [0-9]+ threads" \
  || event_log_calls | grep -E '^101[34] ' | sed 's/^/    | /'
out=$(t pause hello)
check "tend pause hello: through the supervisor's channel ($out)" grep -q "paused (pid $pid3): suspended" <<<"$out"
check "  ... and the SCM is told: sc query PAUSED" wait_until 15 state_is hello PAUSED
check "  ... GET /healthz gets no answer" not_healthy
# Step 5 stops it while paused: the child must be let run to get its Ctrl-C.

echo "==> 5. sc stop (while paused): Ctrl-C to the child, graceful, nothing left"
w sc stop hello >>"$LOG" 2>&1
check "sc stop: STOPPED" wait_until 30 state_is hello STOPPED
check "stopped cleanly: WIN32_EXIT_CODE 0" [ "$(svc_field_of hello WIN32_EXIT_CODE)" = 0 ]
check "the child got Ctrl-C and shut down gracefully (marker: graceful $pid3)" grep -qx "graceful $pid3" "$MARKER_UNIX"
check "no hello-service.exe left" wait_until 10 no_process 'hello-service\.exe'
check "no tend.exe supervisor left" wait_until 10 no_process 'tend\.exe run'
check "port $PORT closed" wait_until 10 bash -c '! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null' _ "$PORT"
check "the supervisor's own log says it stopped gracefully" grep -q "stopped gracefully" "$log"
check "the child's output is in hello.log, its graceful shutdown too" \
  bash -c 'grep -q "listening on 127.0.0.1:$2" "$1" && grep -q "graceful shutdown" "$1"' \
  _ "$DATA_UNIX/logs/hello/hello.log" "$PORT"

echo "==> 6. tend start / stop / logs / status"
out=$(t start hello)
check "tend start: running ($out)" grep -q "is running" <<<"$out"
check "answers" wait_until 15 healthy
out=$(t logs hello -n 5)
check "tend logs shows the child's output" grep -q "hello-service listening on 127.0.0.1:$PORT" <<<"$out"
out=$(t status)
check "tend status lists hello as running" grep -qE '^hello +running +running' <<<"$out"
out=$(t stop hello)
check "tend stop: stopped ($out)" grep -q "stopped" <<<"$out"
check "sc query: STOPPED" state_is hello STOPPED

echo "==> 7. idempotent install"
out=$(t install "$SRC_WIN\\hello.toml")
check "install again: nothing to do ($out)" grep -q "nothing to do" <<<"$out"
sed -i 's/^description = .*/description = "changed"/' "$SRC_UNIX/hello.toml"
out=$(t install "$SRC_WIN\\hello.toml" --dry-run)
check "a changed description: the dry run plans an update" grep -q "update service hello" <<<"$out"

echo "==> 8. uninstall --purge"
out=$(t uninstall hello --purge); rc=$?
echo "$out" | sed 's/^/    | /'
check "uninstall --purge: exit 0" [ "$rc" = 0 ]
check "sc query: the service does not exist" svc_absent_of hello
check "the installed spec, state and logs are gone" \
  bash -c '! [ -e "$1/hello.toml" ] && ! [ -e "$1/state/hello" ] && ! [ -e "$1/logs/hello" ]' _ "$DATA_UNIX"
check "the Event Log source is gone" \
  bash -c '! timeout 60 wine reg query "HKLM\\SYSTEM\\CurrentControlSet\\Services\\EventLog\\Application\\hello" >/dev/null 2>&1'
out=$(t uninstall hello)
check "uninstall again: not installed" grep -q "not installed" <<<"$out"

echo "==> 9. a failed install leaves the system as it was"
cat >"$SRC_UNIX/delayed.toml" <<SPEC
name = "delayed"
command = '$APP_WIN\\hello-service.exe'
[windows]
start = "delayed-auto"
SPEC
out=$(t install "$SRC_WIN\\delayed.toml"); rc=$?
echo "$out" | sed 's/^/    | /'
check "delayed-auto (which Wine cannot store) fails the install (exit $rc)" [ "$rc" != 0 ]
check "  ... and it was rolled back: no service" svc_absent_of delayed
check "  ... no installed spec, no state or log directory" \
  bash -c '! [ -e "$1/delayed.toml" ] && ! [ -e "$1/state/delayed" ] && ! [ -e "$1/logs/delayed" ]' _ "$DATA_UNIX"

echo "==> 10. a child that fails for good stops the service with exit code 3"
cat >"$SRC_UNIX/failing.toml" <<SPEC
name = "failing"
command = '$APP_WIN\\tend-fixture.exe'
args = ["--exit", "7"]
[restart]
max_restarts = 2
backoff = { initial = "50ms", max = "100ms" }
[windows]
start = "manual"
SPEC
out=$(t install "$SRC_WIN\\failing.toml"); rc=$?
check "installed (exit $rc)" [ "$rc" = 0 ]
# (Waiting for the exit codes, not only for STOPPED: a query made before the start
# took effect also reads STOPPED.)
check "sc start failing" sc_start failing
check "it stops by itself, with the service-specific exit code 3 (WIN32_EXIT_CODE 1066)" \
  wait_until 30 svc_stopped_with failing 1066 3 || svc_query failing | sed 's/^/    | /'
out=$(t status failing)
check "tend status says why: the restart limit" grep -q "giving up" <<<"$out"
js=$(w "$SRC_WIN\\tend.exe" doctor failing --json 2>/dev/null | tr -d '\r')
check "tend doctor failing: [crash-loop], and [last-exit] says exit code 7" \
  jq -e '.[0].findings | (map(.id) | index("crash-loop")) and (map(select(.id == "last-exit"))[0].summary | contains("exit code 7"))' <<<"$js" \
  || echo "    | $js"
t uninstall failing --purge >>"$LOG" 2>&1

echo "==> 10b. tend doctor names a program removed after the install"
cp "$FIXTURE_EXE" "$APP_UNIX/doomed.exe"
cat >"$SRC_UNIX/doomed.toml" <<SPEC
name = "doomed"
command = '$APP_WIN\\doomed.exe'
args = ["--hang"]
[windows]
start = "manual"
SPEC
out=$(t install "$SRC_WIN\\doomed.toml"); rc=$?
check "installed (exit $rc)" [ "$rc" = 0 ]
rm -f "$APP_UNIX/doomed.exe"
js=$(w "$SRC_WIN\\tend.exe" doctor doomed --json 2>/dev/null | tr -d '\r')
check "tend doctor doomed: [program] names doomed.exe, with a fix" \
  jq -e '.[0].findings | map(select(.id == "program"))[0] | (.summary + (.evidence | join(" ")) | contains("doomed.exe")) and (.fix != null)' <<<"$js" \
  || echo "    | $js"
t uninstall doomed --purge >>"$LOG" 2>&1

echo "==> 11. a child that ignores Ctrl-C is killed with its whole tree after the timeout"
PIDS_WIN="$SRC_WIN\\grandchildren.txt"
cat >"$SRC_UNIX/stubborn.toml" <<SPEC
name = "stubborn"
command = '$APP_WIN\\tend-fixture.exe'
args = ["--ignore-term", "--grandchildren", "2", "--grandchild-pids", '$PIDS_WIN', "--hang"]
[stop]
timeout = "2s"
[windows]
start = "manual"
SPEC
out=$(t install "$SRC_WIN\\stubborn.toml" --now); rc=$?
check "installed and running (exit $rc)" [ "$rc" = 0 ]
check "the child and its 2 grandchildren run" wait_until 15 count_at_least 'tend-fixture\.exe' 3
s=$(date +%s)
w sc stop stubborn >>"$LOG" 2>&1
check "sc stop: STOPPED" wait_until 30 state_is stubborn STOPPED
check "after the 2s stop timeout ($(( $(date +%s) - s ))s)" [ $(( $(date +%s) - s )) -ge 2 ]
check "no tend-fixture.exe left (the Job Object ended the tree)" wait_until 10 no_process 'tend-fixture\.exe'
check "the supervisor's log says it killed the tree" grep -q "killed the process tree" "$DATA_UNIX/logs/stubborn/tend.log"
t uninstall stubborn --purge >>"$LOG" 2>&1

echo "==> 12. a user account: its password from the environment, never stored by tend"
# Wine's local user is the Unix user running the suite.
WUSER=$(id -un)
user_spec() {
  cat >"$SRC_UNIX/useracct.toml" <<SPEC
name = "useracct"
command = '$APP_WIN\\hello-service.exe'
[windows]
account = '.\\$1'
password_env = "TEND_TEST_PASSWORD"
start = "manual"
SPEC
}
user_spec "$WUSER"
out=$(t install "$SRC_WIN\\useracct.toml" </dev/null); rc=$?
check "without the variable: refused (exit $rc), naming it" \
  bash -c '[ "$1" != 0 ] && grep -q "TEND_TEST_PASSWORD, which is not set" <<<"$2"' _ "$rc" "$out"
check "  ... and nothing was installed" svc_absent_of useracct
out=$(TEND_TEST_PASSWORD='s3cret-Pa55' t install "$SRC_WIN\\useracct.toml"); rc=$?
check "with it: installed (exit $rc)" [ "$rc" = 0 ]
obj=$(w reg query 'HKLM\SYSTEM\CurrentControlSet\Services\useracct' /v ObjectName 2>/dev/null | tr -d '\r')
check "the SCM has the account .\\$WUSER" grep -qF ".\\$WUSER" <<<"$obj"
check "the password is in no file tend wrote" bash -c '! grep -rqF "s3cret-Pa55" "$1"' _ "$DATA_UNIX"
check "  ... nor in its output" bash -c '! grep -qF "s3cret-Pa55" <<<"$1"' _ "$out"
t uninstall useracct --purge >>"$LOG" 2>&1
user_spec nosuchuser
out=$(TEND_TEST_PASSWORD=x t install "$SRC_WIN\\useracct.toml"); rc=$?
check "an account that does not exist fails the install (exit $rc)" \
  bash -c '[ "$1" != 0 ] && grep -q "No security ID mapped" <<<"$2"' _ "$rc" "$out"
check "  ... rolled back: no service, no state directory" \
  bash -c '! [ -e "$1/state/useracct" ]' _ "$DATA_UNIX"
check "  ... and sc query knows no such service" svc_absent_of useracct

echo "==> 13. what is not tend's stays untouched"
w "$APP_WIN\\hello-service.exe" install --name foreign >>"$LOG" 2>&1
cat >"$SRC_UNIX/foreign.toml" <<SPEC
name = "foreign"
command = '$APP_WIN\\hello-service.exe'
SPEC
out=$(t install "$SRC_WIN\\foreign.toml"); rc=$?
check "install over a service that is not tend's is refused (exit $rc)" \
  bash -c '[ "$1" != 0 ] && grep -q "is not tend" <<<"$2"' _ "$rc" "$out"
image=$(w reg query 'HKLM\SYSTEM\CurrentControlSet\Services\foreign' /v ImagePath 2>/dev/null | tr -d '\r')
check "  ... and its command line is still its own" grep -q 'hello-service.exe" run-service' <<<"$image"
t uninstall foreign >>"$LOG" 2>&1
check "tend uninstall leaves that service alone" svc_present foreign
w "$APP_WIN\\hello-service.exe" uninstall --name foreign >>"$LOG" 2>&1
mkdir -p "$C/shared-logs" && echo keep >"$C/shared-logs/other-app.log"
cat >"$SRC_UNIX/shared.toml" <<SPEC
name = "shared"
command = '$APP_WIN\\hello-service.exe'
[log]
dir = 'C:\\shared-logs'
[windows]
start = "manual"
SPEC
out=$(t install "$SRC_WIN\\shared.toml"); rc=$?
check "a spec logging into an existing folder installs (exit $rc)" [ "$rc" = 0 ]
check "  ... with a warning that names the icacls grant" grep -q 'warning: log.dir .* icacls' <<<"$out"
t uninstall shared --purge >>"$LOG" 2>&1
check "uninstall --purge leaves that folder and its files" [ -f "$C/shared-logs/other-app.log" ]

echo "==> 14. tend run in a console: Ctrl-C reaches the child through the helper, tend lives on"
# (wine started from this script gives tend a console; SIGINT to its process is Wine's
# Ctrl-C for it, as a key press in a terminal would be.)
cat >"$SRC_UNIX/console.toml" <<SPEC
name = "console"
command = '$APP_WIN\\tend-fixture.exe'
args = ["--on-term", '$SRC_WIN\\console-term.txt', "--hang"]
[stop]
timeout = "5s"
SPEC
RUN_OUT=$WORK/console-run.out
timeout 60 wine "$SRC_WIN\\tend.exe" run --state-dir "$SRC_WIN\\state" --log-dir "$SRC_WIN\\logs" \
  "$SRC_WIN\\console.toml" >"$RUN_OUT" 2>&1 &
run_bg=$!
# console_tend: the pids of that tend.exe (not the `timeout` around it).
console_tend() {
  local p
  for p in $(prefix_pids 'tend\.exe run .*console\.toml'); do
    [ "$(cat "/proc/$p/comm" 2>/dev/null)" != timeout ] && echo "$p"
  done
}
child_started() { grep -q 'console: started (pid' "$RUN_OUT"; }
check "tend run started the child" wait_until 20 child_started
for p in $(console_tend); do kill -INT "$p"; done
wait "$run_bg"; rc=$?
tr -d '\r' <"$RUN_OUT" | sed 's/^/    | /'
check "tend run stopped after Ctrl-C: exit 0 ($rc)" [ "$rc" = 0 ]
check "the child got Ctrl-C and shut down gracefully" grep -qx graceful "$SRC_UNIX/console-term.txt"
check "  ... sent through the helper (the supervisor kept its console), not directly" \
  bash -c 'grep -q "stopping on Ctrl-C: sent Ctrl-C to pid [0-9]*," "$1" && ! grep -q "(directly)" "$1"' _ "$RUN_OUT"
check "  ... the supervisor said it stopped gracefully" grep -q "stopped gracefully" "$RUN_OUT"
check "no tend-fixture.exe left" wait_until 10 no_process 'tend-fixture\.exe'

echo "==> 15. tend stop/start NAME reach a service of a running tend up (its control pipe)"
cat >"$SRC_UNIX/up.toml" <<SPEC
[[service]]
name = "api"
command = '$APP_WIN\\tend-fixture.exe'
args = ["--hang"]

[[service]]
name = "worker"
command = '$APP_WIN\\tend-fixture.exe'
args = ["--hang"]
SPEC
UP_OUT=$WORK/up.out
UPSTATE_WIN="$SRC_WIN\\upstate"
UPSTATE_UNIX=$SRC_UNIX/upstate
timeout 120 wine "$SRC_WIN\\tend.exe" up --state-dir "$UPSTATE_WIN" "$SRC_WIN\\up.toml" >"$UP_OUT" 2>&1 &
up_bg=$!
up_state_is() { [ "$(jq -r .state "$UPSTATE_UNIX/$1.json" 2>/dev/null)" = "$2" ]; }
fixtures_are() { [ "$(prefix_pids 'tend-fixture\.exe' | wc -l)" -eq "$1" ]; }
check "tend up runs api and worker" wait_until 30 bash -c \
  '[ "$(jq -r .state "$1/api.json")" = running ] && [ "$(jq -r .state "$1/worker.json")" = running ]' _ "$UPSTATE_UNIX"
check "  ... two tend-fixture.exe" wait_until 10 fixtures_are 2
out=$(t stop api --state-dir "$UPSTATE_WIN"); rc=$?
check "tend stop api: exit 0 ($out)" bash -c '[ "$1" = 0 ] && grep -q "is stopped" <<<"$2"' _ "$rc" "$out"
check "  ... api's state file says stopped" up_state_is api stopped
check "  ... the worker runs on" up_state_is worker running
check "  ... one tend-fixture.exe left" wait_until 10 fixtures_are 1
out=$(t start api --state-dir "$UPSTATE_WIN"); rc=$?
check "tend start api: exit 0, running ($out)" bash -c '[ "$1" = 0 ] && grep -q "is running" <<<"$2"' _ "$rc" "$out"
check "  ... two tend-fixture.exe again" wait_until 10 fixtures_are 2
for p in $(prefix_pids 'tend\.exe up '); do
  [ "$(cat "/proc/$p/comm" 2>/dev/null)" != timeout ] && kill -INT "$p"
done
wait "$up_bg"; rc=$?
tr -d '\r' <"$UP_OUT" | sed 's/^/    | /'
check "tend up stopped after Ctrl-C: exit 0 ($rc)" [ "$rc" = 0 ]
check "no tend-fixture.exe left" wait_until 10 no_process 'tend-fixture\.exe'

echo "==> 16. tend logs NAME of an installed service shows what it wrote to stderr"
# As Go's log package does, the program logs to stderr: that line is in `tend logs`,
# with its stdout, both streams in one file (each line tagged), and --stderr /
# --stdout show one stream each.
cat >"$SRC_UNIX/golog.toml" <<SPEC
name = "golog"
command = '$APP_WIN\\tend-fixture.exe'
args = ["--print", "listening on :8080", "--eprint", "shutting down gracefully", "--hang"]
[stop]
timeout = "5s"
[windows]
start = "manual"
SPEC
out=$(t install "$SRC_WIN\\golog.toml" --now); rc=$?
check "install --now of golog: exit 0, running" bash -c '[ "$1" = 0 ] && grep -q "is running" <<<"$2"' _ "$rc" "$out" \
  || echo "$out" | sed 's/^/    | /'
logs_show_stderr() { t logs golog | grep -qx 'shutting down gracefully'; }
check "tend logs golog shows the line it wrote to stderr" wait_until 20 logs_show_stderr \
  || t logs golog | sed 's/^/    | /'
out=$(t logs golog)
check "  ... with its stdout line" grep -qx 'listening on :8080' <<<"$out" || echo "$out" | sed 's/^/    | /'
out=$(t logs golog --stderr)
check "tend logs golog --stderr: the stderr line only" \
  bash -c 'grep -qx "shutting down gracefully" <<<"$1" && ! grep -q "listening" <<<"$1"' _ "$out" \
  || echo "$out" | sed 's/^/    | /'
out=$(t logs golog --stdout)
check "tend logs golog --stdout: the stdout line only" \
  bash -c 'grep -qx "listening on :8080" <<<"$1" && ! grep -q "shutting down" <<<"$1"' _ "$out" \
  || echo "$out" | sed 's/^/    | /'
check "both streams in one file, each line tagged: logs\\golog\\golog.log" \
  bash -c 'tr -d "\r" <"$1" | grep -qx "err shutting down gracefully"' _ "$DATA_UNIX/logs/golog/golog.log"
t uninstall golog --purge >>"$LOG" 2>&1
check "  ... uninstalled" wait_until 20 svc_absent_of golog

echo "==> 17. health checks under the SCM"
# Ready (RUNNING) only once the probe passes; a hung child (every thread suspended:
# it neither answers nor handles its Ctrl-C) is found unhealthy, killed after the stop
# timeout and replaced by the supervisor, the SCM seeing it RUNNING throughout; an
# install --now whose probe never passes fails with the probe's error, leaving nothing.
HPORT=$(free_port 17)
cat >"$SRC_UNIX/hale.toml" <<SPEC
name = "hale"
command = '$APP_WIN\\hello-service.exe'
args = ["--listen", "127.0.0.1:$HPORT"]
[stop]
timeout = "3s"
[health]
http = "http://127.0.0.1:$HPORT/healthz"
interval = "500ms"
timeout = "1s"
retries = 2
[windows]
start = "manual"
SPEC
hale_health() { status_json hale | jq -r '.health.state // empty'; }
out=$(t install "$SRC_WIN\\hale.toml" --now); rc=$?
check "install --now of hale: exit 0, running" bash -c '[ "$1" = 0 ] && grep -q "is running" <<<"$2"' _ "$rc" "$out" \
  || echo "$out" | sed 's/^/    | /'
check "  ... healthy when it returns ($(status_json hale | jq -c '.health.last_probe.result'))" [ "$(hale_health)" = healthy ]
check "  ... sc query: RUNNING" state_is hale RUNNING
hpid=$(status_field hale pid)
out=$(w "$APP_WIN\\tend-fixture.exe" --suspend "$hpid" 2>&1 | tr -d '\r'); rc=$?
check "every thread of the child $hpid suspended (exit $rc)" [ "$rc" = 0 ] || echo "$out" | sed 's/^/    | /'
hale_replaced() {
  local p; p=$(status_field hale pid)
  [ -n "$p" ] && [ "$p" != "$hpid" ] && [ "$(hale_health)" = healthy ] && [ "$(status_field hale restarts)" -ge 1 ]
}
check "the hung child is found unhealthy and replaced" wait_until 40 hale_replaced \
  || status_json hale | sed 's/^/    | /'
check "  ... the SCM still says RUNNING" state_is hale RUNNING
check "  ... tend.log says why" \
  bash -c 'tr -d "\r" <"$1" | grep -qF "hale: unhealthy: 2 probes in a row failed, the last: GET http://127.0.0.1:$2/healthz: no answer within 1s"' \
  _ "$DATA_UNIX/logs/hale/tend.log" "$HPORT" || tr -d '\r' <"$DATA_UNIX/logs/hale/tend.log" | tail -n 15 | sed 's/^/    | /'
t uninstall hale --purge >>"$LOG" 2>&1
check "  ... uninstalled" wait_until 20 svc_absent_of hale
NPORT=$(free_port 1717)  # (not HPORT, where hello-service listens)
cat >"$SRC_UNIX/hale.toml" <<SPEC
name = "hale"
command = '$APP_WIN\\hello-service.exe'
args = ["--listen", "127.0.0.1:$HPORT"]
[health]
http = "http://127.0.0.1:$NPORT/healthz"
interval = "300ms"
retries = 1
[windows]
start = "manual"
recovery = []
SPEC
out=$(t install "$SRC_WIN\\hale.toml" --now); rc=$?
check "install --now of a never-healthy service fails naming the probe's error (exit $rc)" \
  bash -c '[ "$1" = 1 ] && grep -qF "GET http://127.0.0.1:$3/healthz: cannot connect to 127.0.0.1:$3" <<<"$2"' _ "$rc" "$out" "$NPORT" \
  || echo "$out" | sed 's/^/    | /'
check "  ... and leaves nothing: no service, no spec" \
  bash -c '! [ -e "$1/hale.toml" ]' _ "$DATA_UNIX"
check "  ... sc query knows no hale" wait_until 20 svc_absent_of hale

echo "==> 18. upgrades under the SCM"
# Releases signed on the host with the real minisign tool. A good one (a copy of the
# fixture, signed as 2.0) goes live through the running service's control pipe: a new
# child from ...\releases\upg\2.0\, healthy, the SCM RUNNING; one signed by another
# key is refused with nothing changed; one that never becomes healthy (hello-service.exe
# as the release's tend-fixture.exe: it refuses the fixture's arguments and exits) is
# rolled back to 2.0 by itself, the SCM seeing RUNNING throughout; `tend rollback` goes
# back to the spec's command by hand.
if ! command -v minisign >/dev/null; then
  fail "minisign is missing (run .ci/wine/setup.sh)"
else
UPORT=$(free_port 5018)  # (an offset of its own, far from 17's)
KEYS=$WORK/keys && mkdir -p "$KEYS"
minisign -G -W -p "$KEYS/release.pub" -s "$KEYS/release.key" >>"$LOG" 2>&1
minisign -G -W -p "$KEYS/stranger.pub" -s "$KEYS/stranger.key" >>"$LOG" 2>&1
PUBKEY=$(sed -n 2p "$KEYS/release.pub")
# release FILE KEY VERSION: FILE (under C:\tend-src) signed by KEY as VERSION.
release() { minisign -S -s "$KEYS/$2.key" -m "$SRC_UNIX/$1" -t "version:$3" >>"$LOG" 2>&1; }
cp "$FIXTURE_EXE" "$SRC_UNIX/rel-2.0.exe" && release rel-2.0.exe release 2.0
cp "$FIXTURE_EXE" "$SRC_UNIX/rel-2.1.exe" && release rel-2.1.exe stranger 2.1
cp "$HELLO_EXE" "$SRC_UNIX/rel-3.0.exe" && release rel-3.0.exe release 3.0
cp "$FIXTURE_EXE" "$SRC_UNIX/rel-2.2.exe" && release rel-2.2.exe release 2.2
check "four releases signed with minisign (2.0, 2.1 by another key, 3.0, 2.2)" \
  test -s "$SRC_UNIX/rel-2.0.exe.minisig" -a -s "$SRC_UNIX/rel-2.1.exe.minisig" -a -s "$SRC_UNIX/rel-3.0.exe.minisig" -a -s "$SRC_UNIX/rel-2.2.exe.minisig"
# (The command without .exe, as Windows allows: a release holds tend-fixture.exe, the
# file the command resolves to.)
cat >"$SRC_UNIX/upg.toml" <<SPEC
name = "upg"
command = '$APP_WIN\\tend-fixture'
args = ["--http-stop", "$UPORT", "--hang"]
[stop]
timeout = "3s"
[health]
http = "http://127.0.0.1:$UPORT/healthz"
interval = "300ms"
timeout = "1s"
retries = 2
[update]
public_keys = ["$PUBKEY"]
verify_within = "8s"
[windows]
start = "manual"
SPEC
REL_UNIX=$DATA_UNIX/state/upg/releases/upg
u() { t upgrade upg "$@"; }
upg_pid() { status_field upg pid; }
upg_healthy() { [ "$(status_json upg | jq -r '.health.state // empty')" = healthy ]; }
index_field() { jq -c ".$1" "$REL_UNIX/index.json" 2>/dev/null; }
# fixture_images: the command lines of the prefix's tend-fixture.exe processes (Wine
# shows a process's Windows command line in /proc/PID/cmdline), one a line.
fixture_images() {
  local p
  for p in $(prefix_pids 'tend-fixture\.exe'); do
    tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null; echo
  done
}
# runs_from PATTERN: exactly one tend-fixture.exe runs, and its image matches PATTERN.
runs_from() {
  local images; images=$(fixture_images)
  [ "$(grep -c . <<<"$images")" = 1 ] && grep -q "$1" <<<"$images"
}
out=$(t install "$SRC_WIN\\upg.toml" --now); rc=$?
check "install --now of upg (with [update] and [health]): exit 0, running" \
  bash -c '[ "$1" = 0 ] && grep -q "is running" <<<"$2"' _ "$rc" "$out" || echo "$out" | sed 's/^/    | /'
check "  ... healthy" wait_until 15 upg_healthy
check "  ... the supervisor made releases\\upg\\.incoming for tend upgrade" test -d "$REL_UNIX/.incoming"
u0=$(upg_pid)

out=$(u "$SRC_WIN\\rel-2.0.exe" --dry-run); rc=$?
check "upgrade --dry-run: exit 0, would switch to release 2.0 ($rc)" \
  bash -c '[ "$1" = 0 ] && grep -q "would switch .upg. from the spec.s command to release 2.0" <<<"$2"' _ "$rc" "$out" \
  || echo "$out" | sed 's/^/    | /'
check "  ... nothing changed: the same child, no index, no release folder" \
  bash -c '[ "$1" = "$2" ] && ! [ -e "$3/index.json" ] && ! [ -e "$3/2.0" ]' _ "$(upg_pid)" "$u0" "$REL_UNIX"

out=$(u "$SRC_WIN\\rel-2.0.exe"); rc=$?
echo "$out" | sed 's/^/    | /'
check "upgrade to the good release: exit 0, upgraded to release 2.0 ($rc)" \
  bash -c '[ "$1" = 0 ] && grep -q "upgraded from the spec.s command to release 2.0: ready after" <<<"$2"' _ "$rc" "$out"
check "  ... sc query: RUNNING" state_is upg RUNNING
u2=$(upg_pid)
check "  ... a new child ($u0 -> $u2)" bash -c '[ -n "$1" ] && [ "$1" != "$2" ]' _ "$u2" "$u0"
check "  ... the release is on disk: 2.0\\tend-fixture.exe, as signed" cmp -s "$REL_UNIX/2.0/tend-fixture.exe" "$FIXTURE_EXE"
check "  ... the only tend-fixture.exe runs from state\\upg\\releases\\upg\\2.0\\" \
  runs_from 'releases\\upg\\2\.0\\tend-fixture\.exe' || fixture_images | sed 's/^/    | /'
check "  ... index.json: current 2.0, before it the spec's command" \
  bash -c '[ "$(jq -c "[.current, .previous]" "$1/index.json")" = "[\"2.0\",[null]]" ]' _ "$REL_UNIX"
check "  ... tend status --json: releases.current 2.0" [ "$(status_json upg | jq -r '.releases.current')" = 2.0 ]
check "  ... healthy" upg_healthy
check "  ... the artifact's copy in .incoming was removed" bash -c '[ -z "$(ls -A "$1")" ]' _ "$REL_UNIX/.incoming"
out=$(t status upg)
check "tend status shows the release and the one before it" grep -q "release 2.0 (before: the spec's command)" <<<"$out" \
  || echo "$out" | sed 's/^/    | /'

out=$(u "$SRC_WIN\\rel-2.1.exe"); rc=$?
check "a release signed by another key is refused: exit 1, not in update.public_keys, nothing changed ($rc)" \
  bash -c '[ "$1" = 1 ] && grep -q "which is not in update.public_keys" <<<"$2" && grep -q "nothing changed" <<<"$2"' _ "$rc" "$out" \
  || echo "$out" | sed 's/^/    | /'
check "  ... the same child, still release 2.0, no 2.1 folder" \
  bash -c '[ "$1" = "$2" ] && [ "$(jq -r .current "$3/index.json")" = 2.0 ] && ! [ -e "$3/2.1" ]' _ "$(upg_pid)" "$u2" "$REL_UNIX"
check "  ... sc query: RUNNING" state_is upg RUNNING

# The SCM's view, polled all through the failed upgrade and its rollback.
SCM_SEEN=$WORK/upg-scm.txt
( while [ ! -e "$WORK/upg-done" ]; do svc_state_of upg; done ) >"$SCM_SEEN" 2>/dev/null &
scm_bg=$!
s=$(date +%s)
out=$(u "$SRC_WIN\\rel-3.0.exe"); rc=$?
took=$(( $(date +%s) - s ))
touch "$WORK/upg-done"; wait "$scm_bg"
echo "$out" | sed 's/^/    | /'
check "a release that never becomes healthy: exit 1 after ${took}s, not ready within 8s, rolled back to release 2.0 ($rc)" \
  bash -c '[ "$1" = 1 ] && grep -q "release 3.0 was not ready within 8s" <<<"$2" && grep -q "rolled back to release 2.0" <<<"$2"' _ "$rc" "$out"
check "  ... the SCM said RUNNING all along ($(sort | uniq -c <"$SCM_SEEN" | xargs))" \
  bash -c '[ -s "$1" ] && [ "$(sort -u "$1")" = RUNNING ]' _ "$SCM_SEEN"
check "  ... index.json: current 2.0 again, 3.0 rolled back" \
  bash -c '[ "$(jq -c "[.current, .rolled_back]" "$1/index.json")" = "[\"2.0\",[\"3.0\"]]" ]' _ "$REL_UNIX"
check "  ... healthy again on release 2.0" wait_until 15 upg_healthy
check "  ... a new child, from ...\\releases\\upg\\2.0\\ again" \
  bash -c '[ -n "$1" ] && [ "$1" != "$2" ]' _ "$(upg_pid)" "$u2"
check "  ... the only tend-fixture.exe runs from ...\\2.0\\" \
  runs_from 'releases\\upg\\2\.0\\tend-fixture\.exe' || fixture_images | sed 's/^/    | /'

out=$(t rollback upg); rc=$?
check "tend rollback: exit 0, back to the spec's command ($rc)" \
  bash -c '[ "$1" = 0 ] && grep -q "rolled back to the spec.s command" <<<"$2"' _ "$rc" "$out" || echo "$out" | sed 's/^/    | /'
check "  ... healthy" wait_until 15 upg_healthy
check "  ... the only tend-fixture.exe is the spec's command again" \
  runs_from 'tend test\\tend-fixture\.exe' || fixture_images | sed 's/^/    | /'
check "  ... tend status --json: releases.current null, nothing before it, 3.0 and 2.0 rolled back" \
  [ "$(status_json upg | jq -c '.releases | [.current, .previous, .rolled_back]')" = '[null,[],["3.0","2.0"]]' ]
check "  ... sc query: RUNNING" state_is upg RUNNING
out=$(t rollback upg); rc=$?
check "tend rollback again: nothing before the spec's command (exit $rc)" \
  bash -c '[ "$1" = 1 ] && grep -q "no release before it" <<<"$2"' _ "$rc" "$out" || echo "$out" | sed 's/^/    | /'

# A service that is not running is switched by tend upgrade itself; its next start
# runs the release (index.json decides: Windows has no `current` link).
w sc stop upg >>"$LOG" 2>&1
check "sc stop upg: STOPPED" wait_until 30 state_is upg STOPPED
out=$(u "$SRC_WIN\\rel-2.2.exe"); rc=$?
check "upgrade of the stopped service: exit 0, switched to release 2.2, runs it at its next start ($rc)" \
  bash -c '[ "$1" = 0 ] && grep -q "switched from the spec.s command to release 2.2; it is not running" <<<"$2"' _ "$rc" "$out" \
  || echo "$out" | sed 's/^/    | /'
check "  ... staged by tend upgrade itself as 2.2\\tend-fixture.exe" cmp -s "$REL_UNIX/2.2/tend-fixture.exe" "$FIXTURE_EXE"
check "  ... still STOPPED, no tend-fixture.exe" bash -c '[ "$1" = STOPPED ] && [ -z "$2" ]' _ "$(svc_state_of upg)" "$(fixture_images)"
check "sc start upg" sc_start upg
check "  ... healthy" wait_until 20 upg_healthy
check "  ... on release 2.2: the only tend-fixture.exe runs from ...\\2.2\\" \
  wait_until 10 runs_from 'releases\\upg\\2\.2\\tend-fixture\.exe' || fixture_images | sed 's/^/    | /'

# The Event Log: Wine stores no entries, but prints each ReportEventW call (see
# event_log_calls in lib.sh). The upgrades' entries, in order:
events=$(event_log_calls | grep -E '^(1010|1011|2004) ' | grep -F ': upg|')
want=("1010 Information: upg|the spec's command|release 2.0"
  "1011 Information: upg|release 2.0|"
  "1010 Information: upg|release 2.0|release 3.0"
  "2004 Warning: upg|release 3.0|release 2.0|release 3.0 was not ready within 8s: "
  "2004 Warning: upg|release 2.0|the spec's command|on request (tend rollback)")
check "Event Log: ${#want[@]} entries 1010/1011/2004 reported for upg" [ "$(grep -c . <<<"$events")" = "${#want[@]}" ] \
  || echo "$events" | sed 's/^/    | /'
for i in "${!want[@]}"; do
  check "  ... $((i + 1)): ${want[$i]}" bash -c '[[ "$1" == "$2"* ]]' _ "$(sed -n "$((i + 1))p" <<<"$events")" "${want[$i]}"
done
# The same lifecycle events in the supervisor's log.
ulog=$DATA_UNIX/logs/upg/tend.log
for line in "upg: upgrading from the spec's command to release 2.0" \
  "upg: upgraded to release 2.0: ready after" \
  "upg: rolling back from release 3.0 to release 2.0: release 3.0 was not ready within 8s" \
  "upg: rolling back from release 2.0 to the spec's command: on request"; do
  check "tend.log: $line" bash -c 'tr -d "\r" <"$1" | grep -qF "$2"' _ "$ulog" "$line"
done
out=$(t uninstall upg --purge); rc=$?
check "uninstall --purge: exit 0, no state (releases included) left ($rc)" \
  bash -c '[ "$1" = 0 ] && ! [ -e "$2/state/upg" ]' _ "$rc" "$DATA_UNIX" || echo "$out" | sed 's/^/    | /'
check "  ... no tend-fixture.exe left" wait_until 10 no_process 'tend-fixture\.exe'
fi

echo "==> 19. [[listen]]: the socket is tend's, handed to each child"
# First tend-fixture.exe, installed with a [[listen]] socket, prints the variables that
# name it (LISTEN_FDS, LISTEN_FDNAMES, TEND_LISTEN_HANDLES). Then an installed service
# whose socket the supervisor binds and holds: each start of hello-service.exe inherits
# it and serves on it instead of its own --listen address. While curl on the host
# requests continuously, control 128 restarts the child four times (the supervisor goes
# on, so the socket stays open and connections queue in it): no request fails, and
# five children answered. (`tend restart` of an installed service goes through the
# SCM: the supervisor, and the socket with it, would stop too.)
LPORT=$(free_port 5019)   # the socket tend holds
OPORT=$(free_port 5119)   # the child's own --listen, unused when it gets the socket
# What a child started with [[listen]] finds in its environment (tend-fixture.exe
# prints it; Wine shows a Windows process's environment nowhere on the host).
EPORT=$(free_port 5219)
cat >"$SRC_UNIX/lsnenv.toml" <<SPEC
name = "lsnenv"
command = '$APP_WIN\\tend-fixture.exe'
args = ["--env", "LISTEN_FDS", "--env", "LISTEN_FDNAMES", "--env", "LISTEN_PID", "--env", "TEND_LISTEN_HANDLES", "--hang"]
[[listen]]
name = "http"
address = "127.0.0.1:$EPORT"
[windows]
start = "manual"
SPEC
out=$(t install "$SRC_WIN\\lsnenv.toml" --now); rc=$?
check "install --now of lsnenv (tend-fixture.exe with [[listen]]): exit 0 ($rc)" [ "$rc" = 0 ] || echo "$out" | sed 's/^/    | /'
lsnenv() { tr -d '\r' <"$DATA_UNIX/logs/lsnenv/lsnenv.log" 2>/dev/null | grep -oE '(LISTEN_[A-Z]+|TEND_LISTEN_HANDLES)=.*$'; }
lsnenv_printed() { [ "$(lsnenv | grep -c .)" = 4 ]; }
wait_until 15 lsnenv_printed
lenv=$(lsnenv | sort | xargs)
check "the child's environment names the handle: LISTEN_FDS=1, LISTEN_FDNAMES=http, TEND_LISTEN_HANDLES=<SOCKET>, no LISTEN_PID ($lenv)" \
  grep -qxE 'LISTEN_FDNAMES=http LISTEN_FDS=1 LISTEN_PID=\(unset\) TEND_LISTEN_HANDLES=[0-9]+' <<<"$lenv"
check "  ... and the port is open while the child only hangs (the socket is tend's)" port_open "$EPORT"
t uninstall lsnenv --purge >>"$LOG" 2>&1
check "  ... uninstalled: port $EPORT closed" wait_until 10 bash -c '! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null' _ "$EPORT"

cat >"$SRC_UNIX/lsn.toml" <<SPEC
name = "lsn"
command = '$APP_WIN\\hello-service.exe'
args = ["--listen", "127.0.0.1:$OPORT"]
[[listen]]
name = "http"
address = "127.0.0.1:$LPORT"
[stop]
timeout = "5s"
[windows]
start = "manual"
SPEC
lsn_pid() { status_field lsn pid; }
# lsn_get: GET / on the held socket; prints the pid that answered.
lsn_get() { curl -fsS --max-time 10 "http://127.0.0.1:$LPORT/" 2>/dev/null | sed -n 's/^hello from hello-service (pid \([0-9]*\))$/\1/p' | grep .; }
out=$(t install "$SRC_WIN\\lsn.toml" --now); rc=$?
check "install --now of lsn (with [[listen]] http on 127.0.0.1:$LPORT): exit 0, running" \
  bash -c '[ "$1" = 0 ] && grep -q "is running" <<<"$2"' _ "$rc" "$out" || echo "$out" | sed 's/^/    | /'
l0=$(lsn_pid)
check "GET / on 127.0.0.1:$LPORT is answered by the child ($l0)" \
  bash -c '[ -n "$1" ] && [ "$(curl -fsS --max-time 10 "http://127.0.0.1:$2/")" = "hello from hello-service (pid $1)" ]' _ "$l0" "$LPORT"
check "  ... nothing listens on its own --listen port $OPORT" bash -c '! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null' _ "$OPORT"
check "  ... it says it serves a socket the supervisor holds" \
  bash -c 'tr -d "\r" <"$1" | grep -qF "hello-service listening on 127.0.0.1:$2 (pid $3, a socket the supervisor holds)"' \
  _ "$DATA_UNIX/logs/lsn/lsn.log" "$LPORT" "$l0" || tr -d '\r' <"$DATA_UNIX/logs/lsn/lsn.log" | tail -n 5 | sed 's/^/    | /'
LOAD=$WORK/lsn-load.txt
( while [ ! -e "$WORK/lsn-done" ]; do
    if pid=$(lsn_get); then echo "ok $pid"; else echo fail; fi
  done ) >"$LOAD" 2>/dev/null &
load_bg=$!
answered_by() { grep -qx "ok $1" "$LOAD"; }
check "  ... the client loop gets answers" wait_until 15 answered_by "$l0"
lprev=$l0
for i in 1 2 3 4; do
  out=$(t control lsn 128)
  lsn_replaced() { local p; p=$(lsn_pid); [ -n "$p" ] && [ "$p" != "$lprev" ] && answered_by "$p"; }
  if check "restart $i (control 128: $out): a new child answers the client loop" wait_until 20 lsn_replaced; then
    lprev=$(lsn_pid)
  else
    status_json lsn | sed 's/^/    | /'
  fi
done
touch "$WORK/lsn-done"; wait "$load_bg"
oks=$(grep -c '^ok ' "$LOAD"); fails=$(grep -c '^fail' "$LOAD")
pids=$(sed -n 's/^ok //p' "$LOAD" | sort -u | xargs)
check "no failed request through 4 restarts: $oks answered, $fails failed" bash -c '[ "$1" -gt 0 ] && [ "$2" = 0 ]' _ "$oks" "$fails"
check "  ... answered by 5 children ($pids)" [ "$(wc -w <<<"$pids")" = 5 ]
check "  ... restarts = 4, sc query: RUNNING" \
  bash -c '[ "$1" = 4 ] && [ "$2" = RUNNING ]' _ "$(status_field lsn restarts)" "$(svc_state_of lsn)"
check "  ... the old children shut down gracefully" \
  bash -c '[ "$(tr -d "\r" <"$1" | grep -c "graceful shutdown")" -ge 4 ]' _ "$DATA_UNIX/logs/lsn/lsn.log"
out=$(t uninstall lsn --purge); rc=$?
check "uninstall --purge of lsn: exit 0 ($rc)" [ "$rc" = 0 ] || echo "$out" | sed 's/^/    | /'
check "  ... the socket went with the supervisor: port $LPORT closed" \
  wait_until 10 bash -c '! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null' _ "$LPORT"
check "  ... no hello-service.exe left" wait_until 10 no_process 'hello-service\.exe'

finish
