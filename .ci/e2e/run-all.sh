#!/usr/bin/env bash
# Every end-to-end suite: tend installed as a real service under systemd and OpenRC,
# each booted in a systemd-nspawn container, and syslog output into a real rsyslogd on
# the host (rsyslog.sh). Needs root; installs debootstrap,
# systemd-container, zstd, jq if missing; builds (once) and caches the root filesystems
# in ${TEND_E2E_CACHE:-/var/cache/tend-e2e}.
#
#   .ci/e2e/run-all.sh                              # builds into target-e2e/debug
#   TEND_BIN_DIR=target/debug .ci/e2e/run-all.sh    # prebuilt binaries (what .ci/run passes)
#   .ci/e2e/run-all.sh systemd                      # only some suites
#
# The last line is "N passed, M failed" (summed over the suites); exit 1 if any failed.
set -uo pipefail
E2E_SUITE=all
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(systemd openrc rsyslog)

finish() { check_summary; exit $?; }
[ "$(id -u)" = 0 ] || { fail "must run as root (containers)"; finish; }

# host tools and binaries once, for every suite
setup_out=$( (ensure_host_packages && ensure_binaries && echo "E2E_BIN=$E2E_BIN") 2>&1)
setup_rc=$?
grep -v '^E2E_BIN=' <<<"$setup_out"
if [ $setup_rc -ne 0 ]; then fail "setup (host packages, binaries)"; finish; fi
TEND_BIN_DIR=$(sed -n 's/^E2E_BIN=//p' <<<"$setup_out" | tail -n 1)
TEND_BIN_DIR=$(cd "$TEND_BIN_DIR" && pwd)
export TEND_BIN_DIR

# a cold cache: build the root filesystems side by side (each suite would reuse them)
pids=()
for s in "${suites[@]}"; do
  case $s in systemd | openrc) (E2E_SUITE=$s CHECK_LABEL=$s; ensure_rootfs "$s") & pids+=($!) ;; esac
done
for p in "${pids[@]}"; do wait "$p"; done # a failure shows again in its suite

for s in "${suites[@]}"; do
  script=$E2E_DIR/$s.sh
  if [ ! -x "$script" ]; then
    fail "no suite $script"; continue
  fi
  out=$(mktemp)
  "$script" 2>&1 | tee "$out"
  add_summary "$s" "$out"
  rm -f "$out"
done
log "all suites done in $(_elapsed "$E2E_T0")s"
finish
