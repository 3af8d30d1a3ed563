#!/usr/bin/env bash
# The whole Windows check on a Linux machine: install what is missing, cross-build the
# Windows binaries, run the two Wine suites (the SCM and tend-service suite, then
# tend.exe's). Prints each stage's time, then the total "N passed, M failed" as the
# last line; exits non-zero if any stage fails.
set -euo pipefail
here=$(dirname "$0")
# shellcheck source=../lib/check.sh
. "$here/../lib/check.sh"
t0=$(date +%s)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
stage() {
  local name=$1 s r=0; shift; s=$(date +%s)
  "$@" || r=$?
  echo "[$name: $(( $(date +%s) - s ))s]"
  return "$r"
}
stage setup bash "$here/setup.sh"
stage build bash "$here/build.sh"
rc=0
out2=$(mktemp)
trap 'rm -f "$out" "$out2"' EXIT
# (Each suite kills its persistent wineserver at the end, which also holds the pipe.)
stage suite bash -c 'bash "$1" | tee "$2"; exit "${PIPESTATUS[0]}"' _ "$here/suite.sh" "$out" || rc=$?
stage tend-suite bash -c 'bash "$1" | tee "$2"; exit "${PIPESTATUS[0]}"' _ "$here/tend-suite.sh" "$out2" || rc=$?
echo "[wine total: $(( $(date +%s) - t0 ))s]"
CHECK_LABEL=wine
add_summary suite "$out"
add_summary tend-suite "$out2"
check_summary || rc=1
exit "$rc"
