# shellcheck shell=bash
# CMake configure (only when needed) and build, through ccache.

BP_SERVICES=(control-plane gateway delivery-worker)

build_all() {
  export CCACHE_DIR="${CCACHE_DIR:-${HOME:-/root}/.ccache}"
  # Relative paths in the cache key, so clones in different directories share hits.
  export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$BP_REPO_DIR}"
  local cache="$BP_BUILD_DIR/CMakeCache.txt"

  if [[ -f "$cache" ]]; then
    local configured_src
    configured_src="$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$cache")"
    [[ -z "$configured_src" || "$configured_src" -ef "$BP_REPO_DIR" ]] ||
      die "$BP_BUILD_DIR was configured for another source tree ($configured_src): remove it or set BP_BUILD_DIR"
  fi
  # cmake --build re-runs the configure step by itself when a CMakeLists.txt changed; configure
  # here only for a new build directory, a failed earlier configure, or extra BP_CMAKE_ARGS.
  if [[ ! -f "$cache" || -n "${BP_CMAKE_ARGS:-}" ]] ||
    [[ ! -f "$BP_BUILD_DIR/Makefile" && ! -f "$BP_BUILD_DIR/build.ninja" ]]; then
    log "configuring $BP_BUILD_DIR"
    local -a extra=()
    # shellcheck disable=SC2206 # BP_CMAKE_ARGS is a list of words on purpose
    [[ -n "${BP_CMAKE_ARGS:-}" ]] && extra=(${BP_CMAKE_ARGS})
    cmake -S "$BP_REPO_DIR" -B "$BP_BUILD_DIR" -DCMAKE_BUILD_TYPE=Release "${extra[@]}" ||
      die "cmake configure failed"
  fi

  local jobs="${BP_BUILD_JOBS:-$(nproc)}"
  command -v ccache >/dev/null 2>&1 && ccache --zero-stats >/dev/null 2>&1
  log "building with $jobs job(s)"
  cmake --build "$BP_BUILD_DIR" -j"$jobs" || die "build failed"
  print_ccache_summary
}

print_ccache_summary() {
  command -v ccache >/dev/null 2>&1 || return 0
  local stats hits misses
  stats="$(ccache --print-stats 2>/dev/null)" || return 0
  hits="$(awk -F'\t' '$1 == "direct_cache_hit" || $1 == "preprocessed_cache_hit" { n += $2 } END { print n + 0 }' <<<"$stats")"
  misses="$(awk -F'\t' '$1 == "cache_miss" { n += $2 } END { print n + 0 }' <<<"$stats")"
  log "ccache: $hits hit(s), $misses miss(es) (CCACHE_DIR=$CCACHE_DIR)"
}

# Fails with a clear message unless the three service binaries exist.
require_binaries() {
  local svc bin
  for svc in "${BP_SERVICES[@]}"; do
    bin="$BP_BIN_DIR/batchpipe-$svc"
    [[ -x "$bin" ]] || die "$bin is missing: the build did not produce it (or set BP_BIN_DIR)"
  done
}
