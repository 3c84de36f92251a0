# shellcheck shell=bash
# nats-server with JetStream as a plain process: store under STORE_DIR, pid and log by the name
# `nats` in BP_RUN_DIR and BP_LOG_DIR.

# nats_start STORE_DIR PORT MONITOR_PORT: starts nats-server unless it already runs with these
# ports (other ports: restarted). Returns non-zero, with the log's tail, on failure.
nats_start() {
  local store="$1" port="$2" mon="$3"
  local addr="127.0.0.1:$port monitor 127.0.0.1:$mon" health="http://127.0.0.1:$mon/healthz" pid bin
  bin="$(command -v nats-server)" || die "nats-server not found (package nats-server)"
  if pid="$(proc_pid nats nats-server)"; then
    if [[ "$(proc_addr nats)" == "$addr" ]]; then
      log "NATS already running (pid $pid, $addr)"
      wait_until "$BP_READY_TIMEOUT" "$pid" http_ok "$health" && return 0
      show_log_tail "$(proc_log nats)"
      warn "NATS runs but its /healthz fails on 127.0.0.1:$mon"
      return 1
    fi
    log "NATS runs with other ports: restarting it"
    proc_stop NATS nats nats-server || return 1
  fi
  check_port_free "$port" BP_NATS_PORT || return 1
  check_port_free "$mon" BP_NATS_MONITOR_PORT || return 1

  mkdir -p -- "$store"
  # The gateway accepts bodies up to BP_MAX_BODY_BYTES (32 MiB by default) and publishes each as
  # one message: raise NATS's 1 MB default to its 64 MB maximum. Only a config file can set it.
  printf 'max_payload: 67108864\n' >"$store.conf"
  # BP_NATS_PROF_PORT: Go's profiler (pprof) on that loopback port, to look inside nats-server.
  [[ -z "${BP_NATS_PROF_PORT:-}" ]] || printf 'prof_port: %s\n' "$BP_NATS_PROF_PORT" >>"$store.conf"
  # Go runs as many threads as the machine has cores. Here nats-server shares the cores with the
  # gateway, the worker and Postgres, and with two Go threads its goroutines hand each batch of
  # publishes from one thread to the other: at 33k publishes/s on 2 cores it spent 16 µs per
  # message, against 8.7 µs with GOMAXPROCS=1 (docs/decisions/0008). Half the cores, at least one,
  # unless BP_NATS_GOMAXPROCS says otherwise.
  local procs="${BP_NATS_GOMAXPROCS:-$(($(nproc) / 2))}"
  ((procs >= 1)) || procs=1
  pid="$(GOMAXPROCS="$procs" spawn nats "$addr" "$health" "$bin" -c "$store.conf" -js -sd "$store" -a 127.0.0.1 -p "$port" -m "$mon")" ||
    return 1
  local rc=0
  wait_until "$BP_READY_TIMEOUT" "$pid" http_ok "$health" || rc=$?
  if ((rc != 0)); then
    show_log_tail "$(proc_log nats)"
    if ((rc == 2)); then
      warn "NATS exited during start-up"
    else
      warn "NATS not healthy after ${BP_READY_TIMEOUT}s"
    fi
    proc_stop NATS nats nats-server >/dev/null 2>&1 || true
    return 1
  fi
  log "NATS ready on 127.0.0.1:$port (monitor 127.0.0.1:$mon, pid $pid)"
}

nats_stop() { proc_stop NATS nats nats-server; }
