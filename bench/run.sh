#!/usr/bin/env bash
# Benchmarks: starts a private local stack, measures ingest against its bounds (a Beast server
# that answers 202 and does nothing; JetStream async publish of the same payloads), prints a
# Markdown report and writes it to bench/results/. Usage: bash bench/run.sh [SECONDS=10]
set -euo pipefail
export LC_NUMERIC=C  # decimal points in what awk, sort and printf read and write
repo="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
seconds="${1:-10}"
conns="${BP_BENCH_CONNECTIONS:-64}"
bin="${BP_BUILD_DIR:-$repo/build}/bin"
cd "$repo"

# shellcheck source=bench/stack.sh
source "$repo/bench/stack.sh"
null_port="$(free_port)"
null1_port="$(free_port)"
floor_port="$(free_port)"
floor1_port="$(free_port)"
gw1_port="$(free_port)"
gwall_port="$(free_port)"
gwmsg_port="$(free_port)"
gwnl_port="$(free_port)"
cleanup() {
  [[ -z "${null_pid:-}" ]] || kill "$null_pid" 2>/dev/null || true
  [[ -z "${null1_pid:-}" ]] || kill "$null1_pid" 2>/dev/null || true
  [[ -z "${gw1_pid:-}" ]] || kill "$gw1_pid" 2>/dev/null || true
  [[ -z "${gwall_pid:-}" ]] || kill "$gwall_pid" 2>/dev/null || true
  [[ -z "${gwmsg_pid:-}" ]] || kill "$gwmsg_pid" 2>/dev/null || true
  [[ -z "${gwnl_pid:-}" ]] || kill "$gwnl_pid" 2>/dev/null || true
  [[ -z "${floor_pid:-}" ]] || kill "$floor_pid" 2>/dev/null || true
  [[ -z "${floor1_pid:-}" ]] || kill "$floor1_pid" 2>/dev/null || true
  [[ -z "${watcher_pid:-}" ]] || kill "$watcher_pid" 2>/dev/null || true
  bench_stack_down
}
trap cleanup EXIT
bench_stack_up

pipe="$(new_pipe '{"name":"bench"}')"
cors_pipe="$(new_pipe '{"name":"bench_cors","require_api_key":false}')"
curl -sf -o /dev/null -X POST "$gw/v1/pipes/$cors_pipe/allowed-origins" -H "$auth" -H 'Content-Type: application/json' \
  -d '{"origin_domain":"https://app.example.com"}'

# The HTTP bound is the better of two no-op servers: one thread per core, and one thread (on
# these shared cores one thread does more; a bound must be the best a minimal server does here).
"$bin/bp_null_server" "$null_port" "$(nproc)" &
null_pid=$!
"$bin/bp_null_server" "$null1_port" 1 &
null1_pid=$!
sleep 0.3
# A pipe in the steady state of real use: an active destination (a webhook to the no-op server)
# drains the stream as fast as records come. The soak runs on it: with only blocked
# destinations the stream would grow by millions of messages, and nats-server's periodic sync
# of that store shows up as stalls of hundreds of milliseconds.
latency_pipe="$(curl -sf -X POST "$gw/v1/pipes" -H "$auth" -H 'Content-Type: application/json' -d '{"name":"bench_latency"}' |
  grep -o '"id":"[^"]*"' | head -n 1 | cut -d'"' -f4)"
curl -sf -o /dev/null -X POST "$gw/v1/pipes/$latency_pipe/destinations" -H "$auth" -H 'Content-Type: application/json' \
  -d "{\"type\":\"webhook\",\"name\":\"drain\",\"config\":{\"url\":\"http://127.0.0.1:$null_port/drain\",\"signing_secret\":\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"}}"
# Every release of a held pipe (stack.sh release_pipe) runs a witness open loop into this pipe,
# whose records the worker drains: what deleting a deep consumer costs another pipe's ingest.
release_witness="$gw/v1/ingest/$latency_pipe"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a != "" && a != "-" && b > 0) printf "%.0f%%", 100 * a / b; else print "-" }'; }
# load LOAD_ARGS...: the load generator's one-line JSON. A load with any answer but 202 is noted in
# $BP_DATA_DIR/refused for the report: the load generator's req/s counts every answer, and a
# 503 (a full stream) comes back faster than a 202.
load() {
  local out
  out="$("$bin/bp_loadgen" --seconds="$seconds" --connections="$conns" "$@")" || return
  grep -q '"status":{"202":[0-9]*}' <<<"$out" ||
    echo "$(grep -o -- '--url=[^ ]*' <<<"$*") $(grep -o -- '--records=[0-9]*' <<<"$*"): $(grep -o '"status":{[^}]*}' <<<"$out" | cut -d: -f2-)" >>"$BP_DATA_DIR/refused"
  echo "$out"
}
refused_loads() {
  if [[ -s "$BP_DATA_DIR/refused" ]]; then
    echo "**Loads answered other than 202** (their req/s, and the ratios and verdicts above, count those answers too):"
    echo
    sed 's/^/- /' "$BP_DATA_DIR/refused"
  else
    echo "Every request of every load was answered 202."
  fi
}
# kept_rate RESULT: an open loop's req/s, and the rate it was given when it answered less than 98%
# of it. Each connection keeps one request in flight: once answers take longer on average than
# connections / rate, the loop falls behind and its latencies grow with its length (not a tail).
kept_rate() {
  awk -v r="$(field "$1" req_per_s)" -v want="$(field "$1" rate)" 'BEGIN {
    if (want > 0 && r < 0.98 * want) printf "%d of %d intended (fell behind)", r, want; else printf "%s", r }'
}
# The open loops at half the peak beside what bp_stall_watch saw during each (stops of the whole
# machine: every CPU's real-time watcher late at once by over 5 ms) and where the cores went.
stops_table() {
  local label var
  echo "| open loop at half the peak | req/s | p99 ms | p99.9 ms | max ms | CPU of all processes (share of the machine) | cores: server / nats-server / load generator | a gateway's active I/O threads before → after, connections moved, failed trials | the whole machine stopped | fixed work, median / slowest µs |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  for label in "gateway:half" "gateway, while a worker delivers every record:half_delivering" \
    "no-op server (the machine's own tail):half_null" "floor (HTTP + publish + ack):half_floor" \
    "floor with one I/O thread:half_floor1" "gateway with one I/O thread, at half its own peak:half_t1" \
    "gateway without the linger (BP_PUBLISH_LINGER_US=0):half_nolinger"; do
    var="${label##*:}"
    [[ -n "${!var:-}" ]] || continue
    local -n _stop_json="${var}_stops" _busy_share="${var}_busy" _core_shares="${var}_cores" _thread_change="${var}_threads"
    echo "| ${label%:*} | $(kept_rate "${!var}") | $(field "${!var}" p99_ms) | $(field "${!var}" p999_ms) | $(field "${!var}" max_ms) | ${_busy_share:--} | ${_core_shares:--} | ${_thread_change:--} | $(stopped "${_stop_json:-}") | $(field "${_stop_json:-}" median) / $(field "${_stop_json:-}" slowest) |"
    unset -n _stop_json _busy_share _core_shares _thread_change
  done
}
# all_ticks: CPU time (user + system, in clock ticks) that every process now running has used so
# far, each process's threads included, and with it the time of the children each has waited for
# (cutime and cstime): a process that exits leaves its time with its parent, so the sum only grows.
# Without them a process that exited during a loop took its whole lifetime's CPU out of the second
# sum (one loop read 7% busy while the three processes it names used 1.26 cores). Not /proc/stat:
# on this benchmark's VM its counters lose or gain ticks (in 5-s loops they counted 504 and 1,408
# ticks where 1,046 had passed on two CPUs), while each process's own times add up to what `time`
# reports.
# A process that exits between the glob and its read makes `cat` fail; under `pipefail` that ended
# the whole run (twice on 2026-12-07, with a sampler starting `pgrep` twenty times a second beside
# it). Its time is in its parent's cutime by then, so the sum loses nothing.
all_ticks() { { cat /proc/[0-9]*/stat 2>/dev/null || true; } | ticks_sum children; }
# Every open loop at half the peak starts with a warm-up of BP_BENCH_WARMUP_SECONDS (1) on top of
# its window: the load jumps from nothing to the full rate at once, and in the first 50-200 ms of
# some loops every request was late (on 2026-12-07, 5-s loops at 24,000 req/s: 4,799 requests
# over 5 ms in the first 200 ms of one, 800 in the first 50 ms of another, none in others). The
# warm-up's requests are answered and counted but kept out of the loop's percentiles; the report
# gives their p99 and maximum apart. Its req/s counts the whole run.
warmup="${BP_BENCH_WARMUP_SECONDS:-1}"
# with_warmup SECONDS: a load's length with the warm-up on top.
with_warmup() { awk -v s="$1" -v w="$warmup" 'BEGIN { print s + w }'; }
# open_loop VAR LOAD_ARGS...: `load` with bp_stall_watch beside it; sets VAR to the load's result,
# VAR_stops to the watcher's (when the whole machine stopped while the load ran: a latency figure
# means little without it), VAR_busy to the share of the machine's cores that all its processes
# used meanwhile (the load generator's included) and VAR_cores to the cores that the server
# ($server_pid, the gateway by default), nats-server and the load generator each used.
open_loop() {
  local -n _out="$1" _stops="$1_stops" _busy="$1_busy" _cores="$1_cores" _threads="$1_threads"
  local all0 all1 base before
  shift
  base=""  # a gateway's base URL (a URL to /v1/ingest/); the no-op server and the floor have no /metrics
  grep -q -- '--url=http://[^ ]*/v1/ingest/' <<<"$*" && base="$(grep -o -- '--url=http://[^/]*' <<<"$*" | head -n 1 | cut -d= -f2)"
  before="$(thread_state "$base")"
  settle
  "$bin/bp_stall_watch" >"$BP_DATA_DIR/stall-watch.json" &
  watcher_pid=$!  # global: cleanup stops it if the load fails
  all0="$(all_ticks)"
  seconds="$(with_warmup "$seconds")" timed_load _out "$@" --warmup-s="$warmup"
  all1="$(all_ticks)"
  # The load generator has exited by now: its time is in this shell's cutime (all1), and `time`'s.
  _cores="$(awk -v g="$server_ticks" -v n="$nats_ticks" -v hz="$hz" '{ if ($3 > 0) printf "%.2f / %.2f / %.2f", g / hz / $3, n / hz / $3, ($1 + $2) / $3; else print "-" }' "$BP_DATA_DIR/loadgen.time")"
  _busy="$(awk -v d=$((all1 - all0)) -v hz="$hz" -v cpus="$(getconf _NPROCESSORS_ONLN)" '{ if ($3 > 0) printf "%.0f%%", 100 * d / hz / $3 / cpus; else print "-" }' "$BP_DATA_DIR/loadgen.time")"
  kill -TERM "$watcher_pid" 2>/dev/null || true
  wait "$watcher_pid" || true
  watcher_pid=
  _stops="$(cat "$BP_DATA_DIR/stall-watch.json")"
  # A gateway's active I/O threads before and after, the connections it moved meanwhile and its
  # failed trials (decision 0013); "-" for the servers that have no such metrics.
  _threads="$(thread_change "$base" "$before")"
}
# thread_state BASE_URL: "ACTIVE MOVES FAILED_TRIALS" of a gateway's I/O threads (decision 0013),
# empty for a server without them.
thread_state() {
  local a
  a="$(gateway_metric "$1" bp_gateway_io_threads_active)"
  [[ -z "$a" ]] || echo "$a $(gateway_metric "$1" bp_gateway_connection_moves_total) $(gateway_metric "$1" bp_gateway_io_thread_trials_failed_total)"
}
# thread_change BASE_URL STATE_BEFORE: "A → B, N moves, T failed trials" of a gateway since
# thread_state gave STATE_BEFORE; "-" if it has no such metrics.
thread_change() {
  [[ -n "$2" ]] || { echo "-"; return; }
  awk -v before="$2" -v after="$(thread_state "$1")" 'BEGIN {
    split(before, b, " "); n = split(after, a, " ")
    if (n < 3) { print "?"; exit }
    printf "%s → %s, %d moves, %d failed trials\n", b[1], a[1], a[2] - b[2], a[3] - b[3] }'
}
# gateway_metric BASE_URL NAME: a sample of a gateway's /metrics; empty for a server without it.
gateway_metric() { [[ -z "$1" ]] || curl -sf "$1/metrics" 2>/dev/null | awk -v m="$2" '$1 == m { print $2; exit }' || true; }
# stopped WATCH: what bp_stall_watch saw, in words.
stopped() {
  local n longest total
  [[ -n "$1" ]] || { echo "-"; return; }
  n="$(grep -o '"stops":\[[^]]*\]' <<<"$1" | grep -o '"[0-9.]*:[0-9.]*"' | wc -l)"
  total="$(field "$1" all_stopped_ms)" longest="$(field "$1" longest_late_ms)"
  if ((n == 0)); then
    printf 'none; %s late wakes over 5 ms (longest %s ms)' "$(field "$1" late_wakes)" "$longest"
  else
    printf '%d, %s ms in all (longest late wake %s ms; %s late wakes over 5 ms)' "$n" "$total" "$longest" "$(field "$1" late_wakes)"
  fi
  grep -q '"rt":true' <<<"$1" || printf ' (without real-time priority: not conclusive)'
}
# best A B: of two load generator results, the one with more requests per second.
best() { if awk -v a="$(field "$1" req_per_s)" -v b="$(field "$2" req_per_s)" 'BEGIN { exit !(a >= b) }'; then echo "$1"; else echo "$2"; fi; }
# http_bound RECORDS BEST ALL SINGLE: loads both no-op servers; ALL gets the result with one
# thread per core, SINGLE the one with one thread, BEST the better of the two (the bound).
http_bound() {
  local -n _best="$2" _all="$3" _single="$4"
  settle
  _all="$(load --url="http://127.0.0.1:$null_port/x" --records="$1")"
  settle
  _single="$(load --url="http://127.0.0.1:$null1_port/x" --records="$1")"
  _best="$(best "$_all" "$_single")"
}

# ticks_sum [children]: the CPU time (user + system, in clock ticks) of the /proc/PID/stat lines on
# stdin, summed (with "children", also cutime + cstime: the children each has waited for).
ticks_sum() {
  awk -v children="${1:-}" '{ split($0, a, ") "); split(a[2], f, " "); s += f[12] + f[13]; if (children != "") s += f[14] + f[15] }
    END { print s + 0 }'
}
# CPU time (user + system, in clock ticks) a process has used so far.
cpu_ticks() { ticks_sum <"/proc/$1/stat"; }
# timed_load VAR LOAD_ARGS...: `load`, its result in VAR; sets server_ticks and nats_ticks to the
# clock ticks that the server ($server_pid, the gateway by default) and nats-server used meanwhile,
# and leaves the load generator's "USER SYSTEM REAL" seconds in $BP_DATA_DIR/loadgen.time.
# Its callers settle first (open_loop before its watcher starts).
timed_load() {
  local -n _loaded="$1"
  local server="${server_pid:-$gw_pid}" g0 n0
  shift
  g0="$(cpu_ticks "$server")" n0="$(cpu_ticks "$nats_pid")"
  TIMEFORMAT='%U %S %R'
  { time _loaded="$(load "$@")"; } 2>"$BP_DATA_DIR/loadgen.time"
  server_ticks=$(($(cpu_ticks "$server") - g0)) nats_ticks=$(($(cpu_ticks "$nats_pid") - n0))
}
# The gateway's own view of ingest latency (parsed request → response, its
# bp_gateway_request_seconds histogram): a snapshot of the ingest route's buckets, and from two
# snapshots the share answered within 5 ms and the bucket holding the 99th percentile. The
# load generator's latency adds what the gateway cannot see: time in socket queues and the
# load generator's own waits for a core.
ingest_buckets() { # [GATEWAY_URL]
  curl -sf "${1:-$gw}/metrics" | awk '/^bp_gateway_request_seconds_bucket\{method="POST",route="\/v1\/ingest\/:p"/ {
    match($0, /le="[^"]*"/); print substr($0, RSTART + 4, RLENGTH - 5), $NF }'
}
gateway_side() { # BEFORE AFTER: "99.7% within 5 ms, p99 ≤ 2.5 ms"
  awk 'NR == FNR { before[$1] = $2; next }
       { n[FNR] = $1; c[FNR] = $2 - before[$1]; rows = FNR }
       END {
         total = c[rows]; if (total <= 0) { print "-"; exit }
         for (i = 1; i <= rows; i++) { if (n[i] == "0.005") within = c[i]; if (!p99 && c[i] >= 0.99 * total) p99 = n[i] }
         printf "%.2f%% within 5 ms, p99 ≤ %g ms", 100 * within / total, p99 * 1000 }' "$1" "$2"
}
gw_pid="$(cat "$BP_DATA_DIR/run/gateway.pid")"
nats_pid="$(cat "$BP_DATA_DIR/run/nats.pid")"
hz="$(getconf CLK_TCK)"
# The gateway's settings as the stack started it.
gateway_env=()
while IFS= read -r line; do gateway_env+=("$line"); done < <(gateway_settings)
# The floor (bench/publish_server.cc): HTTP, the publish with the gateway's headers over the
# gateway's publisher, the ack, 202; nothing else. Same subject, so the same stream and consumer;
# the same allocator setting as the gateway, so that the floor stays the best ingest can do.
floor_env=()
for line in "${gateway_env[@]}"; do [[ "$line" != GLIBC_TUNABLES=* ]] || floor_env+=("$line"); done
env "${floor_env[@]}" "$bin/bp_publish_server" "$floor_port" "nats://127.0.0.1:$BP_NATS_PORT" "bp.in.$pipe" &
floor_pid=$!
# The floor again with one I/O thread: the floor at its best is the better of the two, as the
# HTTP bound is (on these shared cores one thread can do more).
env "${floor_env[@]}" "$bin/bp_publish_server" "$floor1_port" "nats://127.0.0.1:$BP_NATS_PORT" "bp.in.$pipe" 1 &
floor1_pid=$!
sleep 0.5
# another_gateway PORT LOG SETTING...: one more gateway on the stack, its settings with SETTING...
# on top; sets another_pid once it is ready.
another_gateway() {
  local port="$1" log="$2"
  shift 2
  env "${gateway_env[@]}" "BP_HTTP_LISTEN=127.0.0.1:$port" "$@" "$bin/batchpipe-gateway" >"$BP_DATA_DIR/$log" 2>&1 &
  another_pid=$!
  for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/readyz" && break; sleep 0.1; done
}
# The gateway again with one I/O thread (BP_THREADS=1): on two cores shared with nats-server and
# the load generator it trades 100-record throughput for the throughput and tail of small
# requests (docs/BENCHMARKS.md).
another_gateway "$gw1_port" gateway-one-thread.log BP_THREADS=1
gw1_pid="$another_pid"
gw1="http://127.0.0.1:$gw1_port"
# And with connections spread over every I/O thread whatever the load (BP_THREAD_SPREAD=all, the
# gateway before 2026-12-06): only in the paired rounds, to show what the spread by load changes.
another_gateway "$gwall_port" gateway-all-threads.log BP_THREAD_SPREAD=all
gwall_pid="$another_pid"
gwall="http://127.0.0.1:$gwall_port"
# And with one JetStream message per request (BP_PUBLISH_COALESCE=1, the gateway before decision
# 0014): only in the paired rounds, to show what sharing a message changes.
another_gateway "$gwmsg_port" gateway-message-per-request.log BP_PUBLISH_COALESCE=1
gwmsg_pid="$another_pid"
gwmsg="http://127.0.0.1:$gwmsg_port"
# And with every message sent at the end of its turn (BP_PUBLISH_LINGER_US=0, the gateway before
# decision 0016): in the paired rounds and at half the peak, to show what the linger changes.
another_gateway "$gwnl_port" gateway-no-linger.log BP_PUBLISH_LINGER_US=0
gwnl_pid="$another_pid"
gwnl="http://127.0.0.1:$gwnl_port"
# Its small-request scenarios run before any 100-record scenario, as the default gateway's do:
# after those the store holds gigabytes more and the open loops meet its writes.
one_thread_small() {
  server_pid="$gw1_pid" profiled "gateway with one I/O thread: 1 record/request, closed loop" one_t1 \
    --url="$gw1/v1/ingest/$pipe" --key="$key" --records=1
  half_rate_t1="$(awk -v p="$(field "$one_t1" req_per_s)" 'BEGIN{printf "%d", p/2}')"
  ingest_buckets "$gw1" >"$BP_DATA_DIR/t0"
  server_pid="$gw1_pid" open_loop half_t1 --url="$gw1/v1/ingest/$pipe" --key="$key" --records=1 --rate="$half_rate_t1"
  ingest_buckets "$gw1" >"$BP_DATA_DIR/t1"
}
one_thread_hundred() {
  release_pipe "$pipe"
  server_pid="$gw1_pid" profiled "gateway with one I/O thread: 100 records/request, closed loop" hundred_t1 \
    --url="$gw1/v1/ingest/$pipe" --key="$key" --records=100
}
# profiled LABEL VAR LOAD_ARGS...: runs the load, stores its JSON in VAR and adds a row to the CPU
# table: CPU microseconds per request spent by the server (the gateway, or $server_pid when set),
# nats-server and the load generator.
cpu_rows=()
profiled() {
  local label="$1" out reqs
  local -n _result="$2"
  shift 2
  settle
  timed_load out "$@"
  _result="$out"
  reqs="$(field "$out" requests)"
  cpu_rows+=("$(awk -v l="$label" -v g="$server_ticks" -v n="$nats_ticks" -v hz="$hz" -v r="$reqs" \
    -v lt="$(awk '{print $1 + $2}' "$BP_DATA_DIR/loadgen.time")" \
    'BEGIN { if (r > 0) printf "| %s | %.1f | %.1f | %.1f |", l, g / hz / r * 1e6, n / hz / r * 1e6, lt / r * 1e6 }')")
}

# BP_BENCH_ONLY=sinks: only the two sink throughputs (a quick check of a delivery change).
if [[ "${BP_BENCH_ONLY:-}" == sinks ]]; then
  # shellcheck source=bench/delivery.sh
  source "$repo/bench/delivery.sh"
  delivery_setup
  bench_pg_sink
  http_bound 100 hundred_bound hundred_bound_all hundred_bound_single
  bench_webhook_sink
  echo "| sink | records/s | bound | of bound |"
  echo "| --- | --- | --- | --- |"
  echo "| postgres ($pg_sink_records records, batches of 1000; $pg_sink_settled) | $pg_sink_rps | COPY: $pg_copy_rps | $(ratio "$pg_sink_rps" "$pg_copy_rps") |"
  echo "| postgres ($pg_at_once_records records, batches of 1000, drained at once; $pg_at_once_settled) | $pg_at_once_rps | COPY: $pg_copy_rps | $(ratio "$pg_at_once_rps" "$pg_copy_rps") |"
  echo "| postgres ($pg_big_records records, batches of 10000) | $pg_big_rps | COPY: $pg_copy_rps | $(ratio "$pg_big_rps" "$pg_copy_rps") |"
  echo "| postgres, batches of 1000 | $pg_sink_rps | COPY in transactions of 1000, two sessions: $pg_copy_batched_rps | $(ratio "$pg_sink_rps" "$pg_copy_batched_rps") |"
  echo "| webhook ($webhook_records records) | $webhook_rps | no-op server: $(field "$hundred_bound" records_per_s) | $(ratio "$webhook_rps" "$(field "$hundred_bound" records_per_s)") |"
  echo
  echo "CPU per record: postgres sink: $pg_sink_cpu (batches of 10000: $pg_big_cpu); webhook sink: $webhook_cpu (µs)"
  exit 0
fi

# BP_BENCH_ONLY=e2e: only the end-to-end latency (to chase a slow delivery).
if [[ "${BP_BENCH_ONLY:-}" == e2e ]]; then
  # shellcheck source=bench/delivery.sh
  source "$repo/bench/delivery.sh"
  delivery_setup
  bench_e2e
  echo "End to end at $e2e_rate req/s: $e2e_summary"
  exit 0
fi

# BP_BENCH_ONLY=soak: only the soak (BP_BENCH_SOAK_SECONDS, default 300) at BP_BENCH_SOAK_RATE
# (default 8000 req/s), with the gateway's and the worker's RSS every 10 s.
if [[ "${BP_BENCH_ONLY:-}" == soak ]]; then
  # shellcheck source=bench/delivery.sh
  source "$repo/bench/delivery.sh"
  BP_BENCH_SOAK_SECONDS="${BP_BENCH_SOAK_SECONDS:-300}" BP_BENCH_SOAK_RATE="${BP_BENCH_SOAK_RATE:-8000}" bench_soak
  echo "Soak: ${BP_BENCH_SOAK_SECONDS:-300}s open loop at $soak_rate req/s into a pipe delivering to a webhook; RSS in MB every 10 s (seconds:gateway/worker):"
  echo "${soak_samples[*]}"
  echo "Soak result: $(grep -o '"req_per_s":[0-9]*\|"p99_ms":[0-9.]*\|"status":{[^}]*}' <<<"$soak_result" | tr '\n' ' ')"
  echo "Peak RSS (VmHWM): gateway $(awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$gw_pid/status") MB"
  exit 0
fi

http_bound 1 one_bound one_bound_all one_bound_single
http_bound 100 hundred_bound hundred_bound_all hundred_bound_single
one_body="$(field "$one_bound" body_bytes)"
hundred_body="$(field "$hundred_bound" body_bytes)"
settle
n0="$(cpu_ticks "$nats_pid")"
js_one="$("$bin/bp_js_publish" "nats://127.0.0.1:$BP_NATS_PORT" "bp.in.$pipe" "$((one_body + 2))" 200000)"
settle
n1="$(cpu_ticks "$nats_pid")"
js_hundred="$("$bin/bp_js_publish" "nats://127.0.0.1:$BP_NATS_PORT" "bp.in.$pipe" "$hundred_body" 20000)"
n2="$(cpu_ticks "$nats_pid")"
cpu_rows+=("$(awk -v a=$((n1 - n0)) -v b=$((n2 - n1)) -v hz="$hz" \
  'BEGIN { printf "| bound: JetStream async publish, 1 record / 100 records | - | %.1f / %.1f | - |", a / hz / 200000 * 1e6, b / hz / 20000 * 1e6 }')")
# like_gateway_bound: the same 200,000 publishes with what a request with an Idempotency-Key
# adds (a Nats-Msg-Id and the Bp-* headers), for their cost in nats-server. Run last: JetStream
# keeps every id in the stream's duplicate map for the duplicate window (10 minutes), and with
# 200,000 of them nats-server's heap was 26-40 MB instead of 1-3, each garbage collection marked
# for about 20 ms, about once a second under 1-record loads, and every timed load after it ran
# beside those collections (docs/BENCHMARKS.md, fifteenth day session).
like_gateway_bound() {
  local n0 n1
  settle
  n0="$(cpu_ticks "$nats_pid")"
  # Its figure is nats-server's CPU, not the publisher's rate.
  BP_JS_LIKE_GATEWAY=1 "$bin/bp_js_publish" "nats://127.0.0.1:$BP_NATS_PORT" "bp.in.$pipe" "$((one_body + 2))" 200000 >/dev/null
  n1="$(cpu_ticks "$nats_pid")"
  cpu_rows+=("$(awk -v c=$((n1 - n0)) -v hz="$hz" \
    'BEGIN { printf "| bound: JetStream async publish, 1 record with Msg-Id and headers (after every timed load) | - | %.1f | - |", c / hz / 200000 * 1e6 }')")
}

# Paired rounds, the measure the one-record target is judged by. This machine's speed moves
# within minutes (up to 1.5x from one run to the next), so a bound taken a minute before a
# gateway run can flatter or sink its ratio. Each round loads, back to back in short windows, the
# two no-op servers, the gateway, the gateway with one I/O thread, the gateway with every thread,
# the gateway with a message per request and the two floors, 1 record
# per request; a ratio is taken within its round; the order is reversed every other round, so
# that a steady drift favours no one. The median round is the figure.
rounds="${BP_BENCH_ROUNDS:-3}"
round_seconds="${BP_BENCH_ROUND_SECONDS:-5}"
round_rows=()
round_gw=() round_gw1=() round_gwall=() round_gwmsg=() round_gwnl=() round_floor=() round_vs_floor=()
# all_accepted LOAD_JSON: whether every request of a load was answered 202, with no errors.
all_accepted() { [[ "$(field "$1" accepted)" == "$(field "$1" requests)" && "$(field "$1" errors)" == 0 ]]; }
round_load() { # URL [LOADGEN_ARGS...]: req/s of a closed loop of $round_records (1) records; "-" if any answer was not 202
  local out
  settle
  out="$(seconds="$round_seconds" load --records="${round_records:-1}" --url="$@")"
  if all_accepted "$out"; then field "$out" req_per_s; else echo "-"; fi
}
# arm_load ARM: round_load of one arm of the paired rounds: a no-op server (null, null1), a
# gateway (gw, gw1, gwall, gwmsg, gwnl: the variable of that name holds its URL) or a floor.
arm_load() {
  case "$1" in
    null) round_load "http://127.0.0.1:$null_port/x" ;;
    null1) round_load "http://127.0.0.1:$null1_port/x" ;;
    floor) round_load "http://127.0.0.1:$floor_port/x" ;;
    floor1) round_load "http://127.0.0.1:$floor1_port/x" ;;
    js) js_round ;;
    *) local -n _url="$1"; round_load "$_url/v1/ingest/$pipe" --key="$key" ;;
  esac
}
# js_round: msg/s of JetStream async publish of 100-record bodies into the held pipe for a round's
# window, the buffer's bound under the same store and page cache as the arms beside it; "-" if a
# publish failed.
js_round() {
  local out
  settle
  out="$("$bin/bp_js_publish" "nats://127.0.0.1:$BP_NATS_PORT" "bp.in.$pipe" "$hundred_body" "${round_seconds}s")"
  if [[ "$(field "$out" failed)" == 0 ]]; then field "$out" msg_per_s; else echo "-"; fi
}
# round_bound NULL NULL1 JS: a round's bound, the better no-op server, or the buffer's bound (JS)
# if lower; none if either no-op server or the buffer's bound failed (the other alone could be the lower).
round_bound() {
  awk -v a="$1" -v b="$2" -v j="$3" 'BEGIN {
    if (a == "-" || b == "-" || j == "-") exit
    m = (a + 0 > b + 0 ? a : b); if (j != "" && j + 0 < m + 0) m = j; print m + 0 }'
}
# gateway_arm T: arm_load T; for the default gateway (gw) also its I/O threads' change
# (thread_change) in gw_threads.
gateway_arm() {
  local before
  [[ "$1" == gw ]] && before="$(thread_state "$gw")"
  r[$1]="$(arm_load "$1")"
  [[ "$1" != gw ]] || gw_threads="$(thread_change "$gw" "$before")"
}
paired_rounds() {
  local i t order bound floor gw_threads
  local -A r
  local all=(null null1 gw gw1 gwall gwmsg gwnl floor floor1)
  for ((i = 1; i <= rounds; i++)); do
    order=("${all[@]}")
    ((i % 2)) || order=(floor1 floor gwnl gwmsg gwall gw1 gw null1 null)
    for t in "${order[@]}"; do gateway_arm "$t"; done
    # The floor at its best: the better of the floors that answered, none if neither did.
    bound="$(round_bound "${r[null]}" "${r[null1]}" "$(field "$js_one" msg_per_s)")"
    floor="$(awk -v a="${r[floor]}" -v b="${r[floor1]}" 'BEGIN {
      if (a == "-") a = ""; if (b == "-") b = ""; if (a == "" && b == "") exit
      print (a + 0 > b + 0 ? a : b) + 0 }')"
    round_gw+=("$(percent "${r[gw]}" "$bound")")
    round_gw1+=("$(percent "${r[gw1]}" "$bound")")
    round_gwall+=("$(percent "${r[gwall]}" "$bound")")
    round_gwmsg+=("$(percent "${r[gwmsg]}" "$bound")")
    round_gwnl+=("$(percent "${r[gwnl]}" "$bound")")
    round_floor+=("$(percent "$floor" "$bound")")
    round_vs_floor+=("$(percent "${r[gw1]}" "${r[floor1]}")")
    round_rows+=("| $i | ${order[*]} | ${r[null]} / ${r[null1]} | ${r[gw]} ($(ratio "${r[gw]}" "$bound"); $gw_threads) | ${r[gw1]} ($(ratio "${r[gw1]}" "$bound")) | ${r[gwall]} ($(ratio "${r[gwall]}" "$bound")) | ${r[gwmsg]} ($(ratio "${r[gwmsg]}" "$bound")) | ${r[gwnl]} ($(ratio "${r[gwnl]}" "$bound")) | ${r[floor]} / ${r[floor1]} ($(ratio "$floor" "$bound")) |")
  done
}
# percent A B: 100 * A / B unrounded, empty when either is missing (a round with a failed load).
percent() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || a == "" || b == "" || b + 0 <= 0) print ""; else printf "%.2f", 100 * a / b }'; }
# median V...: the median of the non-empty values (two decimals, the figure judged), empty if
# none; shown V: the same with one decimal and a percent sign, "-" if empty.
median() {
  printf '%s\n' "$@" | grep . | sort -n | awk '{ v[++n] = $1 } END {
    if (n) printf "%.2f", (n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2) }'
}
shown() { if [[ -n "$1" ]]; then printf '%.1f%%' "$1"; else echo "-"; fi; }
rounds_table() {
  echo "| round | order | bound: no-op server, one thread per core / one thread | gateway (of bound; active I/O threads before → after, connections moved, failed trials) | gateway, one I/O thread (of bound) | gateway, every I/O thread (of bound) | gateway, a message per request (of bound) | gateway, no linger (of bound) | floor / floor with one I/O thread (the better, of bound) |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  printf '%s\n' "${round_rows[@]}"
  echo
  echo "Median of $rounds rounds of ${round_seconds} s windows (req/s of 1 record, closed loop): the gateway $(shown "$(median "${round_gw[@]}")") of the bound, with one I/O thread $(shown "$(median "${round_gw1[@]}")"), with connections on every I/O thread (BP_THREAD_SPREAD=all) $(shown "$(median "${round_gwall[@]}")"), with a message per request (BP_PUBLISH_COALESCE=1) $(shown "$(median "${round_gwmsg[@]}")"), without the linger (BP_PUBLISH_LINGER_US=0) $(shown "$(median "${round_gwnl[@]}")"); the floor at its best $(shown "$(median "${round_floor[@]}")"); the one-thread gateway reached $(shown "$(median "${round_vs_floor[@]}")") of the one-thread floor."
}
paired_rounds

# The same for 100 records per request, the measure the 100-record target is judged by (a single
# 10-s window of each, a minute apart, gave the gateway 55-122% of the bound in five full runs):
# the two no-op servers, JetStream's async publish of the same bodies (js), the gateway, the
# one-thread gateway, the gateway without the linger and the floor, 100 records per request. The
# buffer's bound is taken in every round, for the same window as the arms beside it. Every arm
# starts from an empty store with nothing dirty (purge_pipe): an arm writes 2-3 GB, and one that
# ran against what the arms before it had written took half or less of the rate it took after an
# emptying, the bound's as much as the gateway's (stack.sh), so the rounds measured the order.
hundred_rows=()
hundred_gw=() hundred_gw1=() hundred_gwnl=() hundred_floor=() hundred_gw_burst=() hundred_js_burst=()
paired_rounds_hundred() {
  local i t order bound burst gw_threads
  local -A r
  local all=(null null1 js gw gw1 gwnl floor)
  for ((i = 1; i <= rounds; i++)); do
    order=("${all[@]}")
    ((i % 2)) || order=(floor gwnl gw1 gw js null1 null)
    for t in "${order[@]}"; do
      purge_pipe "$pipe"
      round_records=100 gateway_arm "$t"
    done
    bound="$(round_bound "${r[null]}" "${r[null1]}" "${r[js]}")"
    burst="$(round_bound "${r[null]}" "${r[null1]}" "$(field "$js_hundred" msg_per_s)")"
    hundred_gw_burst+=("$(percent "${r[gw]}" "$burst")")
    hundred_js_burst+=("$(percent "${r[js]}" "$(field "$js_hundred" msg_per_s)")")
    hundred_gw+=("$(percent "${r[gw]}" "$bound")")
    hundred_gw1+=("$(percent "${r[gw1]}" "$bound")")
    hundred_gwnl+=("$(percent "${r[gwnl]}" "$bound")")
    hundred_floor+=("$(percent "${r[floor]}" "$bound")")
    hundred_rows+=("| $i | ${order[*]} | ${r[null]} / ${r[null1]} | ${r[js]} | ${bound:--} | ${r[gw]} ($(ratio "${r[gw]}" "$bound"); $gw_threads) | ${r[gw1]} ($(ratio "${r[gw1]}" "$bound")) | ${r[gwnl]} ($(ratio "${r[gwnl]}" "$bound")) | ${r[floor]} ($(ratio "${r[floor]}" "$bound")) |")
  done
}
hundred_rounds_table() {
  echo "| round | order | no-op server, one thread per core / one thread (req/s of 100 records) | JetStream async publish, msg/s of the same bodies (js) | bound (the better no-op server, or JetStream's if lower) | gateway (of bound; active I/O threads before → after, connections moved, failed trials) | gateway, one I/O thread (of bound) | gateway, no linger (of bound) | floor (of bound) |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  printf '%s\n' "${hundred_rows[@]}"
  echo
  echo "Median of $rounds rounds of ${round_seconds} s windows (req/s of 100 records, closed loop): the gateway $(shown "$(median "${hundred_gw[@]}")") of the bound, with one I/O thread $(shown "$(median "${hundred_gw1[@]}")"), without the linger (BP_PUBLISH_LINGER_US=0) $(shown "$(median "${hundred_gwnl[@]}")"); the floor $(shown "$(median "${hundred_floor[@]}")"). Against JetStream's burst of 20,000 messages into the empty store at the start of the run ($(field "$js_hundred" msg_per_s) msg/s) instead, the gateway's median is $(shown "$(median "${hundred_gw_burst[@]}")"); JetStream's own ${round_seconds}-s windows reached $(shown "$(median "${hundred_js_burst[@]}")") of that burst."
}

# Paired open loops at half the peak, the measure the p99 target is judged by. A single 10-s
# window's p99 moves with the machine: the no-op server's own p99 at the same rate was 1.5, 3.1
# and 5.6 ms in three full runs of 2026-12-07. Each round runs the same open loop (1 record,
# $half_rate req/s) against the no-op server, the gateway and the floor, back to back, and
# JetStream's own (bp_js_latency: publishes of the same bodies into the held pipe at the same rate
# from one connection, each ack timed from its intended send: the buffer's tail, which no 202 can
# come before), the order reversed every other round; the median of each one's p99s is the
# figure, the worst beside it.
half_null_p99=() half_js_p99=() half_gw_p99=() half_floor_p99=() half_rows=()
half_load() { # URL [LOADGEN_ARGS...]: "P99 WARMUP_P99" (ms) of a round's open loop; "- -" if any answer was not 202
  local out
  settle
  out="$(seconds="$(with_warmup "$round_seconds")" load --records=1 --rate="$half_rate" --warmup-s="$warmup" --url="$@")"
  if all_accepted "$out"; then echo "$(field "$out" p99_ms) $(field "$out" warmup_p99_ms)"; else echo "- -"; fi
}
# half_js: "P99 WARMUP_P99" (ms) of JetStream's own open loop at $half_rate; "- -" if an ack failed or never came.
half_js() {
  local out
  settle
  if out="$("$bin/bp_js_latency" "nats://127.0.0.1:$BP_NATS_PORT" "bp.in.$pipe" "$((one_body + 2))" "$half_rate" "$round_seconds" "$warmup")"; then
    echo "$(field "$out" p99_ms) $(field "$out" warmup_p99_ms)"
  else
    echo "- -"
  fi
}
paired_half_rounds() {
  local i t order before threads
  local -A r w
  for ((i = 1; i <= rounds; i++)); do
    order=(null js gw floor)
    ((i % 2)) || order=(floor gw js null)
    for t in "${order[@]}"; do
      case "$t" in
        null) read -r "r[$t]" "w[$t]" < <(half_load "http://127.0.0.1:$null_port/x") ;;
        js) read -r "r[$t]" "w[$t]" < <(half_js) ;;
        floor) read -r "r[$t]" "w[$t]" < <(half_load "http://127.0.0.1:$floor_port/x") ;;
        gw)
          before="$(thread_state "$gw")"
          read -r "r[$t]" "w[$t]" < <(half_load "$gw/v1/ingest/$pipe" --key="$key")
          threads="$(thread_change "$gw" "$before")"
          ;;
      esac
    done
    half_null_p99+=("${r[null]/-/}") half_js_p99+=("${r[js]/-/}") half_gw_p99+=("${r[gw]/-/}") half_floor_p99+=("${r[floor]/-/}")
    half_rows+=("| $i | ${order[*]} | ${r[null]} (${w[null]}) | ${r[js]} (${w[js]}) | ${r[gw]} (${w[gw]}; $threads) | ${r[floor]} (${w[floor]}) |")
  done
}
# worst V...: the largest of the non-empty values, empty if none.
worst() { printf '%s\n' "$@" | grep . | sort -n | tail -n 1; }
half_rounds_table() {
  echo "| round | order | no-op server, p99 ms (its warm-up's) | JetStream publish → ack, no HTTP (js), p99 ms (its warm-up's) | gateway, p99 ms (its warm-up's; active I/O threads before → after, connections moved, failed trials) | floor, p99 ms (its warm-up's) |"
  echo "| --- | --- | --- | --- | --- | --- |"
  printf '%s\n' "${half_rows[@]}"
  echo
  echo "Median of $rounds rounds of ${round_seconds} s open loops (after a warm-up of $warmup s each) at $half_rate req/s of 1 record: the gateway's p99 $(median "${half_gw_p99[@]}") ms (the worst round $(worst "${half_gw_p99[@]}") ms), the no-op server's $(median "${half_null_p99[@]}") ms (the machine's own tail; worst $(worst "${half_null_p99[@]}") ms), JetStream's own publish → ack $(median "${half_js_p99[@]}") ms (the buffer's tail; worst $(worst "${half_js_p99[@]}") ms), the floor's $(median "${half_floor_p99[@]}") ms."
}

profiled "1 record/request, closed loop" one --url="$gw/v1/ingest/$pipe" --key="$key" --records=1
peak="$(field "$one" req_per_s)"
server_pid="$floor_pid" profiled "floor: 1 record/request, closed loop" floor_one --url="http://127.0.0.1:$floor_port/x" --records=1
server_pid="$floor1_pid" profiled "floor with one I/O thread: 1 record/request, closed loop" floor1_one \
  --url="http://127.0.0.1:$floor1_port/x" --records=1
half_rate="$(awk -v p="$peak" 'BEGIN{printf "%d", p/2}')"
# BP_BENCH_ONLY=ingest: the ingest scenarios and their bounds only (a quick check of a gateway change).
if [[ "${BP_BENCH_ONLY:-}" == ingest ]]; then
  ingest_buckets >"$BP_DATA_DIR/h0"
  open_loop half --url="$gw/v1/ingest/$pipe" --key="$key" --records=1 --rate="$half_rate"
  ingest_buckets >"$BP_DATA_DIR/h1"
  server_pid="$gwnl_pid" open_loop half_nolinger --url="$gwnl/v1/ingest/$pipe" --key="$key" --records=1 --rate="$half_rate"
  server_pid="$floor_pid" open_loop half_floor --url="http://127.0.0.1:$floor_port/x" --records=1 --rate="$half_rate"
  server_pid="$floor1_pid" open_loop half_floor1 --url="http://127.0.0.1:$floor1_port/x" --records=1 --rate="$half_rate"
  one_thread_small
  paired_half_rounds
  release_pipe "$pipe"
  profiled "100 records/request, closed loop" hundred --url="$gw/v1/ingest/$pipe" --key="$key" --records=100
  purge_pipe "$pipe"
  server_pid="$floor_pid" profiled "floor: 100 records/request, closed loop" floor_hundred --url="http://127.0.0.1:$floor_port/x" --records=100
  one_thread_hundred
  paired_rounds_hundred
  like_gateway_bound
  echo "| scenario | req/s | p50 ms | p99 ms | bound req/s |"
  echo "| --- | --- | --- | --- | --- |"
  echo "| 1 record, closed loop | $peak | $(field "$one" p50_ms) | $(field "$one" p99_ms) | http $(field "$one_bound" req_per_s), js $(field "$js_one" msg_per_s) |"
  echo "| 1 record, open loop at half | $(field "$half" req_per_s) | $(field "$half" p50_ms) | $(field "$half" p99_ms) | inside the gateway: $(gateway_side "$BP_DATA_DIR/h0" "$BP_DATA_DIR/h1") |"
  echo "| 100 records, closed loop | $(field "$hundred" req_per_s) | $(field "$hundred" p50_ms) | $(field "$hundred" p99_ms) | http $(field "$hundred_bound" req_per_s), js $(field "$js_hundred" msg_per_s) |"
  echo "| gateway without the linger (BP_PUBLISH_LINGER_US=0), the same open loop | $(field "$half_nolinger" req_per_s) | $(field "$half_nolinger" p50_ms) | $(field "$half_nolinger" p99_ms) | - |"
  echo "| floor, open loop at the gateway's half | $(field "$half_floor" req_per_s) | $(field "$half_floor" p50_ms) | $(field "$half_floor" p99_ms) | - |"
  echo "| floor with one I/O thread, the same open loop | $(field "$half_floor1" req_per_s) | $(field "$half_floor1" p50_ms) | $(field "$half_floor1" p99_ms) | - |"
  echo "| floor with one I/O thread, 1 record | $(field "$floor1_one" req_per_s) | $(field "$floor1_one" p50_ms) | $(field "$floor1_one" p99_ms) | http $(field "$one_bound" req_per_s) |"
  echo "| floor (HTTP + publish + ack), 1 record | $(field "$floor_one" req_per_s) | $(field "$floor_one" p50_ms) | $(field "$floor_one" p99_ms) | http $(field "$one_bound" req_per_s) |"
  echo "| floor (HTTP + publish + ack), 100 records | $(field "$floor_hundred" req_per_s) | $(field "$floor_hundred" p50_ms) | $(field "$floor_hundred" p99_ms) | http $(field "$hundred_bound" req_per_s) |"
  echo "| one I/O thread: 1 record, closed loop | $(field "$one_t1" req_per_s) | $(field "$one_t1" p50_ms) | $(field "$one_t1" p99_ms) | http $(field "$one_bound" req_per_s) |"
  echo "| one I/O thread: 1 record, open loop at half its peak | $(field "$half_t1" req_per_s) | $(field "$half_t1" p50_ms) | $(field "$half_t1" p99_ms) | inside the gateway: $(gateway_side "$BP_DATA_DIR/t0" "$BP_DATA_DIR/t1") |"
  echo "| one I/O thread: 100 records, closed loop | $(field "$hundred_t1" req_per_s) | $(field "$hundred_t1" p50_ms) | $(field "$hundred_t1" p99_ms) | http $(field "$hundred_bound" req_per_s) |"
  echo
  stops_table
  echo
  half_rounds_table
  echo
  rounds_table
  echo
  hundred_rounds_table
  echo
  echo "HTTP bounds: one thread per core $(field "$one_bound_all" req_per_s) / $(field "$hundred_bound_all" req_per_s) req/s, one thread $(field "$one_bound_single" req_per_s) / $(field "$hundred_bound_single" req_per_s) (1 / 100 records); the better is the bound."
  echo
  echo "| scenario | server µs | nats-server µs | load generator µs |"
  echo "| --- | --- | --- | --- |"
  printf '%s\n' "${cpu_rows[@]}"
  echo
  refused_loads
  release_summary
  settle_summary
  exit 0
fi
ingest_buckets >"$BP_DATA_DIR/h0"
open_loop half --url="$gw/v1/ingest/$pipe" --key="$key" --records=1 --rate="$half_rate"
ingest_buckets >"$BP_DATA_DIR/h1"
# The same open loop against the gateway without the linger (decision 0016): before and after.
server_pid="$gwnl_pid" open_loop half_nolinger --url="$gwnl/v1/ingest/$pipe" --key="$key" --records=1 --rate="$half_rate"
open_loop half_delivering --url="$gw/v1/ingest/$latency_pipe" --key="$key" --records=1 --rate="$half_rate"
# The machine's own tail at that rate: the same open loop against the server that does nothing.
server_pid="$null_pid" open_loop half_null --url="http://127.0.0.1:$null_port/x" --records=1 --rate="$half_rate"
# And against the floor (HTTP + publish + ack, nothing else): the tail ingest cannot go below.
server_pid="$floor_pid" open_loop half_floor --url="http://127.0.0.1:$floor_port/x" --records=1 --rate="$half_rate"
server_pid="$floor1_pid" open_loop half_floor1 --url="http://127.0.0.1:$floor1_port/x" --records=1 --rate="$half_rate"
one_thread_small
paired_half_rounds
ingest_buckets >"$BP_DATA_DIR/h2"
# Each 100-record loop writes about 3 GB into the held pipe: the store is emptied before each of
# the gateway's (stack.sh's release_pipe), before the floor's (purge_pipe: it had run against the
# gateway's 3 GB), and before the delivery scenarios.
release_pipe "$pipe"
profiled "100 records/request, closed loop" hundred --url="$gw/v1/ingest/$pipe" --key="$key" --records=100
purge_pipe "$pipe"
server_pid="$floor_pid" profiled "floor: 100 records/request, closed loop" floor_hundred --url="http://127.0.0.1:$floor_port/x" --records=100
settle
cors="$(load --url="$gw/v1/ingest/$cors_pipe" --origin=https://app.example.com --records=1)"
one_thread_hundred
paired_rounds_hundred

release_pipe "$pipe"
release_pipe "$cors_pipe"
# shellcheck source=bench/delivery.sh
source "$repo/bench/delivery.sh"
delivery_setup
bench_e2e
bench_pg_sink
bench_webhook_sink
bench_soak
like_gateway_bound
rss_kb="$(awk '/VmHWM/{print $2}' "/proc/$gw_pid/status")"
stored="$(curl -sf "http://127.0.0.1:$BP_NATS_MONITOR_PORT/jsz?streams=1" | grep -o '"messages": *[0-9]*' | head -n 1 | grep -o '[0-9]*$')"

min() { awk -v a="$1" -v b="$2" 'BEGIN{ print (a < b ? a : b) }'; }
bound_one="$(min "$(field "$one_bound" req_per_s)" "$(field "$js_one" msg_per_s)")"
bound_hundred="$(min "$(field "$hundred_bound" req_per_s)" "$(field "$js_hundred" msg_per_s)")"
row() { # label result bound
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$(field "$2" req_per_s)" "$(field "$2" records_per_s)" \
    "$(field "$2" p50_ms)" "$(field "$2" p99_ms)" "$(field "$2" p999_ms)" "$(grep -o '"status":{[^}]*}' <<<"$2" | cut -d: -f2-)" \
    "$3" "$(ratio "$(field "$2" req_per_s)" "$3")"
}
# The targets of the benchmark issue, judged from this run's own figures for the gateway as it
# ships (one I/O thread per core, connections on as many as the load needs; the one-thread
# gateway's figures are shown beside them). Where
# the gateway misses one, the floor's figure says how far HTTP + publish + ack alone got in this run.
# ratio_at_least A B T / value_below A T: "met", "not met", or "no data" when a figure is missing.
ratio_at_least() {
  # A ratio shown rounded as the target ("70%") but under it says how far under (69.8%).
  awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { if (a == "" || b == "" || b <= 0) print "no data"; else if (100 * a / b >= t) print "met"; else printf "not met (%.1f%%)\n", 100 * a / b }'
}
median_at_least() { awk -v m="$1" -v t="$2" 'BEGIN { if (m == "") print "no data"; else print (m + 0 >= t ? "met" : "not met") }'; }
value_below() { awk -v a="$1" -v t="$2" 'BEGIN { if (a == "") print "no data"; else print (a + 0 < t ? "met" : "not met") }'; }
targets() {
  local floor_best e2e_verdict
  floor_best="$(best "$floor_one" "$floor1_one")"
  e2e_verdict="$(value_below "$e2e_p99" 1000)"
  [[ "$e2e_rows" == "$e2e_accepted" || "$e2e_verdict" == "no data" ]] || e2e_verdict="not met (rows missing)"
  echo "| target | measured in this run (the default gateway; one I/O thread beside it) | |"
  echo "| --- | --- | --- |"
  echo "| 1 record/request ≥ 60% of the bound | the median of $rounds paired rounds: $(shown "$(median "${round_gw[@]}")") (one I/O thread $(shown "$(median "${round_gw1[@]}")")); the $seconds-s windows above: $(ratio "$(field "$one" req_per_s)" "$bound_one") (one I/O thread $(ratio "$(field "$one_t1" req_per_s)" "$bound_one")) | $(median_at_least "$(median "${round_gw[@]}")" 60) (the paired median); the floor at its best: $(shown "$(median "${round_floor[@]}")") paired, $(ratio "$(field "$floor_best" req_per_s)" "$bound_one") in the windows above |"
  echo "| p99 < 5 ms at half the peak | the median of $rounds paired open loops at the load generator: $(median "${half_gw_p99[@]}") ms (the worst $(worst "${half_gw_p99[@]}") ms; the no-op server's, the machine's own tail: $(median "${half_null_p99[@]}") ms; JetStream's own publish → ack, the buffer's tail: $(median "${half_js_p99[@]}") ms); the 10-s open loop above: $(field "$half" p99_ms) ms (one I/O thread, at half its own peak: $(field "$half_t1" p99_ms) ms); inside the gateway $(gateway_side "$BP_DATA_DIR/h0" "$BP_DATA_DIR/h1"); the whole machine stopped during it: $(stopped "$half_stops") | $(value_below "$(median "${half_gw_p99[@]}")" 5) (the paired median)$(awk -v n="$(median "${half_null_p99[@]}")" 'BEGIN { if (n != "" && n + 0 >= 5) print ", where the no-op server'"'"'s own median p99 is at or above the target" }')$(awk -v j="$(median "${half_js_p99[@]}")" 'BEGIN { if (j != "" && j + 0 >= 5) print ", where JetStream'"'"'s own median p99 at the same rate is at or above the target" }'); the gateway without the linger (BP_PUBLISH_LINGER_US=0) at the same rate: $(field "$half_nolinger" p99_ms) ms; the floor: $(field "$half_floor" p99_ms) ms, with one I/O thread $(field "$half_floor1" p99_ms) ms |"
  echo "| 100 records/request ≥ 60% of the bound | the median of $rounds paired rounds: $(shown "$(median "${hundred_gw[@]}")") (one I/O thread $(shown "$(median "${hundred_gw1[@]}")")); the $seconds-s windows above: $(ratio "$(field "$hundred" req_per_s)" "$bound_hundred") (one I/O thread $(ratio "$(field "$hundred_t1" req_per_s)" "$bound_hundred")) | $(median_at_least "$(median "${hundred_gw[@]}")" 60) (the paired median); the floor: $(shown "$(median "${hundred_floor[@]}")") paired, $(ratio "$(field "$floor_hundred" req_per_s)" "$bound_hundred") in the windows above |"
  echo "| Postgres sink ≥ 70% of COPY | $(ratio "$pg_sink_rps" "$pg_copy_rps") (batches of 10000: $(ratio "$pg_big_rps" "$pg_copy_rps"); drained at once, while its fill was still being written back: $(ratio "$pg_at_once_rps" "$pg_copy_rps")) | $(ratio_at_least "$pg_sink_rps" "$pg_copy_rps" 70) |"
  echo "| end-to-end p99 < 1 s | $e2e_p99 ms, $e2e_rows of $e2e_accepted records | $e2e_verdict |"
  echo "| gateway RSS < 150 MB at peak | $((rss_kb / 1024)) MB | $(value_below "$((rss_kb / 1024))" 150) |"
}
mkdir -p bench/results
report="bench/results/$(date -u +%Y-%m-%dT%H%M%SZ).md"
{
  echo "# Ingest benchmark, $(date -u +%Y-%m-%d) on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
  echo
  echo "Command: \`bash bench/run.sh $seconds\` ($conns keep-alive connections, everything on this one machine)."
  echo
  echo "| scenario | req/s | records/s | p50 ms | p99 ms | p99.9 ms | statuses | bound req/s | of bound |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  row "1 record/request, closed loop" "$one" "$bound_one"
  row "1 record/request, open loop at half the peak" "$half" "$bound_one"
  row "the same while a worker delivers every record to a webhook" "$half_delivering" "$bound_one"
  row "100 records/request, closed loop" "$hundred" "$bound_hundred"
  row "CORS-only browser-style, 1 record" "$cors" "$bound_one"
  row "floor: HTTP + publish + ack and nothing else, 1 record" "$floor_one" "$bound_one"
  row "floor: HTTP + publish + ack and nothing else, 100 records" "$floor_hundred" "$bound_hundred"
  row "floor with one I/O thread, 1 record" "$floor1_one" "$bound_one"
  row "gateway with one I/O thread (BP_THREADS=1), 1 record/request, closed loop" "$one_t1" "$bound_one"
  row "the same, open loop at half its peak" "$half_t1" "$bound_one"
  row "the same, 100 records/request, closed loop" "$hundred_t1" "$bound_hundred"
  echo
  echo "Paired rounds of 1 record/request, the measure the one-record target is judged by (the order of"
  echo "each round is reversed in the next; every ratio is taken within its round):"
  echo
  rounds_table
  echo
  echo "Paired rounds of 100 records/request, the measure the 100-record target is judged by (the held"
  echo "pipe's store emptied before each arm; JetStream's bound taken in each round, for the same window):"
  echo
  hundred_rounds_table
  echo
  echo "The floor (bench/publish_server.cc) does only what ingest cannot skip: it reads the request,"
  echo "publishes the body with the gateway's headers over the gateway's NATS publisher, waits for the"
  echo "stream's ack and answers 202. The gateway reaches $(ratio "$(field "$one" req_per_s)" "$(field "$floor_one" req_per_s)") of it with 1 record and"
  echo "$(ratio "$(field "$hundred" req_per_s)" "$(field "$floor_hundred" req_per_s)") with 100 records; with one I/O thread each, the gateway reaches"
  echo "$(ratio "$(field "$one_t1" req_per_s)" "$(field "$floor1_one" req_per_s)") of the floor with 1 record."
  echo
  echo "Open loop at half the peak, inside the gateway (bp_gateway_request_seconds, parsed request to"
  echo "response): $(gateway_side "$BP_DATA_DIR/h0" "$BP_DATA_DIR/h1"); while delivering:"
  echo "$(gateway_side "$BP_DATA_DIR/h1" "$BP_DATA_DIR/h2"). The load generator's p99 adds time in socket"
  echo "queues and its own waits for a core. The same open loop against the server that does nothing:"
  echo "p50 $(field "$half_null" p50_ms) ms, p99 $(field "$half_null" p99_ms) ms, p99.9 $(field "$half_null" p999_ms) ms; against the floor"
  echo "(HTTP + publish + ack): p50 $(field "$half_floor" p50_ms) ms, p99 $(field "$half_floor" p99_ms) ms, p99.9 $(field "$half_floor" p999_ms) ms; against"
  echo "the floor with one I/O thread: p50 $(field "$half_floor1" p50_ms) ms, p99 $(field "$half_floor1" p99_ms) ms, p99.9 $(field "$half_floor1" p999_ms) ms."
  echo "The gateway with one I/O thread at half its own peak, inside: $(gateway_side "$BP_DATA_DIR/t0" "$BP_DATA_DIR/t1")."
  echo "The gateway without the linger (BP_PUBLISH_LINGER_US=0, decision 0016), the same open loop: p50 $(field "$half_nolinger" p50_ms) ms,"
  echo "p99 $(field "$half_nolinger" p99_ms) ms, p99.9 $(field "$half_nolinger" p999_ms) ms; its cores (server / nats-server / load generator): ${half_nolinger_cores:--}; the gateway's: ${half_cores:--}."
  echo
  echo "Each open loop at half the peak ran beside bp_stall_watch (bench/stall_watch.cc): a thread per"
  echo "CPU at the highest real-time priority, waking every millisecond. No process of this machine"
  echo "outranks them, so a moment when every CPU's watcher is late at once is a stop of the whole"
  echo "machine: its host's doing (or a kernel that held every CPU that long). The latencies of that"
  echo "open loop include it. Every 100 ms each watcher also times a fixed piece of arithmetic: a slow"
  echo "sample is a CPU slowed or taken by the host (or by interrupts). The CPU of all processes is"
  echo "what every process of the machine used meanwhile (their own clocks, the load generator's"
  echo "included), as a share of all its cores; the cores column splits out the three that matter."
  echo
  stops_table
  echo
  echo "Each open loop at half the peak began with a warm-up of $warmup s on top of its window, answered and"
  echo "counted but not in its percentiles (the load jumps from nothing to the full rate at once). The"
  echo "warm-ups' p99 / max: the gateway $(field "$half" warmup_p99_ms) / $(field "$half" warmup_max_ms) ms, the no-op server"
  echo "$(field "$half_null" warmup_p99_ms) / $(field "$half_null" warmup_max_ms) ms, the floor $(field "$half_floor" warmup_p99_ms) / $(field "$half_floor" warmup_max_ms) ms."
  echo
  echo "Paired open loops at half the peak, the measure the p99 target is judged by (the order of each"
  echo "round is reversed in the next; no stall watcher beside them; each after a warm-up of $warmup s):"
  echo
  half_rounds_table
  echo
  echo "Bounds measured in the same run: a Beast server answering 202 without work, the better of one"
  echo "thread per core ($(field "$one_bound_all" req_per_s) req/s of 1 record, $(field "$hundred_bound_all" req_per_s) of 100) and one thread"
  echo "($(field "$one_bound_single" req_per_s) and $(field "$hundred_bound_single" req_per_s))"
  echo "and JetStream async publish from one connection ($(field "$js_one" msg_per_s) msg/s of $((one_body + 2)) B,"
  echo "$(field "$js_hundred" msg_per_s) msg/s of $hundred_body B). The bound of a scenario is the lower of the two."
  echo
  echo "CPU per request (user + system), where the two cores go (server: the gateway, or the floor's server):"
  echo
  echo "| scenario | server µs | nats-server µs | load generator µs |"
  echo "| --- | --- | --- | --- |"
  printf '%s\n' "${cpu_rows[@]}"
  echo
  echo "## Delivery"
  echo
  echo "| scenario | result | bound | of bound |"
  echo "| --- | --- | --- | --- |"
  echo "| end to end, ingest → row visible in Postgres, open loop at $e2e_rate req/s of 1 record, pl_delivery_max_interval_ms 200 | $e2e_summary | p99 < 1000 ms (target) | - |"
  echo "| Postgres sink from a backlog of $pg_sink_records records (batches of 1000; $pg_sink_settled, as before the bound) | $pg_sink_rps records/s | COPY of the same rows: $pg_copy_rps records/s | $(ratio "$pg_sink_rps" "$pg_copy_rps") |"
  echo "| the same, drained as soon as its fill ended ($pg_at_once_records records; $pg_at_once_settled; not judged) | $pg_at_once_rps records/s | the same COPY bound | $(ratio "$pg_at_once_rps" "$pg_copy_rps") |"
  echo "| Postgres sink from a backlog of $pg_big_records records (batches of 10000) | $pg_big_rps records/s | the same COPY bound | $(ratio "$pg_big_rps" "$pg_copy_rps") |"
  echo "| the same sink, batches of 1000, against COPY committing every 1000 rows | $pg_sink_rps records/s | \\copy in transactions of 1000, two sessions at once: $pg_copy_batched_rps records/s | $(ratio "$pg_sink_rps" "$pg_copy_batched_rps") |"
  echo "| webhook sink from a backlog of $webhook_records records, to the no-op Beast server | $webhook_rps records/s | no-op server with 100-record bodies: $(field "$hundred_bound" records_per_s) records/s | $(ratio "$webhook_rps" "$(field "$hundred_bound" records_per_s)") |"
  echo
  echo "CPU per record delivered (µs): Postgres sink: $pg_sink_cpu (batches of 10000: $pg_big_cpu); webhook sink: $webhook_cpu."
  echo
  echo "Peak RSS (VmHWM) after every scenario:"
  echo
  echo "| process | MB |"
  echo "| --- | --- |"
  peak_rss_rows
  echo
  if ((${#soak_samples[@]})); then
    echo "Soak: ${BP_BENCH_SOAK_SECONDS}s open loop at $soak_rate req/s into the pipe delivering to a webhook; RSS in MB every 10 s (seconds:gateway/worker):"
    echo "${soak_samples[*]}"
    echo
    echo "Soak result: $(grep -o '"req_per_s":[0-9]*\|"p99_ms":[0-9.]*\|"status":{[^}]*}' <<<"$soak_result" | tr '\n' ' ')"
    echo
  fi
  echo "Gateway peak RSS: $((rss_kb / 1024)) MB. Messages stored in BP_INGEST after the run (the bound's included): $stored."
  echo
  echo "## Against the targets"
  echo
  targets
  echo
  refused_loads
  release_summary
  settle_summary
  echo
  echo "Raw results:"
  echo
  echo '```'
  printf '%s\n' "$one_bound_all" "$one_bound_single" "$hundred_bound_all" "$hundred_bound_single" "$js_one" "$js_hundred" \
    "$one" "$half" "$half_delivering" "$hundred" "$cors" "$floor_one" "$floor_hundred" "$half_null" "$half_floor" \
    "$one_t1" "$half_t1" "$hundred_t1" "$floor1_one" "$half_floor1" "$half_nolinger"
  echo '```'
} | tee "$report"
