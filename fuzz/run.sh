#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in build-fuzz (ccache), replays the committed corpus
# and regression inputs, then fuzzes each target for SECONDS (default 20) from that corpus.
# Exits non-zero on the first crash; the input is kept in build-fuzz/crashes/<target>/.
#   bash fuzz/run.sh [SECONDS]            (ctest runs it with 20: label fuzz)
#   bash fuzz/run.sh 600                  a longer run; new interesting inputs go to build-fuzz/corpus
set -euo pipefail
here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
repo="$(cd -- "$here/.." && pwd -P)"
seconds="${1:-20}"
build="${BP_FUZZ_BUILD_DIR:-$repo/build-fuzz}"
targets=(ingest_body router destination_config http_request)

if ! command -v clang++ >/dev/null 2>&1; then
  echo "skipped: clang++ not found (deploy/packages.txt installs clang and libclang-rt-14-dev)"
  exit 0
fi
if ! echo 'int main(){}' | clang++ -x c++ -fsanitize=fuzzer-no-link,address -o /dev/null - 2>/dev/null; then
  echo "skipped: clang cannot link with -fsanitize (install libclang-rt-14-dev)"
  exit 0
fi

launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
mkdir -p "$build"
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ -DBP_FUZZ=ON \
    "${launcher[@]}" >"$build/configure.log" 2>&1 || { cat "$build/configure.log"; exit 1; }
fi
cmake --build "$build" -j"${BP_BUILD_JOBS:-$(nproc)}" --target "${targets[@]/#/fuzz_}" >"$build/build.log" 2>&1 ||
  { tail -50 "$build/build.log"; exit 1; }

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$here/ubsan.supp"
for t in "${targets[@]}"; do
  bin="$build/bin/fuzz_$t"
  work="$build/corpus/$t"
  crashes="$build/crashes/$t"
  mkdir -p "$work" "$crashes"
  # Regressions first (inputs that crashed once), then the committed corpus, without mutation.
  inputs=("$here/corpus/$t")
  [[ -d "$here/regressions/$t" ]] && inputs+=("$here/regressions/$t")
  "$bin" -runs=0 "${inputs[@]}" >"$crashes/replay.log" 2>&1 || { tail -40 "$crashes/replay.log"; echo "FAIL fuzz_$t: corpus replay"; exit 1; }
  "$bin" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=1024 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$crashes/" "$work" "$here/corpus/$t" >"$crashes/fuzz.log" 2>&1 ||
    { tail -40 "$crashes/fuzz.log"; echo "FAIL fuzz_$t: a crash, input in $crashes (add it to fuzz/regressions/$t once fixed)"; exit 1; }
  echo "fuzz_$t: $(grep -o 'stat::number_of_executed_units: [0-9]*' "$crashes/fuzz.log" | tail -1 | cut -d' ' -f2 || true) runs in ${seconds}s, $(grep -c '' <(ls "$work")) corpus entries"
done
