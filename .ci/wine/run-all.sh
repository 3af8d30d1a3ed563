#!/usr/bin/env bash
# The whole Windows check on a Linux machine: install what is missing, cross-build the
# Windows binaries, run the Wine SCM suite. Prints each stage's time, then repeats the
# suite's "N passed, M failed" as the last line; exits non-zero if any stage fails.
set -euo pipefail
here=$(dirname "$0")
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
stage suite bash -c 'bash "$1" | tee "$2"; exit "${PIPESTATUS[0]}"' _ "$here/suite.sh" "$out" || rc=$?
echo "[wine total: $(( $(date +%s) - t0 ))s]"
tail -n 1 "$out"
exit "$rc"
