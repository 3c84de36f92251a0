#!/usr/bin/env bash
# Instructions per ingest request, counted by callgrind: a measure of the gateway's own code that
# does not move with the machine's speed (bench/README.md). Starts a private local stack, then
# for each gateway binary given (default: this build's) a second gateway with one I/O thread and
# the stack's settings under callgrind; warms it up, zeroes the counts, runs a closed loop, dumps
# the counts and divides them by the requests the gateway answered meanwhile.
# Usage: bash bench/instructions.sh [SECONDS=5] [RECORDS=1] [GATEWAY_BINARY...]
set -euo pipefail
export LC_NUMERIC=C
repo="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
seconds="${1:-5}"
records="${2:-1}"
shift $(($# < 2 ? $# : 2))
bin="${BP_BUILD_DIR:-$repo/build}/bin"
binaries=("$@")
((${#binaries[@]})) || binaries=("$bin/batchpipe-gateway")
cd "$repo"
command -v valgrind >/dev/null || { echo "valgrind is needed: apt-get install valgrind" >&2; exit 1; }

# shellcheck source=bench/stack.sh
source "$repo/bench/stack.sh"
vg_pid=""
cleanup() {
  [[ -z "$vg_pid" ]] || kill "$vg_pid" 2>/dev/null || true
  bench_stack_down
}
trap cleanup EXIT
bench_stack_up
pipe="$(new_pipe '{"name":"bench"}')"
settings=()
while IFS= read -r line; do settings+=("$line"); done < <(gateway_settings)

requests_total() { curl -sf "$1/metrics" | awk '$1 == "bp_gateway_requests_total" { print $2 }'; }
load() { "$bin/bp_loadgen" --url="$1/v1/ingest/$pipe" --key="$key" --records="$records" --seconds="$2" --connections=64; }

echo "| gateway | records/request | requests counted | instructions/request | statuses |"
echo "| --- | --- | --- | --- | --- |"
for binary in "${binaries[@]}"; do
  port="$(free_port)"
  url="http://127.0.0.1:$port"
  out="$BP_DATA_DIR/callgrind.$port"
  env "${settings[@]}" "BP_HTTP_LISTEN=127.0.0.1:$port" BP_THREADS=1 \
    valgrind --tool=callgrind --callgrind-out-file="$out" "$binary" >"$BP_DATA_DIR/callgrind-$port.log" 2>&1 &
  vg_pid=$!
  ready=""
  for _ in $(seq 300); do curl -sf -o /dev/null "$url/readyz" && ready=1 && break; sleep 0.2; done
  [[ -n "$ready" ]] || { echo "$binary did not get ready under valgrind: $BP_DATA_DIR/callgrind-$port.log" >&2; exit 1; }
  load "$url" 2 >/dev/null  # connections, caches and the publisher's buffers in their steady state
  # The scrapes stay outside the counted window; `after` counts itself, hence the - 1 below.
  before="$(requests_total "$url")"
  callgrind_control -z "$vg_pid" >/dev/null 2>&1 || { echo "callgrind_control -z failed" >&2; exit 1; }
  result="$(load "$url" "$seconds")"
  callgrind_control -d "$vg_pid" >/dev/null 2>&1 || { echo "callgrind_control -d failed" >&2; exit 1; }
  after="$(requests_total "$url")"
  kill "$vg_pid"
  wait "$vg_pid" 2>/dev/null || true
  vg_pid=""
  # The dump after zeroing is part 1.
  total="$(awk '/^summary:/ { print $2; exit }' "$out.1")"
  requests=$((after - before - 1))
  printf '| %s | %s | %s | %s | %s |\n' "$binary" "$records" "$requests" \
    "$(awk -v t="$total" -v n="$requests" 'BEGIN { if (n > 0) printf "%.0f", t / n; else print "-" }')" \
    "$(grep -o '"status":{[^}]*}' <<<"$result" | cut -d: -f2-)"
  if [[ -n "${BP_BENCH_ANNOTATE:-}" ]]; then
    callgrind_annotate --inclusive=no --threshold=100 "$out.1" 2>/dev/null | sed -n '/file:function/,$p' | sed -n "3,${BP_BENCH_ANNOTATE_LINES:-30}p"
  fi
  if [[ -n "${BP_BENCH_KEEP:-}" ]]; then
    mkdir -p "$BP_BENCH_KEEP"
    cp "$out.1" "$BP_BENCH_KEEP/callgrind.$(basename "$binary").$port"
    echo "kept: $BP_BENCH_KEEP/callgrind.$(basename "$binary").$port (callgrind_annotate --inclusive=yes FILE)"
  fi
done
