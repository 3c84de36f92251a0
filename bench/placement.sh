#!/usr/bin/env bash
# Where the cores went while an open loop at half the peak ran. Starts a private stack, measures
# the peak (a closed loop), then runs LOOPS open loops at half of it, each under
# `perf sched record`. For every 100 ms of a loop it sums, per CPU, the time the gateway,
# nats-server, the load generator, everything else and the idle task ran, beside the requests of
# that 100 ms that took longer than 5 ms at the load generator. It prints the slices with the most
# slow requests beside one from the middle of the loop; how many slow requests fell in slices where
# nats-server ran mostly on another CPU than the gateway, and in slices where the machine most
# likely stopped.
# Usage: bash bench/placement.sh [LOOPS=3] [SECONDS=8]. Needs perf (Debian package linux-perf).
# The trace costs a little CPU of its own (one event per context switch).
set -euo pipefail
export LC_NUMERIC=C
repo="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
loops="${1:-3}"
seconds="${2:-8}"
bin="${BP_BUILD_DIR:-$repo/build}/bin"
command -v perf >/dev/null || { echo "bench/placement.sh needs perf (Debian package linux-perf)" >&2; exit 1; }
cd "$repo"

# shellcheck source=bench/stack.sh
source "$repo/bench/stack.sh"
trap bench_stack_down EXIT
bench_stack_up
pipe="$(new_pipe '{"name":"bench"}')"
load() { "$bin/bp_loadgen" --url="$gw/v1/ingest/$pipe" --key="$key" --connections=64 "$@"; }

peak="$(load --seconds="$seconds")"
rate="$(awk -v r="$(field "$peak" req_per_s)" 'BEGIN { printf "%d", r / 2 }')"
echo "# Placement at half the peak ($(date -u +%FT%TZ), $(git rev-parse --short HEAD), $(nproc) CPUs, kernel $(uname -r))"
echo
echo "Peak (closed loop, ${seconds} s): $(field "$peak" req_per_s) req/s; the open loops run at $rate req/s."
for f in /proc/sys/kernel/sched_vcpu_pack /proc/sys/kernel/sched_autogroup_enabled; do
  if [[ -r "$f" ]]; then echo "$(basename "$f"): $(cat "$f")"; fi
done

for ((i = 1; i <= loops; i++)); do
  trace="$BP_DATA_DIR/sched-$i.data"
  perf sched record -k CLOCK_MONOTONIC -a -o "$trace" -- sleep "$((seconds + 1))" >/dev/null 2>&1 &
  perf_pid=$!
  sleep 0.5
  result="$(load --seconds="$seconds" --rate="$rate" --slow-ms=5 2>"$BP_DATA_DIR/slow-$i.txt")"
  wait "$perf_pid" || true
  perf sched timehist -i "$trace" --state 2>/dev/null >"$BP_DATA_DIR/timehist-$i.txt"
  echo
  echo "## Loop $i: $(field "$result" req_per_s) req/s, p99 $(field "$result" p99_ms) ms, max $(field "$result" max_ms) ms, $(wc -l <"$BP_DATA_DIR/slow-$i.txt") requests over 5 ms"
  echo
  # slow-N.txt: "slow at_ms=… latency_ms=… sent_late_ms=… connection=…", at_ms from the load's
  # start. timehist: time, [cpu], task[tid/pid], wait, sch delay, run time (ms), state; each line
  # ends a turn on that CPU, which is spread over the slices it spans. A turn far longer than the
  # scheduler's slices (over 50 ms) is most likely the machine stopped under it: the guest's clock
  # runs on while the host holds its CPU.
  awk -v start="$(field "$result" started_monotonic_s)" -v seconds="$seconds" '
    FNR == NR { split($2, a, "="); slow[int(a[2] / 100)]++; next }
    FNR <= 3 { next }
    {
      e = ($1 - start) * 1000; r = $(NF - 1); s = e - r
      if (e <= 0 || s >= seconds * 1000) next
      cpu = substr($2, 2, length($2) - 2) + 0; cpus[cpu] = 1
      g = $3 ~ /^batchpipe-gatew/ ? "gateway" : $3 ~ /^nats-server/ ? "nats-server" : $3 ~ /^bp_loadgen/ ? "load generator" : $3 ~ /^<idle>/ ? "idle" : "other"
      for (b = int((s < 0 ? 0 : s) / 100); b * 100 < e && b < seconds * 10; b++) {
        lo = s > b * 100 ? s : b * 100; hi = e < (b + 1) * 100 ? e : (b + 1) * 100
        run[b, cpu, g] += hi - lo; seen[b] = 1
        if (g != "idle" && r > longest[b]) longest[b] = r
      }
    }
    function cell(b, c) {
      return sprintf("%.0f / %.0f / %.0f / %.0f / %.0f", run[b, c, "gateway"], run[b, c, "nats-server"],
                     run[b, c, "load generator"], run[b, c, "other"], run[b, c, "idle"])
    }
    function row(b, label,   line, c) {
      line = sprintf("| %s | %d | %.1f |", label, slow[b], longest[b])
      for (c = 0; c in cpus; c++) line = line " " cell(b, c) " |"
      print line
    }
    END {
      n = 0; stopped = 0; slow_stopped = 0; slow_all = 0; apart = 0; slow_apart = 0
      for (b in seen) {
        n++; order[n] = b; slow_all += slow[b]
        if (longest[b] > 50) { stopped++; slow_stopped += slow[b] }
        # Apart: less than half of the time nats-server ran in this slice was on the CPU where the
        # gateway ran most (the two hand every publish and its ack to each other).
        gc = -1; nats_all = 0
        for (c = 0; c in cpus; c++) { nats_all += run[b, c, "nats-server"]; if (gc < 0 || run[b, c, "gateway"] > run[b, gc, "gateway"]) gc = c }
        if (run[b, gc, "nats-server"] < nats_all / 2) { apart++; slow_apart += slow[b] }
      }
      header = "| 100 ms from | requests over 5 ms | longest turn (ms) |"
      rule = "| --- | --- | --- |"
      for (c = 0; c in cpus; c++) { header = header " CPU " c ": gateway / nats-server / load generator / other / idle (ms) |"; rule = rule " --- |" }
      print header; print rule
      # The five slices with the most slow requests, then the slice at the middle of the loop.
      for (k = 1; k <= 5; k++) {
        best = -1
        for (j = 1; j <= n; j++) if (!(order[j] in shown) && (best < 0 || slow[order[j]] > slow[best])) best = order[j]
        if (best < 0 || slow[best] == 0) break
        shown[best] = 1
        row(best, (best * 100) " ms")
      }
      row(int(seconds * 5), (int(seconds * 5) * 100) " ms (the middle, for comparison)")
      printf "\nSlices in which nats-server ran mostly on another CPU than the gateway: %d of %d; they hold %d of the %d requests over 5 ms.\n", apart, n, slow_apart, slow_all
      printf "Slices with a turn over 50 ms (the machine stopped, most likely): %d of %d; they hold %d of the %d requests over 5 ms.\n", stopped, n, slow_stopped, slow_all
    }' "$BP_DATA_DIR/slow-$i.txt" "$BP_DATA_DIR/timehist-$i.txt"
  rm -f "$trace"
  sleep 1
done
