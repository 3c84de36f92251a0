# Shared by the bench scripts (sourced): a private local stack on free ports, in
# /var/tmp/bp-bench-<pid>, with the first API key; pipes as the scenarios need them. Sourcing it
# sets BP_DATA_DIR, so that nothing here can touch a stack of yours.
export BP_DATA_DIR="/var/tmp/bp-bench-$$"

# free_port: a port nothing listens on and that no earlier call handed out. The scripts take all
# their ports before anything listens on them: without the list (a file, since each call runs in a
# subshell), two of the 14 could be the same: in one run (2026-12-06) the one-thread no-op server
# found its port taken and aborted ("bind: Address already in use").
ports_handed_out="$BP_DATA_DIR.ports"
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 12000))
    ! grep -qx "$p" "$ports_handed_out" 2>/dev/null || continue
    (echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
    echo "$p" >>"$ports_handed_out"
    echo "$p"
    return
  done
}

# field JSON NAME: a number from a load generator's (or another tool's) one-line JSON summary.
field() { grep -o "\"$2\":[0-9.]*" <<<"$1" | head -n 1 | cut -d: -f2; }

# bench_stack_up: starts the stack (deploy/batchpipe.sh up) on free ports; sets key, gw and auth.
bench_stack_up() {
  export BP_PG_PORT="$(free_port)" BP_NATS_PORT="$(free_port)" BP_NATS_MONITOR_PORT="$(free_port)"
  export BP_GATEWAY_PORT="$(free_port)" BP_CONTROL_PLANE_GRPC_PORT="$(free_port)"
  export BP_CONTROL_PLANE_HTTP_PORT="$(free_port)" BP_WORKER_HTTP_PORT="$(free_port)"
  local up_log
  up_log="$(bash deploy/batchpipe.sh up 2>&1)" || { echo "$up_log" >&2; return 1; }
  key="$(grep -o 'bp_v1_[A-Za-z0-9]*' <<<"$up_log" | head -n 1)"
  [[ -n "$key" ]] || { echo "no API key in the output of up" >&2; return 1; }
  gw="http://127.0.0.1:$BP_GATEWAY_PORT"
  auth="Authorization: Bearer $key"
}

bench_stack_down() {
  bash deploy/batchpipe.sh down >/dev/null 2>&1 || true
  # BP_BENCH_KEEP=DIR: keep every process's log (the stack's and the bench's own) for reading later.
  if [[ -n "${BP_BENCH_KEEP:-}" ]]; then
    mkdir -p "$BP_BENCH_KEEP"
    cp "$BP_DATA_DIR"/logs/*.log "$BP_DATA_DIR"/*.log "$BP_BENCH_KEEP"/ 2>/dev/null || true
  fi
  rm -rf -- "$BP_DATA_DIR" "$ports_handed_out"
}

# new_pipe BODY: a pipe with a blocked destination (with interest retention a pipe without
# destinations keeps nothing, which would measure less work than a real pipe: STACK-NOTES).
new_pipe() {
  local body="$1" id
  id="$(curl -sf -X POST "$gw/v1/pipes" -H "$auth" -H 'Content-Type: application/json' -d "$body" |
    grep -o '"id":"[^"]*"' | head -n 1 | cut -d'"' -f4)"
  hold_pipe "$id"
  echo "$id"
}
# retrying WHAT COMMAND...: runs COMMAND until it succeeds, every 2 s for a minute; then says it
# cannot WHAT and fails.
retrying() {
  local what="$1" tries=0
  shift
  until "$@"; do
    ((++tries < 30)) || { echo "cannot $what" >&2; return 1; }
    sleep 2
  done
}
# held_destination PIPE: adds PIPE's held destination and notes its id (one try).
held_destination() {
  local id
  id="$(curl -sf -X POST "$gw/v1/pipes/$1/destinations" -H "$auth" -H 'Content-Type: application/json' \
    -d '{"type":"file","name":"held","destination_status":"blocked","config":{"path":"bench"}}' |
    grep -o '"id":"[^"]*"' | head -n 1 | cut -d'"' -f4)" && [[ -n "$id" ]] && echo "$id" >"$BP_DATA_DIR/held.$1"
}
# hold_pipe PIPE: adds the blocked destination that keeps every record PIPE takes in; its id is
# kept in $BP_DATA_DIR/held.PIPE for release_pipe. Retried every 2 s for a minute: while
# nats-server deletes a consumer with millions of messages it answers no other JetStream request,
# and the control-plane answers 503 after 5 s.
hold_pipe() { retrying "add the held destination to $1" held_destination "$1"; }
# consumers: how many consumers nats-server has, all streams together. From the streams' counts:
# asking for the consumers themselves makes nats-server count every consumer's pending
# messages, which a 0.5-s poll of it during a drain showed in the witness's p99.
consumers() {
  curl -sf "http://127.0.0.1:$BP_NATS_MONITOR_PORT/jsz?streams=true" |
    grep -o '"consumer_count": *[0-9]*' | awk '{ n += $NF } END { print n + 0 }'
}
# release_pipe PIPE: empties PIPE's part of the store, then holds it again. Its held destination
# is deleted, and with interest retention its consumer's messages go with it (nats-server
# removes what no consumer is left to want). A full run ingests more into held pipes than the
# stream holds (BP_STREAM_MAX_BYTES, 10 GB): on 2026-12-07 its 100-record loops were answered 503
# for 82-85% of their requests, and a Postgres fill was accepted nothing. The DELETE answers at
# once; with more than 1,000 messages held, the control-plane then drains the consumer (8,000
# messages and 64 MiB a second) and deletes it (decision 0021), and the release waits for that
# before the pipe is held again. The two waits (the DELETE's; the drain and the new hold) go to
# $BP_DATA_DIR/releases for the report (release_summary). The `sync` writes back what is left
# dirty, so that the next scenario does not start under the write-back.
#
# With release_witness set (an ingest URL of another pipe), an open loop of 1,000 one-record
# requests a second runs into that pipe from just before the DELETE until the pipe is held again.
# Its p99 and maximum (columns 3 and 4 of the releases file) show what the release costs everyone
# else's ingest: before the drain, nats-server removed a deleted consumer's messages at once,
# under the lock of the one stream every pipe publishes into, and the witness waited up to 9.4 s
# (docs/BENCHMARKS.md, eighteenth day session).
release_pipe() {
  local url t0 t1 t2 witness_pid="" witness="-1 -1"
  url="$gw/v1/pipes/$1/destinations/$(cat "$BP_DATA_DIR/held.$1")"
  if [[ -n "${release_witness:-}" ]]; then
    # Stopped below; the 1,800 s (more than the drain's half hour of waiting) only bound a
    # witness left behind by a release that failed.
    "${bin:?}/bp_loadgen" --seconds=1800 --rate=1000 --connections=8 --records=1 --url="$release_witness" --key="$key" \
      >"$BP_DATA_DIR/witness.json" &
    witness_pid=$!
    sleep 0.5
  fi
  local before i
  before="$(consumers)"
  t0="$(date +%s%N)"
  retrying "delete $url" curl -sf -o /dev/null -X DELETE "$url" -H "$auth"
  t1="$(date +%s%N)"
  # The drain, then the consumer's deletion (nothing else makes or deletes consumers meanwhile).
  for ((i = 0; i < 3600; i++)); do
    (("$(consumers)" < before)) && break
    sleep 0.5
  done
  hold_pipe "$1"
  t2="$(date +%s%N)"
  if [[ -n "$witness_pid" ]]; then
    kill -TERM "$witness_pid" 2>/dev/null || true
    wait "$witness_pid" 2>/dev/null || true
    local out
    out="$(cat "$BP_DATA_DIR/witness.json" 2>/dev/null)"
    # Only a witness whose every request was answered 202 gives figures; "-2" marks one that was not.
    if [[ "$(field "$out" accepted)" == "$(field "$out" requests)" && "$(field "$out" errors)" == 0 && -n "$out" ]]; then
      witness="$(field "$out" p99_ms) $(field "$out" max_ms)"
    else
      witness="-2 -2"
    fi
  fi
  echo "$(((t1 - t0) / 1000000)) $(((t2 - t1) / 1000000)) $witness" >>"$BP_DATA_DIR/releases"
  sync
}

# purge_pipe PIPE: empties PIPE's part of the store in place (a JetStream purge of its subject,
# bench/js_purge.cc) and writes back what is left dirty. Faster than release_pipe (1-2 s for a few
# GB, and the pipe stays held): the 100-record paired rounds empty the pipe before every arm, and
# the floor's 100-record window after the gateway's, so that each starts from the same store and
# page cache. Without it a round's later arms ran against gigabytes written by the earlier ones,
# and whichever came first after an emptying was fastest: on 2026-12-07, 5-s arms of JetStream
# publish and the gateway, alternating, took 17.3-19.0k msg/s and 12.2-12.9k req/s purged before
# each, and 7.5-20.2k and 6.2-8.2k not.
purge_pipe() {
  local out
  out="$("${bin:?}/bp_js_purge" "nats://127.0.0.1:$BP_NATS_PORT" BP_INGEST "bp.in.$1")" || return
  field "$out" seconds >>"$BP_DATA_DIR/purges"
  sync
}

# settle: writes back what the page cache holds dirty (`sync`) before a timed load, and notes how
# much that was in $BP_DATA_DIR/settles for the report (settle_summary). Without it a load met the
# write-back of what the loads before it had written: nats-server's stream files, about 225 MB per
# 10-s window of 1-record requests, written back from 30 s after they were written
# (vm.dirty_expire_centisecs). On 2026-12-07, after 20 s of JetStream publish (850-900 MB dirty),
# open loops at 25,000 req/s took a p99 of 10.4-15.6 ms from the no-op server, which writes
# nothing, and 4.1-7.0 ms from the gateway; after a purge and a `sync`, 0.7-3.3 and 2.4-4.1 ms
# (four rounds each, alternating; the store's size alone made no such difference). A loop's own
# write-back is part of its load and stays: a 40-s loop (its own pages written back from 30 s
# on) had the p99 of a 5-s one.
settle() {
  dirty_mb >>"$BP_DATA_DIR/settles"
  sync
}
# dirty_mb: the page cache's dirty pages now, in MB.
dirty_mb() { awk '/^Dirty:/ { printf "%d\n", $2 / 1024 }' /proc/meminfo; }
# settle_summary: one line on the settles of this run, for the report.
settle_summary() {
  [[ -s "$BP_DATA_DIR/settles" ]] || return 0
  sort -n "$BP_DATA_DIR/settles" | awk '{ d[NR] = $1; if ($1 >= 100) big++ }
    END { printf "Every timed load started with the page cache written back (bench/stack.sh settle): %d loads; %d of them found 100 MB or more dirty, at most %d MB.\n", NR, big, d[NR] }'
}

# release_summary: one line on the releases and purges of this run, for the report.
release_summary() {
  [[ -s "$BP_DATA_DIR/releases" ]] || return 0
  sort -n "$BP_DATA_DIR/releases" | awk '
    { d[NR] = $1; if ($2 > g) g = $2
      if (NF >= 4 && $3 == -2) bad++
      else if (NF >= 4 && $3 >= 0) { w++; if ($3 > wp) wp = $3; if ($4 > wm) { wm = $4; wd = $1 + $2 } } }
    END { printf "Releases of held pipes (bench/stack.sh release_pipe): %d; the DELETE answered in %d ms at the median, %d ms at most; the consumer was drained and deleted, and the pipe held again, at most %d ms after (decision 0021).", NR, d[int((NR + 1) / 2)], d[NR], g
          if (w > 0) printf " Meanwhile an open loop of 1,000 req/s into another pipe (the witness) got a p99 of at most %.1f ms and a maximum of %.1f ms (in the release that took %d ms): what deleting a deep consumer costs the pipes that share its stream.", wp, wm, wd
          if (bad > 0) printf " In %d release(s) the witness had answers other than 202.", bad
          printf "\n" }'
  [[ -s "$BP_DATA_DIR/purges" ]] || return 0
  sort -n "$BP_DATA_DIR/purges" | awk '{ p[NR] = $1 }
    END { printf "Purges of the held pipe (bench/stack.sh purge_pipe, before every arm of the 100-record rounds and the 100-record floor window): %d, %.2f s at the median, %.2f s at most.\n", NR, p[int((NR + 1) / 2)], p[NR] }'
}

# gateway_settings: the stack's gateway settings (BP_* and its allocator setting, decision 0012),
# one per line, for starting another gateway like it.
gateway_settings() { grep -E '^(BP_[A-Z0-9_]*|GLIBC_TUNABLES)=' "$BP_DATA_DIR/run/gateway.config"; }
