#!/usr/bin/env bash
# The Ansible collection (ansible/) tested for real: ansible-core from PyPI drives
# three hosts over SSH, each a container booted with systemd-nspawn (two systemd, one
# OpenRC) running sshd on its own veth, with addresses this test gives them in a
# private subnet it first checks the host does not route.
#
#   .ci/ansible/run.sh                              # builds tend, hello-service into target-e2e/
#   TEND_BIN_DIR=target/debug .ci/ansible/run.sh    # prebuilt binaries (what .ci/run passes)
#
# Environment (besides lib.sh's TEND_E2E_CACHE, TEND_E2E_KEEP, TEND_BIN_DIR):
#   TEND_ANSIBLE_CACHE   the virtualenv cache (default /var/cache/tend-ansible)
#   TEND_ANSIBLE_SUBNET  the first three octets of the test's /24 (default 10.231.77)
#   TEND_ANSIBLE_TIMEOUT the longest a playbook may take, in seconds (default 300)
#   TEND_ANSIBLE_DIST    a folder of static builds with SHA256SUMS (.ci/static's): the
#                        role installs those (musl); else the suite makes one of the
#                        host's glibc build (the containers are Debian bookworm too)
#
# Playbooks (.ci/ansible/playbooks): install (a) twice, the second with changed=0 on
# every host; check mode with diff: the same spec is no change, a changed one changes
# nothing; apply: what check mode's diff shows is what the real run writes; stop and
# start change only when tend did; a crash-looping service is not started again; a
# rolling restart with serial: 1 (c) one host at a time; removal with purge (d), then
# nothing is left, and a second removal changes nothing. Prints PASS:/FAIL: lines and
# "N passed, M failed".
# shellcheck disable=SC2317
set -uo pipefail
E2E_SUITE=ansible
# shellcheck source=../e2e/lib.sh
. "$(dirname "$0")/../e2e/lib.sh"
ANS_DIR=$(cd "$(dirname "$0")" && pwd)
ANS_CACHE=${TEND_ANSIBLE_CACHE:-/var/cache/tend-ansible}
SUBNET=${TEND_ANSIBLE_SUBNET:-10.231.77}
ANSIBLE_CORE_REQ="ansible-core>=2.19,<2.20"
HOSTS=(h1 h2 h3)
KINDS=(systemd systemd openrc)
declare -A H_NSPAWN H_CPID H_NAME H_KIND H_CG H_ADDR H_VETH
WORK=

# ---------------------------------------------------------------- containers

# use_host H: make host H's container the current one for lib.sh's in_ct/shutdown_ct.
use_host() {
  NSPAWN_PID=${H_NSPAWN[$1]:-} CPID=${H_CPID[$1]:-} CT_NAME=${H_NAME[$1]:-} CT_KIND=${H_KIND[$1]:-}
  read -r -a CT_CGDIRS <<<"${H_CG[$1]:-}"
}

_ans_exit() {
  local rc=$? h
  trap - EXIT INT TERM
  # a container boot_ct started but that died before boot_host recorded it (no init,
  # not ready, ...); a recorded one is shut down here or below, the second time a no-op
  [ -n "${NSPAWN_PID:-}" ] && shutdown_ct
  for h in "${HOSTS[@]}"; do
    [ -n "${H_NSPAWN[$h]:-}" ] || continue
    use_host "$h"
    shutdown_ct
    H_NSPAWN[$h]=
  done
  # the veths went with the containers' namespaces; say so if one did not
  local v
  for v in "${H_VETH[@]}"; do
    if ip link show "$v" >/dev/null 2>&1; then
      ip link del "$v" 2>/dev/null
      fail "teardown: veth $v outlived its container (deleted)"
    fi
  done
  if [ -n "$WORK" ]; then
    if [ "${TEND_E2E_KEEP:-0}" = 1 ] || [ "$CHECK_FAILED" -gt 0 ]; then
      log "work folder kept: $WORK (boot logs, playbook output)"
    else
      rm -rf "$WORK"
    fi
  fi
  [ "$rc" -ne 0 ] && [ "$CHECK_FAILED" -eq 0 ] && fail "suite ended with status $rc"
  log "done in $(_elapsed "$E2E_T0")s"
  check_summary && exit 0
  exit 1
}
trap _ans_exit EXIT
trap 'fail "interrupted"; exit 130' INT TERM
[ "$(id -u)" = 0 ] || die "must run as root (containers)"

# The test subnet must be one the host does not route (only the default route may
# match), with no address of the host in it: else a veth address there would cut the
# host off its own network.
subnet_is_free() {
  local routes addrs o
  if ! [[ $SUBNET =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]]; then
    fail "TEND_ANSIBLE_SUBNET '$SUBNET' is not three octets (such as 10.231.77)"
    return 1
  fi
  for o in "${BASH_REMATCH[@]:1}"; do
    [ "$((10#$o))" -le 255 ] || { fail "TEND_ANSIBLE_SUBNET '$SUBNET': $o is not an octet"; return 1; }
  done
  [ "$SUBNET" != 192.0.2 ] || { fail "TEND_ANSIBLE_SUBNET 192.0.2 is the host's own link's"; return 1; }
  # routes to the /24 or wider (but the default route), and routes inside it
  routes=$({ ip -o route show to match "$SUBNET.0/24"; ip -o route show root "$SUBNET.0/24"; } | grep -v '^default' || true)
  addrs=$(ip -o addr show | awk '{print $4}' | grep -F "$SUBNET." || true)
  if [ -n "$routes$addrs" ]; then
    printf 'routes: %s\naddresses: %s\n' "$routes" "$addrs" | evidence
    return 1
  fi
  log "subnet $SUBNET.0/24 is not routed here ($(ip route get "$SUBNET.2" | head -n 1))"
}

# boot_host H KIND I: boots H (KIND systemd|openrc) on its own veth, gives it
# SUBNET.(4I+2)/30 (the host side .(4I+1)), the test's key, and waits for sshd.
boot_host() {
  local h=$1 kind=$2 i=$3 idx veth
  ensure_rootfs "sshd-$kind"
  CT_STAGE=$WORK/$h
  mkdir -p "$CT_STAGE/opt" && chmod 755 "$CT_STAGE/opt"
  CT_NETWORK=(--network-veth)
  boot_ct "$kind" "tend-ans-$h-$$"
  H_NSPAWN[$h]=$NSPAWN_PID H_CPID[$h]=$CPID H_NAME[$h]=$CT_NAME H_KIND[$h]=$CT_KIND H_CG[$h]="${CT_CGDIRS[*]}"
  # the host side of the pair is the link host0 names as its peer
  idx=$(nsenter -t "$CPID" -n ip -o link show host0 | sed -n 's/^[0-9]*: host0@if\([0-9]*\):.*/\1/p')
  veth=$(ip -o link show | awk -F': ' -v i="$idx" '$1 == i {sub(/@.*/, "", $2); print $2}')
  [ -n "$veth" ] || die "$h: no host side of host0 (peer index '$idx')"
  H_VETH[$h]=$veth
  local host_ip=$SUBNET.$((4 * i + 1)) ct_ip=$SUBNET.$((4 * i + 2))
  ip addr add "$host_ip/30" dev "$veth" && ip link set "$veth" up || die "$h: cannot address $veth"
  nsenter -t "$CPID" -n ip addr add "$ct_ip/30" dev host0 \
    && nsenter -t "$CPID" -n ip link set host0 up \
    && nsenter -t "$CPID" -n ip link set lo up || die "$h: cannot address host0"
  H_ADDR[$h]=$ct_ip
  in_ct sh -c 'umask 077 && mkdir -p /root/.ssh && cat >/root/.ssh/authorized_keys' <"$WORK/id_ed25519.pub" \
    || die "$h: cannot install the test's key"
  _sshd_up() { timeout 2 bash -c "exec 3<>/dev/tcp/$ct_ip/22" 2>/dev/null; }
  wait_until 30 _sshd_up || { in_ct ps -ef | evidence; die "$h: sshd does not answer on $ct_ip:22"; }
  log "$h: $kind container $CT_NAME on $veth, $ct_ip (sshd up)"
}

# ---------------------------------------------------------------- the controller

_ansible_version() { local v; v=$("$VENV/bin/ansible-playbook" --version 2>&1); echo "${v%%$'\n'*}"; }
# A virtualenv with ansible-core from PyPI, cached by its requirement and Python.
ensure_venv() {
  local key
  key=$( (echo "$ANSIBLE_CORE_REQ"; python3 -c 'import sys; print(sys.version)') | sha256sum | cut -c1-10)
  VENV=$ANS_CACHE/venv-$key
  exec {vlock}>"$ANS_CACHE/.lock-venv"
  flock "$vlock"
  if [ -f "$VENV/.complete" ] && "$VENV/bin/ansible-playbook" --version >/dev/null 2>&1; then
    log "venv: reusing $VENV ($(_ansible_version))"
  else
    local t=$EPOCHREALTIME
    # a venv's scripts name its folder, so it is built in place; the marker says done.
    # Debian's python3 makes one only with python3-venv (ensurepip): installed if it fails.
    rm -rf "$VENV"
    if ! python3 -m venv "$VENV" >"$ANS_CACHE/pip.log" 2>&1; then
      log "python3 -m venv failed: installing python3-venv"
      rm -rf "$VENV"
      { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-venv; } \
        >"$ANS_CACHE/apt.log" 2>&1 || die "apt-get install python3-venv failed (see $ANS_CACHE/apt.log)"
      python3 -m venv "$VENV" >"$ANS_CACHE/pip.log" 2>&1 || { evidence <"$ANS_CACHE/pip.log"; die "python3 -m venv fails"; }
    fi
    "$VENV/bin/pip" install -q "$ANSIBLE_CORE_REQ" >>"$ANS_CACHE/pip.log" 2>&1 \
      || { tail -20 "$ANS_CACHE/pip.log"; die "pip install $ANSIBLE_CORE_REQ failed (see $ANS_CACHE/pip.log)"; }
    "$VENV/bin/ansible-playbook" --version >/dev/null 2>&1 || die "ansible-playbook from the new venv does not run"
    touch "$VENV/.complete"
    log "venv: ansible-core installed in $(_elapsed "$t")s: $(_ansible_version)"
  fi
  find "$ANS_CACHE" -maxdepth 1 -name 'venv-*' ! -name "venv-$key" -exec rm -rf {} + 2>/dev/null
  flock -u "$vlock"
}

# playbook NAME [ARGS...]: runs playbooks/NAME.yml; output in $WORK/NAME.N.log, status
# in PB_RC, the recap's changed= per host in PB_CHANGED[host].
PB_N=0
declare -A PB_CHANGED PB_FAILED
playbook() {
  local name=$1 t=$EPOCHREALTIME
  shift
  PB_N=$((PB_N + 1))
  PB_LOG=$WORK/$name.$PB_N.log
  (cd "$WORK" && timeout -k 10 "${TEND_ANSIBLE_TIMEOUT:-300}" "$VENV/bin/ansible-playbook" -i inventory.ini "$ANS_DIR/playbooks/$name.yml" \
    -e "dist=$DIST libc=$LIBC hello_bin=$WORK/hello-service restart_log=$WORK/restarts.txt" "$@") >"$PB_LOG" 2>&1
  PB_RC=$?
  [ "$PB_RC" = 124 ] && fail "playbook $name did not end within ${TEND_ANSIBLE_TIMEOUT:-300} s (killed)"
  PB_CHANGED=() PB_FAILED=()
  local line h
  while read -r line; do
    [[ $line =~ ^([a-z0-9]+)\ +:\ ok=[0-9]+\ +changed=([0-9]+)\ +unreachable=([0-9]+)\ +failed=([0-9]+) ]] || continue
    h=${BASH_REMATCH[1]}
    PB_CHANGED[$h]=${BASH_REMATCH[2]}
    PB_FAILED[$h]=$((BASH_REMATCH[3] + BASH_REMATCH[4]))
  done < <(sed -n '/^PLAY RECAP/,$p' "$PB_LOG")
  log "playbook $name $* (exit $PB_RC) in $(_elapsed "$t")s: changed ${PB_CHANGED[*]:-?}"
}
# pb_ok WHAT: the last playbook succeeded on every host.
pb_ok() {
  local h bad=
  [ "$PB_RC" = 0 ] || bad=1
  for h in "${HOSTS[@]}"; do [ "${PB_FAILED[$h]:-x}" = 0 ] || bad=1; done
  if [ -z "$bad" ]; then
    pass "$1: ansible-playbook succeeded on ${HOSTS[*]}"
  else
    fail "$1: ansible-playbook exit $PB_RC; recap failed/unreachable: $(for h in "${HOSTS[@]}"; do printf '%s=%s ' "$h" "${PB_FAILED[$h]:-missing}"; done)"
    grep -E 'fatal:|FAILED|ERROR|msg' "$PB_LOG" | evidence 30
    return 1
  fi
}
# changed_on WHAT WANT: every host's recap says changed=WANT (0), or >0 (WANT "some").
changed_on() {
  local what=$1 want=$2 h bad=()
  for h in "${HOSTS[@]}"; do
    local c=${PB_CHANGED[$h]:-missing}
    case $want in
      some) [[ $c =~ ^[1-9][0-9]*$ ]] || bad+=("$h:changed=$c") ;;
      *) [ "$c" = "$want" ] || bad+=("$h:changed=$c") ;;
    esac
  done
  if [ ${#bad[@]} -eq 0 ]; then
    pass "$what: the recap says changed=${want/some/>0} on every host"
  else
    fail "$what: want changed=${want/some/>0} on every host, got ${bad[*]}"
    grep -E '^(changed|TASK)' "$PB_LOG" | grep -B1 '^changed' | evidence 30
  fi
}

# ---------------------------------------------------------------- setup

log "setup"
mkdir -p "$ANS_CACHE"
ensure_host_packages
need=()
command -v ssh-keygen >/dev/null || need+=(openssh-client) # the controller's ssh
command -v curl >/dev/null || need+=(curl)                 # the service, over the veth
command -v objcopy >/dev/null || need+=(binutils)          # smaller copies to send
if [ ${#need[@]} -gt 0 ]; then
  log "installing host packages: ${need[*]}"
  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"; } \
    >"$ANS_CACHE/apt.log" 2>&1 || die "apt-get install ${need[*]} failed (see $ANS_CACHE/apt.log)"
fi
ensure_binaries
ensure_venv
WORK=$(mktemp -d /tmp/tend-ansible.XXXXXX)
chmod 755 "$WORK"
ssh-keygen -q -t ed25519 -N '' -C "tend-ansible-$$" -f "$WORK/id_ed25519" || die "ssh-keygen failed"

# the builds the role installs: TEND_ANSIBLE_DIST's, else one of the host's binary
if [ -n "${TEND_ANSIBLE_DIST:-}" ]; then
  DIST=$(cd "$TEND_ANSIBLE_DIST" && pwd) LIBC=musl
else
  DIST=$WORK/dist LIBC=gnu
  mkdir -p "$DIST"
  objcopy --strip-debug "$E2E_BIN/tend" "$DIST/tend-x86_64-unknown-linux-gnu" 2>/dev/null \
    || cp "$E2E_BIN/tend" "$DIST/tend-x86_64-unknown-linux-gnu"
  (cd "$DIST" && sha256sum tend-* >SHA256SUMS)
fi
objcopy --strip-debug "$E2E_BIN/hello-service" "$WORK/hello-service" 2>/dev/null \
  || cp "$E2E_BIN/hello-service" "$WORK/hello-service"
log "builds for the role: $DIST ($LIBC): $(tr '\n' ';' <"$DIST/SHA256SUMS" | cut -c1-200)"

# the collection, built and installed as a user would
export ANSIBLE_COLLECTIONS_PATH=$WORK/collections ANSIBLE_HOST_KEY_CHECKING=False ANSIBLE_NOCOLOR=1 \
  ANSIBLE_FORCE_COLOR=0 ANSIBLE_RETRY_FILES_ENABLED=0 ANSIBLE_LOCAL_TEMP=$WORK/tmp ANSIBLE_PIPELINING=1 \
  ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3
t=$EPOCHREALTIME
"$VENV/bin/ansible-galaxy" collection build "$REPO/ansible" --output-path "$WORK" >"$WORK/galaxy.log" 2>&1 \
  && "$VENV/bin/ansible-galaxy" collection install "$WORK"/tend-tend-*.tar.gz -p "$WORK/collections" >>"$WORK/galaxy.log" 2>&1
check "ansible-galaxy collection build + install of ansible/" test -f "$WORK/collections/ansible_collections/tend/tend/plugins/modules/tend_service.py" \
  || { evidence <"$WORK/galaxy.log"; die "the collection does not build"; }
log "collection built and installed in $(_elapsed "$t")s"
COLL=$WORK/collections/ansible_collections/tend/tend
check "the TOML writer of spec_content: unit tests (tomllib reads back what it wrote)" \
  env PYTHONPATH="$WORK/collections" "$VENV/bin/python" "$COLL/tests/unit/plugins/module_utils/test_tend_toml.py" \
  || PYTHONPATH="$WORK/collections" "$VENV/bin/python" "$COLL/tests/unit/plugins/module_utils/test_tend_toml.py" 2>&1 | evidence 30
check "ansible-doc reads the module's DOCUMENTATION, EXAMPLES and RETURN" \
  "$VENV/bin/ansible-doc" -t module tend.tend.tend_service
check "ansible-doc reads the role's argument specs" "$VENV/bin/ansible-doc" -t role tend.tend.tend_binary

subnet_is_free || die "the test subnet $SUBNET.0/24 is routed or used here: set TEND_ANSIBLE_SUBNET to a free one"
t=$EPOCHREALTIME
for i in "${!HOSTS[@]}"; do
  boot_host "${HOSTS[$i]}" "${KINDS[$i]}" "$i"
done
log "three containers up in $(_elapsed "$t")s"
{
  echo "[fleet]"
  for h in "${HOSTS[@]}"; do
    echo "$h ansible_host=${H_ADDR[$h]} ansible_user=root ansible_ssh_private_key_file=$WORK/id_ed25519"
  done
  echo "[fleet:vars]"
  echo "ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=10'"
} >"$WORK/inventory.ini"

# ---------------------------------------------------------------- checks inside the containers

unit_of() { case ${H_KIND[$1]} in systemd) echo "/etc/systemd/system/$2.service" ;; *) echo "/etc/init.d/$2" ;; esac; }
# what is left of service N on the current host (empty: nothing)
leftovers() {
  local h=$1 n=$2 p what=()
  use_host "$h"
  for p in "$(unit_of "$h" "$n")" "/etc/tend/$n.toml" "/etc/tend/$n.install.json" "/etc/tend/$n.kept.json" \
    "/etc/tend/ansible/$n.toml" \
    "/var/lib/tend/$n" "/var/log/tend/$n" "/etc/systemd/system/multi-user.target.wants/$n.service" \
    "/etc/runlevels/default/$n"; do
    in_ct test -e "$p" && what+=("$p")
  done
  in_ct getent passwd "$n" >/dev/null && what+=("user $n")
  in_ct getent group "$n" >/dev/null && what+=("group $n")
  [ "$n" = hello ] && in_ct pgrep -f /opt/hello/hello-service >/dev/null && what+=("a hello-service process")
  in_ct pgrep -f "tend run.*/etc/tend/$n\.toml" >/dev/null && what+=("a supervisor of $n")
  echo "${what[*]:-}"
}
orc_unknown() { ! in_ct rc-service -e "$1" >/dev/null 2>&1; }
st() { use_host "$1"; in_ct /usr/local/bin/tend status "$2" --json 2>/dev/null | jq -c '.[0] // .'; }

# ---------------------------------------------------------------- (a) install

playbook install
pb_ok "install" && changed_on "install, first run" some
for h in "${HOSTS[@]}"; do
  s=$(st "$h" hello)
  if [ "$(jq -r '.state + " " + (.health.state // "none") + " " + .backend' <<<"$s")" = "running healthy ${H_KIND[$h]}" ]; then
    pass "$h: hello installed under ${H_KIND[$h]}, running, healthy (pid $(jq -r .pid <<<"$s"))"
  else
    fail "$h: hello after install: $s"
  fi
  use_host "$h"
  check "$h: /usr/local/bin/tend is the build the role was given (sha256)" \
    test "$(in_ct sha256sum /usr/local/bin/tend | cut -d' ' -f1)" = "$(sed -n 's/^\([0-9a-f]*\)  tend-x86_64.*/\1/p' "$DIST/SHA256SUMS")"
  check "$h: hello answers over the veth at ${H_ADDR[$h]}:18080" \
    grep -q . <<<"$(curl -fsS --max-time 3 "http://${H_ADDR[$h]}:18080/" 2>/dev/null)"
  check "$h: the spec's hostile env value reached the service unchanged" \
    grep -qxF "GREETING=it's \"quoted\" \$HOME %d \\ é" \
    <<<"$(in_ct sh -c 'tr "\0" "\n" </proc/$(pgrep -f /opt/hello/hello-service | head -n 1)/environ')"
done
sums_before=$(for h in "${HOSTS[@]}"; do use_host "$h"; in_ct sha256sum "$(unit_of "$h" hello)" /etc/tend/hello.toml /etc/tend/ansible/hello.toml; done)
pids_before=$(for h in "${HOSTS[@]}"; do st "$h" hello | jq -r .pid; done | tr '\n' ' ')

# ---------------------------------------------------------------- (b) idempotent rerun

playbook install
pb_ok "install again" && changed_on "install, second run (idempotent)" 0
pids_after=$(for h in "${HOSTS[@]}"; do st "$h" hello | jq -r .pid; done | tr '\n' ' ')
check "the second run left every service's child alone (pids $pids_before)" test "$pids_before" = "$pids_after" \
  || evidence <<<"after: $pids_after"

# check mode + diff: reported, nothing written
playbook check --check --diff
pb_ok "check mode: the same spec is no change, a changed one is (assertions on changed, dry_run, diff)"
sums_after=$(for h in "${HOSTS[@]}"; do use_host "$h"; in_ct sha256sum "$(unit_of "$h" hello)" /etc/tend/hello.toml /etc/tend/ansible/hello.toml; done)
check "check mode changed no unit and no installed spec" test "$sums_before" = "$sums_after" \
  || evidence <<<"$sums_after"
check "diff mode printed the unit's changed Description" grep -qE '^\+Description=hello-service, changed in check mode' "$PB_LOG" \
  || grep -E '^[-+]' "$PB_LOG" | evidence

# what check mode shows is what a real run writes
playbook apply
pb_ok "apply: check mode's diff of a changed spec (relative command) is what the real run then writes; no file text in the result"
for h in "${HOSTS[@]}"; do
  check "$h: the applied spec's description is in the unit" \
    grep -q "hello-service, applied" <<<"$(use_host "$h"; in_ct cat "$(unit_of "$h" hello)")"
done

# stopped / started: changed only when tend did it
playbook stop
pb_ok "stopped, stopped again, started, started again: changed exactly when tend stopped or started it"
for h in "${HOSTS[@]}"; do
  check "$h: running and healthy again after stop and start" \
    test "$(st "$h" hello | jq -r '.state + " " + (.health.state // "none")')" = "running healthy"
done

# a crash-looping service counts as running: started again is no change
playbook crash
pb_ok "crash: a service in a crash loop (backoff) is not started again; state: started reports no change"
for h in "${HOSTS[@]}"; do
  left=$(leftovers "$h" crashy)
  check "$h: nothing of crashy is left" test -z "$left" || evidence <<<"left: $left"
done

# ---------------------------------------------------------------- (c) rolling restart

: >"$WORK/restarts.txt"
playbook restart
pb_ok "rolling restart (serial: 1; each waits for health; new pid; others serving)" && changed_on "rolling restart" some
if [ "$(wc -l <"$WORK/restarts.txt")" = 3 ]; then
  # host begin end pid_before pid_after started_at: in order, the windows do not
  # overlap, and each new child started within its own host's window
  if awk '
    { h[NR]=$1; b[NR]=$2; e[NR]=$3; s[NR]=$6 }
    END {
      ok = 1
      for (i = 1; i <= NR; i++) {
        if (s[i] < b[i] || s[i] > e[i]) { print h[i] ": child started at " s[i] " outside its window " b[i] "-" e[i]; ok = 0 }
        if (i > 1 && b[i] < e[i-1]) { print h[i] " began at " b[i] " before " h[i-1] " was done at " e[i-1]; ok = 0 }
        for (j = 1; j <= NR; j++) if (j != i && s[j] >= b[i] && s[j] <= e[i]) { print h[j] " restarted during " h[i] "s window"; ok = 0 }
      }
      exit !ok
    }' "$WORK/restarts.txt" >"$WORK/restart-check.txt"; then
    pass "one host at a time: $(awk '{printf "%s %d ms; ", $1, $3 - $2}' "$WORK/restarts.txt")windows in order, none overlapping"
  else
    fail "the restarts overlapped"; evidence <"$WORK/restart-check.txt"; evidence <"$WORK/restarts.txt"
  fi
  check "the restart order is the inventory's (h1, h2, h3)" test "$(cut -d' ' -f1 "$WORK/restarts.txt" | tr '\n' ' ')" = "h1 h2 h3 "
else
  fail "the rolling restart recorded $(wc -l <"$WORK/restarts.txt") windows, want 3"; evidence <"$WORK/restarts.txt"
fi
for h in "${HOSTS[@]}"; do
  s=$(st "$h" hello)
  check "$h: healthy after the rolling restart" test "$(jq -r '.health.state' <<<"$s")" = healthy || evidence <<<"$s"
done

# ---------------------------------------------------------------- (d) removal with purge

playbook remove -e removed=true
pb_ok "remove with purge" && changed_on "remove with purge" some
for h in "${HOSTS[@]}"; do
  left=$(leftovers "$h" hello)
  check "$h: nothing of hello is left (unit, spec, the module's copy, record, account, folders, process)" test -z "$left" \
    || evidence <<<"left: $left"
  use_host "$h"
  case ${H_KIND[$h]} in
    systemd) check "$h: systemd no longer knows hello.service" \
      test "$(in_ct systemctl show -p LoadState --value hello.service)" = not-found ;;
    openrc) check "$h: OpenRC no longer knows hello" orc_unknown hello ;;
  esac
done
playbook remove -e removed=false
pb_ok "remove again" && changed_on "remove again (idempotent)" 0

log "playbook output in $WORK (kept on failure or with TEND_E2E_KEEP=1)"
