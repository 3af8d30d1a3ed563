# shellcheck shell=bash
# Sourced by systemd.sh and openrc.sh: a spec whose working directory, log folder and
# description hold spaces, quotes, `$`, backquotes, `$(…)`, `%`, patterns and a trailing
# backslash (specs/hostile.toml), installed by a tend that itself lives in a folder with
# a space, `$` and `%`. The service must start, in exactly that directory, logging into
# exactly that folder, with exactly tend's command line, and nothing in the text may run.
# A second install from a folder with quotes (which systemd cannot run a program from)
# must copy tend to /usr/local/bin/tend.

HOSTILE_WD='/srv/a  b $(touch /tmp/pwned-wd) `touch /tmp/pwned-bq` '"'q'"' "d" $x ${y} %n * ? [a] ~\'
HOSTILE_LOG='/var/log/hostile  logs $x $$ %n $(touch /tmp/pwned-log) '"'q'"' "d" \'
HOSTILE_DESC='hostile: $(touch /tmp/pwned-desc) 100% `id` '"'q'"' "d" $x \ end'
HOSTILE_TEND='/opt/t $x %d/tend'

# pid_argv PID: the process's argv, one per line (NUL-separated in /proc).
pid_argv() { in_ct cat "/proc/$1/cmdline" 2>/dev/null | tr '\0' '\n'; }
pid_cwd() { in_ct readlink "/proc/$1/cwd" 2>/dev/null; }
no_pwned() { ! in_ct sh -c 'ls /tmp/pwned* /srv/pwned* 2>/dev/null | grep -q .'; }

# hostile_flow EXTRA_ARG: EXTRA_ARG is the word after `run` in tend's command line
# (systemd: --no-guard), empty for none.
hostile_flow() {
  local n=hostile extra=$1 port=18082
  require_install hostile_flow || return 1
  in_ct mkdir -p "$HOSTILE_WD" "${HOSTILE_TEND%/*}" || { fail "hostile: cannot prepare the container"; return 1; }
  in_ct cp /opt/tend/tend "$HOSTILE_TEND" && in_ct chmod 755 "${HOSTILE_TEND%/*}" "$HOSTILE_TEND"
  local TEND=$HOSTILE_TEND
  tend install /opt/tend/hostile.toml --now
  # first, whether it succeeded or not
  check "hostile: nothing in the paths or the description ran (no /tmp/pwned-*)" no_pwned \
    || evidence <<<"$(in_ct sh -c 'ls -la /tmp/pwned* /srv/pwned*' 2>&1)"
  if [ "$RC" = 0 ]; then
    pass "hostile: install --now from '$HOSTILE_TEND' of a spec with hostile paths exits 0"
  else
    fail "hostile: install --now exited $RC"; evidence 30 <<<"$OUT"
    evidence 30 <<<"$(be_describe "$n")"
    return 1
  fi
  check "hostile: the init system shows it running" be_running "$n" || evidence <<<"$(be_describe "$n")"
  check "hostile: it answers on 127.0.0.1:$port" wait_until 5 http "$port" /healthz
  local sup pid want got
  sup=$(sf "$n" supervisor_pid) pid=$(sf "$n" pid)
  want=$(printf '%s\n' "$HOSTILE_TEND" run ${extra:+"$extra"} --state-dir "/var/lib/tend/$n" --log-dir "$HOSTILE_LOG" "/etc/tend/$n.toml")
  got=$(pid_argv "$sup")
  if [ -n "$sup" ] && [ "$got" = "$want" ]; then
    pass "hostile: the supervisor runs with exactly tend's command line (tend's path and the log folder as single words)"
  else
    fail "hostile: the supervisor ${sup:-?} runs with another command line"
    evidence <<<"want:"$'\n'"$want"$'\n'"got:"$'\n'"$got"
  fi
  if [ "$(pid_cwd "$sup")" = "$HOSTILE_WD" ] && [ "$(pid_cwd "$pid")" = "$HOSTILE_WD" ]; then
    pass "hostile: supervisor and child run in exactly the hostile working directory"
  else
    fail "hostile: working directories: supervisor '$(pid_cwd "$sup")', child '$(pid_cwd "$pid")'; want '$HOSTILE_WD'"
  fi
  http "$port" / >/dev/null
  _hostile_logged() { in_ct grep -q 'GET / 200' "$HOSTILE_LOG/$n.log"; }
  check "hostile: the child's output reaches the hostile log folder" wait_until 5 _hostile_logged \
    || evidence <<<"$(in_ct ls -la /var/log 2>&1)"
  check "hostile: still nothing ran while it runs (no /tmp/pwned-*)" no_pwned
  if declare -F be_hostile_checks >/dev/null; then be_hostile_checks "$n"; fi
  tend uninstall "$n" --purge
  check "hostile: uninstall --purge exits 0" test "$RC" = 0 || evidence <<<"$OUT"
  check "hostile: the hostile log folder is gone after --purge" bash -c "! nsenter -t $CPID -a test -e \"\$1\"" _ "$HOSTILE_LOG"

  # tend in a folder whose name systemd cannot run a program from: copied instead
  local quoted="/opt/it's \"q\" back\\slash/tend"
  in_ct mkdir -p "${quoted%/*}" && in_ct cp /opt/tend/tend "$quoted" && in_ct chmod 755 "${quoted%/*}" "$quoted"
  TEND=$quoted
  tend install /opt/tend/hello.toml --now
  if [ "$RC" = 0 ] && [ "$(pid_argv "$(sf hello supervisor_pid)" | head -n 1)" = /usr/local/bin/tend ]; then
    pass "tend installed from a folder with quotes and a backslash runs as /usr/local/bin/tend (a copy)"
  else
    fail "install from '$quoted' (exit $RC): the supervisor runs as '$(pid_argv "$(sf hello supervisor_pid)" | head -n 1)'"
    evidence <<<"$OUT"
  fi
  tend uninstall hello --purge
  check "uninstall of hello (installed from the quoted folder) exits 0" test "$RC" = 0 || evidence <<<"$OUT"
  in_ct rm -f /usr/local/bin/tend
}
