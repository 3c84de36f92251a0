#!/usr/bin/env bash
# The local multi-replica shape, end to end: `deploy/batchpipe.sh up` with two gateways, two
# control-planes and three delivery workers (in a throw-away data directory, on free ports),
# then what a user does against it:
#   - every instance is ready (`status`), and the workspace key printed by `up` works on both
#     gateways;
#   - the SDK's test suite (every method, real deliveries by the workers) passes through gateway 2;
#   - a pipe with a postgres destination, records sent through both gateways alternately;
#   - one control-plane is SIGKILLed: management calls through both gateways keep answering
#     (the clients balance over both control-planes and skip the dead one);
#   - one worker is SIGKILLed while records flow: its destinations move to another worker;
#   - every record of every 202 reaches the sink table, once (bp_record_id is its primary key,
#     and each id `<request_id>:<index>` is checked);
#   - `down` stops everything.
# ctest runs it (label replicas). BP_BIN_DIR (or BP_BIN_DIR_DEFAULT from ctest) names the binaries.
set -euo pipefail

here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
repo="$(cd -- "$here/../.." && pwd -P)"
export BP_BIN_DIR="${BP_BIN_DIR:-${BP_BIN_DIR_DEFAULT:-$repo/build/bin}}"
export BP_SKIP_INSTALL=1 BP_SKIP_BUILD=1
export BP_GATEWAY_REPLICAS=2 BP_CONTROL_PLANE_REPLICAS=2 BP_WORKER_REPLICAS=3
# Quick lease hand-over and redelivery, so that the killed worker's share moves within seconds.
export BP_LEASE_TTL_MS=2000 BP_REFRESH_MS=500 BP_ACK_WAIT_SECONDS=5
export BP_STOP_TIMEOUT=15

for tool in curl psql openssl; do
  command -v "$tool" >/dev/null || { echo "skipped: $tool not available"; exit 0; }
done

# shellcheck source=../../deploy/lib/common.sh
source "$repo/deploy/lib/common.sh"
# shellcheck source=../../deploy/lib/ports.sh
source "$repo/deploy/lib/ports.sh"

for var in BP_PG_PORT BP_NATS_PORT BP_NATS_MONITOR_PORT BP_GATEWAY_PORT BP_CONTROL_PLANE_GRPC_PORT \
  BP_CONTROL_PLANE_HTTP_PORT BP_WORKER_HTTP_PORT; do
  pick_free_port_block "$var"
  export "${var?}"
done

BP_DATA_DIR="$(mktemp -d /tmp/bp-replicas.XXXXXX)"
chmod 755 -- "$BP_DATA_DIR"
export BP_DATA_DIR
bp() { bash "$repo/deploy/batchpipe.sh" "$@"; }

ok=0
finish() {
  local rc=$?
  set +e
  if ((rc != 0 || ok == 0)); then
    echo "--- logs (last lines) ---"
    BP_LOG_LINES=30 bp logs 2>&1 | tail -n 300
  fi
  bp down >/dev/null 2>&1
  rm -rf -- "$BP_DATA_DIR"
  exit "$rc"
}
trap finish EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
step() { printf '\n== %s\n' "$*"; }

step "up with 2 gateways, 2 control-planes, 3 workers"
up_out="$(bp up 2>&1)" || { echo "$up_out"; fail "up failed"; }
key="$(grep -oE 'bp_v1_[A-Za-z0-9]+' <<<"$up_out" | head -n 1)"
[[ -n "$key" ]] || { echo "$up_out"; fail "up printed no API key"; }
status_out="$(bp status)" || { echo "$status_out"; fail "status: not everything is ready"; }
echo "$status_out"
for name in control-plane control-plane-2 gateway gateway-2 delivery-worker delivery-worker-2 delivery-worker-3; do
  grep -qE "^$name +ready " <<<"$status_out" || fail "$name is not listed as ready"
done

gw=("http://127.0.0.1:$BP_GATEWAY_PORT" "http://127.0.0.1:$((BP_GATEWAY_PORT + 100))")
pg_url="postgresql://postgres@127.0.0.1:$BP_PG_PORT"

# api METHOD GATEWAY_INDEX PATH [BODY]: prints "STATUS BODY".
api() {
  local -a args=(-sS -o /tmp/bp-replicas-body.$$ -w '%{http_code}' -X "$1" -H "Authorization: Bearer $key")
  [[ -z "${4:-}" ]] || args+=(-H 'Content-Type: application/json' --data-binary "$4")
  local code
  code="$(curl "${args[@]}" "${gw[$2]}$3")" || code=000
  printf '%s %s\n' "$code" "$(cat /tmp/bp-replicas-body.$$ 2>/dev/null)"
  rm -f /tmp/bp-replicas-body.$$
}
json_field() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p" <<<"$2" | head -n 1; }

step "the key works on both gateways"
for i in 0 1; do
  r="$(api GET "$i" /v1/pipes)"
  [[ "$r" == 200* ]] || fail "GET /v1/pipes on gateway $((i + 1)): $r"
done

step "the SDK's test suite through gateway 2"
# A second workspace (up creates BP_WORKSPACE_NAME when missing; the services keep running).
key_b="$(BP_WORKSPACE_NAME=sdk-b bp up 2>&1 | grep -oE 'bp_v1_[A-Za-z0-9]+' | head -n 1)"
[[ -n "$key_b" ]] || fail "no key for a second workspace"
printf '{"gatewayUrl":"%s","fileRoot":"%s","workspaces":{"a":{"key":"%s"},"b":{"key":"%s"}}}\n' \
  "${gw[1]}" "$BP_DATA_DIR/files" "$key" "$key_b" >"$BP_DATA_DIR/sdk-stack.json"
if command -v node >/dev/null; then
  BP_SDK_TEST_STACK="$BP_DATA_DIR/sdk-stack.json" node --test --test-concurrency=1 "$repo/sdk/js/test/client.test.mjs" \
    >"$BP_DATA_DIR/sdk-tests.log" 2>&1 || { tail -n 60 "$BP_DATA_DIR/sdk-tests.log"; fail "the SDK suite failed on this shape"; }
  grep -E '^# (pass|fail|skipped)' "$BP_DATA_DIR/sdk-tests.log"
else
  echo "node not found: the SDK suite is not run on this shape"
fi

step "a pipe with a postgres destination"
psql -q -X "$pg_url/postgres" -c 'CREATE DATABASE bp_replicas_sink' >/dev/null
r="$(api POST 0 /v1/pipes '{"name":"replicas"}')"
[[ "$r" == 201* ]] || fail "create pipe: $r"
pipe="$(json_field id "$r")"
r="$(api POST 1 "/v1/pipes/$pipe/destinations" "{\"type\":\"postgres\",\"name\":\"sink\",\"config\":{\"host\":\"127.0.0.1\",\"port\":$BP_PG_PORT,\"database\":\"bp_replicas_sink\",\"user\":\"postgres\",\"table\":\"events\",\"sslmode\":\"disable\"}}")"
[[ "$r" == 201* ]] || fail "create destination: $r"

ids_file="$BP_DATA_DIR/accepted.txt"
: >"$ids_file"
records_per_request=5
# send FROM TO: requests FROM..TO, alternating gateways; every 202's request id is kept.
send() {
  local n body r rid
  for ((n = $1; n <= $2; n++)); do
    body="[{\"n\":$n,\"i\":0},{\"n\":$n,\"i\":1},{\"n\":$n,\"i\":2},{\"n\":$n,\"i\":3},{\"n\":$n,\"i\":4}]"
    r="$(api POST $((n % 2)) "/v1/ingest/$pipe" "$body")"
    [[ "$r" == 202* ]] || fail "ingest $n through gateway $((n % 2 + 1)): $r"
    rid="$(json_field request_id "$r")"
    [[ -n "$rid" ]] || fail "ingest $n: no request_id in $r"
    echo "$rid" >>"$ids_file"
  done
}

step "records through both gateways"
send 1 100

step "SIGKILL control-plane #1: management keeps answering through both gateways"
kill -9 "$(cat "$BP_DATA_DIR/run/control-plane.pid")"
for i in 0 1 0 1 0 1; do
  # Not cached by the gateway: each of these is a call to a control-plane.
  r="$(api GET "$i" /v1/api-keys)"
  [[ "$r" == 200* ]] || fail "GET /v1/api-keys through gateway $((i + 1)) with one control-plane down: $r"
done
r="$(api POST 1 /v1/pipes '{"name":"after-cp-kill"}')"
[[ "$r" == 201* ]] || fail "create pipe with one control-plane down: $r"
send 101 200

step "SIGKILL one worker while records flow"
holder=''
for w in delivery-worker delivery-worker-2 delivery-worker-3; do
  port="$(sed -n 's/^http 127.0.0.1:\([0-9]*\)$/\1/p' "$BP_DATA_DIR/run/$w.addr")"
  held="$(curl -sf "http://127.0.0.1:$port/metrics" | sed -n 's/^bp_worker_leases_held \([0-9]*\).*/\1/p')"
  echo "$w holds ${held:-?} lease(s)"
  [[ "${held:-0}" -gt 0 ]] && holder="$w"
done
[[ -n "$holder" ]] || fail "no worker holds the destination's lease"
send 201 250
kill -9 "$(cat "$BP_DATA_DIR/run/$holder.pid")"
echo "killed $holder"
send 251 400

expected=$((400 * records_per_request))
step "drain: $expected records expected in the sink"
count=0
for ((t = 0; t < 600; t++)); do
  count="$(psql -tAX "$pg_url/bp_replicas_sink" -c 'SELECT count(*) FROM public.events' 2>/dev/null || echo 0)"
  ((count >= expected)) && break
  sleep 0.2
done
echo "rows: $count"
((count == expected)) || fail "expected $expected rows in the sink, found $count"
# Every record of every accepted request, by id.
psql -tAX "$pg_url/bp_replicas_sink" -c 'SELECT bp_record_id FROM public.events' | sort >"$BP_DATA_DIR/got.txt"
while read -r rid; do
  for ((i = 0; i < records_per_request; i++)); do echo "$rid:$i"; done
done <"$ids_file" | sort >"$BP_DATA_DIR/want.txt"
missing="$(comm -23 "$BP_DATA_DIR/want.txt" "$BP_DATA_DIR/got.txt" | wc -l)"
extra="$(comm -13 "$BP_DATA_DIR/want.txt" "$BP_DATA_DIR/got.txt" | wc -l)"
echo "missing: $missing, unexpected: $extra"
((missing == 0 && extra == 0)) || fail "sink rows do not match the accepted requests"

step "down"
bp down || fail "down failed"
ok=1
echo "PASS"
