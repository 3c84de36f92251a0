# shellcheck shell=bash
# The local stack (`up`, `down`, `status`, `logs`): Postgres, NATS and the three services, all
# under BP_DATA_DIR.

# Everything `logs` knows, in start order.
BP_LOG_NAMES=(postgres nats control-plane gateway delivery-worker bootstrap)

stack_paths() {
  BP_RUN_DIR="$BP_DATA_DIR/run"
  BP_LOG_DIR="$BP_DATA_DIR/logs"
  BP_PG_BASE="$BP_DATA_DIR/postgres"
}

# install + build, unless BP_SKIP_INSTALL=1 / BP_SKIP_BUILD=1.
prepare_machine() {
  [[ "${BP_SKIP_INSTALL:-0}" == 1 ]] || install_packages
  [[ "${BP_SKIP_BUILD:-0}" == 1 ]] || build_all
}

ensure_master_key() {
  local key="$BP_DATA_DIR/master.key"
  if [[ ! -s "$key" ]]; then
    (umask 077 && openssl rand -hex 32 >"$key.tmp") || die "could not generate $key (openssl)"
    mv -- "$key.tmp" "$key"
    log "generated master key $key (it decrypts stored secrets: keep it with the data)"
  fi
  chmod 600 -- "$key"
}

cmd_up() {
  (($# == 0)) || die "up takes no arguments"
  prepare_machine
  require_binaries
  check_plain_path "$BP_DATA_DIR"
  stack_paths
  mkdir -p -- "$BP_RUN_DIR" "$BP_LOG_DIR" "$BP_DATA_DIR/files" "$BP_DATA_DIR/nats"
  chmod 755 -- "$BP_DATA_DIR" # the postgres user goes through it to its own directory
  pg_prepare "$BP_PG_BASE"
  ensure_master_key

  pg_start "$BP_PG_BASE" "$BP_PG_PORT" || die "PostgreSQL failed to start; log: $(proc_log postgres)"
  pg_ensure_database "$BP_PG_PORT" batchpipe
  nats_start "$BP_DATA_DIR/nats" "$BP_NATS_PORT" "$BP_NATS_MONITOR_PORT" ||
    die "NATS failed to start; log: $(proc_log nats)"

  local svc name
  for svc in "${BP_SERVICES[@]}"; do
    # Instances beyond the configured replicas (an earlier `up` with more) are stopped.
    while read -r name; do
      svc_instances "$svc" | grep -qx -- "$name" || svc_stop "$name"
    done < <(started_instances "$svc")
    while read -r name; do
      svc_start "$name"
    done < <(svc_instances "$svc")
  done
  bootstrap_workspace

  echo
  print_status || true
  echo
  echo "BatchPipe is up: gateway http://127.0.0.1:$BP_GATEWAY_PORT (stop with: bash deploy/batchpipe.sh down)"
  [[ -z "$BOOTSTRAP_API_KEY" ]] || print_api_key_banner
}

# Services first (gateway before the rest, so nothing new comes in), then NATS, then Postgres.
cmd_down() {
  (($# == 0)) || die "down takes no arguments"
  stack_paths
  if [[ ! -d "$BP_DATA_DIR" ]]; then
    log "nothing to stop ($BP_DATA_DIR does not exist)"
    return 0
  fi
  local rc=0 svc name
  for svc in gateway delivery-worker control-plane; do
    while read -r name; do
      svc_stop "$name" || rc=1
    done < <(started_instances "$svc")
  done
  nats_stop || rc=1
  pg_stop "$BP_PG_BASE" || rc=1
  ((rc == 0)) || die "some processes did not stop (see above)"
}

cmd_status() {
  (($# == 0)) || die "status takes no arguments"
  print_status
}

# One line per process. Exit status 0 when everything runs and is ready, 3 otherwise.
print_status() {
  stack_paths
  local all_ready=1 name pid state addr url
  printf '%-18s %-12s %-8s %s\n' PROCESS STATE PID ADDRESS
  local -a names=()
  mapfile -t names < <(all_instances)
  for name in postgres nats "${names[@]}"; do
    pid='-' addr='-' state='stopped'
    if [[ "$name" == postgres ]]; then
      if pid="$(pg_pid "$BP_PG_BASE")"; then
        addr="127.0.0.1:$(pg_running_port "$BP_PG_BASE")"
        pg_init_bin
        state='not-ready'
        pg_ready "${addr#*:}" && state='ready'
      fi
    else
      local program="batchpipe-$(svc_service "$name")"
      [[ "$name" == nats ]] && program=nats-server
      if pid="$(proc_pid "$name" "$program")"; then
        addr="$(proc_addr "$name")"
        url="$(proc_ready_url "$name")"
        state='not-ready'
        [[ -n "$url" ]] && http_ok "$url" && state='ready'
      fi
    fi
    [[ "$state" == ready ]] || all_ready=0
    printf '%-18s %-12s %-8s %s\n' "$name" "$state" "${pid:--}" "$addr"
  done
  printf '\ndata: %s\nlogs: %s\n' "$BP_DATA_DIR" "$BP_LOG_DIR"
  ((all_ready)) || return 3
}

cmd_logs() {
  stack_paths
  local follow=0
  if [[ "${1:-}" == -f || "${1:-}" == --follow ]]; then
    follow=1
    shift
  fi
  (($# <= 1)) || die "usage: logs [-f] [service]"
  local -a files=()
  local name
  if (($# == 1)); then
    name="${1#batchpipe-}"
    [[ " ${BP_LOG_NAMES[*]} " == *" ${name%-[2-9]} "* ]] ||
      die "unknown service '$1' (one of: ${BP_LOG_NAMES[*]}, or NAME-2... for a replica)"
    files=("$(proc_log "$name")")
    [[ -f "${files[0]}" ]] || die "no log yet for $name (${files[0]})"
  else
    local f
    for name in "${BP_LOG_NAMES[@]}"; do
      for f in "$(proc_log "$name")" "$BP_LOG_DIR/$name"-[2-9].log; do
        [[ -f "$f" ]] && files+=("$f")
      done
    done
    ((${#files[@]})) || die "no logs yet in $BP_LOG_DIR"
  fi
  if ((follow)); then
    exec tail -n 20 -F -- "${files[@]}"
  elif ((${#files[@]} == 1)); then
    tail -n "${BP_LOG_LINES:-100}" -- "${files[0]}"
  else
    tail -n "${BP_LOG_LINES:-20}" -- "${files[@]}"
  fi
}
