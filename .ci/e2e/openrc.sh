#!/usr/bin/env bash
# End-to-end: `tend install` under a real OpenRC (Debian bookworm, sysvinit + openrc,
# in systemd-nspawn). Usage: .ci/e2e/openrc.sh   (root; TEND_BIN_DIR=... for prebuilt)
# Prints PASS:/FAIL: lines and ends with "N passed, M failed"; exits 1 if any failed.
# shellcheck source=lib.sh disable=SC2016
. "$(dirname "$0")/lib.sh"

BE=openrc
BE_ACTIVE=started
BE_DRY_MARKERS=("#!/sbin/openrc-run" "supervisor=supervise-daemon" "command=/opt/tend/tend"
  "--user hello:hello" "rc-update add hello default")
be_unit() { echo "/etc/init.d/$1"; }
rc_status() { in_ct rc-service "$1" status 2>&1; true; } # exits 3 when stopped
be_running() { grep -q 'status: started' <<<"$(rc_status "$1")"; }
be_stopped() { grep -q 'status: stopped' <<<"$(rc_status "$1")"; }
be_enabled() { in_ct test -L "/etc/runlevels/default/$1"; }
be_unknown() {
  ! in_ct test -e "/etc/init.d/$1" && ! in_ct test -L "/etc/runlevels/default/$1" \
    && ! in_ct test -e "/run/openrc/started/$1" && ! in_ct test -e "/run/supervise-$1.pid"
}
# the service manager's reload (reload_flow): the script's reload()
be_reload() {
  RELOAD_OUT=$(in_ct rc-service "$1" reload 2>&1)
  RELOAD_RC=$?
}
be_describe() {
  rc_status "$1"
  echo "--- ps"; in_ct ps -eo pid,ppid,user,args 2>&1 | grep -v ' \[' | tail -n 15
  echo "--- tend.log"; in_ct tail -n 10 "/var/log/tend/$1/tend.log" 2>&1
}

# (after install --now) supervise-daemon runs the guard, whose child is the supervisor
be_checks_running() {
  local n=$1 sup ppid pcomm
  sup=$(sf "$n" supervisor_pid)
  ppid=$(in_ct awk '/^PPid:/{print $2}' "/proc/$sup/status" 2>/dev/null)
  pcomm=$(in_ct ps -o args= -p "$(in_ct ps -o ppid= -p "${ppid:-0}" | tr -d ' ')" 2>/dev/null)
  if [[ $pcomm == supervise-daemon* ]]; then
    pass "supervise-daemon -> guard $ppid -> supervisor $sup"
  else
    fail "the supervisor $sup's parent ${ppid:-?} is not a child of supervise-daemon (grandparent: '${pcomm:-?}')"
    evidence <<<"$(in_ct ps -eo pid,ppid,user,args)"
  fi
}

# ---------------------------------------------------------------- hostile paths (hostile.sh)
. "$(dirname "$0")/hostile.sh"

# OpenRC's start used to pass these paths through `eval`: the script's own start()
# must hand them to supervise-daemon as single words.
be_hostile_checks() {
  local n=$1
  check "hostile: supervise-daemon writes tend's own output into the hostile log folder" \
    in_ct test -s "$HOSTILE_LOG/tend.log" || evidence <<<"$(in_ct ls -la /var/log 2>&1)"
  local args # (comm is cut to 15 characters: "supervise-daemo")
  args=$(in_ct sh -c 'for p in $(pgrep "^supervise-daemo"); do tr "\0" "\n" <"/proc/$p/cmdline"; done' 2>/dev/null)
  if grep -qxF -- "$HOSTILE_WD" <<<"$args" && grep -qxF -- "$HOSTILE_LOG/tend.log" <<<"$args"; then
    pass "hostile: supervise-daemon got the working directory and the log file as single arguments"
  else
    fail "hostile: supervise-daemon's arguments lack the hostile paths as single words"; evidence <<<"$args"
  fi
}

# refusals_flow: init scripts that are not tend's (NAME|PATH|WANT|SETUP)
be_foreign_cases() {
  echo "urandom|/etc/init.d/urandom|tend did not write it (a file without tend's header|"
  echo "legacy|/etc/init.d/legacy|tend did not write it (a symlink to /etc/init.d/urandom)|ln -s /etc/init.d/urandom /etc/init.d/legacy"
}


# ---------------------------------------------------------------- syslog (rsyslog in the rootfs)
# log.stdout / log.stderr = "syslog" of an installed service: to the local /dev/log
# (the distribution's rsyslog, its imuxsock with its default parser) and to rsyslog's
# UDP input on loopback.
# What rsyslog parsed of each message goes to a file of its own, one line each:
# APP-NAME|severity|MSGID|input|MSG.
SYSLOG_SEEN=/var/log/tend-e2e-syslog.log

syslog_flow() {
  require_install syslog_flow || return 1
  in_ct test -x /usr/sbin/rsyslogd || { fail "no rsyslogd in the OpenRC rootfs (see _debootstrap)"; return 1; }
  in_ct sh -c 'cat >/etc/rsyslog.d/tend-e2e.conf' <<'CONF'
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="5514")
template(name="tendE2e" type="string" string="%app-name%|%syslogseverity-text%|%msgid%|%inputname%|%msg%\n")
if ($app-name startswith "sl") then { action(type="omfile" file="/var/log/tend-e2e-syslog.log" template="tendE2e") }
CONF
  in_ct /etc/init.d/rsyslog stop >/dev/null 2>&1
  in_ct rsyslogd -i /run/tend-e2e-rsyslogd.pid >/dev/null 2>&1 || { fail "rsyslogd does not start in the container"; return 1; }
  _rs_ready() { in_ct test -S /dev/log && nsenter -t "$CPID" -n ss -lun | grep -q ':5514 '; }
  check "rsyslogd listens on /dev/log and 127.0.0.1:5514/udp in the container" wait_until 10 _rs_ready || return 1
  local n to spec
  for n in sllocal sludp; do
    to=$([ "$n" = sludp ] && echo 'syslog = "udp://127.0.0.1:5514"')
    spec=/root/specs/$n.toml
    printf '%s\n' "name = \"$n\"" 'command = "/opt/tend/tend-fixture"' \
      'args = ["--print", "listening on :8080", "--eprint", "shutting down gracefully", "--hang"]' \
      "user = \"$n\"" '[stop]' 'timeout = "5s"' '[log]' 'stdout = "syslog"' 'stderr = "syslog"' "$to" \
      | in_ct sh -c 'mkdir -p /root/specs && cat >"$1"' _ "$spec"
    tend install "$spec" --now
    [ "$RC" = 0 ] || { fail "install --now of $n exited $RC"; evidence <<<"$OUT"; continue; }
    SVC_UID=$(in_ct id -u "$n")
    # /dev/log gets the form syslog(3) writes (no MSGID), UDP RFC 5424
    local input=imudp out=stdout err=stderr want
    [ "$n" = sllocal ] && input=imuxsock out=- err=-
    for want in "$n|info|$out|$input|listening on :8080" "$n|err|$err|$input|shutting down gracefully"; do
      _seen() { in_ct grep -F "${want%|*}|" "$SYSLOG_SEEN" 2>/dev/null | grep -qF "${want##*|}"; }
      if wait_until 10 _seen; then
        pass "rsyslog under OpenRC received from the installed $n: $want"
      else
        fail "rsyslog under OpenRC did not receive from $n: $want"; evidence <<<"$(in_ct cat "$SYSLOG_SEEN" 2>&1)"
      fi
    done
    tend logs "$n"
    if [ "$RC" = 0 ] && grep -qF "sends its stdout to syslog" <<<"$OUT"; then
      pass "tend logs $n says its output goes to syslog"
    else
      fail "tend logs $n (exit $RC) does not say where the output went"; evidence <<<"$OUT"
    fi
    flow_uninstall_purge "$n"
  done
}

e2e_begin openrc
ensure_host_packages
ensure_binaries
ensure_rootfs openrc
stage_opt_tend
boot_ct openrc
lifecycle_flow
health_flow
upgrade_flow
channel_flow
stderr_logs_flow
syslog_flow
hostile_flow ""
refusals_flow
kept_flow
kill_flow
half_account_flow
doctor_flow
reload_flow
pause_flow
