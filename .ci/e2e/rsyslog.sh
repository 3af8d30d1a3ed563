#!/usr/bin/env bash
# End-to-end: `log.stdout` / `log.stderr = "syslog"` against a real rsyslog (Debian's
# package), on the host's loopback: an unprivileged rsyslogd (its own config, work
# folder and pid file in a temporary folder) listens on UDP, TCP and a local socket
# (imuxsock, as on /dev/log), `tend run` sends a service's lines to each, and rsyslog's
# own parse of each message (APP-NAME, severity, MSGID, the input it came by) is
# written to a file and checked.
# Usage: .ci/e2e/rsyslog.sh   (TEND_BIN_DIR=... for prebuilt; rsyslogd must be installed,
# run-all.sh installs it). Prints PASS:/FAIL: lines and ends with "N passed, M failed".
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

E2E_SUITE=rsyslog CHECK_LABEL=rsyslog
RS_DIR=$(mktemp -d /tmp/tend-e2e-rsyslog.XXXXXX)
RS_PID=
_rs_exit() {
  local rc=$?
  trap - EXIT INT TERM
  [ -n "$RS_PID" ] && kill "$RS_PID" 2>/dev/null && wait "$RS_PID" 2>/dev/null
  if [ "$CHECK_FAILED" -gt 0 ] || [ "${TEND_E2E_KEEP:-0}" = 1 ]; then
    log "kept $RS_DIR"
  else
    rm -rf "$RS_DIR"
  fi
  [ "$rc" -ne 0 ] && [ "$CHECK_FAILED" -eq 0 ] && fail "suite ended with status $rc"
  check_summary && exit 0
  exit 1
}
trap _rs_exit EXIT
trap 'fail "interrupted"; exit 130' INT TERM

command -v rsyslogd >/dev/null || die "rsyslogd is missing (apt-get install rsyslog; run-all.sh does)"
command -v python3 >/dev/null || die "python3 is missing (apt-get install python3): it picks the free ports"
ensure_binaries

# Two free ports on loopback (bound and released by the kernel's choice).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
UDP_PORT=$(free_port)
TCP_PORT=$(free_port)

# What rsyslog parsed of each message, one line each: APP-NAME|severity|MSGID|input|MSG
cat >"$RS_DIR/rsyslog.conf" <<EOF
global(workDirectory="$RS_DIR")
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="$UDP_PORT")
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="$TCP_PORT")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="$RS_DIR/log")
template(name="parsed" type="string" string="%app-name%|%syslogseverity-text%|%msgid%|%inputname%|%msg%\n")
action(type="omfile" file="$RS_DIR/received.log" template="parsed")
EOF
rsyslogd -N1 -f "$RS_DIR/rsyslog.conf" >"$RS_DIR/check.out" 2>&1 \
  || { evidence <"$RS_DIR/check.out"; die "rsyslogd -N1 refuses the config"; }
rsyslogd -n -f "$RS_DIR/rsyslog.conf" -i "$RS_DIR/rsyslogd.pid" >"$RS_DIR/rsyslogd.out" 2>&1 &
RS_PID=$!
_listening() { ss -ltn "sport = :$TCP_PORT" | grep -q LISTEN && ss -lun "sport = :$UDP_PORT" | grep -q "$UDP_PORT" && [ -S "$RS_DIR/log" ]; }
wait_until 10 _listening || { evidence <"$RS_DIR/rsyslogd.out"; die "rsyslogd does not listen on 127.0.0.1:$UDP_PORT/udp, :$TCP_PORT/tcp and $RS_DIR/log"; }
log "rsyslogd $(rsyslogd -v | awk 'NR == 1 {print $2}') listening on udp $UDP_PORT, tcp $TCP_PORT, $RS_DIR/log"

# run_to PROTO NAME: `tend run` of a service NAME whose stdout and stderr go to rsyslog
# over PROTO (udp, tcp, or unix: a local socket read as /dev/log is, by imuxsock with
# its default parser); it writes a stdout line, a stderr line (as Go's log package
# does) and a line in UTF-8 beyond ASCII, then exits.
run_to() {
  local proto=$1 name=$2 to spec
  case $proto in
    udp) to=udp://127.0.0.1:$UDP_PORT ;;
    tcp) to=tcp://127.0.0.1:$TCP_PORT ;;
    unix) to=unix://$RS_DIR/log ;;
  esac
  spec=$RS_DIR/$name.toml
  cat >"$spec" <<EOF
name = "$name"
command = "$E2E_BIN/tend-fixture"
args = ["--print", "listening on :8080", "--eprint", "shutting down gracefully", "--print", "grüße, 世界"]
[restart]
policy = "never"
[log]
stdout = "syslog"
stderr = "syslog"
syslog = "$to"
EOF
  if TEND_STATE_DIR=$RS_DIR/state TEND_LOG_DIR=$RS_DIR/logs timeout 30 "$E2E_BIN/tend" run "$spec" \
    </dev/null >"$RS_DIR/$name.out" 2>&1; then
    pass "tend run $name (log to $to) exits 0"
  else
    fail "tend run $name (log to $to) failed"; evidence <"$RS_DIR/$name.out"
  fi
  check "tend says where $name's output goes: syslog ($to)" \
    grep -qF "stdout to syslog ($to), stderr to syslog ($to)" "$RS_DIR/$name.out" \
    || evidence <"$RS_DIR/$name.out"
}

# received NAME LINE...: each LINE (APP-NAME|severity|MSGID|input|MSG, the MSG as a
# substring: rsyslog keeps the BOM) arrives.
received() {
  local name=$1 want; shift
  for want in "$@"; do
    local head=${want%|*} msg=${want##*|}
    _got() { grep -F "$head|" "$RS_DIR/received.log" 2>/dev/null | grep -qF "$msg"; }
    if wait_until 10 _got; then
      pass "rsyslog received from $name: $want"
    else
      fail "rsyslog did not receive from $name: $want"; evidence <"$RS_DIR/received.log"
    fi
  done
}

run_to udp slu
received slu "slu|info|stdout|imudp|listening on :8080" "slu|err|stderr|imudp|shutting down gracefully" \
  "slu|info|stdout|imudp|grüße, 世界"
run_to tcp slt
received slt "slt|info|stdout|imtcp|listening on :8080" "slt|err|stderr|imtcp|shutting down gracefully" \
  "slt|info|stdout|imtcp|grüße, 世界"
run_to unix slx
received slx "slx|info|-|imuxsock|listening on :8080" "slx|err|-|imuxsock|shutting down gracefully" \
  "slx|info|-|imuxsock|grüße, 世界"
# Octet counting: each message is one message, none glued to the next or split.
n=$(grep -c '^slt|' "$RS_DIR/received.log")
check "TCP: 3 messages, each whole (octet counting), got $n" [ "$n" = 3 ] || evidence <"$RS_DIR/received.log"
dropped=$(jq -r .log_dropped_lines "$RS_DIR/state/slt.json" 2>/dev/null)
check "nothing dropped (state file: log_dropped_lines = ${dropped:-?})" [ "$dropped" = 0 ]

# A server that is down: the child is not held up, the lines are counted as dropped.
spec=$RS_DIR/down.toml
printf 'name = "down"\ncommand = "%s"\nargs = ["--print", "a", "--eprint", "b"]\n[restart]\npolicy = "never"\n[log]\nstdout = "syslog"\nstderr = "syslog"\nsyslog = "tcp://127.0.0.1:%s"\n' \
  "$E2E_BIN/tend-fixture" "$(free_port)" >"$spec"
if TEND_STATE_DIR=$RS_DIR/state TEND_LOG_DIR=$RS_DIR/logs timeout 30 "$E2E_BIN/tend" run "$spec" </dev/null >"$RS_DIR/down.out" 2>&1; then
  pass "tend run with the syslog server down exits 0: the child was not held up"
else
  fail "tend run with the syslog server down failed"; evidence <"$RS_DIR/down.out"
fi
dropped=$(jq -r .log_dropped_lines "$RS_DIR/state/down.json" 2>/dev/null)
check "the server down: both lines counted as dropped (log_dropped_lines = ${dropped:-?})" [ "$dropped" = 2 ] \
  || evidence <"$RS_DIR/state/down.json"
