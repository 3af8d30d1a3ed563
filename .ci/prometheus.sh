#!/usr/bin/env bash
# A real Prometheus server scrapes a `tend up` of two services and sees a restart the
# script causes: `tend up` serves /metrics ([metrics] listen, any free port), a
# Prometheus (Debian's `prometheus` package) scrapes it every second, the script kills
# one service's child, and the PromQL queries over Prometheus's HTTP API must show
# that restart, and no restart of the other service; then every query of the Grafana
# dashboard must be PromQL this Prometheus evaluates. Bounded: well under a minute.
#
# Usage: .ci/prometheus.sh        (after `cargo build --workspace`)
#   TEND_BIN_DIR   folder with tend and tend-fixture (default target/debug)
#   TEND_PROMETHEUS_KEEP=1   keep the scratch folder (configuration, logs, TSDB)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
# shellcheck source-path=SCRIPTDIR source=lib/check.sh
. .ci/lib/check.sh
# shellcheck disable=SC2034 # read by lib/check.sh
CHECK_LABEL=prometheus
BIN=${TEND_BIN_DIR:-$PWD/target/debug}
log() { printf 'prometheus: %s\n' "$*"; }
die() { fail "setup: $*"; exit 1; }

# The tools, only those missing (.ci/run installs them before the tests too).
need=()
command -v prometheus >/dev/null && command -v promtool >/dev/null || need+=(prometheus)
command -v curl >/dev/null || need+=(curl)
command -v jq >/dev/null || need+=(jq)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"; } \
    >/tmp/tend-prometheus-apt.log 2>&1 || { tail -20 /tmp/tend-prometheus-apt.log; echo "apt-get install ${need[*]} failed" >&2; exit 1; }
fi
for bin in tend tend-fixture; do
  [ -x "$BIN/$bin" ] || { echo "$BIN/$bin is missing: run cargo build --workspace" >&2; exit 1; }
done

TMP=$(mktemp -d /tmp/tend-prometheus.XXXXXX)
TEND_PID=
PROM_PID=
cleanup() {
  [ -n "$PROM_PID" ] && kill "$PROM_PID" 2>/dev/null && wait "$PROM_PID" 2>/dev/null
  [ -n "$TEND_PID" ] && kill -TERM "$TEND_PID" 2>/dev/null && wait "$TEND_PID" 2>/dev/null
  if [ "$CHECK_FAILED" -gt 0 ] || [ "${TEND_PROMETHEUS_KEEP:-}" = 1 ]; then
    log "kept $TMP"
  else
    rm -rf "$TMP"
  fi
  check_summary
}
trap 'cleanup; exit $?' EXIT
# Show a file's last lines under a failure.
evidence() { sed -e 's/^/    | /' "$1" | tail -n "${2:-15}"; }

# ---------------------------------------------------------------- tend up

cat >"$TMP/tend.toml" <<EOF
[metrics]
listen = "127.0.0.1:0"

[[service]]
name = "api"
command = "$BIN/tend-fixture"
args = ["--pid-file", "$TMP/api.pids", "--hang"]

[[service]]
name = "worker"
command = "$BIN/tend-fixture"
args = ["--hang"]
depends_on = ["api"]
EOF
TEND_STATE_DIR=$TMP/state TEND_LOG_DIR=$TMP/logs "$BIN/tend" up --log-files "$TMP/tend.toml" \
  </dev/null >"$TMP/tend.out" 2>"$TMP/tend.err" &
TEND_PID=$!
metrics_line() { grep -o 'http://[^ ]*/metrics' "$TMP/tend.err"; }
wait_until 20 metrics_line || { evidence "$TMP/tend.err"; die "tend up does not say where its metrics are"; }
METRICS=$(metrics_line)
TARGET=${METRICS#http://}
TARGET=${TARGET%/metrics}
log "tend up serves $METRICS"

# ---------------------------------------------------------------- Prometheus

cat >"$TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: tend
    static_configs:
      - targets: ["$TARGET"]
EOF
promtool check config "$TMP/prometheus.yml" >"$TMP/promtool.log" 2>&1 \
  || { evidence "$TMP/promtool.log"; die "promtool rejects the configuration"; }

# A free port: bash cannot bind one, so one that refuses connections now, and another
# try if Prometheus cannot listen there after all.
free_port() {
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
  done
  return 1
}
ready() { curl -fsS "http://127.0.0.1:$PORT/-/ready"; }
for attempt in 1 2 3; do
  PORT=$(free_port) || die "no free port"
  prometheus --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/tsdb" \
    --web.listen-address="127.0.0.1:$PORT" >"$TMP/prometheus.log" 2>&1 &
  PROM_PID=$!
  wait_until 30 ready && break
  kill "$PROM_PID" 2>/dev/null; wait "$PROM_PID" 2>/dev/null; PROM_PID=
  [ "$attempt" = 3 ] && { evidence "$TMP/prometheus.log"; die "Prometheus did not start"; }
done
log "Prometheus on 127.0.0.1:$PORT (pid $PROM_PID)"

# query EXPR: the API's answer to an instant query (JSON).
LAST=
query() { LAST=$(curl -fsS --get "http://127.0.0.1:$PORT/api/v1/query" --data-urlencode "query=$1") && echo "$LAST"; }
# value EXPR: the first result's value, or nothing.
value() { query "$1" | jq -r '.data.result[0].value[1] // empty'; }
# is EXPR WANT: whether EXPR's value is WANT now.
is() { [ "$(value "$1")" = "$2" ]; }

check "Prometheus scrapes tend up (up{job=\"tend\"} is 1)" wait_until 30 is 'up{job="tend"}' 1 \
  || { echo "    last answer: $LAST"; curl -fsS "http://127.0.0.1:$PORT/api/v1/targets" | jq -c '.data.activeTargets[] | {health, lastError}'; }
check "Prometheus sees both services run" wait_until 20 is 'sum(tend_service_up)' 2 \
  || echo "    last answer: $LAST"
check "no restart yet" is 'sum(tend_service_restarts_total)' 0 || echo "    last answer: $LAST"

# ---------------------------------------------------------------- the restart

API_PID=$(head -n 1 "$TMP/api.pids" 2>/dev/null)
[ -n "$API_PID" ] || die "the api service wrote no pid"
kill -KILL "$API_PID"
log "killed api's child (pid $API_PID)"
check 'Prometheus sees the restart: tend_service_restarts_total{service="api"} is 1' \
  wait_until 30 is 'tend_service_restarts_total{service="api"}' 1 \
  || { echo "    last answer: $LAST"; evidence "$TMP/tend.err"; }
check 'as an increase: increase(tend_service_restarts_total{service="api"}[1m]) > 0' \
  wait_until 10 is 'increase(tend_service_restarts_total{service="api"}[1m]) > bool 0' 1 \
  || echo "    last answer: $LAST"
check 'and its cause: tend_service_exits_total{service="api",signal="SIGKILL"} is 1' \
  wait_until 10 is 'tend_service_exits_total{service="api",signal="SIGKILL"}' 1 \
  || echo "    last answer: $LAST"
check 'the api service runs again' wait_until 10 is 'tend_service_up{service="api"}' 1 \
  || echo "    last answer: $LAST"
check 'the worker did not restart' is 'tend_service_restarts_total{service="worker"}' 0 \
  || echo "    last answer: $LAST"

# ---------------------------------------------------------------- the dashboard

# Every query of the Grafana dashboard is valid PromQL that this Prometheus evaluates
# (Grafana's variables replaced as Grafana would: all supervisors, all services).
bad=0
n=0
while IFS= read -r expr; do
  n=$((n + 1))
  q=${expr//\$__rate_interval/1m}
  q=${q//\$instance/.*}
  q=${q//\$service/.*}
  status=$(query "$q" | jq -r '.status' 2>/dev/null)
  if [ "$status" != success ]; then
    bad=$((bad + 1))
    echo "    $expr"
    echo "    -> ${LAST:-no answer}"
  fi
done < <(jq -r '.panels[].targets[].expr' contrib/grafana/tend-dashboard.json)
check "Prometheus evaluates the dashboard's $n queries" test "$bad" = 0 -a "$n" -ge 10
