#!/usr/bin/env bash
# End-to-end: `tend install` under a real systemd (Debian bookworm in systemd-nspawn).
# Usage: .ci/e2e/systemd.sh   (root; TEND_BIN_DIR=... to use prebuilt binaries)
# Prints PASS:/FAIL: lines and ends with "N passed, M failed"; exits 1 if any failed.
# shellcheck source=lib.sh disable=SC2016
. "$(dirname "$0")/lib.sh"

BE=systemd
BE_ACTIVE=active
BE_DRY_MARKERS=("[Service]" "ExecStart=/opt/tend/tend run" "User=hello"
  "systemctl daemon-reload" "systemctl enable hello.service")
be_unit() { echo "/etc/systemd/system/$1.service"; }
prop() { in_ct systemctl show -p "$2" --value "$1.service" 2>/dev/null; }
be_running() {
  [ "$(in_ct systemctl is-active "$1.service")" = active ] \
    && grep -q 'Active: active (running)' <<<"$(in_ct systemctl status "$1.service" --no-pager 2>/dev/null)"
}
be_stopped() { [ "$(in_ct systemctl is-active "$1.service")" = inactive ]; }
be_enabled() { [ "$(in_ct systemctl is-enabled "$1.service" 2>/dev/null)" = enabled ]; }
be_unknown() {
  [ "$(prop "$1" LoadState)" = not-found ] && [ "$(prop "$1" ActiveState)" = inactive ] \
    && ! in_ct test -e "/etc/systemd/system/multi-user.target.wants/$1.service"
}
be_describe() {
  in_ct systemctl status "$1.service" --no-pager -n 10 2>&1
  echo "--- journal"; in_ct journalctl -u "$1.service" --no-pager -n 15 -o short-monotonic 2>&1
}

# (after install --now) under systemd the supervisor is the main process itself
# (`tend run --no-guard`: the cgroup contains the tree), parent of the child
be_checks_running() {
  local n=$1 main sup pid ppid
  main=$(prop "$n" MainPID) sup=$(sf "$n" supervisor_pid) pid=$(sf "$n" pid)
  ppid=$(in_ct awk '/^PPid:/{print $2}' "/proc/$pid/status" 2>/dev/null)
  if [ -n "$sup" ] && [ "$main" = "$sup" ] && [ "$ppid" = "$sup" ]; then
    pass "systemd's MainPID $main is the supervisor (no guard), parent of the child $pid"
  else
    fail "MainPID $main, supervisor $sup, child $pid with parent $ppid: want MainPID = supervisor = parent"
  fi
}

# refusals_flow: units that are not tend's (NAME|PATH|WANT|SETUP). This minimal rootfs has no
# systemd-timesyncd, so its alias symlink is made (to another unit) as `systemctl
# enable` would.
be_foreign_cases() {
  echo "dbus-org.freedesktop.timesync1|/etc/systemd/system/dbus-org.freedesktop.timesync1.service|tend did not write it (a symlink to /lib/systemd/system/systemd-hostnamed.service)|ln -s /lib/systemd/system/systemd-hostnamed.service /etc/systemd/system/dbus-org.freedesktop.timesync1.service"
  echo "dbus|/lib/systemd/system/dbus.service|systemd already has a unit of that name|"
  echo "legacy|/etc/systemd/system/legacy.service|tend did not write it (a file without tend's header|echo '[Service]' >/etc/systemd/system/legacy.service"
}

# stdout = "inherit": the supervisor's stdout is the journal
journal_flow() {
  local n=hellojournal port=18081
  require_install journal_flow || return 1
  tend install /opt/tend/hellojournal.toml --now
  [ "$RC" = 0 ] || { fail "install --now of $n exited $RC"; evidence <<<"$OUT"; return 1; }
  SVC_UID=$(in_ct id -u "$n")
  check "$n answers on 127.0.0.1:$port" wait_until 5 http "$port" /healthz
  http "$port" / >/dev/null
  _in_journal() { grep -q 'GET / 200' <<<"$(in_ct journalctl -u "$n.service" -o cat --no-pager)"; }
  if wait_until 10 _in_journal; then
    pass "stdout=inherit: journalctl -u $n shows the request lines"
  else
    fail "stdout=inherit: no 'GET / 200' in journalctl -u $n"; evidence <<<"$(in_ct journalctl -u "$n.service" -o cat --no-pager -n 15)"
  fi
  check "stdout=inherit: no $n.log file" bash -c "! nsenter -t $CPID -a test -e /var/log/tend/$n/$n.log"
  tend logs "$n" -n 20
  if [ "$RC" = 0 ] && grep -q 'GET / 200' <<<"$OUT"; then
    pass "tend logs $n reads the journal"
  else
    fail "tend logs $n (exit $RC) lacks 'GET / 200'"; evidence <<<"$OUT"
  fi
  flow_uninstall_purge "$n"
}

# stdout and stderr = "inherit": both streams reach the journal, and `tend logs` (which
# runs journalctl) shows the line the service wrote to stderr, as Go's log package does.
journal_stderr_flow() {
  require_install journal_stderr_flow || return 1
  local n=gojournal spec=/root/specs/gojournal.toml
  printf '%s\n' 'name = "gojournal"' 'command = "/opt/tend/tend-fixture"' \
    'args = ["--print", "listening on :8080", "--eprint", "shutting down gracefully", "--hang"]' \
    'user = "gojournal"' '[stop]' 'timeout = "5s"' '[log]' 'stdout = "inherit"' 'stderr = "inherit"' \
    | in_ct sh -c 'mkdir -p /root/specs && cat >"$1"' _ "$spec"
  tend install "$spec" --now
  [ "$RC" = 0 ] || { fail "install --now of $n exited $RC"; evidence <<<"$OUT"; return 1; }
  SVC_UID=$(in_ct id -u "$n")
  _journal_shows() { tend logs "$n" && grep -qx 'shutting down gracefully' <<<"$OUT"; }
  if wait_until 10 _journal_shows && grep -qx 'listening on :8080' <<<"$OUT"; then
    pass "stderr=inherit: tend logs $n (the journal) shows the stderr line with the stdout one"
  else
    fail "stderr=inherit: tend logs $n (exit $RC) lacks a line"; evidence <<<"$OUT"
  fi
  flow_uninstall_purge "$n"
}

# ---------------------------------------------------------------- hostile paths (hostile.sh)
. "$(dirname "$0")/hostile.sh"

# systemd's own reading of the unit rendered from specs/hostile.toml: what
# tend::platform::parse_back's model of systemd says of it (tests/platform.rs reads the
# same spec with the model and expects these same values).
be_hostile_checks() {
  local n=$1 unit=/etc/systemd/system/$1.service v
  v=$(in_ct systemd-analyze verify "$unit" 2>&1)
  if [ $? = 0 ] && ! grep -q "$n.service" <<<"$v"; then
    pass "hostile: systemd-analyze verify accepts the unit without a word about it"
  else
    fail "hostile: systemd-analyze verify complains"; evidence <<<"$v"
  fi
  local key want got ok=1
  for key in Description Documentation WorkingDirectory Restart User; do
    case $key in
      Description) want=$HOSTILE_DESC ;;
      Documentation) want="file:/etc/tend/$n.toml" ;;
      WorkingDirectory) want=$HOSTILE_WD ;;
      Restart) want=on-failure ;;
      User) want=$n ;;
    esac
    got=$(prop "$n" "$key")
    if [ "$got" != "$want" ]; then
      ok=0; fail "hostile: systemctl show -p $key: '$got', want '$want'"
    fi
  done
  [ $ok = 1 ] && pass "hostile: systemctl show: Description, Documentation, WorkingDirectory, Restart, User as meant (no key swallowed by a trailing backslash)"
  # systemd prints the list with its own quoting; the log folder must be in it with `$`
  # as is (ProtectSystem=strict: the child's log lines above prove it is writable).
  got=$(prop "$n" ReadWritePaths)
  if grep -qF '\$x \$\$ %n' <<<"$got" && ! grep -qF '\$\$x' <<<"$got"; then
    pass "hostile: ReadWritePaths holds the log folder with its \$ as is"
  else
    fail "hostile: ReadWritePaths is '$got'"
  fi
}

e2e_begin systemd
ensure_host_packages
ensure_binaries
ensure_rootfs systemd
stage_opt_tend
boot_ct systemd
lifecycle_flow
health_flow
upgrade_flow
channel_flow
journal_flow
journal_stderr_flow
stderr_logs_flow
hostile_flow --no-guard
refusals_flow
kept_flow
kill_flow
pause_flow
