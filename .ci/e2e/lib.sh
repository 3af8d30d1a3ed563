# shellcheck shell=bash
# Helper functions are often called through wait_until/check (SC2317); awk programs
# are single-quoted on purpose (SC2016).
# shellcheck disable=SC2317,SC2016
# Shared functions of the end-to-end suites: boot a real init system (systemd, or
# sysvinit + OpenRC) in a systemd-nspawn container on a Debian host without systemd,
# drive `tend install` inside it and check what happened.
#
# Sourced by .ci/e2e/systemd.sh and .ci/e2e/openrc.sh; see .ci/e2e/README.md.
# What every step relies on, as measured on a Debian host without systemd: nsenter,
# not machinectl; --register=no --keep-unit from a private cgroup; retrying
# is-system-running --wait; --volatile=overlay; telinit 0 for sysvinit.
#
# Environment:
#   TEND_E2E_CACHE   rootfs cache (default /var/cache/tend-e2e)
#   TEND_E2E_MIRROR  Debian mirror (default http://deb.debian.org/debian)
#   TEND_BIN_DIR     folder with prebuilt tend, hello-service, tend-fixture (else
#                    the suite builds them into target-e2e/debug)
#   TEND_E2E_KEEP=1  keep the staging folder and boot log after the run
#   TEND_E2E_VERBOSE=1  show every tend command and its output

set -uo pipefail

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$E2E_DIR/../.." && pwd)
E2E_CACHE=${TEND_E2E_CACHE:-/var/cache/tend-e2e}
E2E_MIRROR=${TEND_E2E_MIRROR:-http://deb.debian.org/debian}
E2E_SUITE=${E2E_SUITE:-e2e}
# PASS:/FAIL: counting, check, wait_until, the summary: shared with the Wine suites.
# shellcheck source=../lib/check.sh
. "$E2E_DIR/../lib/check.sh"
CHECK_LABEL=$E2E_SUITE
E2E_T0=$EPOCHREALTIME
NSPAWN_PID=
CPID=
CT_KIND=
CT_NAME=
CT_LOG=
CT_STAGE=
CT_CGDIRS=()

# ---------------------------------------------------------------- output and counters

_elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}'; }
# An informational line (not a check).
log() { printf '[%6ss] %s: %s\n' "$(_elapsed "$E2E_T0")" "$E2E_SUITE" "$*"; }
# Setup failed: count it, and end the suite (the EXIT trap cleans up and summarises).
die() { fail "setup: $*"; exit 1; }
# Print a few lines of evidence under a failed check.
evidence() { sed -e 's/^/    | /' | head -n "${1:-20}"; }

# ---------------------------------------------------------------- host

# Install the host tools the suites need, only those missing (apt-get update first then).
ensure_host_packages() {
  local need=()
  command -v debootstrap >/dev/null || need+=(debootstrap)
  command -v systemd-nspawn >/dev/null || need+=(systemd-container)
  command -v zstd >/dev/null || need+=(zstd)
  command -v jq >/dev/null || need+=(jq)
  command -v nsenter >/dev/null || need+=(util-linux)
  command -v ip >/dev/null || need+=(iproute2)
  command -v rsyslogd >/dev/null || need+=(rsyslog) # rsyslog.sh: syslog output
  command -v minisign >/dev/null || need+=(minisign) # upgrade_flow signs on the host
  [ ${#need[@]} -eq 0 ] && return 0
  log "installing host packages: ${need[*]}"
  mkdir -p "$E2E_CACHE"
  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"; } \
    >"$E2E_CACHE/apt.log" 2>&1 || { tail -20 "$E2E_CACHE/apt.log"; die "apt-get install ${need[*]} failed (see $E2E_CACHE/apt.log)"; }
}

# The binaries the containers run: $TEND_BIN_DIR if given, else a build of our own.
ensure_binaries() {
  if [ -n "${TEND_BIN_DIR:-}" ]; then
    E2E_BIN=$TEND_BIN_DIR
  else
    E2E_BIN=$REPO/target-e2e/debug
    log "building tend, hello-service, tend-fixture into $REPO/target-e2e"
    (cd "$REPO" && CARGO_TARGET_DIR=$REPO/target-e2e cargo build -q -p tend -p hello-service -p tend-fixture) \
      || die "cargo build failed"
  fi
  local b
  for b in tend hello-service tend-fixture; do
    [ -x "$E2E_BIN/$b" ] || die "$E2E_BIN/$b is missing (set TEND_BIN_DIR or let the suite build)"
  done
}

# ---------------------------------------------------------------- rootfs cache

# The debootstrap recipe of each kind; the cache key is a hash of it, so changing a
# recipe rebuilds instead of reusing a stale rootfs.
_recipe() {
  case $1 in
    systemd) echo "bookworm minbase include=systemd,systemd-sysv,dbus,procps,curl,passwd" ;;
    openrc) echo "bookworm minbase include=sysvinit-core,procps,curl,passwd +openrc +rsyslog -getty -aptcache" ;;
    # .ci/ansible: a base kind plus sshd, a full python3 (Ansible's modules need more
    # than python3-minimal) and iproute2; the test's key is added at boot
    sshd-systemd | sshd-openrc) echo "$(_recipe "${1#sshd-}") +openssh-server,python3,iproute2 +rc-update-ssh" ;;
    *) die "unknown rootfs kind $1" ;;
  esac
}

_debootstrap() { # KIND DIR LOG
  local kind=$1 dir=$2 blog=$3
  case $kind in
    systemd)
      debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,procps,curl,passwd \
        bookworm "$dir" "$E2E_MIRROR" >"$blog" 2>&1 || return 1
      ;;
    openrc)
      # debootstrap cannot resolve --include=openrc (it pulls sysv-rc, which conflicts),
      # so openrc is installed afterwards, from inside the new root.
      debootstrap --variant=minbase --include=sysvinit-core,procps,curl,passwd \
        bookworm "$dir" "$E2E_MIRROR" >"$blog" 2>&1 || return 1
      # rsyslog for openrc.sh's syslog_flow; no service may start in the chroot meanwhile
      cp /etc/resolv.conf "$dir/etc/resolv.conf"
      printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d" && chmod 755 "$dir/usr/sbin/policy-rc.d"
      chroot "$dir" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q openrc rsyslog >>"$blog" 2>&1 || return 1
      rm -f "$dir/usr/sbin/policy-rc.d"
      : >"$dir/etc/resolv.conf"
      # no /dev/ttyN in a container: gettys would respawn forever
      sed -i -E 's/^([1-6]:[0-9]+:respawn:\/sbin\/getty)/#\1/' "$dir/etc/inittab"
      ;;
    sshd-systemd | sshd-openrc)
      # the base kind's cached rootfs, copied, plus the packages (faster than debootstrap)
      local base_kind=${kind#sshd-} keep=$ROOTFS
      ensure_rootfs "$base_kind"
      mkdir -p "$dir" && cp -a "$ROOTFS/." "$dir/" || return 1
      ROOTFS=$keep
      rm -f "$dir/.tend-e2e-complete"
      cp /etc/resolv.conf "$dir/etc/resolv.conf"
      printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d" && chmod 755 "$dir/usr/sbin/policy-rc.d"
      chroot "$dir" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
        sh -c 'apt-get update -q && apt-get install -y -q --no-install-recommends openssh-server python3 iproute2' \
        >"$blog" 2>&1 || return 1
      if [ "$base_kind" = openrc ]; then
        chroot "$dir" rc-update add ssh default >>"$blog" 2>&1 || return 1
      fi
      rm -f "$dir/usr/sbin/policy-rc.d" "$dir"/var/lib/apt/lists/*_InRelease
      : >"$dir/etc/resolv.conf"
      ;;
  esac
  echo "tend-e2e-$kind" >"$dir/etc/hostname"
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/cache/apt/*.bin "$dir"/var/lib/apt/lists/*_Packages
}

# ensure_rootfs KIND: set ROOTFS to a pristine rootfs of KIND, reusing (fastest first)
# the extracted folder, the tarball, or else debootstrapping and caching both.
ensure_rootfs() {
  local kind=$1 key base t lockfd
  key=$(_recipe "$kind" | sha256sum | cut -c1-10)
  base=$E2E_CACHE/rootfs-$kind-$key
  ROOTFS=$base
  mkdir -p "$E2E_CACHE"
  exec {lockfd}>"$E2E_CACHE/.lock-$kind"
  flock "$lockfd"   # one build per kind at a time; a parallel run waits and reuses it
  if [ -f "$base/.tend-e2e-complete" ]; then
    log "rootfs: reusing $base"
  elif [ -f "$base.tar.zst" ]; then
    t=$EPOCHREALTIME
    rm -rf "$base.tmp" && mkdir -p "$base.tmp"
    tar -C "$base.tmp" --numeric-owner -xpf "$base.tar.zst" -I zstd || die "cannot extract $base.tar.zst"
    touch "$base.tmp/.tend-e2e-complete" && rm -rf "$base" && mv "$base.tmp" "$base"
    log "rootfs: extracted $base.tar.zst in $(_elapsed "$t")s"
  else
    t=$EPOCHREALTIME
    log "rootfs: building $kind ($(_recipe "$kind")), takes a few minutes once"
    rm -rf "$base.tmp"
    _debootstrap "$kind" "$base.tmp" "$E2E_CACHE/debootstrap-$kind.log" \
      || { tail -20 "$E2E_CACHE/debootstrap-$kind.log"; die "debootstrap $kind failed (see $E2E_CACHE/debootstrap-$kind.log)"; }
    if ! tar -C "$base.tmp" --numeric-owner -cpf "$base.tar.zst.tmp" -I 'zstd -T0 -3' .; then
      die "cannot write $base.tar.zst"
    fi
    mv "$base.tar.zst.tmp" "$base.tar.zst"
    touch "$base.tmp/.tend-e2e-complete" && rm -rf "$base" && mv "$base.tmp" "$base"
    log "rootfs: built in $(_elapsed "$t")s, cached as $base.tar.zst ($(du -h "$base.tar.zst" | cut -f1))"
  fi
  # older recipes' caches
  find "$E2E_CACHE" -maxdepth 1 -name "rootfs-$kind-*" ! -name "rootfs-$kind-$key*" -exec rm -rf {} + 2>/dev/null
  flock -u "$lockfd"
}

# ---------------------------------------------------------------- the container

# in_ct CMD...: run CMD inside the container (all namespaces of its PID 1), clean env;
# killed after 120 s so that a hung command fails its check instead of hanging CI.
in_ct() {
  timeout -k 5 120 nsenter -t "$CPID" -a env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    TERM=dumb LANG=C.UTF-8 "$@"
}
# ct_path PATH: the host path of PATH inside the running container (for reading).
ct_path() { printf '/proc/%s/root%s' "$CPID" "$1"; }

# stage_opt_tend: a folder mounted read-only at /opt/tend with the binaries and specs.
stage_opt_tend() {
  CT_STAGE=$(mktemp -d "/tmp/tend-e2e-$E2E_SUITE.XXXXXX")
  mkdir -p "$CT_STAGE/opt"
  local b
  for b in tend hello-service tend-fixture; do
    ln -f "$E2E_BIN/$b" "$CT_STAGE/opt/$b" 2>/dev/null || cp "$E2E_BIN/$b" "$CT_STAGE/opt/$b" || die "cannot stage $b"
  done
  cp "$E2E_DIR"/specs/*.toml "$CT_STAGE/opt/" || die "cannot stage specs"
  chmod 755 "$CT_STAGE/opt"
  chmod 644 "$CT_STAGE"/opt/*.toml
}

# boot_ct KIND [NAME]: boot a container of ROOTFS (systemd or openrc) with a throwaway
# overlay, its own network namespace (CT_NETWORK: loopback only by default) and
# /opt/tend; sets CPID when it is ready.
CT_NETWORK=(--private-network)
boot_ct() {
  CT_KIND=$1
  CT_NAME=${2:-tend-e2e-$CT_KIND-$$}
  CT_LOG=$CT_STAGE/boot.log
  # No host systemd, so no machined: --register=no --keep-unit makes nspawn use its
  # current cgroup. Give it a private one (also lets several runs go at once).
  if [ -d /sys/fs/cgroup/unified ]; then
    CT_CGDIRS=("/sys/fs/cgroup/systemd/$CT_NAME" "/sys/fs/cgroup/unified/$CT_NAME")
  elif [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    CT_CGDIRS=("/sys/fs/cgroup/$CT_NAME")
  fi
  local d
  for d in "${CT_CGDIRS[@]}"; do mkdir -p "$d" || die "cannot create cgroup $d"; done
  local init=systemd
  if [ "$CT_KIND" = systemd ]; then
    export SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 # pure cgroup v2 inside
  else
    unset SYSTEMD_NSPAWN_UNIFIED_HIERARCHY
    init=init
  fi
  local t=$EPOCHREALTIME
  # shellcheck disable=SC2016
  bash -c 'for d in "${@:2:$1}"; do echo $$ >"$d/cgroup.procs" || exit 97; done; shift $(($1 + 1)); exec systemd-nspawn "$@"' \
    nspawn "${#CT_CGDIRS[@]}" "${CT_CGDIRS[@]}" \
    -b -D "$ROOTFS" -M "$CT_NAME" --register=no --keep-unit --console=read-only \
    --volatile=overlay "${CT_NETWORK[@]}" --bind-ro="$CT_STAGE/opt:/opt/tend" \
    </dev/null >"$CT_LOG" 2>&1 &
  NSPAWN_PID=$!
  _find_cpid() { CPID=$(pgrep -P "$NSPAWN_PID" -x "$init") && [ -n "$CPID" ]; }
  wait_until 30 _find_cpid || { evidence <"$CT_LOG"; die "no $init in the container"; }
  _find_cpid
  case $CT_KIND in
    systemd)
      # fails at once until PID 1's private socket exists: retry until the deadline
      _sd_ready() {
        CT_STATE=$(timeout 60 nsenter -t "$CPID" -a systemctl is-system-running --wait 2>/dev/null)
        case $CT_STATE in running | degraded) return 0 ;; esac
        return 1
      }
      CT_STATE=
      wait_until 60 _sd_ready || { evidence <"$CT_LOG"; die "systemd not ready: '$CT_STATE'"; }
      if [ "$CT_STATE" = degraded ]; then
        log "warning: system degraded: $(in_ct systemctl --failed --plain --no-legend | tr '\n' ';')"
      fi
      ;;
    openrc)
      _orc_ready() {
        [ "$(in_ct rc-status --runlevel 2>/dev/null)" = default ] \
          && grep -q 'rc.local.*started' <<<"$(in_ct rc-status default 2>/dev/null)"
      }
      wait_until 60 _orc_ready || { evidence <"$CT_LOG"; die "OpenRC did not reach runlevel default"; }
      # sysvinit brings up no interfaces (no ifupdown in minbase): loopback, from the
      # host's iproute2, in the container's network namespace only
      nsenter -t "$CPID" -n ip link set lo up || die "cannot bring up lo"
      ;;
  esac
  log "booted $CT_KIND container $CT_NAME in $(_elapsed "$t")s (PID 1 = host pid $CPID)"
}

# Shut the container down (systemd: poweroff; sysvinit ignores nspawn's SIGRTMIN+3, so
# telinit 0), SIGKILL nspawn after 30 s, remove the private cgroups.
shutdown_ct() {
  [ -n "$NSPAWN_PID" ] || return 0
  local t=$EPOCHREALTIME
  if kill -0 "$NSPAWN_PID" 2>/dev/null; then
    if [ -n "$CPID" ]; then
      case $CT_KIND in
        systemd) in_ct systemctl poweroff >/dev/null 2>&1 || kill -TERM "$NSPAWN_PID" ;;
        *) in_ct /sbin/telinit 0 >/dev/null 2>&1 || kill -TERM "$NSPAWN_PID" ;;
      esac
    else
      kill -TERM "$NSPAWN_PID"
    fi
    _nspawn_gone() { ! kill -0 "$NSPAWN_PID" 2>/dev/null; }
    if wait_until 30 _nspawn_gone; then
      log "container shut down in $(_elapsed "$t")s"
    else
      fail "container did not shut down within 30 s; SIGKILL nspawn"
      kill -KILL "$NSPAWN_PID" 2>/dev/null
    fi
  fi
  wait "$NSPAWN_PID" 2>/dev/null
  NSPAWN_PID=
  CPID=
  local d
  for d in "${CT_CGDIRS[@]}"; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  rm -rf "/run/systemd/nspawn/propagate/$CT_NAME" 2>/dev/null
}

_e2e_exit() {
  local rc=$?
  trap - EXIT INT TERM
  shutdown_ct
  if [ -n "$CT_STAGE" ]; then
    if [ "${TEND_E2E_KEEP:-0}" = 1 ] || [ "$CHECK_FAILED" -gt 0 ]; then
      log "boot log and staging kept in $CT_STAGE"
    else
      rm -rf "$CT_STAGE"
    fi
  fi
  [ "$rc" -ne 0 ] && [ "$CHECK_FAILED" -eq 0 ] && fail "suite ended with status $rc"
  log "done in $(_elapsed "$E2E_T0")s"
  check_summary && exit 0
  exit 1
}

# e2e_begin SUITE: counters, the cleanup trap, root check.
e2e_begin() {
  E2E_SUITE=$1 CHECK_LABEL=$1
  trap _e2e_exit EXIT
  trap 'fail "interrupted"; exit 130' INT TERM
  [ "$(id -u)" = 0 ] || die "must run as root (containers)"
}

# ---------------------------------------------------------------- tend helpers

TEND=/opt/tend/tend
# tend ARGS...: run tend inside the container; output in OUT, status in RC.
# TEND_E2E_VERBOSE=1 shows every tend command and its output.
tend() {
  OUT=$(in_ct "$TEND" "$@" 2>&1)
  RC=$?
  if [ "${TEND_E2E_VERBOSE:-0}" = 1 ]; then
    printf '  $ tend %s   (exit %s)\n' "$*" "$RC"
    printf '  > %s\n' "${OUT//$'\n'/$'\n'  > }"
  fi
}

# status_json NAME: `tend status NAME --json` as one object (first element if an array).
status_json() {
  in_ct "$TEND" status "$1" --json 2>/dev/null | jq -c 'if type == "array" then .[0] else . end' 2>/dev/null
}
# sj NAME FILTER: a jq filter applied to status_json (raw output).
sj() { status_json "$1" | jq -r "$2" 2>/dev/null; }
# state_json NAME: the supervisor's state file.
state_json() { in_ct cat "/var/lib/tend/$1/$1.json" 2>/dev/null; }
# sf NAME FIELD: one field of the state file.
sf() { state_json "$1" | jq -r ".$2 // empty" 2>/dev/null; }

# uid_of PID (container pid namespace)
uid_of() { in_ct awk '/^Uid:/{print $2}' "/proc/$1/status" 2>/dev/null; }
# http PORT [PATH]: GET from inside the container over its loopback.
http() { in_ct curl -fsS --max-time 3 "http://127.0.0.1:$1${2:-/}" 2>/dev/null; }
# The state file says running with a child pid.
is_running_state() { [ "$(sf "$1" state)" = running ] && [ -n "$(sf "$1" pid)" ]; }
# mtime in nanoseconds resolution, as a string
mtime() { in_ct stat -c %y "$1" 2>/dev/null; }

# ---------------------------------------------------------------- the shared lifecycle flow
#
# The suite defines these backend hooks (NAME is the service name):
#   be_unit NAME        path of the unit / init script inside the container
#   be_running NAME     the init system says it runs ("active (running)" / "started")
#   be_stopped NAME     the init system says it is stopped
#   be_enabled NAME     it starts at boot
#   be_unknown NAME     the init system no longer knows it (after uninstall)
#   be_describe NAME    one line of the init system's view, for evidence
#   BE                  the backend name tend should report
#   BE_ACTIVE           the `active` word of `tend status --json` while running
#   BE_DRY_MARKERS      texts the dry run must print (unit file lines, commands)
#   be_checks_running NAME   (optional) backend-specific checks while it runs

# has_install: the tend under test has `install`.
has_install() { grep -qE '^\s+install\b' <<<"$(in_ct "$TEND" --help 2>/dev/null)"; }
# require_install FLOW: true if it has; else a failed check (a flow that cannot run is
# a failure, never a silent pass).
require_install() {
  has_install && return 0
  fail "tend has no 'install' command: $1 not run"
  return 1
}

# no_leftovers NAME: nothing of NAME remains (unit, installed spec, account, dirs).
no_leftovers() {
  local n=$1 what=()
  in_ct test -e "$(be_unit "$n")" && what+=("$(be_unit "$n")")
  in_ct test -e "/etc/tend/$n.toml" && what+=("/etc/tend/$n.toml")
  in_ct test -e "/etc/tend/$n.install.json" && what+=("/etc/tend/$n.install.json")
  in_ct getent passwd "$n" >/dev/null && what+=("user $n")
  in_ct getent group "$n" >/dev/null && what+=("group $n")
  in_ct test -e "/var/lib/tend/$n" && what+=("/var/lib/tend/$n")
  in_ct test -e "/var/log/tend/$n" && what+=("/var/log/tend/$n")
  be_unknown "$n" || what+=("the init system still knows $n: $(be_describe "$n")")
  LEFTOVERS=${what[*]:-}
  [ ${#what[@]} -eq 0 ]
}

# no_procs_of UID: no process of that uid in the container.
no_procs_of() { ! in_ct pgrep -u "$1" >/dev/null; }

# dir_ok DIR USER: owned by USER:USER, mode 750.
dir_ok() { [ "$(in_ct stat -c '%U:%G %a' "$1" 2>/dev/null)" = "$2:$2 750" ]; }

flow_missing_command() {
  tend install /opt/tend/ghost.toml --now
  if [ "$RC" = 1 ] && grep -q 'no-such-program' <<<"$OUT"; then
    pass "install of a spec whose command is missing fails (exit 1) naming the command"
  else
    fail "install of a spec whose command is missing: exit $RC (want 1, error naming /opt/tend/no-such-program)"
    evidence <<<"$OUT"
  fi
  check "the failed install left nothing behind" no_leftovers ghost || evidence <<<"left: $LEFTOVERS"
}

flow_dry_run() { # NAME SPEC
  local n=$1 spec=$2
  tend install "$spec" --now --dry-run
  local m missing=()
  for m in "${BE_DRY_MARKERS[@]}" "name = \"$n\"" "/etc/tend/$n.toml"; do
    grep -qF -- "$m" <<<"$OUT" || missing+=("$m")
  done
  if [ "$RC" = 0 ] && [ ${#missing[@]} -eq 0 ]; then
    pass "install --dry-run prints the unit, the resolved spec and the commands"
  else
    fail "install --dry-run (exit $RC) lacks: $(printf "'%s' " "${missing[@]}")"
    evidence 100 <<<"$OUT"
  fi
  check "install --dry-run changed nothing" no_leftovers "$n" || evidence <<<"left: $LEFTOVERS"
}

# flow_install_now NAME SPEC PORT: install --now and everything that must then hold.
flow_install_now() {
  local n=$1 spec=$2 port=$3 t=$EPOCHREALTIME
  tend install "$spec" --now
  if [ "$RC" = 0 ]; then
    pass "install --now exits 0 in $(_elapsed "$t")s"
  else
    fail "install --now exited $RC"; evidence 30 <<<"$OUT"
    return 1
  fi
  # --now waits until the child runs: no waiting needed here
  check "right after install --now the state file says running with a pid" is_running_state "$n" \
    || evidence <<<"$(state_json "$n")"
  check "the init system shows it running" be_running "$n" || evidence <<<"$(be_describe "$n")"
  check "it is enabled at boot" be_enabled "$n"
  check "unit $(be_unit "$n") written" in_ct test -f "$(be_unit "$n")"
  check "resolved spec copied to /etc/tend/$n.toml" in_ct test -f "/etc/tend/$n.toml"

  local js
  js=$(in_ct "$TEND" status "$n" --json 2>&1)
  check "tend status $n --json prints an array of one JSON object" \
    jq -e 'type == "array" and length == 1 and (.[0] | type == "object")' <<<"$js" \
    || evidence 8 <<<"$js"
  js=$(status_json "$n")
  local want
  want=$(jq -n -c --arg n "$n" --arg be "$BE" --arg act "$BE_ACTIVE" \
    '{name: $n, backend: $be, active: $act, enabled: true, state: "running", drift: false}')
  if jq -e --argjson w "$want" '. as $s | ($w | to_entries | all(.value == $s[.key]))
        and (.pid | type == "number" and . > 0) and (.supervisor_pid | type == "number" and . > 0)
        and (.restarts | type == "number")' <<<"$js" >/dev/null 2>&1; then
    pass "tend status --json agrees: $(jq -c '{backend, active, enabled, state, pid, supervisor_pid, restarts, drift}' <<<"$js")"
  else
    fail "tend status --json disagrees; want $want, pid, supervisor_pid, restarts"
    evidence <<<"$js"
  fi

  # the account: a system user with no login shell and no home, and its group
  local pw uid shell home
  pw=$(in_ct getent passwd "$n")
  IFS=: read -r _ _ uid _ _ home shell <<<"$pw"
  if [ -n "$pw" ] && [ "$uid" -lt 1000 ] && [[ $shell == */nologin || $shell == */false ]] \
    && ! in_ct test -e "$home"; then
    pass "user $n created: system uid $uid, shell $shell, no home ($home absent)"
  else
    fail "user $n: want a system account, no login shell, no home; got '${pw:-none}'$(in_ct test -e "${home:-/nonexistent}" && echo " (home $home exists)")"
  fi
  check "group $n exists" in_ct getent group "$n"
  check "/var/lib/tend/$n is $n:$n 0750" dir_ok "/var/lib/tend/$n" "$n" \
    || evidence <<<"$(in_ct stat -c '%U:%G %a %n' "/var/lib/tend/$n" 2>&1)"
  check "/var/log/tend/$n is $n:$n 0750" dir_ok "/var/log/tend/$n" "$n" \
    || evidence <<<"$(in_ct stat -c '%U:%G %a %n' "/var/log/tend/$n" 2>&1)"

  # it answers on loopback; it runs as its own user
  local body
  if wait_until 5 http "$port" /healthz && body=$(http "$port" /) && [[ $body == "hello from hello-service"* ]]; then
    pass "HTTP on 127.0.0.1:$port answers: $body"
  else
    fail "no HTTP answer on 127.0.0.1:$port"
  fi
  SVC_UID=$uid
  local pid sup
  pid=$(sf "$n" pid) sup=$(sf "$n" supervisor_pid)
  if [ -n "$pid" ] && [ "$(uid_of "$pid")" = "$uid" ] && [ -n "$sup" ] && [ "$(uid_of "$sup")" = "$uid" ]; then
    pass "child $pid and supervisor $sup run as $n (uid $uid)"
  else
    fail "child ${pid:-?} uid $(uid_of "${pid:-0}"), supervisor ${sup:-?} uid $(uid_of "${sup:-0}"); want uid $uid ($n)"
  fi
}

# flow_reinstall_noop NAME SPEC: the same install again changes nothing.
flow_reinstall_noop() {
  local n=$1 spec=$2 unit m1 s1 pid sup
  unit=$(be_unit "$n")
  m1=$(mtime "$unit") s1=$(mtime "/etc/tend/$n.toml") pid=$(sf "$n" pid) sup=$(sf "$n" supervisor_pid)
  tend install "$spec" --now
  if [ "$RC" = 0 ] && grep -q 'nothing to do' <<<"$OUT"; then
    pass "identical reinstall says 'nothing to do'"
  else
    fail "identical reinstall (exit $RC) does not say 'nothing to do'"; evidence <<<"$OUT"
  fi
  if [ "$(mtime "$unit")" = "$m1" ] && [ "$(mtime "/etc/tend/$n.toml")" = "$s1" ]; then
    pass "reinstall left the unit and the installed spec untouched (mtimes)"
  else
    fail "reinstall rewrote files: $unit $m1 -> $(mtime "$unit"), /etc/tend/$n.toml $s1 -> $(mtime "/etc/tend/$n.toml")"
  fi
  if [ "$(sf "$n" pid)" = "$pid" ] && [ "$(sf "$n" supervisor_pid)" = "$sup" ]; then
    pass "reinstall did not restart the service"
  else
    fail "reinstall restarted the service: child $pid -> $(sf "$n" pid), supervisor $sup -> $(sf "$n" supervisor_pid)"
  fi
}

# flow_drift NAME SPEC: a hand-edited unit shows as drift; install puts it back.
flow_drift() {
  local n=$1 spec=$2 unit
  unit=$(be_unit "$n")
  in_ct sh -c "echo '# edited by hand' >>'$unit'"
  if [ "$(sj "$n" .drift)" = true ]; then
    pass "a hand-edited unit shows as drift: true in tend status --json"
  else
    fail "a hand-edited unit: drift is '$(sj "$n" .drift)', want true"
  fi
  tend install "$spec" --now
  if [ "$RC" = 0 ] && ! grep -q 'nothing to do' <<<"$OUT" && ! in_ct grep -q 'edited by hand' "$unit" \
    && [ "$(sj "$n" .drift)" = false ] && is_running_state "$n"; then
    pass "install over the drifted unit rewrites it (drift: false, still running)"
  else
    fail "install over the drifted unit (exit $RC): drift $(sj "$n" .drift), state $(sf "$n" state)"; evidence <<<"$OUT"
  fi
}

# flow_kill_child NAME PORT: the supervisor restarts a SIGKILLed child.
flow_kill_child() {
  local n=$1 port=$2 pid r0 t=$EPOCHREALTIME
  pid=$(sf "$n" pid) r0=$(sf "$n" restarts)
  [ -n "$pid" ] || { fail "no child pid to kill"; return 1; }
  in_ct kill -KILL "$pid"
  _child_back() { local p; p=$(sf "$n" pid); [ -n "$p" ] && [ "$p" != "$pid" ] && is_running_state "$n" && [ "$(sf "$n" restarts)" -ge $((r0 + 1)) ]; }
  if wait_until 15 _child_back; then
    pass "SIGKILL child $pid: supervisor restarted it as $(sf "$n" pid) in $(_elapsed "$t")s, restarts=$(sf "$n" restarts)"
  else
    fail "SIGKILL child $pid: not restarted within 15 s"; evidence <<<"$(state_json "$n")"
  fi
  check "HTTP answers again after the child restart" wait_until 5 http "$port" /healthz
}

# flow_kill_supervisor NAME PORT: the init system restarts a SIGKILLed supervisor.
flow_kill_supervisor() {
  local n=$1 port=$2 sup pid t=$EPOCHREALTIME
  sup=$(sf "$n" supervisor_pid) pid=$(sf "$n" pid)
  [ -n "$sup" ] || { fail "no supervisor pid to kill"; return 1; }
  in_ct kill -KILL "$sup"
  _sup_back() {
    local s; s=$(sf "$n" supervisor_pid)
    [ -n "$s" ] && [ "$s" != "$sup" ] && in_ct kill -0 "$s" && is_running_state "$n" && be_running "$n"
  }
  if wait_until 30 _sup_back; then
    pass "SIGKILL supervisor $sup: the init system restarted the service in $(_elapsed "$t")s (supervisor $(sf "$n" supervisor_pid), child $(sf "$n" pid))"
  else
    fail "SIGKILL supervisor $sup: not back within 30 s"; evidence <<<"$(state_json "$n"; be_describe "$n")"
  fi
  _old_child_gone() { ! in_ct kill -0 "$pid"; }
  check "the old child $pid did not outlive its supervisor" wait_until 5 _old_child_gone
  check "HTTP answers after the supervisor restart" wait_until 5 http "$port" /healthz
}

# flow_file_logs NAME PORT: request lines reach the log file and `tend logs`.
flow_file_logs() {
  local n=$1 port=$2 f="/var/log/tend/$1/$1.log"
  http "$port" / >/dev/null
  _in_file() { in_ct grep -q 'GET / 200' "$f"; }
  check "request lines reach $f" wait_until 5 _in_file || evidence <<<"$(in_ct ls -la "/var/log/tend/$n" 2>&1)"
  tend logs "$n" -n 20
  if [ "$RC" = 0 ] && grep -q 'GET / 200' <<<"$OUT"; then
    pass "tend logs $n -n 20 shows the request lines"
  else
    fail "tend logs $n -n 20 (exit $RC) lacks 'GET / 200'"; evidence <<<"$OUT"
  fi
  # An external rotation (what logrotate does), then the control channel of the
  # installed supervisor reopens the log: new lines go to a new file at the path.
  in_ct mv "$f" "$f.moved"
  tend reopen-logs "$n"
  [ "$RC" = 0 ] || { fail "tend reopen-logs $n exited $RC"; evidence <<<"$OUT"; }
  http "$port" /reopened >/dev/null
  _reopened() { in_ct grep -q 'GET /reopened' "$f"; }
  check "after tend reopen-logs (the control channel of the installed service) new lines reach a new $f" \
    wait_until 5 _reopened || evidence <<<"$OUT"$'\n'"$(in_ct ls -la "/var/log/tend/$n" 2>&1)"
  in_ct rm -f "$f.moved"
}

# flow_stop NAME: graceful stop, no process of the service user left.
flow_stop() {
  local n=$1 pid t=$EPOCHREALTIME
  pid=$(sf "$n" pid)
  tend stop "$n"
  [ "$RC" = 0 ] || { fail "tend stop $n exited $RC"; evidence <<<"$OUT"; }
  if wait_until 15 be_stopped "$n"; then
    pass "tend stop: the init system shows it stopped after $(_elapsed "$t")s"
  else
    fail "tend stop: still not stopped after 15 s"; evidence <<<"$(be_describe "$n")"
  fi
  local marker
  marker=$(in_ct cat "/var/lib/tend/$n/shutdown.marker" 2>/dev/null)
  if grep -qx "graceful $pid" <<<"$marker"; then
    pass "the child $pid shut down gracefully (marker: graceful $pid)"
  else
    fail "no 'graceful $pid' in the shutdown marker"; evidence <<<"${marker:-(no marker file)}"
  fi
  _graceful_logged() { in_ct grep -q 'graceful shutdown (SIGTERM)' "/var/log/tend/$n/$n.log"; }
  check "the log shows 'graceful shutdown (SIGTERM)'" wait_until 2 _graceful_logged
  check "no process of user $n (uid $SVC_UID) left after stop" wait_until 5 no_procs_of "$SVC_UID" \
    || evidence <<<"$(in_ct ps -o pid,user,args -u "$SVC_UID")"
  local js
  js=$(status_json "$n")
  if [ "$(jq -r .active <<<"$js")" != "$BE_ACTIVE" ] && [ "$(jq -r .state <<<"$js")" != running ]; then
    pass "tend status after stop: active=$(jq -r .active <<<"$js"), state=$(jq -r .state <<<"$js")"
  else
    fail "tend status after stop still says running"; evidence <<<"$js"
  fi
  audited stop "$n"
}

# audited ACTION NAME: the audit log's last line is ACTION of NAME by root, done; its
# chain verifies; and where there is a journal, it holds the line's copy with the
# line's hash (the witness of lines removed from the end).
audited() {
  local action=$1 n=$2 last hash
  last=$(in_ct tail -n 1 /var/lib/tend/audit.jsonl 2>/dev/null)
  if jq -e --arg n "$n" --arg a "$action" '.service == $n and .action == $a and .result == "ok" and .uid == 0 and (.prev | length) == 64' >/dev/null 2>&1 <<<"$last"; then
    pass "the audit log's last line: '$action' of '$n' by uid 0, ok"
  else
    fail "the audit log's last line is not '$action' of '$n' by uid 0, ok"; evidence <<<"$last"
  fi
  tend audit "$n" --verify
  if [ "$RC" = 0 ] && grep -q 'chain intact' <<<"$OUT"; then
    pass "tend audit $n --verify: $(tail -n 1 <<<"$OUT")"
  else
    fail "tend audit $n --verify (exit $RC)"; evidence <<<"$OUT"
  fi
  if in_ct test -S /run/systemd/journal/dev-log; then
    hash=$(printf %s "$last" | sha256sum | cut -d' ' -f1)
    _journal_has() { in_ct journalctl -q -t tend-audit -o cat 2>/dev/null | grep -qF "sha256=$1"; }
    check "the journal holds the audit line's copy, with its hash" wait_until 5 _journal_has "$hash"
  fi
}

# flow_start_restart NAME PORT
flow_start_restart() {
  local n=$1 port=$2 sup
  tend start "$n"
  if [ "$RC" = 0 ] && is_running_state "$n" && be_running "$n"; then
    pass "tend start: running again (returns once the child runs)"
  else
    fail "tend start (exit $RC): not running at return"; evidence <<<"$OUT"$'\n'"$(state_json "$n")"
  fi
  check "HTTP answers after tend start" wait_until 5 http "$port" /healthz
  sup=$(sf "$n" supervisor_pid)
  tend restart "$n"
  if [ "$RC" = 0 ] && is_running_state "$n" && [ "$(sf "$n" supervisor_pid)" != "$sup" ]; then
    pass "tend restart: a new supervisor ($sup -> $(sf "$n" supervisor_pid)), running"
  else
    fail "tend restart (exit $RC): supervisor $sup -> $(sf "$n" supervisor_pid), state $(sf "$n" state)"; evidence <<<"$OUT"
  fi
}

# flow_uninstall_purge NAME: nothing left.
flow_uninstall_purge() {
  local n=$1
  tend uninstall "$n" --purge
  if [ "$RC" = 0 ]; then pass "uninstall --purge exits 0"; else fail "uninstall --purge exited $RC"; evidence <<<"$OUT"; fi
  check "after uninstall --purge nothing of $n is left (unit, /etc/tend, user, group, dirs)" no_leftovers "$n" \
    || evidence <<<"left: $LEFTOVERS"
  check "no process of uid $SVC_UID left after uninstall" no_procs_of "$SVC_UID"
}

# The whole flow of the issue for the hello spec.
lifecycle_flow() {
  local n=hello spec=/opt/tend/hello.toml port=18080
  require_install lifecycle_flow || return 1
  flow_missing_command
  flow_dry_run "$n" "$spec"
  flow_install_now "$n" "$spec" "$port" || return 1
  if declare -F be_checks_running >/dev/null; then be_checks_running "$n"; fi
  flow_reinstall_noop "$n" "$spec"
  flow_drift "$n" "$spec"
  flow_kill_child "$n" "$port"
  flow_kill_supervisor "$n" "$port"
  flow_file_logs "$n" "$port"
  flow_stop "$n"
  flow_start_restart "$n" "$port"
  flow_uninstall_purge "$n"
}

# ---------------------------------------------------------------- health checks
#
# health_flow: a service with [health] is ready only when its probe passes; a hung
# child (SIGSTOP: it neither answers nor handles SIGTERM) is found unhealthy, killed
# after stop.timeout and replaced; an install --now whose probe never passes fails with
# the probe's error and leaves nothing installed.
health_flow() {
  require_install health_flow || return 1
  local n=hale spec pid sup t
  spec=$(ct_spec "$n" '[stop]' 'timeout = "2s"' '[health]' \
    'http = "http://127.0.0.1:18083/healthz"' 'interval = "500ms"' 'timeout = "500ms"' 'retries = 2')
  tend install "$spec" --now
  if [ "$RC" = 0 ] && [ "$(sf "$n" health.state)" = healthy ]; then
    pass "health: install --now returns once the probe passed: $(sf "$n" health.last_probe.result)"
  else
    fail "health: install --now (exit $RC) did not wait for a healthy probe"
    evidence <<<"$OUT"$'\n'"$(state_json "$n")"
    in_ct "$TEND" uninstall "$n" --purge >/dev/null 2>&1
    return 1
  fi
  check "health: tend status shows HEALTH healthy" \
    grep -qE "^$n +$BE_ACTIVE +running +healthy " <<<"$(in_ct "$TEND" status "$n" 2>&1)" \
    || evidence <<<"$(in_ct "$TEND" status "$n" 2>&1)"
  pid=$(sf "$n" pid) sup=$(sf "$n" supervisor_pid) t=$EPOCHREALTIME
  in_ct kill -STOP "$pid"
  _replaced() {
    local p; p=$(sf "$n" pid)
    [ -n "$p" ] && [ "$p" != "$pid" ] && [ "$(sf "$n" health.state)" = healthy ] && [ "$(sf "$n" restarts)" -ge 1 ]
  }
  if wait_until 20 _replaced; then
    pass "health: SIGSTOPped child $pid found unhealthy and replaced by $(sf "$n" pid) in $(_elapsed "$t")s"
  else
    fail "health: SIGSTOPped child $pid not replaced within 20 s"; evidence <<<"$(state_json "$n")"
  fi
  _gone() { ! in_ct kill -0 "$pid" 2>/dev/null; }
  check "health: the stopped child is gone" wait_until 5 _gone
  # tend's own lines: the journal (systemd) or tend.log (OpenRC's supervise-daemon)
  _said() {
    local said
    said=$(in_ct sh -c 'journalctl -u "$1.service" -o cat --no-pager 2>/dev/null; cat "/var/log/tend/$1/tend.log" 2>/dev/null' _ "$n")
    grep -qF "unhealthy: 2 probes in a row failed, the last: GET http://127.0.0.1:18083/healthz: no answer within 500ms" <<<"$said"
  }
  check "health: the log says why it was replaced" wait_until 5 _said \
    || evidence 30 <<<"$(in_ct sh -c 'journalctl -u "$1.service" -o cat --no-pager 2>/dev/null | tail -n 30; tail -n 30 "/var/log/tend/$1/tend.log" 2>/dev/null' _ "$n")"
  # A restart within the supervisor: the init system neither saw a stop nor restarted it.
  if [ "$(sf "$n" supervisor_pid)" = "$sup" ] && be_running "$n"; then
    pass "health: the same supervisor ($sup) replaced it; the init system still has it running"
  else
    fail "health: after the replacement, supervisor $(sf "$n" supervisor_pid) (was $sup), init system: $(be_describe "$n")"
  fi
  tend uninstall "$n" --purge
  # never healthy: nothing listens where it is probed
  # (the default [restart]: tend restarts it, and install --now fails at the first
  # unhealthy probe, not when the supervisor gives up or the init system times out)
  spec=$(ct_spec "$n" '[health]' 'http = "http://127.0.0.1:18099/healthz"' 'interval = "200ms"' 'retries = 1')
  t=$EPOCHREALTIME
  tend install "$spec" --now
  if [ "$RC" = 1 ] && grep -qF "GET http://127.0.0.1:18099/healthz: cannot connect to 127.0.0.1:18099" <<<"$OUT" \
    && awk -v a="$t" -v b="$EPOCHREALTIME" 'BEGIN{exit !(b - a < 20)}'; then
    log "never-healthy install --now failed in $(_elapsed "$t")s: $(grep -F 18099 <<<"$OUT" | head -n 1 | cut -c1-200)"
    pass "health: install --now of a service whose probe never passes fails naming the probe's error"
  else
    fail "health: install --now of a never-healthy service: exit $RC in $(_elapsed "$t")s (want 1 within 20 s, and the probe's error)"
    evidence <<<"$OUT"
  fi
  check "health: the failed install left nothing behind" no_leftovers "$n" || evidence <<<"left: $LEFTOVERS"
}

# ---------------------------------------------------------------- upgrades
#
# upgrade_flow: `tend upgrade` and `tend rollback` of an installed service with
# [update] and [health]. Releases are signed on the host with the real minisign (the
# containers have none) and copied in: a good one goes live through the running
# supervisor (a new child running the release's program, the init system none the
# wiser); an unsigned one and one signed by another key are refused with nothing
# changed; one that never becomes healthy is rolled back by itself; `tend rollback`
# goes back by hand. A stopped service is switched by tend itself (root): what it
# wrote under releases/ the service's account may read and not change, and the next
# start runs it. A service installed without --now is upgraded before it ever ran,
# then started and upgraded again by its supervisor.

UPG_PORT=18084

# upg_spec NAME [TOML...]: a spec for the fixture serving /healthz, with [update] and
# [health], and more lines of [update]; prints its path in the container.
upg_spec() {
  local n=$1 f="/root/specs/$1.toml"
  shift
  printf '%s\n' "name = \"$n\"" 'command = "/opt/tend/tend-fixture"' \
    "args = [\"--http-stop\", \"$UPG_PORT\", \"--hang\"]" "user = \"$n\"" \
    '[stop]' 'timeout = "2s"' \
    '[health]' "http = \"http://127.0.0.1:$UPG_PORT/healthz\"" 'interval = "200ms"' 'timeout = "1s"' 'retries = 2' \
    '[update]' "public_keys = [\"$UPG_KEY\"]" 'verify_within = "5s"' "$@" \
    | in_ct sh -c 'mkdir -p /root/specs && cat >"$1"' _ "$f"
  echo "$f"
}

# upg_keys: the key pairs release and stranger in $UPG_DIR (made once, on the host,
# with the real minisign); UPG_KEY is release's public key.
upg_keys() {
  local v
  UPG_DIR=$CT_STAGE/upgrade
  mkdir -p "$UPG_DIR"
  for v in release stranger; do
    [ -s "$UPG_DIR/$v.key" ] && continue
    minisign -G -W -p "$UPG_DIR/$v.pub" -s "$UPG_DIR/$v.key" >/dev/null 2>&1 || return 1
  done
  UPG_KEY=$(sed -n 2p "$UPG_DIR/release.pub")
}

# upg_release FILE VERSION [KEY]: FILE (on the host) signed by KEY (release, stranger
# or none) with version:VERSION, both copied into /root/rel/ in the container.
upg_release() {
  local f=$1 v=$2 key=${3:-release} b
  b=$(basename "$f")
  if [ "$key" != none ]; then
    minisign -S -s "$UPG_DIR/$key.key" -m "$f" -t "version:$v" >/dev/null 2>&1 || die "minisign -S $f failed"
    in_ct sh -c 'mkdir -p /root/rel && cat >"$1"' _ "/root/rel/$b.minisig" <"$f.minisig" || die "cannot copy $b.minisig"
  fi
  in_ct sh -c 'mkdir -p /root/rel && cat >"$1" && chmod 755 "$1"' _ "/root/rel/$b" <"$f" || die "cannot copy $b"
}

# upg_exe NAME: the program the service's child runs (/proc/PID/exe).
upg_exe() { in_ct readlink "/proc/$(sf "$1" pid)/exe" 2>/dev/null; }
upg_healthy() { is_running_state "$1" && [ "$(sf "$1" health.state)" = healthy ]; }
# upg_runs NAME PROGRAM: a healthy child runs PROGRAM.
upg_runs() { upg_healthy "$1" && [ "$(upg_exe "$1")" = "$2" ]; }
upg_index() { in_ct cat "/var/lib/tend/$1/releases/$1/index.json" 2>/dev/null; }
# the current release in index.json ("null": the spec's command; "none": no index)
upg_current() {
  local i
  i=$(upg_index "$1")
  if [ -z "$i" ]; then echo none; else jq -r '.current // "null"' <<<"$i" 2>/dev/null; fi
}
# the journal (systemd) and tend's own log (OpenRC's supervise-daemon)
upg_said() {
  in_ct sh -c 'journalctl -u "$1.service" -o cat --no-pager 2>/dev/null; cat "/var/log/tend/$1/tend.log" 2>/dev/null' _ "$1"
}
# as_user NAME CMD...: CMD as the service's account (uid and gid, no other groups)
as_user() {
  local uid gid
  uid=$(in_ct id -u "$1") gid=$(in_ct id -g "$1"); shift
  in_ct setpriv --reuid="$uid" --regid="$gid" --clear-groups "$@"
}
# upg_root_files_ok NAME ID: every file and folder of release ID and the index that
# tend (root) wrote for a stopped service belongs to the service's account (tend acts as
# the state folder's owner there), which reads them; none is writable by others.
upg_root_files_ok() {
  local n=$1 d="/var/lib/tend/$1/releases/$1" f wrong=()
  while IFS= read -r f; do
    [ -n "$f" ] || continue
    [ "$(in_ct stat -c %U "$f")" = "$n" ] || wrong+=("$f: owner $(in_ct stat -c %U "$f")")
    as_user "$n" test -r "$f" || wrong+=("$f: not readable by $n")
    if [ -n "$(in_ct find "$f" -maxdepth 0 -perm /022)" ]; then wrong+=("$f: writable by others"); fi
  done < <(in_ct find "$d/$2" "$d/$2.json" "$d/index.json")
  UPG_BAD=${wrong[*]:-}
  [ ${#wrong[@]} -eq 0 ] && [ -n "$(in_ct find "$d/$2" -type f)" ]
}

upgrade_flow() {
  require_install upgrade_flow || return 1
  command -v minisign >/dev/null || { fail "upgrade: no minisign on the host"; return 1; }
  local n=upg spec home pid0 pid sup idx t said line v
  upg_keys || { fail "upgrade: minisign -G failed"; return 1; }
  # releases: copies of the fixture; 3.0 runs it without serving /healthz
  for v in 2.0 2.1 2.2 2.5 2.6; do cp "$E2E_BIN/tend-fixture" "$UPG_DIR/app-$v"; done
  printf '#!/bin/sh\nexec /opt/tend/tend-fixture --hang\n' >"$UPG_DIR/app-3.0"
  upg_release "$UPG_DIR/app-2.0" 2.0
  upg_release "$UPG_DIR/app-2.1" 2.1 none
  upg_release "$UPG_DIR/app-2.2" 2.2 stranger
  upg_release "$UPG_DIR/app-3.0" 3.0
  upg_release "$UPG_DIR/app-2.5" 2.5
  upg_release "$UPG_DIR/app-2.6" 2.6
  spec=$(upg_spec "$n")
  home=/var/lib/tend/$n/releases/$n
  tend install "$spec" --now
  if [ "$RC" = 0 ] && upg_runs "$n" /opt/tend/tend-fixture; then
    pass "upgrade: $n installed with [update] and [health], healthy on the spec's command"
  else
    fail "upgrade: install --now of $n (exit $RC)"; evidence <<<"$OUT"$'\n'"$(state_json "$n")"
    in_ct "$TEND" uninstall "$n" --purge >/dev/null 2>&1
    return 1
  fi
  SVC_UID=$(in_ct id -u "$n")
  pid0=$(sf "$n" pid) sup=$(sf "$n" supervisor_pid)

  tend upgrade "$n" /root/rel/app-2.0 --dry-run
  if [ "$RC" = 0 ] && grep -qF "would switch \`$n\` from the spec's command to release 2.0" <<<"$OUT" \
    && [ "$(sf "$n" pid)" = "$pid0" ] && [ "$(upg_current "$n")" = none ] && ! in_ct test -e "$home/2.0"; then
    pass "upgrade --dry-run: verified, says what it would do, changes nothing"
  else
    fail "upgrade --dry-run (exit $RC)"; evidence <<<"$OUT"
  fi

  # a good release, through the running supervisor
  t=$EPOCHREALTIME
  tend upgrade "$n" /root/rel/app-2.0
  pid=$(sf "$n" pid)
  if [ "$RC" = 0 ] && grep -qF "upgraded from the spec's command to release 2.0: ready after" <<<"$OUT" \
    && [ -n "$pid" ] && [ "$pid" != "$pid0" ] && [ "$(upg_exe "$n")" = "$home/2.0/tend-fixture" ]; then
    pass "upgrade: a signed release goes live in $(_elapsed "$t")s: child $pid0 -> $pid, /proc/$pid/exe = $home/2.0/tend-fixture"
  else
    fail "upgrade of a signed release (exit $RC): child $pid0 -> ${pid:-?} running $(upg_exe "$n")"
    evidence <<<"$OUT"$'\n'"$(state_json "$n")"
  fi
  if [ "$(sf "$n" supervisor_pid)" = "$sup" ] && be_running "$n" && upg_healthy "$n"; then
    pass "upgrade: the same supervisor ($sup) restarted the child; the init system still has it running; healthy"
  else
    fail "upgrade: supervisor $(sf "$n" supervisor_pid) (was $sup), health $(sf "$n" health.state)"; evidence <<<"$(be_describe "$n")"
  fi
  tend status "$n"
  if [ "$RC" = 0 ] && grep -qE "^$n +$BE_ACTIVE +running +healthy " <<<"$OUT"; then
    pass "upgrade: tend status $n says $BE_ACTIVE, running, healthy"
  else
    fail "upgrade: tend status $n (exit $RC)"; evidence <<<"$OUT"
  fi
  if [ "$(upg_current "$n")" = 2.0 ] && [ "$(in_ct readlink "$home/current")" = 2.0 ] \
    && [ "$(in_ct stat -c %U "$home/2.0/tend-fixture")" = "$n" ] && ! in_ct sh -c 'ls -A "$1" | grep -q .' _ "$home/.incoming"; then
    pass "upgrade: index.json says 2.0, current -> 2.0, the supervisor ($n) unpacked it, .incoming is empty again"
  else
    fail "upgrade: the release store after the upgrade"; evidence <<<"$(upg_index "$n"; in_ct ls -laR "$home" 2>&1)"
  fi
  # a new supervisor (the init system's restart) runs the current release
  tend restart "$n"
  if [ "$RC" = 0 ] && wait_until 10 upg_runs "$n" "$home/2.0/tend-fixture" && [ "$(sf "$n" supervisor_pid)" != "$sup" ]; then
    pass "upgrade: after tend restart (a new supervisor) it still runs release 2.0"
  else
    fail "upgrade: after tend restart (exit $RC) it runs $(upg_exe "$n")"; evidence <<<"$OUT"
  fi

  # refused before anything changes
  pid=$(sf "$n" pid) idx=$(upg_index "$n")
  tend upgrade "$n" /root/rel/app-2.1
  if [ "$RC" = 1 ] && grep -qF "cannot read the signature /root/rel/app-2.1.minisig" <<<"$OUT"; then
    pass "upgrade: an unsigned artifact is refused: $(grep -o 'error: .*' <<<"$OUT" | head -n 1 | cut -c1-140)"
  else
    fail "upgrade of an unsigned artifact (exit $RC, want 1)"; evidence <<<"$OUT"
  fi
  tend upgrade "$n" /root/rel/app-2.2
  if [ "$RC" = 1 ] && grep -qF "which is not in update.public_keys" <<<"$OUT" && grep -qF "nothing changed" <<<"$OUT"; then
    pass "upgrade: an artifact signed by another key is refused: $(grep -o 'error: .*' <<<"$OUT" | head -n 1 | cut -c1-160)"
  else
    fail "upgrade of an artifact signed by another key (exit $RC, want 1)"; evidence <<<"$OUT"
  fi
  if [ "$(sf "$n" pid)" = "$pid" ] && [ "$(upg_index "$n")" = "$idx" ] && ! in_ct test -e "$home/2.1" \
    && ! in_ct test -e "$home/2.2" && upg_runs "$n" "$home/2.0/tend-fixture"; then
    pass "upgrade: after both refusals nothing changed (child $pid, index.json, no 2.1 or 2.2)"
  else
    fail "upgrade: a refusal changed something: child $pid -> $(sf "$n" pid)"; evidence <<<"$idx"$'\n'"$(upg_index "$n"; in_ct ls -la "$home")"
  fi

  # never healthy: rolled back by itself
  t=$EPOCHREALTIME
  tend upgrade "$n" /root/rel/app-3.0
  if [ "$RC" = 1 ] && grep -qF "release 3.0 was not ready within 5s" <<<"$OUT" \
    && grep -qF "GET http://127.0.0.1:$UPG_PORT/healthz: cannot connect to 127.0.0.1:$UPG_PORT" <<<"$OUT" \
    && grep -qF "rolled back to release 2.0" <<<"$OUT" && grep -qF "; \`$n\` is running (pid" <<<"$OUT" \
    && ! grep -qF "but unhealthy" <<<"$OUT"; then
    pass "upgrade: a release that never becomes healthy is rolled back in $(_elapsed "$t")s: $(grep -o 'error: .*' <<<"$OUT" | head -n 1 | cut -c1-260)"
  else
    fail "upgrade of a never-healthy release (exit $RC, want 1, the probe's error and 'rolled back to release 2.0')"
    evidence <<<"$OUT"
  fi
  if wait_until 10 upg_runs "$n" "$home/2.0/tend-fixture" && [ "$(upg_current "$n")" = 2.0 ] \
    && [ "$(upg_index "$n" | jq -c .rolled_back)" = '["3.0"]' ] && be_running "$n"; then
    pass "upgrade: release 2.0 runs again, healthy ($(upg_index "$n" | jq -c '{current, previous, rolled_back}'))"
  else
    fail "upgrade: after the rollback it runs $(upg_exe "$n")"; evidence <<<"$(upg_index "$n"; state_json "$n")"
  fi

  # by hand
  tend rollback "$n"
  if [ "$RC" = 0 ] && grep -qF "rolled back to the spec's command" <<<"$OUT" \
    && wait_until 10 upg_runs "$n" /opt/tend/tend-fixture && [ "$(upg_current "$n")" = null ] && be_running "$n"; then
    pass "upgrade: tend rollback goes back to the spec's command (/opt/tend/tend-fixture runs, healthy)"
  else
    fail "tend rollback (exit $RC): runs $(upg_exe "$n")"; evidence <<<"$OUT"
  fi
  tend rollback "$n"
  if [ "$RC" = 1 ] && grep -qF "has no release before it" <<<"$OUT"; then
    pass "upgrade: a second tend rollback has nothing to go back to (exit 1)"
  else
    fail "a second tend rollback (exit $RC, want 1)"; evidence <<<"$OUT"
  fi
  _upg_logged() {
    said=$(upg_said "$n")
    for line in "upgrading from the spec's command to release 2.0" "upgraded to release 2.0: ready after" \
      "rolling back from release 3.0 to release 2.0: release 3.0 was not ready within 5s" \
      "rolling back from release 2.0 to the spec's command: on request"; do
      grep -qF "$line" <<<"$said" || return 1
    done
  }
  check "upgrade: the $( [ "$BE" = systemd ] && echo journal || echo tend.log ) says 'upgrading from ... to ...', 'upgraded', 'rolling back from ... to ...' (both)" \
    wait_until 5 _upg_logged || evidence 30 <<<"$(grep -iE 'upgrad|roll' <<<"$said")"

  # stopped: tend (root) switches it; the next start runs it
  tend stop "$n"
  wait_until 15 be_stopped "$n"
  tend upgrade "$n" /root/rel/app-2.5
  if [ "$RC" = 0 ] && grep -qF "switched from the spec's command to release 2.5; it is not running" <<<"$OUT" \
    && [ "$(upg_current "$n")" = 2.5 ] && be_stopped "$n"; then
    pass "upgrade of a stopped service: switched by tend, still stopped"
  else
    fail "upgrade of a stopped service (exit $RC)"; evidence <<<"$OUT"
  fi
  if upg_root_files_ok "$n" 2.5; then
    pass "upgrade: what tend run as root wrote under releases/ (2.5/, 2.5.json, index.json) is $n's, as the supervisor's releases are, and writable by no one else"
  else
    fail "upgrade: root's files under releases/: $UPG_BAD"; evidence <<<"$(in_ct ls -laR "$home" 2>&1)"
  fi
  tend start "$n"
  if [ "$RC" = 0 ] && wait_until 10 upg_runs "$n" "$home/2.5/tend-fixture" && be_running "$n"; then
    pass "upgrade: tend start runs release 2.5, healthy"
  else
    fail "upgrade: tend start (exit $RC) runs $(upg_exe "$n")"; evidence <<<"$OUT"
  fi
  # and its supervisor goes on from there
  tend upgrade "$n" /root/rel/app-2.6
  if [ "$RC" = 0 ] && grep -qF "upgraded from release 2.5 to release 2.6" <<<"$OUT" && upg_runs "$n" "$home/2.6/tend-fixture"; then
    pass "upgrade: its supervisor upgrades from the release root switched to (2.5 -> 2.6)"
  else
    fail "upgrade 2.5 -> 2.6 by the supervisor (exit $RC)"; evidence <<<"$OUT"$'\n'"$(in_ct ls -laR "$home" 2>&1)"
  fi
  flow_uninstall_purge "$n"

  # installed without --now, upgraded before its supervisor ever ran
  n=upgnew home=/var/lib/tend/upgnew/releases/upgnew
  spec=$(upg_spec "$n")
  tend install "$spec"
  [ "$RC" = 0 ] || { fail "upgrade: install of $n exited $RC"; evidence <<<"$OUT"; return 1; }
  SVC_UID=$(in_ct id -u "$n")
  tend upgrade "$n" /root/rel/app-2.0
  if [ "$RC" = 0 ] && [ "$(upg_current "$n")" = 2.0 ]; then
    pass "upgrade of a service installed without --now: switched to 2.0 by tend"
  else
    fail "upgrade of a service that never ran (exit $RC)"; evidence <<<"$OUT"
  fi
  tend start "$n"
  if [ "$RC" = 0 ] && wait_until 10 upg_runs "$n" "$home/2.0/tend-fixture"; then
    pass "upgrade: its first start runs release 2.0"
  else
    fail "upgrade: first start of $n (exit $RC) runs $(upg_exe "$n")"; evidence <<<"$OUT"$'\n'"$(be_describe "$n")"
  fi
  tend upgrade "$n" /root/rel/app-2.5
  if [ "$RC" = 0 ] && grep -qF "upgraded from release 2.0 to release 2.5" <<<"$OUT" && upg_runs "$n" "$home/2.5/tend-fixture"; then
    pass "upgrade: its supervisor ($n) then stages and switches to 2.5 in the folders root made"
  else
    fail "upgrade of $n by its supervisor after root made its releases folder (exit $RC)"
    evidence <<<"$OUT"$'\n'"$(in_ct ls -laR "/var/lib/tend/$n" 2>&1)"
  fi
  flow_uninstall_purge "$n"
}

# ---------------------------------------------------------------- the pull channel
#
# channel_flow: an installed service with [update] channel =
# "file:///srv/channel/stable.json" (a folder of root's that the service's account
# reads) and check_every = "1s" upgrades by itself, through its supervisor, to the
# release the manifest names; a manifest naming a release signed by another key is
# refused with nothing changed; one naming a release that never becomes healthy is
# rolled back by itself and not tried again. Releases and manifests are made and signed
# on the host (minisign, jq) and copied in, the manifest last and renamed into place.

CH_DIR=/srv/channel
CH_PORT=18085

# ch_publish FILE VERSION KEY: FILE (on the host) signed by KEY with version:VERSION
# and copied into $CH_DIR; then stable.json names it (url relative to the manifest).
ch_publish() {
  local f=$1 v=$2 key=$3 b m
  b=$(basename "$f") m=$UPG_DIR/stable-$v.json
  minisign -S -s "$UPG_DIR/$key.key" -m "$f" -t "version:$v" >/dev/null 2>&1 || return 1
  jq -n --arg version "$v" --arg url "$b" --argjson size "$(stat -c %s "$f")" \
    --arg sha256 "$(sha256sum "$f" | cut -d ' ' -f 1)" --rawfile signature "$f.minisig" \
    '{version: $version, url: $url, size: $size, sha256: $sha256, signature: $signature}' >"$m" || return 1
  in_ct sh -c 'cat >"$1/$2" && chmod 644 "$1/$2"' _ "$CH_DIR" "$b" <"$f" || return 1
  in_ct sh -c 'cat >"$1/.stable.json.new" && chmod 644 "$1/.stable.json.new" && mv "$1/.stable.json.new" "$1/stable.json"' \
    _ "$CH_DIR" <"$m"
}
# ch_said NAME: what the supervisor said: the journal (systemd), tend.log (OpenRC)
ch_said() {
  if [ "$BE" = systemd ]; then
    in_ct journalctl -u "$1.service" -o cat --no-pager 2>/dev/null
  else
    in_ct cat "/var/log/tend/$1/tend.log" 2>/dev/null
  fi
}

channel_flow() {
  require_install channel_flow || return 1
  command -v minisign >/dev/null || { fail "channel: no minisign on the host"; return 1; }
  local n=chan spec home pid0 pid sup idx t said line v UPG_PORT=$CH_PORT
  local url=file://$CH_DIR/stable.json t0=$EPOCHREALTIME
  upg_keys || { fail "channel: minisign -G failed"; return 1; }
  # releases: copies of the fixture; 3.0 runs it without serving /healthz
  for v in 2.0 2.1; do cp "$E2E_BIN/tend-fixture" "$UPG_DIR/ch-$v"; done
  printf '#!/bin/sh\nexec /opt/tend/tend-fixture --hang\n' >"$UPG_DIR/ch-3.0"
  in_ct sh -c 'mkdir -p "$1" && chmod 755 "$1"' _ "$CH_DIR" || { fail "channel: cannot make $CH_DIR"; return 1; }
  spec=$(upg_spec "$n" "channel = \"$url\"" 'check_every = "1s"')
  home=/var/lib/tend/$n/releases/$n
  tend install "$spec" --now
  if [ "$RC" = 0 ] && upg_runs "$n" /opt/tend/tend-fixture; then
    pass "channel: $n installed with [update] channel = \"$url\" (nothing there yet), check_every = \"1s\"; healthy on the spec's command"
  else
    fail "channel: install --now of $n (exit $RC)"; evidence <<<"$OUT"$'\n'"$(state_json "$n")"
    in_ct "$TEND" uninstall "$n" --purge >/dev/null 2>&1
    return 1
  fi
  SVC_UID=$(in_ct id -u "$n")
  pid0=$(sf "$n" pid) sup=$(sf "$n" supervisor_pid)

  # the channel names 2.0: upgraded by the supervisor, by itself
  t=$EPOCHREALTIME
  ch_publish "$UPG_DIR/ch-2.0" 2.0 release || { fail "channel: cannot publish 2.0"; flow_uninstall_purge "$n"; return 1; }
  if as_user "$n" test -r "$CH_DIR/stable.json" && ! as_user "$n" test -w "$CH_DIR"; then
    pass "channel: $n reads $CH_DIR/stable.json and cannot write $CH_DIR"
  else
    fail "channel: $n cannot read $CH_DIR/stable.json, or may write $CH_DIR"; evidence <<<"$(in_ct ls -la "$CH_DIR" 2>&1)"
  fi
  if wait_until 15 upg_runs "$n" "$home/2.0/tend-fixture"; then
    pid=$(sf "$n" pid)
    pass "channel: upgraded by itself to the release the manifest names in $(_elapsed "$t")s: child $pid0 -> $pid, /proc/$pid/exe = $home/2.0/tend-fixture"
  else
    fail "channel: not upgraded to 2.0 within 15 s: runs $(upg_exe "$n")"
    evidence 30 <<<"$(state_json "$n"; upg_index "$n"; ch_said "$n" | grep -F 'channel:' | tail -n 10)"
  fi
  if [ "$(sf "$n" supervisor_pid)" = "$sup" ] && be_running "$n" && [ "$(sj "$n" .releases.current)" = 2.0 ] \
    && [ "$(sj "$n" .active)" = "$BE_ACTIVE" ]; then
    pass "channel: the same supervisor ($sup) switched; the init system says $BE_ACTIVE; tend status --json: releases.current \"2.0\""
  else
    fail "channel: supervisor $(sf "$n" supervisor_pid) (was $sup), status: $(sj "$n" '{active, releases}' | tr -d '\n')"
    evidence <<<"$(be_describe "$n")"
  fi
  tend update check "$n"
  if [ "$RC" = 0 ] && grep -qF "release 2.0 is current" <<<"$OUT"; then
    pass "channel: tend update check $n says release 2.0 is current"
  else
    fail "channel: tend update check $n (exit $RC)"; evidence <<<"$OUT"
  fi

  # signed by another key: refused, nothing changes
  pid=$(sf "$n" pid) idx=$(upg_index "$n")
  ch_publish "$UPG_DIR/ch-2.1" 2.1 stranger || { fail "channel: cannot publish 2.1"; flow_uninstall_purge "$n"; return 1; }
  _ch_refused() { tend update check "$n"; grep -qF "release 2.1 was refused: waiting for the channel to name another" <<<"$OUT"; }
  if wait_until 15 _ch_refused; then
    pass "channel: a release signed by another key is refused; tend update check: $(grep -o 'release 2.1 .*' <<<"$OUT" | head -n 1)"
  else
    fail "channel: 2.1 (signed by another key) not refused within 15 s; tend update check (exit $RC)"; evidence <<<"$OUT"
  fi
  if [ "$(sf "$n" pid)" = "$pid" ] && [ "$(upg_index "$n")" = "$idx" ] && ! in_ct test -e "$home/2.1" \
    && upg_runs "$n" "$home/2.0/tend-fixture" && be_running "$n"; then
    pass "channel: after the refusal nothing changed (child $pid, index.json, no release 2.1)"
  else
    fail "channel: the refusal changed something: child $pid -> $(sf "$n" pid)"; evidence <<<"$idx"$'\n'"$(upg_index "$n"; in_ct ls -la "$home")"
  fi

  # never healthy: rolled back by itself, not tried again
  t=$EPOCHREALTIME
  ch_publish "$UPG_DIR/ch-3.0" 3.0 release || { fail "channel: cannot publish 3.0"; flow_uninstall_purge "$n"; return 1; }
  _ch_rolled_back() {
    upg_index "$n" | jq -e '.rolled_back | any(. == "3.0")' >/dev/null && upg_runs "$n" "$home/2.0/tend-fixture"
  }
  if wait_until 25 _ch_rolled_back && [ "$(upg_current "$n")" = 2.0 ] && be_running "$n"; then
    pass "channel: a release that never becomes healthy is rolled back by itself in $(_elapsed "$t")s; 2.0 runs again, healthy ($(upg_index "$n" | jq -c '{current, previous, rolled_back}'))"
  else
    fail "channel: 3.0 not rolled back within 25 s: runs $(upg_exe "$n")"
    evidence 30 <<<"$(upg_index "$n"; state_json "$n"; ch_said "$n" | grep -F 'channel:' | tail -n 10)"
  fi
  tend update apply "$n"
  if [ "$RC" = 0 ] && grep -qF "release 3.0 was rolled back: waiting for the channel to name another" <<<"$OUT" \
    && upg_runs "$n" "$home/2.0/tend-fixture"; then
    pass "channel: tend update apply $n does not try 3.0 again: $(grep -o 'release 3.0 .*' <<<"$OUT" | head -n 1)"
  else
    fail "channel: tend update apply $n (exit $RC, want 0 and 'release 3.0 was rolled back')"; evidence <<<"$OUT"
  fi
  _ch_logged() {
    said=$(ch_said "$n")
    for line in "channel: $url checked every 1s (and now)" \
      "channel: \`$n\` upgraded from the spec's command to release 2.0: ready after" \
      "channel: \`$n\` not upgraded: refused:" "which is not in update.public_keys" \
      "channel: \`$n\` rolled back to release 2.0: release 3.0 was not ready within 5s" \
      "channel: release 3.0 was rolled back: waiting for the channel to name another"; do
      grep -qF -- "$line" <<<"$said" || return 1
    done
  }
  check "channel: the $( [ "$BE" = systemd ] && echo journal || echo tend.log ) has the channel: lines (checked every, upgraded, not upgraded: refused, rolled back, waiting)" \
    wait_until 5 _ch_logged || evidence 30 <<<"$(grep -F 'channel' <<<"$said")"
  # by now the timer has checked the channel again more than once
  v=$(grep -cF "upgrading from release 2.0 to release 3.0" <<<"$(ch_said "$n")")
  if [ "$v" = 1 ]; then
    pass "channel: release 3.0 was tried once ('upgrading from release 2.0 to release 3.0' once in the log)"
  else
    fail "channel: 'upgrading from release 2.0 to release 3.0' $v times in the log (want 1)"
  fi
  flow_uninstall_purge "$n"
  in_ct rm -rf "$CH_DIR"
  log "channel_flow took $(_elapsed "$t0")s"
}

# ---------------------------------------------------------------- what is not tend's
#
# Hooks the suite may define for refusals_flow:
#   be_foreign_cases    lines "NAME|PATH|WANT|SETUP": installing a spec named NAME must
#                       be refused naming PATH and saying WANT (after running SETUP in
#                       the container, if any)

# ct_spec NAME [TOML...]: a spec for hello-service named NAME in the container
# (/root/specs/NAME.toml), with extra TOML lines; prints its path.
ct_spec() {
  local n=$1 f="/root/specs/$1.toml"; shift
  printf 'name = "%s"\ncommand = "/opt/tend/hello-service"\nargs = ["--listen", "127.0.0.1:18083"]\n%s\n' \
    "$n" "$(printf '%s\n' "$@")" | in_ct sh -c 'mkdir -p /root/specs && cat >"$1"' _ "$f"
  echo "$f"
}

# ct_fingerprint NAME: what an install of NAME could change (accounts, tend's and the
# service manager's files), as one hash. Not the audit log, where a refused install
# is recorded too (it exists by then: earlier installs created it).
ct_fingerprint() {
  in_ct sh -c 'cat /etc/passwd /etc/group /etc/shadow; ls -la --time-style=+%s.%N --ignore=audit.jsonl /etc/tend /etc/systemd/system /etc/init.d /etc/runlevels/default /var/lib/tend /var/log/tend 2>/dev/null; cat "/etc/init.d/$1" 2>/dev/null; readlink "/etc/systemd/system/$1.service"' _ "$1" | sha256sum
}

# refused NAME SPEC WANT...: `tend install SPEC --now` fails, saying every WANT, and
# changes nothing.
refused() {
  local n=$1 spec=$2 before missing=() w; shift 2
  before=$(ct_fingerprint "$n")
  tend install "$spec" --now
  for w in "$@"; do grep -qF -- "$w" <<<"$OUT" || missing+=("$w"); done
  if [ "$RC" = 1 ] && [ ${#missing[@]} -eq 0 ] && [ "$(ct_fingerprint "$n")" = "$before" ] \
    && ! in_ct test -e "/etc/tend/$n.install.json"; then
    pass "install of '$n' refused, changing nothing: $(grep -o 'error: .*' <<<"$OUT" | head -n 1 | cut -c1-160)"
    # The attempt is in the audit log, with its error.
    if in_ct tail -n 1 /var/lib/tend/audit.jsonl | jq -e --arg n "$n" '.service == $n and .action == "install" and (.result | startswith("error"))' >/dev/null; then
      pass "the refused install of '$n' is in the audit log with its error"
    else
      fail "the refused install of '$n' is in the audit log with its error"; in_ct tail -n 2 /var/lib/tend/audit.jsonl | evidence
    fi
  else
    fail "install of '$n' (exit $RC, want 1): lacks $(printf "'%s' " "${missing[@]}"), or changed something"
    evidence <<<"$OUT"
  fi
}

# refusals_flow: an install never takes over a unit, init script or account that is
# not tend's; an existing account the spec names is used, shown, and kept by --purge.
refusals_flow() {
  require_install refusals_flow || return 1
  local n path want setup spec
  # the service manager's files (the backend's cases)
  while IFS='|' read -r n path want setup; do
    [ -n "$n" ] || continue
    [ -z "$setup" ] || in_ct sh -c "$setup" || fail "setup of the '$n' case failed: $setup"
    spec=$(ct_spec "$n" 'user = "hello"')
    refused "$n" "$spec" "$path" "$want" "rename the service"
  done < <(be_foreign_cases)
  # accounts: never an existing one implicitly, never root
  spec=$(ct_spec daemon)
  refused daemon "$spec" 'an account named `daemon` already exists and tend did not create it: set `user = "daemon"` in the spec to run as it, or rename the service'
  spec=$(ct_spec root)
  refused root "$spec" 'set `user = "root"` in the spec to run it as root'
  # named in the spec: the operator's choice, shown, used, and not deleted
  n=asdaemon
  spec=$(ct_spec "$n" 'user = "daemon"')
  tend install "$spec" --dry-run
  if [ "$RC" = 0 ] && grep -qF 'run as existing user daemon (the spec'"'"'s choice' <<<"$OUT" \
    && ! grep -q 'create system user' <<<"$OUT"; then
    pass "install --dry-run of a spec with user = \"daemon\" shows 'run as existing user daemon (the spec's choice...)'"
  else
    fail "install --dry-run with user = \"daemon\" (exit $RC) does not show the existing account"; evidence <<<"$OUT"
  fi
  tend install "$spec" --now
  local sup
  sup=$(sf "$n" supervisor_pid)
  if [ "$RC" = 0 ] && [ -n "$sup" ] && [ "$(uid_of "$sup")" = "$(in_ct id -u daemon)" ]; then
    pass "the service of a spec with user = \"daemon\" runs as daemon"
  else
    fail "install --now with user = \"daemon\" (exit $RC): supervisor ${sup:-?} runs as uid $(uid_of "${sup:-0}")"; evidence <<<"$OUT"
  fi
  tend uninstall "$n" --purge
  if [ "$RC" = 0 ] && in_ct getent passwd daemon >/dev/null && in_ct getent group daemon >/dev/null \
    && ! grep -q 'delete user' <<<"$OUT" && ! in_ct test -e "/var/lib/tend/$n"; then
    pass "uninstall --purge removes its state but keeps the account daemon, which tend did not create"
  else
    fail "uninstall --purge of a service running as daemon (exit $RC)"; evidence <<<"$OUT"
  fi
}

# kept_flow: uninstall without --purge keeps the account tend created (and says so in
# /etc/tend/NAME.kept.json): a later install takes it back as tend's (it has no `user`,
# so it would refuse someone else's), and a later --purge removes it all.
kept_flow() {
  require_install kept_flow || return 1
  local n=hellokill spec=/opt/tend/hellokill.toml
  tend install "$spec" --now
  [ "$RC" = 0 ] || { fail "install --now of $n exited $RC"; evidence <<<"$OUT"; return 1; }
  tend uninstall "$n"
  if [ "$RC" = 0 ] && in_ct getent passwd "$n" >/dev/null && in_ct test -f "/etc/tend/$n.kept.json" \
    && in_ct test -d "/var/lib/tend/$n" && ! in_ct test -e "/etc/tend/$n.install.json" && be_unknown "$n"; then
    pass "uninstall without --purge keeps the account and state, noted in /etc/tend/$n.kept.json"
  else
    fail "uninstall without --purge (exit $RC)"; evidence <<<"$OUT"
  fi
  tend install "$spec" --now
  if [ "$RC" = 0 ] && is_running_state "$n" && ! in_ct test -e "/etc/tend/$n.kept.json"; then
    pass "a later install takes the kept account back (no \`user\` in the spec) and runs"
  else
    fail "install after an uninstall without --purge (exit $RC)"; evidence <<<"$OUT"
  fi
  tend uninstall "$n"
  tend uninstall "$n" --purge
  if [ "$RC" = 0 ] && no_traces "$n"; then
    pass "uninstall --purge after an uninstall without it removes the kept account, state and logs"
  else
    fail "uninstall --purge after an uninstall without it (exit $RC): left $LEFTOVERS"; evidence <<<"$OUT"
    in_ct sh -c 'userdel "$1"; groupdel "$1"; rm -rf /etc/tend/"$1".* /var/lib/tend/"$1" /var/log/tend/"$1"' _ "$n" >/dev/null 2>&1
  fi
}

# ---------------------------------------------------------------- interrupted installs
#
# `tend install --now` SIGKILLed (with whatever it runs: its process group, as a power
# cut or Ctrl-\ would) at many points: right after it announces each step, some time
# into each step (measured on an install that is not killed), and at random times.
# After every kill, a second install --now completes it and the service runs, or
# uninstall --purge (without a second install) removes everything; either way,
# --purge leaves no account, file, folder or unit. Needs the hooks be_enabled,
# be_running, be_unit.

KILL_NAME=hellokill
KILL_SPEC=/opt/tend/hellokill.toml
KILL_PORT=18082

# _install_timeline: a full install --now of the kill spec; prints one line per line of
# its output, "US TEXT" (microseconds since it started).
_install_timeline() {
  in_ct bash -c 't0=${EPOCHREALTIME/./}
    /opt/tend/tend install "$1" --now 2>/dev/null | while IFS= read -r l; do
      echo "$(( ${EPOCHREALTIME/./} - t0 )) $l"
    done' _ "$KILL_SPEC"
}

# _killed_install LINE US GROUP: start tend install --now in its own process group and
# SIGKILL it US microseconds after its LINE-th line of output (LINE 0: after it
# started): with GROUP=1 the whole group (tend and the tool it runs, half done) unless
# tend has begun starting the service, else tend alone (then wait until the tool it
# ran ends). Only shell builtins between the line and the kill (the wait is a read
# with a timeout on a pipe nobody writes), so that it lands where it is meant to.
# Prints what it interrupted, or "finished" if it ended first.
_killed_install() {
  in_ct bash -c 'line=$1 us=$2 group=$3 spec=$4
    fifo=$(mktemp -u /tmp/tend-kill.XXXXXX) && mkfifo "$fifo" "$fifo.idle" || exit 1
    setsid /opt/tend/tend install "$spec" --now >"$fifo" 2>/dev/null &
    pid=$!
    exec 3<"$fifo" 4<>"$fifo.idle"
    rm -f "$fifo" "$fifo.idle"
    n=0 l="(start)" starting=0
    seen() { n=$((n + 1)); [[ $l == *"mark the install finished"* ]] && starting=1; }
    while [ "$n" -lt "$line" ] && IFS= read -r l <&3; do seen; done
    [ "$us" -eq 0 ] || read -r -t "$(printf "%d.%06d" $((us / 1000000)) $((us % 1000000)))" <&4
    # what tend announced meanwhile (lines come before their step)
    while read -r -t 0 <&3 && IFS= read -r l <&3; do seen; done
    [ "$starting" = 1 ] && group=0
    target=-$pid what="tend and its tool"
    [ "$group" = 0 ] && target=$pid what=tend
    st=; { read -r _ _ st _ <"/proc/$pid/stat"; } 2>/dev/null
    if [ "${st:-Z}" = Z ] || ! kill -KILL -- "$target" 2>/dev/null; then
      echo finished
    else
      echo "$what killed $((us / 1000)).$(printf %03d $((us % 1000 )) ) ms after: $l"
    fi
    wait "$pid" 2>/dev/null
    exec 3<&- 4<&-
    # the tool tend was running (which lives on, in its process group) finishes its
    # work; OpenRC'"'"'s supervise-daemon, started from there, stays in the group
    for _ in $(seq 300); do
      pgrep -l -g "$pid" | grep -qv " supervise-daemo" || break # (comm: 15 characters)
      sleep 0.05
    done' _ "$1" "$2" "$3" "$KILL_SPEC"
}

# _kill_stage: how far the killed install got, as the system shows it.
_kill_stage() {
  local n=$KILL_NAME rec user files enabled running
  rec=$(in_ct sh -c 'f=/etc/tend/$1.install.json; if [ ! -e "$f" ]; then echo none; elif grep -q "\"pending\": true" "$f"; then echo pending; else echo done; fi' _ "$n")
  in_ct getent passwd "$n" >/dev/null && user=user || user=-
  files=$(in_ct sh -c '[ -e "$1" ] && printf state+; [ -e "$2" ] && printf spec+; [ -e "$3" ] && printf unit+; true' _ \
    "/var/lib/tend/$n" "/etc/tend/$n.toml" "$(be_unit "$n")")
  be_enabled "$n" && enabled=enabled || enabled=-
  be_running "$n" && running=running || running=-
  echo "record:$rec $user files:${files:--} $enabled $running"
}

# account_whole NAME: the user has its /etc/shadow line and its primary group is NAME
# (a useradd killed midway leaves neither).
account_whole() {
  in_ct grep -q "^$1:" /etc/shadow && [ "$(in_ct id -gn "$1" 2>/dev/null)" = "$1" ]
}

# no_traces NAME: no_leftovers, and no other file of NAME in tend's or the init
# system's folders (temporary files, what an uninstall keeps).
no_traces() {
  no_leftovers "$1" || return 1
  local more
  more=$(in_ct sh -c 'ls -d /etc/tend/"$1".* /etc/systemd/system/"$1".* /etc/init.d/"$1".* /etc/runlevels/*/"$1" 2>/dev/null' _ "$1")
  LEFTOVERS=$more
  [ -z "$more" ]
}

kill_flow() {
  require_install kill_flow || return 1
  local n=$KILL_NAME t=$EPOCHREALTIME timeline lines=() us=() i gap points=() p line delay
  local what stage reinstalled=0 purged=0 bad=0 group start=-1 end
  declare -A stages=()
  # measure: when each line (each step) comes, on an install that is not killed
  timeline=$(_install_timeline)
  while read -r m text; do
    us+=("$m")
    [[ $text == *"is running"* ]] && break
    [[ $text == *"mark the install finished"* ]] && start=${#lines[@]}
    lines+=("$text")
  done <<<"$timeline"
  # (a tend without the write-ahead record: its last step comes before the start)
  [ "$start" -ge 0 ] || start=$((${#lines[@]} - 1))
  in_ct "$TEND" uninstall "$n" --purge >/dev/null 2>&1
  if [ ${#lines[@]} -lt 4 ] || [ ${#us[@]} -le ${#lines[@]} ] || ! no_traces "$n"; then
    fail "kill flow: the measured install printed ${#lines[@]} steps, did not say it is running, or left traces ($LEFTOVERS)"
    evidence <<<"$timeline"
    return 1
  fi
  log "measured install --now of $n (ms): $(awk '{printf "%.1f %s %s %s %s;", $1 / 1000, $2, $3, $4, $5}' <<<"$timeline" | cut -c1-600)"
  # kill points: right after each step is announced, somewhere within each step (a
  # millisecond at least: the file steps take less), twice while it starts the service,
  # and three random times. Until the install starts the service, the kill takes the
  # tool tend runs with it, half done (useradd, systemctl, rc-update), as a power cut
  # would; from then on tend alone: killing `rc-service start` midway leaves
  # supervise-daemon half started, its service running unsupervised, which OpenRC
  # itself cannot stop (a reboot can).
  for ((i = 0; i < start; i++)); do
    gap=$(( us[i + 1] - us[i] ))
    [ "$gap" -lt 1000 ] && gap=1000
    [ "$gap" -gt 900000 ] && gap=900000
    points+=("$((i + 1)) 0 1" "$((i + 1)) $(( (RANDOM * 32768 + RANDOM) % gap )) 1")
  done
  gap=$(( us[start + 1] - us[start] ))
  points+=("$((start + 1)) 0 0" "$((start + 1)) $(( (RANDOM * 32768 + RANDOM) % gap )) 0")
  end=$(( us[start + 1] + 100000 ))
  for _ in 1 2 3; do
    delay=$(( (RANDOM * 32768 + RANDOM) % end ))
    points+=("0 $delay $((delay < us[start]))")
  done
  i=0
  for p in "${points[@]}"; do
    read -r line delay group <<<"$p"
    i=$((i + 1))
    what=$(_killed_install "$line" "$delay" "$group")
    stage=$(_kill_stage)
    stages[$stage]=$(( ${stages[$stage]:-0} + 1 ))
    if ((i % 2)); then
      # a second install completes it
      tend install "$KILL_SPEC" --now
      if [ "$RC" != 0 ] || ! wait_until 10 is_running_state "$n" || ! be_running "$n" || ! wait_until 5 http "$KILL_PORT" /healthz; then
        bad=$((bad + 1))
        fail "killed install ($what; left $stage): the second install --now (exit $RC) did not bring $n up"
        evidence <<<"$OUT"$'\n'"$(state_json "$n")"
      elif ! account_whole "$n"; then
        bad=$((bad + 1))
        fail "killed install ($what; left $stage): after the second install the account $n lacks its shadow line or its group"
        evidence <<<"$OUT"$'\n'"$(in_ct sh -c 'grep "^$1:" /etc/passwd /etc/shadow /etc/group; id "$1"' _ "$n" 2>&1)"
      fi
      reinstalled=$((reinstalled + 1))
    fi
    tend uninstall "$n" --purge
    if [ "$RC" != 0 ] && [ "$stage" != "record:none - files:- - -" ]; then
      bad=$((bad + 1)); fail "killed install ($what; left $stage): uninstall --purge exited $RC"; evidence <<<"$OUT"
    fi
    if ! no_traces "$n"; then
      bad=$((bad + 1))
      fail "killed install ($what; left $stage)$( ((i % 2)) && echo ', reinstalled'), purged: left $LEFTOVERS"
      evidence <<<"$OUT"
      # clean up for the next point (by hand: tend could not)
      in_ct sh -c 'pkill -KILL -u "$1"; rc-service "$1" zap; systemctl disable --now "$1.service"; userdel "$1"; groupdel "$1"; rm -rf /etc/tend/"$1".* /etc/systemd/system/"$1".service /etc/init.d/"$1" /etc/runlevels/*/"$1" /var/lib/tend/"$1" /var/log/tend/"$1"' _ "$n" >/dev/null 2>&1
    fi
    purged=$((purged + 1))
    log "kill point $i: $what -> $stage"
  done
  local hist
  hist=$(for s in "${!stages[@]}"; do echo "${stages[$s]}x $s"; done | sort -k2 | paste -sd ';')
  log "kill points reached: $hist"
  if [ "$bad" -eq 0 ]; then
    pass "install --now SIGKILLed at ${#points[@]} points: $reinstalled completed by a second install --now, all purged to nothing ($(_elapsed "$t")s)"
  else
    fail "install --now SIGKILLed at ${#points[@]} points: $bad failures"
  fi
  # the kills must have landed at different steps, or the flow proves little
  if [ "${#stages[@]}" -ge 4 ]; then
    pass "the kills left ${#stages[@]} different stages of an install"
  else
    fail "the kills left only ${#stages[@]} different stages of an install (want 4 or more): $hist"
  fi
}

# ---------------------------------------------------------------- an account useradd left half made
#
# useradd replaces /etc/passwd, /etc/shadow, /etc/group and /etc/gshadow one after the
# other, so an install SIGKILLed inside it (kill_flow's kill right after "create system
# user", now and then) leaves the user without its /etc/shadow line or without its
# group, and /etc/*.lock files naming the dead useradd. PAM's account check (OpenRC's
# supervise-daemon --user) refuses a user without its shadow line: the service never
# started. Here deterministically: a stand-in useradd earlier in PATH writes what the
# real one has written at that point (PASSWD: the passwd line; SHADOW: the shadow line
# too), leaves the lock files, and SIGKILLs tend and itself. Then a second install --now
# must make the account again and run the service, or uninstall --purge alone must
# leave nothing; --dry-run names the step first.

HALF_FAKE=/usr/local/sbin/useradd

_half_install_fake() { # STAGE (passwd | shadow)
  in_ct sh -c 'cat >"$1" && chmod 755 "$1"' _ "$HALF_FAKE" <<FAKE
#!/bin/sh
# stands in for a useradd SIGKILLed after it replaced /etc/passwd ($1)
for a; do name=\$a; done
echo "\$name:x:990:990::/nonexistent:/usr/sbin/nologin" >>/etc/passwd
[ "$1" = shadow ] && echo "\$name:!:20000::::::" >>/etc/shadow
for f in passwd shadow group gshadow; do printf %s \$\$ >/etc/\$f.lock; done
kill -KILL \$PPID \$\$
FAKE
}

half_account_flow() {
  require_install half_account_flow || return 1
  local n=$KILL_NAME stage after ok shadow_line
  for stage in passwd shadow; do
    for after in reinstall purge; do
      _half_install_fake "$stage"
      tend install "$KILL_SPEC" --now
      in_ct rm -f "$HALF_FAKE"
      shadow_line=$(in_ct grep -c "^$n:" /etc/shadow)
      if [ "$RC" != 0 ] \
        && in_ct grep -q '"pending": true' "/etc/tend/$n.install.json" \
        && in_ct grep -q "^$n:" /etc/passwd && ! in_ct getent group "$n" >/dev/null \
        && in_ct test -e /etc/passwd.lock \
        && { [ "$stage" = shadow ] || [ "$shadow_line" = 0 ]; }; then
        :
      else
        fail "half-made account ($stage): the stand-in useradd did not leave the half-made account (exit $RC)"
        evidence <<<"$OUT"$'\n'"$(in_ct sh -c 'grep "^$1:" /etc/passwd /etc/shadow /etc/group; ls /etc/*.lock' _ "$n" 2>&1)"
        in_ct "$TEND" uninstall "$n" --purge >/dev/null 2>&1
        continue
      fi
      if [ "$after" = reinstall ]; then
        tend install "$KILL_SPEC" --dry-run
        if [ "$RC" = 0 ] && grep -q "delete user $n and create it again (uid 990, .*): an interrupted install left it half made" <<<"$OUT"; then
          pass "half-made account ($stage): --dry-run says it deletes the user and creates it again"
        else
          fail "half-made account ($stage): --dry-run (exit $RC) does not name the step"; evidence <<<"$OUT"
        fi
        tend install "$KILL_SPEC" --now
        ok=0
        if [ "$RC" = 0 ] && wait_until 10 is_running_state "$n" && be_running "$n" && wait_until 5 http "$KILL_PORT" /healthz \
          && [ "$(in_ct id -u "$n")" = 990 ] && account_whole "$n" && dir_ok "/var/lib/tend/$n" "$n" && dir_ok "/var/log/tend/$n" "$n"; then
          ok=1
        fi
        if [ "$ok" = 1 ]; then
          pass "half-made account ($stage): a second install --now makes it again (uid kept, its group, its shadow line) and the service runs"
        else
          fail "half-made account ($stage): the second install --now (exit $RC) did not bring $n up"
          evidence 30 <<<"$OUT"$'\n'"$(in_ct sh -c 'grep "^$1:" /etc/passwd /etc/shadow /etc/group; id "$1"' _ "$n" 2>&1)"
        fi
      fi
      tend uninstall "$n" --purge
      if [ "$RC" = 0 ] && no_traces "$n"; then
        pass "half-made account ($stage$([ "$after" = reinstall ] && echo ', reinstalled')): uninstall --purge leaves nothing"
      else
        fail "half-made account ($stage$([ "$after" = reinstall ] && echo ', reinstalled')): uninstall --purge (exit $RC) left $LEFTOVERS"
        evidence <<<"$OUT"
        in_ct sh -c 'pkill -KILL -u "$1"; rc-service "$1" zap; systemctl disable --now "$1.service"; userdel "$1"; groupdel "$1"; rm -rf /etc/tend/"$1".* /etc/systemd/system/"$1".service /etc/init.d/"$1" /etc/runlevels/*/"$1" /var/lib/tend/"$1" /var/log/tend/"$1"' _ "$n" >/dev/null 2>&1
      fi
    done
  done
}

# ---------------------------------------------------------------- both streams in `tend logs`
#
# A service that logs to stderr, as Go's log package does ("shutting down gracefully"):
# `tend logs NAME` of the installed service shows that line with its stdout, in the
# order tend received them, and --stdout / --stderr show one stream each.

stderr_logs_flow() {
  require_install stderr_logs_flow || return 1
  local n=golog spec=/root/specs/golog.toml
  printf '%s\n' 'name = "golog"' 'command = "/opt/tend/tend-fixture"' \
    'args = ["--print", "listening on :8080", "--eprint", "shutting down gracefully", "--hang"]' \
    'user = "golog"' '[stop]' 'timeout = "5s"' \
    | in_ct sh -c 'mkdir -p /root/specs && cat >"$1"' _ "$spec"
  tend install "$spec" --now
  [ "$RC" = 0 ] || { fail "install --now of $n exited $RC"; evidence <<<"$OUT"; return 1; }
  SVC_UID=$(in_ct id -u "$n")
  _logs_show() { tend logs "$n" && grep -qx 'shutting down gracefully' <<<"$OUT"; }
  if wait_until 10 _logs_show && grep -qx 'listening on :8080' <<<"$OUT"; then
    pass "tend logs $n shows the line it wrote to stderr ('shutting down gracefully') with its stdout"
  else
    fail "tend logs $n (exit $RC) lacks the stderr line or the stdout line"; evidence <<<"$OUT"
  fi
  tend logs "$n" --stderr
  if [ "$RC" = 0 ] && [ "$OUT" = "shutting down gracefully" ]; then
    pass "tend logs $n --stderr shows only the stderr line"
  else
    fail "tend logs $n --stderr (exit $RC)"; evidence <<<"$OUT"
  fi
  tend logs "$n" --stdout
  if [ "$RC" = 0 ] && [ "$OUT" = "listening on :8080" ]; then
    pass "tend logs $n --stdout shows only the stdout line"
  else
    fail "tend logs $n --stdout (exit $RC)"; evidence <<<"$OUT"
  fi
  check "both streams are in one file, each line tagged: /var/log/tend/$n/$n.log" \
    in_ct grep -qx 'err shutting down gracefully' "/var/log/tend/$n/$n.log" \
    || evidence <<<"$(in_ct cat "/var/log/tend/$n/$n.log" 2>&1)"
  flow_uninstall_purge "$n"
}

# ---------------------------------------------------------------- tend doctor
#
# doctor_flow: installed services broken on purpose, and what `tend doctor NAME`
# (--json, and once as text) says of each: the cause, with its evidence, and the fix.
# A program folder its account cannot enter, a [[listen]] port held by another process
# (named), a crash loop, a hand-edited unit (drift), a log folder its account cannot
# write, a shared library removed (the program built on the host with cc).

# doc_spec NAME COMMAND ARGS EXTRA_LINES...: a spec in the container, run as NAME.
doc_spec() {
  local n=$1 cmd=$2 args=$3 f="/root/specs/$1.toml"; shift 3
  printf 'name = "%s"\ncommand = "%s"\nargs = %s\nuser = "%s"\n%s\n' "$n" "$cmd" "$args" "$n" \
    "$(printf '%s\n' "$@")" | in_ct sh -c 'mkdir -p /root/specs && cat >"$1"' _ "$f"
  echo "$f"
}
# doc_finding NAME ID: the finding ID of `tend doctor NAME --json`, as compact JSON.
doc_finding() {
  in_ct "$TEND" doctor "$1" --json 2>/dev/null \
    | jq -c --arg id "$2" '.[0].findings[] | select(.id == $id)' 2>/dev/null
}
# doc_says NAME ID TEXT...: that finding is there and its JSON holds each TEXT.
doc_says() {
  local n=$1 id=$2 f w; shift 2
  f=$(doc_finding "$n" "$id")
  [ -n "$f" ] || return 1
  for w in "$@"; do grep -qF -- "$w" <<<"$f" || return 1; done
}
# doc_check LABEL NAME ID TEXT...: PASS (with the summary and fix) or FAIL (with the
# text report) by doc_says, waiting up to DOC_WAIT seconds (default: none).
doc_check() {
  local label=$1 n=$2 id=$3; shift 3
  if wait_until "${DOC_WAIT:-0}" doc_says "$n" "$id" "$@"; then
    pass "doctor: $label: [$id] $(doc_finding "$n" "$id" | jq -r '.summary + " / fix: " + (.fix // "-")')"
  else
    fail "doctor: $label: no [$id] finding holding: $*"
    evidence 40 <<<"$(in_ct "$TEND" doctor "$n" 2>&1)"
  fi
}
doc_purge() { in_ct "$TEND" uninstall "$1" --purge >/dev/null 2>&1; }

doctor_flow() {
  require_install doctor_flow || return 1
  local n spec pid b
  in_ct sh -c 'mkdir -p /opt/doc/bin && cp /opt/tend/tend-fixture /opt/doc/bin/app && chmod 755 /opt/doc /opt/doc/bin /opt/doc/bin/app'

  n=docperm
  tend install "$(doc_spec $n /opt/doc/bin/app '["--hang"]')" --now
  [ "$RC" = 0 ] || { fail "doctor: install --now of $n exited $RC"; evidence <<<"$OUT"; }
  in_ct chmod 700 /opt/doc/bin
  doc_check "a program folder its account cannot enter" $n program-access \
    "its account $n cannot enter /opt/doc/bin" '"fix":"chmod a+x /opt/doc/bin"'
  tend doctor $n
  if [ "$RC" = 3 ] && grep -qF "fix: chmod a+x /opt/doc/bin" <<<"$OUT"; then
    pass "doctor: the text report gives the same fix, and exits 3"
  else
    fail "doctor $n as text: exit $RC, want 3 and the fix"; evidence <<<"$OUT"
  fi
  in_ct chmod 755 /opt/doc/bin
  # Its log folder given to root: the account (tend run runs as it) cannot write there.
  in_ct sh -c "chown root:root /var/log/tend/$n && chmod 755 /var/log/tend/$n"
  doc_check "a log folder its account cannot write" $n folder-access \
    "cannot write in its log folder /var/log/tend/$n" "chown -R $n /var/log/tend/$n"
  doc_purge $n

  n=docport
  tend install "$(doc_spec $n /opt/doc/bin/app '["--hang"]' '[[listen]]' 'name = "http"' 'address = "127.0.0.1:18090"')"
  [ "$RC" = 0 ] || { fail "doctor: install of $n exited $RC"; evidence <<<"$OUT"; }
  in_ct setsid -f /opt/tend/hello-service --listen 127.0.0.1:18090 >/dev/null 2>&1
  wait_until 10 http 18090 /healthz || fail "doctor: hello-service did not take 127.0.0.1:18090"
  doc_check "a [[listen]] port held by another process" $n port \
    "127.0.0.1:18090 is in use by pid" "(hello-service)"
  pid=$(in_ct pgrep -f 'hello-service --listen 127.0.0.1:18090')
  [ -n "$pid" ] && in_ct kill "$pid"
  doc_purge $n

  n=docloop
  tend install "$(doc_spec $n /opt/doc/bin/app '["--eprint", "cannot open /etc/docloop.conf", "--exit", "78"]' \
    '[restart]' 'policy = "always"' 'max_restarts = 2' 'window = "1m"' '[restart.backoff]' 'initial = "10ms"')"
  in_ct "$TEND" start $n >/dev/null 2>&1
  # The service manager starts `tend run` again after it gave up: the doctor is asked
  # until it catches one given up.
  DOC_WAIT=30 doc_check "a crash loop" $n crash-loop "restart.max_restarts = 2" "tend start $n"
  doc_check "the crash loop's last exit in words" $n last-exit \
    "EX_CONFIG: its configuration is wrong" "cannot open /etc/docloop.conf"
  doc_purge $n

  n=docdrift
  spec=$(doc_spec $n /opt/doc/bin/app '["--hang"]')
  tend install "$spec" --now
  [ "$RC" = 0 ] || { fail "doctor: install --now of $n exited $RC"; evidence <<<"$OUT"; }
  in_ct sh -c "echo '# edited by hand' >>'$(be_unit $n)'"
  doc_check "a hand-edited unit" $n drift "\"fix\":\"tend install /etc/tend/$n.toml\""
  doc_purge $n

  n=doclib
  b=$(mktemp -d)
  printf 'int tenddoc(void) { return 0; }\n' >"$b/l.c"
  printf '#include <unistd.h>\nint tenddoc(void);\nint main(void) { tenddoc(); for (;;) pause(); }\n' >"$b/m.c"
  if cc -shared -fPIC -o "$b/libtenddoc.so" "$b/l.c" \
    && cc -o "$b/needs" "$b/m.c" -L"$b" -ltenddoc -Wl,-rpath,/opt/doc/lib; then
    in_ct sh -c 'mkdir -p /opt/doc/lib && cat >/opt/doc/lib/libtenddoc.so' <"$b/libtenddoc.so"
    in_ct sh -c 'cat >/opt/doc/bin/needs && chmod 755 /opt/doc/bin/needs' <"$b/needs"
    tend install "$(doc_spec $n /opt/doc/bin/needs '[]')" --now
    [ "$RC" = 0 ] || { fail "doctor: install --now of $n exited $RC"; evidence <<<"$OUT"; }
    in_ct rm /opt/doc/lib/libtenddoc.so
    in_ct "$TEND" restart $n >/dev/null 2>&1
    # ldd ran as the service's account.
    doc_check "a shared library removed" $n library \
      "libtenddoc.so" "(as $n): libtenddoc.so => not found"
    doc_purge $n
  else
    fail "doctor: cc could not build the program that needs a library"
  fi
  rm -rf "$b"
  if declare -F be_doctor_checks >/dev/null; then be_doctor_checks; fi
}

# ---------------------------------------------------------------- reload ([reload])
#
# An installed service whose program counts SIGHUPs (a shell trap, writing in its state
# folder, its working directory): the service manager's reload (`be_reload NAME`:
# `systemctl reload`, `rc-service NAME reload`) reaches the program through `tend
# reload`, which neither restarts it nor loses the count; the audit log has each reload.
reload_flow() {
  require_install reload_flow || return 1
  local n=reloader spec=/root/specs/reloader.toml dir=/var/lib/tend/reloader pid i
  printf '%s\n' 'name = "reloader"' 'command = "/bin/sh"' \
    "args = [\"-c\", \"trap 'echo hup >> hups' HUP; echo ready > ready; while :; do sleep 1 & wait \$!; done\"]" \
    '[reload]' 'signal = "SIGHUP"' \
    | in_ct sh -c 'mkdir -p /root/specs && cat >"$1"' _ "$spec"
  tend install "$spec" --now
  [ "$RC" = 0 ] || { fail "install --now of $n exited $RC"; evidence <<<"$OUT"; return 1; }
  SVC_UID=$(in_ct id -u "$n")
  _ready() { is_running_state "$n" && in_ct test -e "$dir/ready"; }
  check "$n runs, its trap set" wait_until 10 _ready || { be_describe "$n" | evidence; return 1; }
  pid=$(sf "$n" pid)
  for i in 1 2; do
    be_reload "$n"
    _hups() { [ "$(in_ct sh -c 'wc -l <"$1"' _ "$dir/hups" 2>/dev/null)" = "$i" ]; }
    if [ "$RELOAD_RC" = 0 ] && wait_until 5 _hups; then
      pass "$BE reload #$i of $n reached its program (SIGHUP $i counted)"
    else
      fail "$BE reload #$i of $n (exit $RELOAD_RC): the program counted $(in_ct cat "$dir/hups" 2>/dev/null | wc -l)"
      evidence <<<"$RELOAD_OUT"; be_describe "$n" | evidence
    fi
  done
  if [ "$(sf "$n" pid)" = "$pid" ] && [ "$(sf "$n" restarts)" = 0 ]; then
    pass "reloaded, not restarted: the same pid $pid, no restart"
  else
    fail "after the reloads the pid is $(sf "$n" pid) (was $pid), restarts $(sf "$n" restarts)"
  fi
  if [ "$(in_ct cat /var/lib/tend/audit.jsonl | jq -c --arg n "$n" 'select(.service == $n and .action == "reload" and .result == "ok")' | wc -l)" = 2 ]; then
    pass "the audit log has both reloads of $n"
  else
    fail "the audit log lacks the reloads of $n"; in_ct tail -n 3 /var/lib/tend/audit.jsonl | evidence
  fi
  flow_uninstall_purge "$n"
}

# ---------------------------------------------------------------- pause and continue
#
# pause_flow: `tend pause` of an installed service reaches its supervisor through the
# install's state folder and freezes the child's whole process group (the child and two
# grandchildren: /proc/PID/status says `State: T` for each); the init system still has
# it active, `tend status --json` says paused, its HTTP endpoint stops answering, and
# the health probe waits (no restart for a frozen program). `tend continue` lets it
# answer again; a `tend stop` while paused lets it run first so it stops gracefully
# (the fixture's --on-term marker). Each request is in the audit log.
PAUSE_PORT=18086

# pause_group_states PGID: "PID:STATE" of every process of group PGID in the
# container, from /proc/PID/status (one line each).
pause_group_states() {
  local p
  for p in $(in_ct ps -e -o pid=,pgid= | awk -v g="$1" '$2 == g {print $1}'); do
    printf '%s:%s\n' "$p" "$(in_ct awk '/^State:/{print $2}' "/proc/$p/status" 2>/dev/null)"
  done
}
# pause_all_in STATE PGID [MIN]: at least MIN (default 3) processes in group PGID, each
# in STATE (a `sleep` that ended may be a zombie of its stopped parent: Z is allowed).
pause_all_in() {
  local want=$1 states; states=$(pause_group_states "$2")
  [ "$(grep -c ":$want\$" <<<"$states")" -ge "${3:-3}" ] && ! grep -qv -e ":$want\$" -e ':Z$' <<<"$states"
}
pause_flow() {
  require_install pause_flow || return 1
  local n=pauser spec=/root/specs/pauser.toml pid sup restarts states js t
  printf '%s\n' "name = \"$n\"" 'command = "/opt/tend/tend-fixture"' \
    "args = [\"--http-stop\", \"$PAUSE_PORT\", \"--on-term\", \"/var/lib/tend/$n/graceful\", \"--grandchildren\", \"2\", \"--hang\"]" \
    "user = \"$n\"" '[stop]' 'timeout = "10s"' '[health]' \
    "http = \"http://127.0.0.1:$PAUSE_PORT/healthz\"" 'interval = "300ms"' 'timeout = "300ms"' 'retries = 1' \
    | in_ct sh -c 'mkdir -p /root/specs && cat >"$1"' _ "$spec"
  tend install "$spec" --now
  [ "$RC" = 0 ] || { fail "pause: install --now of $n exited $RC"; evidence <<<"$OUT"; return 1; }
  SVC_UID=$(in_ct id -u "$n")
  pid=$(sf "$n" pid) sup=$(sf "$n" supervisor_pid) restarts=$(sf "$n" restarts)
  _three() { [ "$(pause_group_states "$pid" | wc -l)" -ge 3 ]; }
  check "pause: child $pid runs with its two grandchildren in its process group" wait_until 10 _three \
    || evidence <<<"$(pause_group_states "$pid")"

  tend pause "$n"
  if [ "$RC" = 0 ] && grep -qF "paused (pid $pid): sent SIGSTOP to process group $pid" <<<"$OUT"; then
    pass "pause: tend pause $n reached the installed supervisor: $OUT"
  else
    fail "pause: tend pause $n (exit $RC)"; evidence <<<"$OUT"
  fi
  if wait_until 5 pause_all_in T "$pid"; then
    pass "pause: every process of the tree is stopped: $(pause_group_states "$pid" | tr '\n' ' ')"
  else
    fail "pause: not every process of group $pid shows State: T"; evidence <<<"$(pause_group_states "$pid")"
  fi
  js=$(status_json "$n")
  if [ "$(jq -r .state <<<"$js")" = paused ] && [ "$(jq -r .pid <<<"$js")" = "$pid" ] \
    && [ "$(jq -r .active <<<"$js")" = "$BE_ACTIVE" ] && be_running "$n"; then
    pass "pause: tend status --json says paused (pid $pid), the init system still has it $BE_ACTIVE"
  else
    fail "pause: status while paused: $(jq -c '{active, state, pid}' <<<"$js" 2>&1)"; evidence <<<"$(be_describe "$n")"
  fi
  check "pause: a frozen child does not answer HTTP" bash -c "! nsenter -t $CPID -a curl -fsS --max-time 1 http://127.0.0.1:$PAUSE_PORT/healthz"
  audited pause "$n"
  # Probes every 300ms, one failure is unhealthy: a probe while paused would have
  # replaced it well within this window. (No event to wait for: nothing must happen.)
  # (PAUSE_SINCE, not t: wait_until has a local t that a function it calls would see.)
  PAUSE_SINCE=$EPOCHREALTIME
  _still() { awk -v a="$PAUSE_SINCE" -v b="$EPOCHREALTIME" 'BEGIN{exit !(b - a >= 3)}'; }
  wait_until 10 _still
  if [ "$(sf "$n" state)" = paused ] && [ "$(sf "$n" pid)" = "$pid" ] && [ "$(sf "$n" restarts)" = "$restarts" ] \
    && [ "$(sf "$n" health.state)" != unhealthy ] && pause_all_in T "$pid"; then
    pass "pause: after $(_elapsed "$PAUSE_SINCE")s paused (10 probe intervals) still paused, same child, no restart, health $(sf "$n" health.state)"
  else
    fail "pause: while paused the health probe or a restart timer acted"; evidence <<<"$(state_json "$n")"
  fi

  tend continue "$n"
  if [ "$RC" = 0 ] && grep -qF "continued (pid $pid)" <<<"$OUT"; then
    pass "pause: tend continue $n: $OUT"
  else
    fail "pause: tend continue $n (exit $RC)"; evidence <<<"$OUT"
  fi
  _none_stopped() { ! pause_group_states "$pid" | grep -q ':T$'; }
  check "pause: after continue no process of the tree is stopped" wait_until 5 _none_stopped \
    || evidence <<<"$(pause_group_states "$pid")"
  check "pause: it answers HTTP again" wait_until 5 http "$PAUSE_PORT" /healthz
  check "pause: state running again, same child, same supervisor" \
    bash -c "[ '$(sf "$n" state)' = running ] && [ '$(sf "$n" pid)' = '$pid' ] && [ '$(sf "$n" supervisor_pid)' = '$sup' ]"
  audited continue "$n"

  # A stop while paused: the tree runs first, so the child hears SIGTERM.
  tend pause "$n"
  wait_until 5 pause_all_in T "$pid" || fail "pause: second pause did not stop the tree"
  t=$EPOCHREALTIME
  tend stop "$n"
  [ "$RC" = 0 ] || { fail "pause: tend stop while paused exited $RC"; evidence <<<"$OUT"; }
  if wait_until 15 be_stopped "$n"; then
    pass "pause: tend stop while paused: stopped after $(_elapsed "$t")s"
  else
    fail "pause: tend stop while paused: still not stopped after 15 s"; evidence <<<"$(be_describe "$n")"
  fi
  if [ "$(in_ct cat "/var/lib/tend/$n/graceful" 2>/dev/null)" = graceful ]; then
    pass "pause: the child stopped gracefully (its SIGTERM handler wrote the marker)"
  else
    fail "pause: no graceful marker after a stop while paused"; evidence <<<"$(in_ct cat "/var/lib/tend/$n/graceful" 2>&1)"
  fi
  check "pause: no process of $n left after the stop" wait_until 10 no_procs_of "$SVC_UID" \
    || evidence <<<"$(in_ct ps -o pid,stat,args -u "$SVC_UID")"
  flow_uninstall_purge "$n"
}
