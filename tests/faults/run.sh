#!/usr/bin/env bash
# Faults under load (issue #6), everything on loopback in a throw-away directory:
#   Postgres for the control-plane and another for the sink (stopped independently), nats-server
#   with a store on disk (kill -9 and restart keep the stream), a control-plane, 2 gateways,
#   3 delivery workers and a webhook receiver (receiver.mjs); one pipe with a postgres and a
#   webhook destination. Then, in turn, under steady open-loop load from bp_loadgen across both
#   gateways (every request's outcome recorded, every record named by a key):
#     gateway     kill -9 a gateway, restart it
#     worker      kill -9 the worker holding most leases (of three), restart it afterwards
#     nats        kill -9 nats-server, restart it on the same store
#     cp-restart  restart the control-plane (SIGTERM, start)
#     cp-pg       stop the control-plane's Postgres, start it again
#     sink-pg     stop the sink Postgres, start it again
#     webhook     the receiver answers 500, then hangs past the worker's timeout, then recovers
#   After each: stop the load, drain (both consumers empty, every accepted record delivered) and
#   count with tally.mjs. Exit 1 on any lost record, any answer other than 202 or a 503
#   buffer_unavailable with its request_id, any request that timed out, a lost connection outside
#   the gateway phase, a record nobody sent, a dead letter or a drain that does not finish.
#
#   bash tests/faults/run.sh [--quick]
# --quick: lower rate and short fault windows (about 1.5 minutes; ctest runs it, label faults);
# the full run takes about 5 minutes (the figures in docs/RELIABILITY.md). BP_BIN_DIR (or
# BP_BIN_DIR_DEFAULT from ctest) names the binaries, bp_loadgen included. BP_KEEP_TEST_DIR=1
# keeps the directory (logs, outcomes, counts). BP_FAULTS_ONLY="nats webhook" runs only those.
set -euo pipefail

here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
repo="$(cd -- "$here/../.." && pwd -P)"
quick=0
case "${1:-}" in
--quick) quick=1 ;;
'') ;;
*) echo "usage: bash tests/faults/run.sh [--quick]" >&2; exit 2 ;;
esac

export BP_BIN_DIR="${BP_BIN_DIR:-${BP_BIN_DIR_DEFAULT:-$repo/build/bin}}"
for tool in curl psql jq node openssl nats-server; do
  command -v "$tool" >/dev/null || { echo "skipped: $tool not available"; exit 0; }
done
loadgen="$BP_BIN_DIR/bp_loadgen"
for bin in "$loadgen" "$BP_BIN_DIR"/batchpipe-{control-plane,gateway,delivery-worker}; do
  [[ -x "$bin" ]] || { echo "FAIL: $bin is missing (build first)" >&2; exit 1; }
done

if ((quick)); then
  rate=40 records=3 conns=8 before=2 after=3
  gw_down=1 nats_down=2 cp_pg_down=5 sink_pg_down=10 hook_500=4 hook_hang=8 drain_timeout=150
else
  rate=200 records=5 conns=32 before=5 after=10
  gw_down=3 nats_down=5 cp_pg_down=30 sink_pg_down=60 hook_500=20 hook_hang=60 drain_timeout=300
fi
hook_timeout_ms=2000 # the webhook destination's timeout_ms: "hang" outlasts it

# shellcheck source=../../deploy/lib/common.sh
source "$repo/deploy/lib/common.sh"
for lib in proc ports postgres nats build services stack; do
  # shellcheck disable=SC1090
  source "$repo/deploy/lib/$lib.sh"
done
# shellcheck disable=SC2034 # read by load_settings
BP_REPO_DIR="$repo"

# Instance N of a service listens on the service's ports + 100 * (N - 1) (deploy/lib/services.sh),
# so gateway and worker ports need free neighbours.
sink_pg_port='' hook_port=''
for var in BP_GATEWAY_PORT BP_WORKER_HTTP_PORT; do pick_free_port_block "$var"; done
for var in BP_PG_PORT BP_NATS_PORT BP_NATS_MONITOR_PORT BP_CONTROL_PLANE_GRPC_PORT BP_CONTROL_PLANE_HTTP_PORT \
  sink_pg_port hook_port; do
  pick_free_port "$var"
done
export BP_GATEWAY_REPLICAS=2 BP_CONTROL_PLANE_REPLICAS=1 BP_WORKER_REPLICAS=3
# Quick lease hand-over and redelivery (as the Node delivery suite runs the workers).
export BP_LEASE_TTL_MS=2000 BP_REFRESH_MS=500 BP_ACK_WAIT_SECONDS=5
export BP_STOP_TIMEOUT=15 BP_READY_TIMEOUT=30
BP_DATA_DIR="$(mktemp -d /tmp/bp-faults.XXXXXX)"
chmod 755 -- "$BP_DATA_DIR" # the postgres user goes through it
export BP_DATA_DIR
load_settings
stack_paths
mkdir -p -- "$BP_RUN_DIR" "$BP_LOG_DIR/sink-pg" "$BP_DATA_DIR/files" "$BP_DATA_DIR/nats"
work="$BP_DATA_DIR/phases"
mkdir -p -- "$work"
cp_pg="$BP_DATA_DIR/postgres" sink_pg="$BP_DATA_DIR/sink-postgres"
pg_options='-c fsync=off -c synchronous_commit=off -c full_page_writes=off'
gateways=(gateway gateway-2)
workers=(delivery-worker delivery-worker-2 delivery-worker-3)
monitor="http://127.0.0.1:$BP_NATS_MONITOR_PORT"
hook="http://127.0.0.1:$hook_port"

# The sink cluster logs apart from the control-plane's (pg_start names its log "postgres").
sink_pg_start() { local BP_LOG_DIR="$BP_LOG_DIR/sink-pg"; pg_start "$sink_pg" "$sink_pg_port" "$pg_options"; }
sink_pg_stop() { local BP_LOG_DIR="$BP_LOG_DIR/sink-pg"; pg_stop "$sink_pg"; }
cp_pg_start() { pg_start "$cp_pg" "$BP_PG_PORT" "$pg_options"; }
nats_up() { nats_start "$BP_DATA_DIR/nats" "$BP_NATS_PORT" "$BP_NATS_MONITOR_PORT"; }
pid_of() { proc_pid "$1" "$2"; }

load_pid=''
ok=0
finish() {
  local rc=$?
  set +e
  [[ -z "$load_pid" ]] || { kill -TERM "$load_pid" 2>/dev/null; wait "$load_pid" 2>/dev/null; }
  if ((rc != 0 || ok == 0)); then
    local f
    for f in "$BP_LOG_DIR"/*.log "$BP_LOG_DIR"/sink-pg/*.log; do
      [[ -f "$f" ]] || continue
      echo "----- $f (last lines)"
      tail -n 25 -- "$f"
    done
  fi
  {
    for name in "${gateways[@]}" "${workers[@]}" control-plane; do svc_stop "$name"; done
    proc_stop receiver receiver node
    nats_stop
    pg_stop "$cp_pg"
    sink_pg_stop
  } >/dev/null 2>&1
  if [[ "${BP_KEEP_TEST_DIR:-0}" == 1 ]]; then
    echo "kept $BP_DATA_DIR"
  else
    rm -rf -- "$BP_DATA_DIR"
  fi
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
step() { printf '\n== %s\n' "$*"; }

# ---------------------------------------------------------------------------------------------
step "stack: 2 Postgres clusters, nats-server, control-plane, ${#gateways[@]} gateways, ${#workers[@]} workers, webhook receiver"
pg_prepare "$cp_pg" --no-sync
pg_prepare "$sink_pg" --no-sync
cp_pg_start || fail "control-plane Postgres did not start"
pg_ensure_database "$BP_PG_PORT" batchpipe
sink_pg_start || fail "sink Postgres did not start"
pg_ensure_database "$sink_pg_port" sink
nats_up || fail "nats-server did not start"
ensure_master_key
for name in control-plane "${gateways[@]}" "${workers[@]}"; do svc_start "$name"; done
BP_WORKSPACE_NAME=faults bootstrap_workspace
key="$BOOTSTRAP_API_KEY"
[[ -n "$key" ]] || fail "bootstrap printed no API key"
secret="whsec_$(openssl rand -base64 24)"
spawn receiver "http $hook" "$hook/stats" node "$here/receiver.mjs" "$hook_port" "$secret" >/dev/null
wait_until 10 '' http_ok "$hook/stats" || fail "the webhook receiver did not start"

gw=("http://127.0.0.1:$BP_GATEWAY_PORT" "http://127.0.0.1:$((BP_GATEWAY_PORT + 100))")
# api METHOD PATH [BODY]: the body of a 2xx answer through gateway 1; fails otherwise.
api() {
  local -a args=(-sS -X "$1" -H "Authorization: Bearer $key" -w '\n%{http_code}')
  [[ -z "${3:-}" ]] || args+=(-H 'Content-Type: application/json' --data-binary "$3")
  local out
  out="$(curl "${args[@]}" "${gw[0]}$2")" || fail "$1 $2: curl failed"
  [[ "${out##*$'\n'}" == 2* ]] || fail "$1 $2: ${out//$'\n'/ }"
  printf '%s\n' "${out%$'\n'*}"
}
pipe="$(api POST /v1/pipes '{"name":"faults"}' | jq -r .id)"
[[ "$pipe" =~ ^[0-9a-f-]{36}$ ]] || fail "could not create the pipe"
api PUT "/v1/pipes/$pipe/limits" '{"pl_delivery_max_records":500,"pl_delivery_max_interval_ms":300}' >/dev/null
api POST "/v1/pipes/$pipe/destinations" "$(jq -nc --argjson port "$sink_pg_port" '{type:"postgres",name:"sink",
  config:{host:"127.0.0.1",port:$port,database:"sink",user:"postgres",table:"events",mode:"jsonb",sslmode:"disable"}}')" >/dev/null
api POST "/v1/pipes/$pipe/destinations" "$(jq -nc --arg url "$hook/hook" --arg secret "$secret" --argjson t "$hook_timeout_ms" \
  '{type:"webhook",name:"hook",config:{url:$url,signing_secret:$secret,timeout_ms:$t}}')" >/dev/null
echo "pipe $pipe: postgres (127.0.0.1:$sink_pg_port/sink, table events) and webhook ($hook/hook, timeout ${hook_timeout_ms} ms)"

# Leases held by a worker (its /metrics), or nothing when it is down.
leases_of() {
  local port
  port="$(sed -n 's/^http 127.0.0.1:\([0-9]*\)$/\1/p' "$BP_RUN_DIR/$1.addr" 2>/dev/null)" || return 0
  curl -sf --max-time 2 "http://127.0.0.1:$port/metrics" 2>/dev/null | sed -n 's/^bp_worker_leases_held \([0-9]*\).*/\1/p'
}
both_leased() {
  local w n total=0
  for w in "${workers[@]}"; do
    n="$(leases_of "$w")"
    total=$((total + ${n:-0}))
  done
  ((total == 2))
}
wait_until 30 '' both_leased || fail "the two destinations were not leased by the workers"

# ---------------------------------------------------------------------------------------------
# Measuring one phase.

# Sum of pending and unacknowledged messages over BP_INGEST's consumers ("" when NATS is away).
backlog() {
  curl -sf --max-time 2 "$monitor/jsz?consumers=true" 2>/dev/null | jq -r \
    '[.account_details[]?.stream_detail[]? | select(.name == "BP_INGEST") | .consumer_detail[]? |
      .num_pending + .num_ack_pending] | if length == 2 then add else "no-consumers" end'
}
stream_messages() {
  curl -sf --max-time 2 "$monitor/jsz?streams=true" | jq -r --arg s "$1" \
    '[.account_details[]?.stream_detail[]? | select(.name == $s) | .state.messages] | add // 0'
}

start_load() {
  "$loadgen" --url="${gw[0]}/v1/ingest/$pipe" --url="${gw[1]}/v1/ingest/$pipe" --key="$key" \
    --connections="$conns" --rate="$rate" --records="$records" --record-bytes=200 --seconds=0 \
    --timeout-ms=15000 --tag="$1" --record-ids="$work/$1.outcomes" >"$work/$1.load.json" 2>"$work/$1.load.err" &
  load_pid=$!
}
stop_load() {
  kill -TERM "$load_pid"
  wait "$load_pid" || fail "bp_loadgen failed: $(cat "$work/$1.load.err")"
  load_pid=''
}

# tally TAG: counts what reached each sink against the phase's outcomes (JSON on stdout).
tally() {
  psql -X -q -tA -F $'\t' "postgresql://postgres@127.0.0.1:$sink_pg_port/sink" \
    -c "SELECT bp_record_id, data->>'k', data->>'i' FROM public.events WHERE data->>'k' LIKE '$1.%'" >"$work/$1.pg" ||
    return 1
  curl -sf "$hook/records?prefix=$1." >"$work/$1.hook" || return 1
  node "$here/tally.mjs" "$work/$1.outcomes" "$work/$1.pg" "$work/$1.hook"
}

# drain TAG: waits until both consumers have nothing pending and every accepted record is in both
# sinks (or drain_timeout passes); leaves the last count in $work/TAG.tally.
drain() {
  local deadline=$((SECONDS + drain_timeout)) b
  while ((SECONDS < deadline)); do
    b="$(backlog)" || b=''
    if [[ "$b" == 0 ]] && tally "$1" >"$work/$1.tally" 2>/dev/null &&
      [[ "$(jq '.sinks.postgres.lost + .sinks.webhook.lost' "$work/$1.tally")" == 0 ]]; then
      return 0
    fi
    sleep 1
  done
  tally "$1" >"$work/$1.tally" || echo '{}' >"$work/$1.tally"
  echo "drain of $1 did not finish within ${drain_timeout}s: ${b:-unknown} messages pending or unacked" >&2
  local w
  for w in "${workers[@]}"; do echo "  $w holds $(leases_of "$w") lease(s)" >&2; done
  return 1
}

results="$work/results.tsv"
: >"$results"
failures=()
skip_rest=0
# run_phase TAG DESCRIPTION FAULT_FUNCTION: load, fault, load, stop, drain, count, check.
run_phase() {
  local tag="$1" what="$2" fault="$3"
  if [[ -n "${BP_FAULTS_ONLY:-}" && " $BP_FAULTS_ONLY " != *" $tag "* ]]; then return 0; fi
  if ((skip_rest)); then
    failures+=("$tag: not run (an earlier phase did not drain)")
    return 0
  fi
  step "$tag: $what"
  start_load "$tag"
  sleep "$before"
  local t0=$SECONDS
  "$fault"
  local window=$((SECONDS - t0))
  sleep "$after"
  stop_load "$tag"
  type -t "${fault}_after" >/dev/null && "${fault}_after"
  local d0=$SECONDS drained=1
  drain "$tag" || drained=0
  local drain_s=$((SECONDS - d0))
  local dlq
  dlq="$(stream_messages BP_DLQ)" || dlq='?'
  local load="$work/$tag.load.json" count="$work/$tag.tally"
  jq -c . "$load"
  jq -c . "$count"
  # A row: what the client saw, then each sink.
  local row
  row="$(jq -nr --arg tag "$tag" --arg window "$window" --arg drain "$drain_s" --arg dlq "$dlq" \
    --slurpfile l "$load" --slurpfile c "$count" '
    ($l[0]) as $l | ($c[0]) as $c |
    [$tag, $window, $l.requests + $l.broken + $l.timeouts, ($l.status["202"] // 0), ($l.status["503"] // 0),
     ([$l.status | to_entries[] | select(.key != "202" and .key != "503") | .value] | add // 0),
     $l.broken + $l.timeouts, $l.connect_errors, $c.records_accepted,
     $c.sinks.postgres.lost, $c.sinks.webhook.lost, $c.missing_everywhere,
     $c.sinks.postgres.duplicates, $c.sinks.webhook.duplicates,
     ($c.sinks.postgres.from_503 + $c.sinks.postgres.from_no_answer),
     ($c.sinks.webhook.from_503 + $c.sinks.webhook.from_no_answer), $dlq, $drain] | @tsv')"
  printf '%s\n' "$row" >>"$results"
  local problems
  problems="$(jq -nr --arg tag "$tag" --arg drained "$drained" --arg dlq "$dlq" \
    --slurpfile l "$load" --slurpfile c "$count" '
    ($l[0]) as $l | ($c[0]) as $c |
    [ (if $drained != "1" then "did not drain" else empty end),
      ($l.status | to_entries[] | select(.key != "202" and .key != "503") | "\(.value) answers \(.key)"),
      (if $l.timeouts > 0 then "\($l.timeouts) requests timed out" else empty end),
      ($c.refusals // {} | to_entries[] | select(.key | startswith("503 ") and . != "503 buffer_unavailable") |
        "\(.value) answers \(.key)"),
      (if ($c.unclear_refusals // 0) > 0 then "\($c.unclear_refusals) refusals without an error code or request_id"
       else empty end),
      (if $tag != "gateway" and ($l.broken + $l.connect_errors) > 0
       then "\($l.broken) connections lost mid-request, \($l.connect_errors) refused" else empty end),
      (if ($l.status["202"] // 0) == 0 then "no request accepted" else empty end),
      ($c.sinks // {} | to_entries[] | .key as $s | .value |
        (if .lost > 0 then "\($s): \(.lost) accepted records missing" else empty end),
        (if .unknown > 0 then "\($s): \(.unknown) records nobody sent" else empty end),
        (if (.bad_ids // 0) > 0 then "\($s): \(.bad_ids) rows with a wrong bp_record_id" else empty end)),
      (if ($c.missing_everywhere // 0) > 0 then "\($c.missing_everywhere) records of a 202 in no sink" else empty end),
      (if $dlq != "0" then "dead letters: \($dlq)" else empty end)
    ] | join("; ")')"
  local bad
  bad="$(curl -sf "$hook/stats" | jq .bad_signatures)"
  [[ "$bad" == 0 ]] || problems+="${problems:+; }webhook: $bad batches with a bad signature"
  if [[ -n "$problems" ]]; then
    echo "PROBLEM in $tag: $problems"
    failures+=("$tag: $problems")
    # What is still stuck would be counted against the next phases too: stop here.
    ((drained)) || skip_rest=1
  else
    echo "ok: $tag"
  fi
}

# ---------------------------------------------------------------------------------------------
# The faults. FAULT_after (when defined) runs once the load has stopped, before the drain.

fault_gateway() {
  kill -9 "$(pid_of gateway batchpipe-gateway)"
  echo "killed gateway (kill -9); ${gw_down}s down"
  sleep "$gw_down"
  svc_start gateway
}

victim=''
fault_worker() {
  local w n most=0
  victim=''
  for w in "${workers[@]}"; do
    n="$(leases_of "$w")"
    if ((${n:-0} > most)); then most="$n" victim="$w"; fi
  done
  [[ -n "$victim" ]] || fail "no worker holds a lease"
  kill -9 "$(pid_of "$victim" batchpipe-delivery-worker)"
  echo "killed $victim holding $most of 2 leases (kill -9); the other two take over"
}
fault_worker_after() { svc_start "$victim"; }

fault_nats() {
  kill -9 "$(pid_of nats nats-server)"
  echo "killed nats-server (kill -9); ${nats_down}s down"
  sleep "$nats_down"
  nats_up || fail "nats-server did not restart"
}

fault_cp_restart() { svc_stop control-plane && svc_start control-plane; }

fault_cp_pg() {
  pg_stop "$cp_pg"
  echo "control-plane Postgres stopped for ${cp_pg_down}s"
  sleep "$cp_pg_down"
  cp_pg_start || fail "control-plane Postgres did not restart"
}

fault_sink_pg() {
  sink_pg_stop
  echo "sink Postgres stopped for ${sink_pg_down}s"
  sleep "$sink_pg_down"
  sink_pg_start || fail "sink Postgres did not restart"
}

fault_webhook() {
  curl -sf "$hook/control?mode=500" >/dev/null
  echo "webhook answers 500 for ${hook_500}s"
  sleep "$hook_500"
  curl -sf "$hook/control?mode=hang" >/dev/null
  echo "webhook hangs (past the ${hook_timeout_ms} ms timeout) for ${hook_hang}s"
  sleep "$hook_hang"
  curl -sf "$hook/control?mode=ok" >/dev/null
  echo "webhook answers 200 again: $(curl -sf "$hook/stats")"
}

mode_text="full"
((quick == 0)) || mode_text="quick"
echo "load: open loop, $rate requests/s of $records records over $conns connections to both gateways ($mode_text run)"
run_phase gateway "kill -9 a gateway, restart it" fault_gateway
run_phase worker "kill -9 one of three workers" fault_worker
run_phase nats "kill -9 nats-server, restart it" fault_nats
run_phase cp-restart "restart the control-plane" fault_cp_restart
run_phase cp-pg "stop the control-plane's Postgres for ${cp_pg_down}s" fault_cp_pg
run_phase sink-pg "stop the sink Postgres for ${sink_pg_down}s" fault_sink_pg
run_phase webhook "webhook answers 500 for ${hook_500}s, then hangs for ${hook_hang}s" fault_webhook

step "results ($mode_text run, $rate req/s x $records records)"
# A Markdown table, as docs/RELIABILITY.md shows it.
header=$'phase\tfault s\tsent\t202\t503\tother\tno answer\trefused\trecords accepted\tlost pg\tlost webhook'
header+=$'\t202 not in stream\tdup pg\tdup webhook\textra pg\textra webhook\tdead letters\tdrain s'
{
  printf '%s\n' "$header"
  sed 's/[^\t]*/---/g' <<<"$header"
  cat "$results"
} | sed 's/\t/ | /g; s/^/| /; s/$/ |/'
echo
echo "sent: requests sent (answered or not); no answer: connection lost or timed out with the request in flight;"
echo "refused: connection attempts refused (then the other gateway); extra: delivered records of requests answered 503 or not answered."
if ((${#failures[@]})); then
  printf 'FAIL: %s\n' "${failures[@]}"
  exit 1
fi
ok=1
echo "PASS"
