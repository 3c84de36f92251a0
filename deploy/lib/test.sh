# shellcheck shell=bash
# `test`: throw-away Postgres and NATS on free loopback ports, then every test suite against them.

# Directories whose package.json holds a Node.js suite; absent ones are skipped silently.
BP_NODE_SUITES=(sdk/js tests/node tests/http)

# Durability is not worth waiting for in a cluster that is deleted afterwards.
BP_TEST_PG_OPTIONS='-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200'

cmd_test() {
  prepare_machine

  BP_TEST_DIR="$(mktemp -d /tmp/bp-test.XXXXXX)"
  chmod 755 -- "$BP_TEST_DIR" # mktemp makes it private; the postgres user must get through it
  trap test_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  BP_RUN_DIR="$BP_TEST_DIR/run"
  BP_LOG_DIR="$BP_TEST_DIR/logs"
  mkdir -p -- "$BP_RUN_DIR" "$BP_LOG_DIR"

  local pg_port nats_port mon_port
  pg_prepare "$BP_TEST_DIR/postgres" --no-sync
  test_start_with_free_ports PostgreSQL pg_port -- \
    pg_start "$BP_TEST_DIR/postgres" '{pg_port}' "$BP_TEST_PG_OPTIONS"
  test_start_with_free_ports NATS nats_port mon_port -- \
    nats_start "$BP_TEST_DIR/nats" '{nats_port}' '{mon_port}'

  export BP_TEST_PG_URL="postgresql://postgres@127.0.0.1:$pg_port/postgres"
  export BP_TEST_NATS_URL="nats://127.0.0.1:$nats_port"
  export BP_TEST_NATS_MONITOR_URL="http://127.0.0.1:$mon_port"
  export BP_BIN_DIR BP_REPO_DIR
  log "test environment: BP_TEST_PG_URL=$BP_TEST_PG_URL BP_TEST_NATS_URL=$BP_TEST_NATS_URL"

  local -a results=()
  local -a failed=()
  local ctest_summary=''
  local ctest_out="$BP_TEST_DIR/ctest.out"
  log "ctest ${*:-(all tests)}"
  set +e
  ctest --test-dir "$BP_BUILD_DIR" --output-on-failure -j"${BP_TEST_JOBS:-$(nproc)}" --timeout 900 "$@" 2>&1 |
    tee "$ctest_out"
  local rc="${PIPESTATUS[0]}"
  set -e
  ctest_summary="$(grep -E '^[0-9]+% tests passed' "$ctest_out" | tail -n 1)" || true
  if ((rc == 0)); then
    results+=("ctest: ok")
  else
    results+=("ctest: FAILED (exit $rc)")
    failed+=(ctest)
  fi

  local suite
  for suite in "${BP_NODE_SUITES[@]}"; do
    [[ -f "$BP_REPO_DIR/$suite/package.json" ]] || continue
    if run_node_suite "$suite"; then
      results+=("$suite: ok")
    else
      results+=("$suite: FAILED")
      failed+=("$suite")
    fi
  done

  test_stop_servers
  echo
  log "test summary"
  printf '  %s\n' "${results[@]}"
  # ctest's own closing line last, so whoever reads the end of the log sees the test count.
  [[ -z "$ctest_summary" ]] || printf '%s\n' "$ctest_summary"
  ((${#failed[@]} == 0)) || die "failed: ${failed[*]}"
}

# `test-sanitized`: cmd_test on a build with ASan and UBSan (CMake option BP_SANITIZE). Every
# UBSan finding stops the test that meets it, except those fuzz/ubsan.supp suppresses (each
# with its reason); leak checking is off (gRPC and protobuf keep process-lifetime allocations).
cmd_test_sanitized() {
  export BP_CMAKE_ARGS="${BP_CMAKE_ARGS:+$BP_CMAKE_ARGS }-DBP_SANITIZE=ON"
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1:suppressions=$BP_REPO_DIR/fuzz/ubsan.supp}"
  [[ "${BP_TEST_NODE:-0}" == 1 ]] || BP_NODE_SUITES=()
  if (($# == 0)); then
    cmd_test -L 'unit|integration'
  else
    cmd_test "$@"
  fi
}

# test_start_with_free_ports LABEL VAR... -- CMD...: picks a free port for each VAR, replaces
# {VAR} in CMD by it and runs CMD; when CMD fails because another process took one of the ports
# meanwhile, tries again with new ports (three times at most).
test_start_with_free_ports() {
  local label="$1" attempt var arg
  shift
  local -a vars=()
  while [[ "$1" != -- ]]; do
    vars+=("$1")
    shift
  done
  shift
  for ((attempt = 1; attempt <= 3; attempt++)); do
    local -a cmd=("$@")
    for var in "${vars[@]}"; do
      pick_free_port "$var"
      local i
      for i in "${!cmd[@]}"; do
        arg="${cmd[$i]}"
        cmd[i]="${arg//\{$var\}/${!var}}"
      done
    done
    "${cmd[@]}" && return 0
    local taken=0
    for var in "${vars[@]}"; do
      port_in_use "${!var}" && taken=1
    done
    ((taken)) || break
    warn "a port was taken meanwhile: retrying $label on other ports"
  done
  die "$label did not start (logs in $BP_LOG_DIR; BP_KEEP_TEST_DIR=1 keeps them)"
}

run_node_suite() {
  local dir="$BP_REPO_DIR/$1"
  command -v npm >/dev/null 2>&1 || {
    warn "npm not found: cannot run $1"
    return 1
  }
  log "node tests in $1"
  # Explicit checks: `set -e` does not apply inside a function called from an `if`.
  (
    cd -- "$dir" || exit 1
    if [[ -f package-lock.json || -f npm-shrinkwrap.json ]]; then
      npm ci --no-audit --no-fund || exit 1
    else
      npm install --no-audit --no-fund --no-package-lock || exit 1
    fi
    npm test
  )
}

test_stop_servers() {
  BP_STOP_TIMEOUT=10
  nats_stop
  pg_stop "$BP_TEST_DIR/postgres"
  BP_TEST_SERVERS_STOPPED=1
}

# On every exit: stop the servers (unless done already), remove the directory (kept with
# BP_KEEP_TEST_DIR=1).
test_cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  [[ -n "${BP_TEST_SERVERS_STOPPED:-}" ]] || test_stop_servers
  if [[ "${BP_KEEP_TEST_DIR:-0}" == 1 ]]; then
    log "kept test directory $BP_TEST_DIR (logs in $BP_LOG_DIR)"
  else
    rm -rf -- "$BP_TEST_DIR"
  fi
  exit "$rc"
}
