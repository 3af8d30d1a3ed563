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
# the service manager's reload (reload_flow): `systemctl reload`, which runs ExecReload=
be_reload() {
  RELOAD_OUT=$(in_ct systemctl reload "$1.service" 2>&1)
  RELOAD_RC=$?
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

# [resources] on an installed service: systemd applies the unit keys to `tend run` and
# the child inherits them, exactly; the cgroup limits too where the container's cgroup v2
# has the controller (not on a host whose memory, cpu and pids controllers are bound
# to cgroup v1: then the unit's cgroup has no memory.max, and `tend run` outside systemd
# says it cannot apply memory_max). A memory hog is reported as killed by the OOM
# killer wherever a memory controller is there to kill it.
resources_flow() {
  require_install resources_flow || return 1
  local n=limited spec=/root/specs/limited.toml pid cg
  printf '%s\n' 'name = "limited"' 'command = "/opt/tend/tend-fixture"' 'args = ["--hang"]' \
    'user = "limited"' '[resources]' 'memory_max = "64MiB"' 'nofile = 4096' 'memlock = "1MiB"' \
    'cpu_affinity = [1]' 'nice = 5' \
    | in_ct sh -c 'mkdir -p /root/specs && cat >"$1"' _ "$spec"
  tend install "$spec" --now
  [ "$RC" = 0 ] || { fail "install --now of $n exited $RC"; evidence <<<"$OUT"; return 1; }
  SVC_UID=$(in_ct id -u "$n")
  wait_until 10 is_running_state "$n" || { fail "$n does not run"; be_describe "$n" | evidence; return 1; }
  local kv key want got ok=1
  for kv in MemoryMax=67108864 OOMPolicy=continue LimitNOFILE=4096 LimitMEMLOCK=1048576 \
    CPUAffinity=1 Nice=5; do
    key=${kv%%=*} want=${kv#*=} got=$(prop "$n" "$key")
    [ "$got" = "$want" ] || { ok=0; fail "resources: systemctl show -p $key: '$got', want '$want'"; }
  done
  [ $ok = 1 ] && pass "resources: systemctl show has MemoryMax, OOMPolicy=continue, LimitNOFILE, LimitMEMLOCK, CPUAffinity, Nice"
  pid=$(sf "$n" pid)
  got=$(in_ct awk '/^Cpus_allowed_list:/{print $2}' "/proc/$pid/status")
  check "resources: the child's Cpus_allowed_list is 1 (got '$got')" test "$got" = 1
  got=$(in_ct awk '/^Max open files/{print $4, $5}' "/proc/$pid/limits")
  check "resources: the child's open files limit is 4096 4096 (got '$got')" test "$got" = "4096 4096"
  got=$(in_ct awk '/^Max locked memory/{print $4, $5}' "/proc/$pid/limits")
  check "resources: the child's locked memory limit is 1048576 1048576 (got '$got')" test "$got" = "1048576 1048576"
  got=$(in_ct sh -c 'sed "s/.*) //" "/proc/$1/stat" | cut -d" " -f17' _ "$pid")
  check "resources: the child's niceness is 5 (got '$got')" test "$got" = 5
  cg=/sys/fs/cgroup$(in_ct sed -n 's/^0:://p' "/proc/$pid/cgroup")
  if in_ct test -e "$cg/memory.max"; then
    got=$(in_ct cat "$cg/memory.max")
    check "resources: the unit's cgroup memory.max is 67108864 (got '$got')" test "$got" = 67108864
  else
    log "resources: the unit's cgroup $cg has no memory controller here (controllers: '$(in_ct cat /sys/fs/cgroup/cgroup.controllers)'): memory.max not checked"
  fi
  if grep -q 'not applied' <<<"$(in_ct journalctl -u "$n.service" -o cat --no-pager)"; then
    fail "resources: tend run under systemd warned of a limit not applied"
    evidence <<<"$(in_ct journalctl -u "$n.service" -o cat --no-pager | grep 'not applied')"
  else
    pass "resources: tend run under systemd applies or leaves to systemd every key (no 'not applied' in the journal)"
  fi
  flow_uninstall_purge "$n"
  # The same limit under `tend run` outside systemd, as root in the container: its own
  # cgroup with memory.max and an OOM kill reported as such, or a warning naming it.
  local hog=/root/specs/hog.toml
  printf '%s\n' 'name = "hog"' 'command = "/opt/tend/tend-fixture"' 'args = ["--hog"]' \
    '[restart]' 'policy = "never"' '[resources]' 'memory_max = "32MiB"' \
    | in_ct sh -c 'cat >"$1"' _ "$hog"
  OUT=$(in_ct env -u INVOCATION_ID TEND_STATE_DIR=/root/hogstate TEND_LOG_DIR=/root/hoglogs \
    timeout 60 "$TEND" run --no-guard "$hog" 2>&1)
  if grep -qw memory <<<"$(in_ct cat /sys/fs/cgroup/cgroup.controllers)"; then
    if grep -q 'hog: killed by the OOM killer (signal SIGKILL)' <<<"$OUT" \
      && [ "$(in_ct cat /root/hogstate/hog.json | jq -r .last_exit.oom_killed 2>/dev/null)" = true ]; then
      pass "resources: a memory hog under tend run is reported as killed by the OOM killer (log line, state file)"
    else
      fail "resources: the memory hog is not reported as OOM-killed"; evidence <<<"$OUT"
    fi
  elif grep -q 'warning: `resources.memory_max` is not applied.*no cgroup `memory` controller' <<<"$OUT"; then
    pass "resources: tend run without a memory controller names memory_max as not applied"
  else
    fail "resources: tend run without a memory controller does not name memory_max"; evidence <<<"$OUT"
  fi
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

# be_doctor_checks: a unit whose ReadWritePaths= (a [systemd.service] override) leaves
# out the log folder, under tend's ProtectSystem=strict: the doctor names the sandbox.
be_doctor_checks() {
  local n=docsb
  tend install "$(doc_spec $n /opt/doc/bin/app '["--hang"]' '[systemd.service]' "ReadWritePaths = \"/var/lib/tend/$n\"")"
  [ "$RC" = 0 ] || { fail "doctor: install of $n exited $RC"; evidence <<<"$OUT"; }
  doc_check "ReadWritePaths= without the log folder" $n sandbox \
    "ProtectSystem=strict makes /var/log/tend/$n read-only" "ReadWritePaths"
  doc_purge $n
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
doctor_flow
reload_flow
resources_flow
pause_flow
