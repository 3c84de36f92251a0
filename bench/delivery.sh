# shellcheck shell=bash
# Delivery scenarios of bench/run.sh (sourced by it: uses its gw, auth, bin, seconds, null_port,
# load, and bench/stack.sh's field and BP_* ports). Each function sets variables the report prints.

pg_base="postgresql://postgres@127.0.0.1:$BP_PG_PORT"
sink_url="$pg_base/bp_bench_sink"
soak_samples=()

sql() { psql -X -q -tA -v ON_ERROR_STOP=1 "$sink_url" -c "$1"; }

# api METHOD PATH [BODY]: the response body; fails on a status >= 400.
api() {
  curl -sf -X "$1" "$gw$2" -H "$auth" -H 'Content-Type: application/json' ${3:+-d "$3"}
}
json_id() { grep -o '"id":"[^"]*"' | head -n 1 | cut -d'"' -f4; }

# wait_for SECONDS CMD...: polls CMD every 0.1 s until it succeeds; fails after SECONDS (the e2e
# scenario's row count; the drains are timed by bp_await_metric below).
wait_for() {
  local deadline=$((EPOCHSECONDS + $1))
  shift
  until "$@"; do
    ((EPOCHSECONDS < deadline)) || return 1
    sleep 0.1
  done
}

# The records the worker's sinks of TYPE have written so far: its
# bp_worker_records_delivered_total (a sink counts a batch once it is committed or answered 2xx).
delivered_sample() { echo "bp_worker_records_delivered_total{type=\"$1\"}"; }
# delivered_records TYPE: prints that count (0 before the first batch); fails when the worker
# does not answer.
delivered_records() { "$bin/bp_await_metric" "127.0.0.1:$BP_WORKER_HTTP_PORT" "$(delivered_sample "$1")"; }
# await_delivered TYPE COUNT SECONDS: returns once TYPE's sinks have written COUNT records in all.
# The drains are timed by it: it polls /metrics every 50 ms over one connection and starts
# nothing in between. The harness's own polling had taken CPU from the processes it measures:
# a `curl` (with a subshell and `awk`) ten times a second a sixth of the two cores, bash reading
# /metrics over /dev/tcp (one read(2) per byte) 7% (perf during Postgres drains, 2026-12-06).
await_delivered() {
  "$bin/bp_await_metric" "127.0.0.1:$BP_WORKER_HTTP_PORT" "$(delivered_sample "$1")" "$2" "$3"
}

# Each timed Postgres section starts from the same state of the disk: the page cache written back
# (`sync`), then a checkpoint, so that none pays for the dirty pages and the WAL of the one before
# (a checkpoint forced by max_wal_size made the COPY bound swing between 64k and 101k records/s
# from run to run). Without the `sync`, a full run's drain began while 1.1-1.8 GB of its 10-s fill
# (nats-server's stream files) was still dirty, and drained 8-27 points of COPY slower than after
# one, while the COPY bound, timed half a minute later, met a page cache already written back
# (four full runs: docs/BENCHMARKS.md, 2026-12-06, seventh day session). `settle_postgres
# --no-sync` keeps the page cache as it is. Sets `settled`: what was dirty and what settling took.
settle_postgres() {
  local dirty t0
  dirty="$(dirty_mb)"
  t0="$EPOCHREALTIME"
  [[ "${1:-}" == --no-sync ]] || sync
  psql -X -q "$pg_base/postgres" -c CHECKPOINT >/dev/null
  if [[ "${1:-}" == --no-sync ]]; then
    settled="$dirty MB of the page cache still dirty"
  else
    settled="$(awk -v d="$dirty" -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d MB of dirty pages written back first, in %.1f s", d, b - a }')"
  fi
}

# The drains and the COPY bounds write 0.5 GB of WAL every few seconds: with the default
# max_wal_size (1 GB) Postgres checkpointed every 7-13 s through all of them, each checkpoint
# followed by full-page images of every index page touched again. A bulk-loading Postgres is
# given room for its WAL; so is this one (for the sink and its bound alike; a reload, no restart).
delivery_setup() {
  psql -X -q -v ON_ERROR_STOP=1 "$pg_base/postgres" -c "ALTER SYSTEM SET max_wal_size = '16GB'" -c 'SELECT pg_reload_conf()' >/dev/null
  psql -X -q "$pg_base/postgres" -c 'CREATE DATABASE bp_bench_sink' >/dev/null
}

pg_destination() { # NAME TABLE STATUS
  printf '{"type":"postgres","name":"%s","destination_status":"%s","config":{"host":"127.0.0.1","port":%s,"database":"bp_bench_sink","user":"postgres","table":"%s","sslmode":"disable"}}' \
    "$1" "$3" "$BP_PG_PORT" "$2"
}

# End-to-end latency: open loop at E2E_RATE req/s of one record into a pipe delivering to
# Postgres with pl_delivery_max_interval_ms 200; latency = the clock when the row is written (a
# clock_timestamp() column default on a table created beforehand; the commit follows) minus the
# gateway's receive time.
bench_e2e() {
  local rate="${BP_BENCH_E2E_RATE:-1000}" pipe out accepted pg_log="$BP_DATA_DIR/logs/postgres.log" pg_lines sampler
  sql 'CREATE TABLE e2e (bp_record_id text PRIMARY KEY, bp_received_at timestamptz NOT NULL, data jsonb NOT NULL,
         bp_visible_at timestamptz NOT NULL DEFAULT clock_timestamp())'
  pipe="$(api POST /v1/pipes '{"name":"bench_e2e"}' | json_id)"
  api PUT "/v1/pipes/$pipe/limits" '{"pl_delivery_max_interval_ms":200}' >/dev/null
  api POST "/v1/pipes/$pipe/destinations" "$(pg_destination e2e e2e active)" >/dev/null
  # What else went on, to tell a slow sink from slow ingest when records are late: Postgres logs
  # every statement over 100 ms (a reload; reset afterwards), and the kernel's dirty and
  # writeback page cache is sampled every 0.2 s (earlier scenarios leave gigabytes of stream
  # files to write back, and the sink's COMMITs wait for their fsync on the same disk).
  psql -X -q "$pg_base/postgres" -c 'ALTER SYSTEM SET log_min_duration_statement = 100' -c 'SELECT pg_reload_conf()' >/dev/null
  pg_lines="$(wc -l <"$pg_log")"
  local worker_log="$BP_DATA_DIR/logs/delivery-worker.log" gw_log="$BP_DATA_DIR/logs/gateway.log" worker_lines gw_lines
  worker_lines="$(wc -l <"$worker_log")" gw_lines="$(wc -l <"$gw_log")"
  (
    trap 'echo "$dirty $writeback"; exit 0' TERM
    dirty=0 writeback=0
    while :; do
      read -r d w < <(awk '/^Dirty:/ { d = $2 } /^Writeback:/ { w = $2 } END { print d, w }' /proc/meminfo)
      ((d > dirty)) && dirty=$d
      ((w > writeback)) && writeback=$w
      sleep 0.2
    done
  ) >"$BP_DATA_DIR/e2e.dirty" &
  sampler=$!
  out="$(load --url="$gw/v1/ingest/$pipe" --key="$key" --records=1 --rate="$rate")"
  accepted="$(field "$out" accepted)"
  wait_for 120 eval '(( $(sql "SELECT count(*) FROM e2e") >= accepted ))' || echo "e2e: rows missing after 120 s" >&2
  kill "$sampler"
  wait "$sampler" 2>/dev/null || true
  psql -X -q "$pg_base/postgres" -c 'ALTER SYSTEM RESET log_min_duration_statement' -c 'SELECT pg_reload_conf()' >/dev/null
  # The ingest side of the same loop (the load generator's own latencies: request to 202), the
  # page cache's high-water marks, and the statements Postgres logged as slow meanwhile.
  e2e_context="ingest p99 $(field "$out" p99_ms) ms, max $(field "$out" max_ms) ms; $(awk '{ printf "up to %.0f MB dirty, %.0f MB under writeback", $1 / 1024, $2 / 1024 }' "$BP_DATA_DIR/e2e.dirty"); $(tail -n +"$((pg_lines + 1))" "$pg_log" |
    awk '/duration: [0-9.]+ ms/ { for (i = 1; i <= NF; i++) if ($i == "duration:") { d = $(i + 1); s = $(i + 4) } n++; if (d > max) { max = d; what = s } }
      /checkpoint starting/ { c++ }
      END { printf "%d statements over 100 ms in Postgres%s; %d checkpoints began", n, n ? sprintf(" (slowest %.0f ms, %s)", max, what) : "", c }')"
  # And what the worker and the gateway warned of meanwhile (a slow lease renewal, a failed
  # fetch or write): how many lines, and the first one's message.
  local name log from
  for name in worker:"$worker_log":"$worker_lines" gateway:"$gw_log":"$gw_lines"; do
    IFS=: read -r name log from <<<"$name"
    e2e_context+="; $(tail -n +"$((from + 1))" "$log" |
      awk -v who="$name" '/"level":"(warn|error)"/ { n++; if (n == 1) { match($0, /"msg":"[^"]*"/); first = substr($0, RSTART + 7, RLENGTH - 8) } }
        END { printf "%d warnings from the %s%s", n, who, n ? " (first: " first ")" : "" }')"
  done
  e2e_rate="$rate"
  e2e_rows="$(sql 'SELECT count(*) FROM e2e')"
  e2e_accepted="$accepted"
  read -r e2e_p50 e2e_p99 e2e_max < <(sql "SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY l)::numeric, 1),
      round(percentile_cont(0.99) WITHIN GROUP (ORDER BY l)::numeric, 1), round(max(l)::numeric, 1)
      FROM (SELECT extract(epoch FROM bp_visible_at - bp_received_at) * 1000 AS l FROM e2e) x" | tr '|' ' ')
  # Where the slow ones were: records over 500 ms, and the span of the run (seconds from the first
  # record received) they were received in. One stall shows as a short span, a slow sink as a
  # long one.
  e2e_slow="$(sql "SELECT count(*) || ' records over 500 ms' || coalesce(', received from ' || round(min(t)::numeric, 2) || ' to ' || round(max(t)::numeric, 2) || ' s into the run', '')
      FROM (SELECT extract(epoch FROM bp_received_at - (SELECT min(bp_received_at) FROM e2e)) AS t,
                   extract(epoch FROM bp_visible_at - bp_received_at) * 1000 AS l FROM e2e) x WHERE l > 500")"
  e2e_summary="p50 $e2e_p50 ms, p99 $e2e_p99 ms, max $e2e_max ms ($e2e_rows of $e2e_accepted records; $e2e_slow; $e2e_context)"
}

# A backlog of 100-record requests ingested while the destination is blocked, then activated:
# records/s from activation until the last record is written.
# fill_backlog PIPE: ingests for $seconds; prints the number of records accepted.
fill_backlog() {
  local out
  out="$(load --url="$gw/v1/ingest/$1" --key="$key" --records=100)"
  echo $(($(field "$out" accepted) * 100))
}

# CPU ticks used so far by the worker, nats-server, Postgres (postmaster and its backends), the
# no-op server and the control-plane (the worker reports each batch's run to it, and it writes
# them to Postgres): "W N P S C".
delivery_cpu() {
  local pm c p=0
  pm="$(head -n 1 "$BP_DATA_DIR/postgres/data/postmaster.pid")"
  for c in $pm $(pgrep -P "$pm"); do p=$((p + $(cpu_ticks "$c" 2>/dev/null || echo 0))); done
  echo "$(cpu_ticks "$(cat "$BP_DATA_DIR/run/delivery-worker.pid")") $(cpu_ticks "$nats_pid") $p $(cpu_ticks "$null_pid")" \
    "$(cpu_ticks "$(cat "$BP_DATA_DIR/run/control-plane.pid")")"
}
# cpu_per_record BEFORE AFTER RECORDS: "worker W, nats-server N, Postgres P, no-op server S,
# control-plane C" in µs.
cpu_per_record() {
  awk -v a="$1" -v b="$2" -v n="$3" -v hz="$hz" 'BEGIN {
    split(a, x, " "); split(b, y, " ")
    printf "worker %.2f, nats-server %.2f, Postgres %.2f, no-op server %.2f, control-plane %.2f", (y[1] - x[1]) / hz / n * 1e6,
      (y[2] - x[2]) / hz / n * 1e6, (y[3] - x[3]) / hz / n * 1e6, (y[4] - x[4]) / hz / n * 1e6, (y[5] - x[5]) / hz / n * 1e6 }'
}

# pg_sink_drain NAME TABLE [LIMITS] [--no-sync]: a pipe whose blocked postgres destination writes
# TABLE collects a backlog, then the destination is activated; sets drained_records, drained_rps,
# drained_cpu and drained_settled (settle_postgres's `settled`; --no-sync is passed to it).
pg_sink_drain() {
  local pipe dest t0 t1 c0 d0 table="$2"
  pipe="$(api POST /v1/pipes "{\"name\":\"$1\"}" | json_id)"
  [[ -z "${3:-}" ]] || api PUT "/v1/pipes/$pipe/limits" "$3" >/dev/null
  dest="$(api POST "/v1/pipes/$pipe/destinations" "$(pg_destination sink "$table" blocked)" | json_id)"
  drained_records="$(fill_backlog "$pipe")"
  d0="$(delivered_records postgres)" || { echo "postgres sink: the worker's /metrics does not answer" >&2; return 1; }
  settle_postgres "${4:-}"
  drained_settled="$settled"
  t0="$EPOCHREALTIME"
  c0="$(delivery_cpu)"
  api PATCH "/v1/pipes/$pipe/destinations/$dest/status" '{"destination_status":"active"}' >/dev/null
  await_delivered postgres $((d0 + drained_records)) 600 ||
    echo "postgres sink: backlog of $table not written in full (bp_await_metric says why above)" >&2
  t1="$EPOCHREALTIME"
  drained_cpu="$(cpu_per_record "$c0" "$(delivery_cpu)" "$drained_records")"
  # The rows themselves, once the clock has stopped: every accepted record, each once.
  local rows
  rows="$(sql "SELECT count(*) FROM $table")"
  ((rows == drained_records)) || echo "postgres sink: $table has $rows rows, $drained_records records were accepted" >&2
  drained_rps="$(awk -v n="$drained_records" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')"
}

bench_pg_sink() {
  local t0 t1
  # First the drain as it was timed before the sync: started as soon as the fill ends, while
  # its stream files are still being written back. It is shown beside the bound, not judged.
  pg_sink_drain bench_pg_sink_at_once backlog_at_once "" --no-sync
  pg_at_once_records="$drained_records" pg_at_once_rps="$drained_rps" pg_at_once_settled="$drained_settled"
  pg_sink_drain bench_pg_sink backlog
  pg_sink_records="$drained_records" pg_sink_rps="$drained_rps" pg_sink_cpu="$drained_cpu" pg_sink_settled="$drained_settled"
  # The bound: COPY of the same rows into a table of the same shape (primary key included).
  local file="$BP_DATA_DIR/backlog.copy"
  sql "\\copy (SELECT bp_record_id, bp_received_at, data FROM backlog) TO '$file'" >/dev/null 2>&1 ||
    psql -X -q "$sink_url" -c "\\copy (SELECT bp_record_id, bp_received_at, data FROM backlog) TO '$file'"
  sql 'CREATE TABLE copy_bound (bp_record_id text PRIMARY KEY, bp_received_at timestamptz NOT NULL, data jsonb NOT NULL)'
  settle_postgres
  t0="$EPOCHREALTIME"
  psql -X -q "$sink_url" -c "\\copy copy_bound FROM '$file'" >/dev/null
  t1="$EPOCHREALTIME"
  pg_copy_rps="$(awk -v n="$pg_sink_records" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')"
  # What committing every 1000 rows costs, as the sink must before it acks a batch: the same rows
  # by `\copy` in transactions of 1000, two sessions at once (the sink's two writes in flight).
  sql 'CREATE TABLE copy_bound_batched (bp_record_id text PRIMARY KEY, bp_received_at timestamptz NOT NULL, data jsonb NOT NULL)'
  mkdir -p "$BP_DATA_DIR/chunks"
  split -l 1000 -d -a 6 "$file" "$BP_DATA_DIR/chunks/c"
  local chunks=("$BP_DATA_DIR"/chunks/c*) half
  half=$(((${#chunks[@]} + 1) / 2))
  settle_postgres
  t0="$EPOCHREALTIME"
  printf '\\copy copy_bound_batched FROM %s\n' "${chunks[@]:0:half}" | psql -X -q "$sink_url" >/dev/null &
  local first=$!
  printf '\\copy copy_bound_batched FROM %s\n' "${chunks[@]:half}" | psql -X -q "$sink_url" >/dev/null
  wait "$first"
  t1="$EPOCHREALTIME"
  pg_copy_batched_rps="$(awk -v n="$pg_sink_records" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')"
  rm -rf -- "$file" "$BP_DATA_DIR/chunks"
  # The same with batches of 10,000 records (pl_delivery_max_records 10000, 8 MiB).
  pg_sink_drain bench_pg_sink_big backlog_big '{"pl_delivery_max_records":10000,"pl_delivery_max_bytes":8388608}'
  pg_big_records="$drained_records" pg_big_rps="$drained_rps" pg_big_cpu="$drained_cpu"
}

bench_webhook_sink() {
  local pipe dest t0 t1 c0 d0
  pipe="$(api POST /v1/pipes '{"name":"bench_webhook"}' | json_id)"
  dest="$(api POST "/v1/pipes/$pipe/destinations" \
    "{\"type\":\"webhook\",\"name\":\"hook\",\"destination_status\":\"blocked\",\"config\":{\"url\":\"http://127.0.0.1:$null_port/hook\",\"signing_secret\":\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"}}" | json_id)"
  webhook_records="$(fill_backlog "$pipe")"
  d0="$(delivered_records webhook)" || { echo "webhook sink: the worker's /metrics does not answer" >&2; return 1; }
  t0="$EPOCHREALTIME"
  c0="$(delivery_cpu)"
  api PATCH "/v1/pipes/$pipe/destinations/$dest/status" '{"destination_status":"active"}' >/dev/null
  await_delivered webhook $((d0 + webhook_records)) 600 ||
    echo "webhook sink: backlog not delivered in full (bp_await_metric says why above)" >&2
  t1="$EPOCHREALTIME"
  webhook_cpu="$(cpu_per_record "$c0" "$(delivery_cpu)" "$webhook_records")"
  webhook_rps="$(awk -v n="$webhook_records" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')"
}

# Peak RSS (VmHWM) of each process of the stack, in MB.
peak_rss_rows() {
  local name pid
  for name in gateway control-plane delivery-worker nats; do
    pid="$(cat "$BP_DATA_DIR/run/$name.pid" 2>/dev/null)" || continue
    printf '| %s | %s |\n' "$name" "$(awk '/VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$pid/status")"
  done
  pid="$(head -n 1 "$BP_DATA_DIR/postgres/data/postmaster.pid" 2>/dev/null)" &&
    printf '| postgres (postmaster; each backend is a process of its own) | %s |\n' \
      "$(awk '/VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$pid/status")"
}

# BP_BENCH_SOAK_SECONDS > 0: open loop at BP_BENCH_SOAK_RATE for that long into the pipe that delivers
# to a webhook, the gateway's and the worker's RSS sampled every 10 s.
bench_soak() {
  local soak="${BP_BENCH_SOAK_SECONDS:-0}" pid rate
  ((soak > 0)) || return 0
  pid="$(cat "$BP_DATA_DIR/run/gateway.pid")"
  local wpid
  wpid="$(cat "$BP_DATA_DIR/run/delivery-worker.pid")"
  # A quarter of the ingest-only peak: the worker and the receiver share the two cores too.
  rate="${BP_BENCH_SOAK_RATE:-$(awk -v p="$peak" 'BEGIN { printf "%d", p / 4 }')}"
  soak_samples=()
  "$bin/bp_loadgen" --seconds="$soak" --connections="$conns" --url="$gw/v1/ingest/$latency_pipe" --key="$key" --records=1 \
    --rate="$rate" >"$BP_DATA_DIR/soak.json" &
  local lg=$! t=0
  while kill -0 "$lg" 2>/dev/null; do
    soak_samples+=("$t:$(awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status")/$(awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$wpid/status")")
    sleep 10
    t=$((t + 10))
  done
  wait "$lg" || true
  soak_result="$(cat "$BP_DATA_DIR/soak.json")"
  soak_rate="$rate"
}
