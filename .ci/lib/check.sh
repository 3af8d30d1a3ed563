# shellcheck shell=bash
# The checks' bookkeeping, shared by the end-to-end suites (.ci/e2e) and the Wine
# suites (.ci/wine), sourced, not run: one PASS:/FAIL: line per check, counted; a
# bounded wait; the summary line "N passed, M failed" with the exit status; and the
# sum of several suites' summary lines for the run-all scripts.
#
#   CHECK_LABEL  when set, lines read "PASS: [LABEL] ..." (the e2e suites name
#                themselves, so run-all's interleaved output says which suite)
#   CHECK_POLL   wait_until's interval in seconds (default 0.1; the Wine suites poll
#                every 0.2 s, since each poll there starts Wine processes)

CHECK_PASSED=0
CHECK_FAILED=0

pass() { CHECK_PASSED=$((CHECK_PASSED + 1)); printf 'PASS: %s%s\n' "${CHECK_LABEL:+[$CHECK_LABEL] }" "$*"; }
fail() { CHECK_FAILED=$((CHECK_FAILED + 1)); printf 'FAIL: %s%s\n' "${CHECK_LABEL:+[$CHECK_LABEL] }" "$*"; }
# check DESCRIPTION CMD...: one check, PASS or FAIL by the command's status (its
# stdout is discarded, its stderr is not); returns that status, so `check ... ||
# evidence` shows evidence under a failure.
check() { local d=$1; shift; if "$@" >/dev/null; then pass "$d"; else fail "$d"; return 1; fi; }

# wait_until SECONDS CMD...: runs CMD (output discarded) every CHECK_POLL seconds until
# it succeeds; status 1 once SECONDS (which may be fractional) have passed.
wait_until() {
  local deadline t=$1; shift
  deadline=$((${EPOCHREALTIME/./} + $(awk -v t="$t" 'BEGIN{printf "%.0f", t*1000000}')))
  until "$@" >/dev/null 2>&1; do
    [ "${EPOCHREALTIME/./}" -ge "$deadline" ] && return 1
    sleep "${CHECK_POLL:-0.1}"
  done
}

# check_summary: prints "N passed, M failed"; status 1 if anything failed.
check_summary() {
  echo "$CHECK_PASSED passed, $CHECK_FAILED failed"
  [ "$CHECK_FAILED" -eq 0 ]
}

# add_summary NAME FILE: adds the counts of FILE's last line, a suite's summary, to
# this script's; a suite that ended without one counts as a failure.
add_summary() {
  local last
  last=$(tail -n 1 "$2" 2>/dev/null)
  if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    CHECK_PASSED=$((CHECK_PASSED + BASH_REMATCH[1]))
    CHECK_FAILED=$((CHECK_FAILED + BASH_REMATCH[2]))
  else
    fail "suite $1 ended without a summary line"
  fi
}
