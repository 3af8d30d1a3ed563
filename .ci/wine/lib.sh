# Shared by the Wine suites (sourced, not run): a private prefix with a persistent
# wineserver and small probes of the prefix; the PASS/FAIL bookkeeping, check,
# wait_until and the summary come from .ci/lib/check.sh (shared with the e2e suites).
# The caller sets SUITE (a name for the work directory and the lines' label) before
# sourcing.
#
# Every wait polls with a deadline; every wine command runs under `timeout`. Debian's
# wineserver wrapper runs it with -p0, so without `wineserver -p` the server and
# services.exe would exit between commands; the server is killed at the end.
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
# shellcheck source=../lib/check.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/check.sh"
CHECK_LABEL=wine-${SUITE:-suite}
CHECK_POLL=0.2   # each poll starts Wine processes

EXE_DIR=$WIN_OUT
WORK=$(mktemp -d "/tmp/tend-wine-${SUITE:-suite}.XXXXXX")
export WINEPREFIX=$WORK/prefix WINEDEBUG=-all
# No Mono/Gecko installers during prefix creation: nothing here needs them.
export WINEDLLOVERRIDES="mscoree,mshtml="
LOG=$WORK/wine.log

t0=$(date +%s)

cleanup() {
  timeout 30 wineserver -k >/dev/null 2>&1 || true
  timeout 30 wineserver -w >/dev/null 2>&1 || true
  if [ "${KEEP_WINE_WORK:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

w() { timeout 60 wine "$@"; }                     # a bounded wine command
# svc_query NAME: `sc query NAME` without CRs.
svc_query() { w sc query "$1" 2>/dev/null | tr -d '\r'; }
# svc_state_of NAME: its STATE word; a query that printed none (Wine sometimes fails
# to launch sc.exe at all, error 1359) is asked again, up to three times.
svc_state_of() {
  local state i
  for i in 1 2 3; do
    state=$(svc_query "$1" | awk '/STATE/ {print $4}')
    [ -n "$state" ] && break
  done
  echo "$state"
}
svc_field_of() { svc_query "$1" | awk -v f="$2" '$1 == f {print $3}'; }
# svc_stopped_with NAME WIN32_EXIT_CODE SERVICE_EXIT_CODE: stopped, with those codes.
svc_stopped_with() {
  [ "$(svc_state_of "$1")" = STOPPED ] && [ "$(svc_field_of "$1" WIN32_EXIT_CODE)" = "$2" ] &&
    [ "$(svc_field_of "$1" SERVICE_EXIT_CODE)" = "$3" ]
}
# sc_start NAME: `sc start NAME`, asked again when Wine failed to launch sc.exe (no
# SERVICE_NAME in its answer), up to three times.
sc_start() {
  local out i
  for i in 1 2 3; do
    out=$(w sc start "$1" 2>&1 | tr -d '\r')
    printf '%s\n' "$out" >>"$LOG"
    grep -q SERVICE_NAME <<<"$out" && return 0
  done
  return 1
}
svc_absent_of() { local out; out=$(w sc query "$1" 2>&1 | tr -d '\r'); [ $? -ne 0 ] && ! grep -q SERVICE_NAME <<<"$out"; }
# http_get PORT PATH: prints the response (headers and body).
http_get() {
  timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" "$2" >&3; cat <&3' _ "$1" "$2" 2>/dev/null
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# port_used PORT: a TCP socket of this machine has PORT as its local port: a listener,
# or a connection, even one in TIME_WAIT (an earlier section's server, or a client's
# ephemeral port), which a bind without SO_REUSEADDR refuses (WSAEADDRINUSE).
port_used() {
  grep -qE "^ *[0-9]+: [0-9A-F]+:$(printf '%04X' "$1") " /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
# free_port [OFFSET]: a free loopback port, from a start that depends on the pid and
# OFFSET (so each section's is its own).
free_port() {
  local p=$(( 20000 + ($$ + ${1:-0}) % 20000 ))
  while port_open "$p" || port_used "$p"; do p=$((p + 1)); done
  echo "$p"
}
# prefix_pids PATTERN: the Linux pids of processes matching PATTERN in this prefix
# (not in another Wine session on the machine).
prefix_pids() {
  local p
  for p in $(pgrep -f "$1"); do
    { tr '\0' '\n' <"/proc/$p/environ"; } 2>/dev/null | grep -qxF "WINEPREFIX=$WINEPREFIX" && echo "$p"
  done
}
in_prefix() { [ -n "$(prefix_pids "$1")" ]; }
services_up() { in_prefix 'services\.exe'; }

# probe NAME EXE: runs a Windows probe that prints PASS:/FAIL:/note: lines.
probe() {
  local prefix=$1 exe=$2 s out rc line
  s=$(date +%s)
  out=$(w "$exe" 2>>"$LOG" | tr -d '\r'); rc=$?
  while IFS= read -r line; do
    case $line in
      PASS:*) pass "$prefix: ${line#PASS: }" ;;
      FAIL:*) fail "$prefix: ${line#FAIL: }" ;;
      note:*) echo "$line" ;;
    esac
  done <<<"$out"
  check "${exe##*/} exited 0 ($(( $(date +%s) - s ))s)" [ "$rc" = 0 ]
}

# need_tools EXE...: the tools and the built executables exist, or the suite fails.
need_tools() {
  local tool exe
  for tool in wine wineserver wineboot timeout pgrep jq; do
    command -v "$tool" >/dev/null || { fail "$tool is missing (run .ci/wine/setup.sh)"; check_summary; exit 1; }
  done
  for exe in "$@"; do
    [ -f "$exe" ] || { fail "$exe is missing (run .ci/wine/build.sh)"; check_summary; exit 1; }
  done
}

# boot_prefix: a fresh prefix with a persistent wineserver and services.exe running.
# SERVICES_WINEDEBUG, if set, is the WINEDEBUG of services.exe and so of the services
# it starts (their debug output goes to $LOG); the suite's own commands keep -all.
boot_prefix() {
  local s
  echo "==> fresh prefix $WINEPREFIX, persistent wineserver"
  s=$(date +%s)
  timeout 180 wineboot -i >>"$LOG" 2>&1
  timeout 60 wineserver -w
  timeout 30 wineserver -p
  WINEDEBUG=${SERVICES_WINEDEBUG:-$WINEDEBUG} timeout 120 wineboot >>"$LOG" 2>&1
  check "wine prefix booted, services.exe running ($(( $(date +%s) - s ))s)" wait_until 20 services_up
}

# event_log_calls: the Event Log entries the prefix's services reported, one a line:
# "ID Kind: string|string|...". Wine stores none (its ReportEventW is a stub), but
# with SERVICES_WINEDEBUG=-all,+eventlog,fixme+advapi it prints each call to $LOG: the
# message ID and type (the fixme line), then each insert string (a line of the
# eventlog channel: trace for information, warn for warnings, err for errors), all
# from one thread, whose id starts the line. (Strings come as Wine quotes them: a
# backslash doubled.)
event_log_calls() {
  tr -d '\r' <"$LOG" | awk '
    function hex(s,   i, v) {
      v = 0; s = tolower(substr(s, 3))
      for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
      return v
    }
    function flush(t) { if (t in id) { print id[t] " " kind[t] ": " strs[t]; delete id[t] } }
    /:fixme:advapi:ReportEventW \(/ {
      t = substr($0, 1, index($0, ":") - 1); flush(t)
      s = $0; sub(/.*ReportEventW \(/, "", s); split(s, f, ",")
      id[t] = hex(f[4]) % 65536
      k = hex(f[2]); kind[t] = k == 4 ? "Information" : k == 2 ? "Warning" : k == 1 ? "Error" : "type " k
      strs[t] = ""; n[t] = 0
      next
    }
    /:(trace|warn|err):eventlog:ReportEventW L"/ {
      t = substr($0, 1, index($0, ":") - 1)
      if (!(t in id)) next
      s = $0; sub(/^[^"]*"/, "", s); sub(/"$/, "", s)
      strs[t] = (n[t]++ ? strs[t] "|" : "") s
    }
    END { for (t in id) flush(t) }'
}

# finish: the summary line and the exit status.
finish() {
  echo "suite took $(( $(date +%s) - t0 ))s"
  if [ "$CHECK_FAILED" -gt 0 ]; then
    echo "--- wine log (tail)"; tail -n 40 "$LOG" 2>/dev/null
  fi
  check_summary
}
