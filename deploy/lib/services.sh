# shellcheck shell=bash
# The three BatchPipe services of the local stack: their settings, start, readiness, bootstrap.
# A service runs as BP_<SERVICE>_REPLICAS instances: the first is named after the service
# (gateway), instance N > 1 is NAME-N (gateway-2) and listens on each port + 100 * (N - 1).

# svc_instances SERVICE: the instance names of SERVICE, one per line.
svc_instances() {
  local replicas i
  case "$1" in
  control-plane) replicas="$BP_CONTROL_PLANE_REPLICAS" ;;
  gateway) replicas="$BP_GATEWAY_REPLICAS" ;;
  delivery-worker) replicas="$BP_WORKER_REPLICAS" ;;
  *) die "unknown service '$1'" ;;
  esac
  printf '%s\n' "$1"
  for ((i = 2; i <= replicas; i++)); do printf '%s\n' "$1-$i"; done
}

# Every instance of every service, in start order.
all_instances() {
  local svc
  for svc in "${BP_SERVICES[@]}"; do svc_instances "$svc"; done
}

# svc_service NAME: the service an instance name belongs to (gateway-2 -> gateway).
svc_service() { printf '%s\n' "${1%-[2-9]}"; }

# svc_offset NAME: what is added to the service's ports for this instance.
svc_offset() {
  local n=1
  [[ "$1" =~ -([2-9])$ ]] && n="${BASH_REMATCH[1]}"
  printf '%s\n' $((100 * (n - 1)))
}

# The gRPC target of the control-plane for its clients: one address, or every replica's
# (gRPC's ipv4: scheme; the clients balance round-robin across them and skip one that is down).
control_plane_target() {
  local i
  local -a addrs=()
  for ((i = 1; i <= BP_CONTROL_PLANE_REPLICAS; i++)); do
    addrs+=("127.0.0.1:$((BP_CONTROL_PLANE_GRPC_PORT + 100 * (i - 1)))")
  done
  if ((${#addrs[@]} == 1)); then
    printf '%s\n' "${addrs[0]}"
  else
    local IFS=,
    printf 'ipv4:%s\n' "${addrs[*]}"
  fi
}

# svc_config NAME: sets SVC_ENV (the BP_* variables instance NAME runs with), SVC_PORTS (the
# ports it listens on, as "PORT SETTING" pairs), SVC_READY_URL and SVC_ADDR (for `status`).
svc_config() {
  local nats_url="nats://127.0.0.1:$BP_NATS_PORT"
  local offset http_port
  offset="$(svc_offset "$1")"
  case "$(svc_service "$1")" in
  control-plane)
    local grpc="127.0.0.1:$((BP_CONTROL_PLANE_GRPC_PORT + offset))"
    http_port=$((BP_CONTROL_PLANE_HTTP_PORT + offset))
    SVC_ENV=(
      "BP_PG_URL=postgresql://postgres@127.0.0.1:$BP_PG_PORT/batchpipe"
      "BP_NATS_URL=$nats_url"
      "BP_GRPC_LISTEN=$grpc"
      "BP_HTTP_LISTEN=127.0.0.1:$http_port"
      "BP_MASTER_KEY_FILE=$BP_DATA_DIR/master.key"
    )
    SVC_PORTS=("${grpc#*:} BP_CONTROL_PLANE_GRPC_PORT" "$http_port BP_CONTROL_PLANE_HTTP_PORT")
    SVC_ADDR="grpc $grpc, http 127.0.0.1:$http_port"
    ;;
  gateway)
    http_port=$((BP_GATEWAY_PORT + offset))
    SVC_ENV=(
      "BP_HTTP_LISTEN=127.0.0.1:$http_port"
      "BP_CONTROL_PLANE_ADDR=$(control_plane_target)"
      "BP_NATS_URL=$nats_url"
      # glibc's per-thread cache keeps 7 freed blocks of each size; the gateway frees a burst of
      # requests at once when their acks arrive (decision 0012). Added to tunables of yours,
      # unless they set the count themselves.
      "GLIBC_TUNABLES=$(gateway_tunables)"
    )
    SVC_PORTS=("$http_port BP_GATEWAY_PORT")
    SVC_ADDR="http 127.0.0.1:$http_port"
    ;;
  delivery-worker)
    http_port=$((BP_WORKER_HTTP_PORT + offset))
    SVC_ENV=(
      "BP_CONTROL_PLANE_ADDR=$(control_plane_target)"
      "BP_NATS_URL=$nats_url"
      "BP_HTTP_LISTEN=127.0.0.1:$http_port"
      # Local development posts to webhooks on this machine; production keeps the default (off).
      "BP_WEBHOOK_ALLOW_PRIVATE=1"
      "BP_FILE_SINK_ROOT=$BP_DATA_DIR/files"
    )
    SVC_PORTS=("$http_port BP_WORKER_HTTP_PORT")
    SVC_ADDR="http 127.0.0.1:$http_port"
    ;;
  *) die "unknown service '$1'" ;;
  esac
  SVC_READY_URL="http://127.0.0.1:$http_port/readyz"
}

# The gateway's GLIBC_TUNABLES: the caller's, with glibc.malloc.tcache_count=64 (decision 0012)
# and glibc.malloc.trim_threshold=33554432 (decision 0018) unless they set them.
gateway_tunables() {
  local tunables="${GLIBC_TUNABLES:-}"
  [[ "$tunables" == *glibc.malloc.tcache_count=* ]] || tunables="${tunables:+$tunables:}glibc.malloc.tcache_count=64"
  [[ "$tunables" == *glibc.malloc.trim_threshold=* ]] || tunables="$tunables:glibc.malloc.trim_threshold=33554432"
  echo "$tunables"
}

# svc_start NAME: starts instance NAME and waits until it is ready. One that already runs with
# the same binary and settings is left alone; otherwise it is restarted.
svc_start() {
  local name="$1" program bin config pid
  program="batchpipe-$(svc_service "$1")"
  bin="$BP_BIN_DIR/$program"
  svc_config "$name"
  # What the running process was started with: settings, inherited BP_* variables (BP_LOG_LEVEL...)
  # and which build of the binary.
  config="$(printf '%s\n' "${SVC_ENV[@]}" "binary $bin $(stat -c '%Y %s' -- "$bin")")"
  local inherited
  inherited="$(inherited_bp_env)"
  [[ -z "$inherited" ]] || config+=$'\n'"$inherited"
  local config_file="$BP_RUN_DIR/$name.config"

  if pid="$(proc_pid "$name" "$program")"; then
    if [[ "$(cat -- "$config_file" 2>/dev/null)" == "$config" ]]; then
      log "$name already running (pid $pid, $SVC_ADDR)"
      svc_wait_ready "$name" "$pid"
      return 0
    fi
    log "$name: binary or settings changed, restarting it"
    proc_stop "$name" "$name" "$program" || die "could not stop $name"
  fi

  local port_setting
  for port_setting in "${SVC_PORTS[@]}"; do
    # shellcheck disable=SC2086 # "PORT SETTING"
    check_port_free ${port_setting} || die "could not start $name"
  done
  printf '%s\n' "$config" >"$config_file"
  pid="$(spawn "$name" "$SVC_ADDR" "$SVC_READY_URL" env "${SVC_ENV[@]}" "$bin")" ||
    die "could not start $name"
  svc_wait_ready "$name" "$pid"
  log "$name ready ($SVC_ADDR, pid $pid)"
}

# Exported BP_* variables that the services see besides SVC_ENV, minus this script's own settings.
inherited_bp_env() {
  local script_vars='BP_(DATA_DIR|BUILD_DIR|BIN_DIR|REPO_DIR|[A-Z_]*_PORT|WORKSPACE_NAME|READY_TIMEOUT'
  script_vars+='|STOP_TIMEOUT|[A-Z_]*_REPLICAS|SKIP_[A-Z]*|CMAKE_ARGS|BUILD_JOBS|TEST_[A-Z_]*|KEEP_TEST_DIR|PG_BIN_DIR|LOG_LINES)='
  env | grep -E '^BP_[A-Z0-9_]*=' | grep -vE "^$script_vars" | sort || true
}

svc_wait_ready() {
  local name="$1" pid="$2" rc=0
  wait_until "$BP_READY_TIMEOUT" "$pid" http_ok "$SVC_READY_URL" || rc=$?
  ((rc == 0)) && return 0
  show_log_tail "$(proc_log "$name")" 40
  if ((rc == 2)); then
    warn "$name exited during start-up"
  else
    warn "$name not ready after ${BP_READY_TIMEOUT}s ($SVC_READY_URL)"
  fi
  proc_stop "$name" "$name" "batchpipe-$(svc_service "$name")" >/dev/null 2>&1 || true
  die "$name failed to start; full log: $(proc_log "$name")"
}

svc_stop() { proc_stop "$1" "$1" "batchpipe-$(svc_service "$1")"; }

# started_instances SERVICE: instances of SERVICE that have a pid file (this `up` or an earlier
# one with more replicas).
started_instances() {
  local f name
  for f in "$BP_RUN_DIR/$1.pid" "$BP_RUN_DIR/$1"-[2-9].pid; do
    [[ -e "$f" ]] || continue
    name="${f##*/}"
    printf '%s\n' "${name%.pid}"
  done
}

# bootstrap_workspace: creates workspace BP_WORKSPACE_NAME once. Sets BOOTSTRAP_API_KEY and
# BOOTSTRAP_WORKSPACE_ID when it was created now; both stay empty when it already existed.
bootstrap_workspace() {
  BOOTSTRAP_API_KEY='' BOOTSTRAP_WORKSPACE_ID=''
  svc_config control-plane
  local logfile out line
  logfile="$(proc_log bootstrap)"
  printf '\n===== %s bootstrap --workspace-name=%s\n' "$(date -u +%FT%TZ)" "$BP_WORKSPACE_NAME" >>"$logfile"
  # stdout holds the key: captured here only, never written to a file.
  if ! out="$(env "${SVC_ENV[@]}" "$BP_BIN_DIR/batchpipe-control-plane" bootstrap \
    --workspace-name="$BP_WORKSPACE_NAME" 2>>"$logfile" </dev/null)"; then
    show_log_tail "$logfile" 40
    die "workspace bootstrap failed"
  fi
  if [[ -z "$out" ]]; then
    log "workspace '$BP_WORKSPACE_NAME' already exists (its API key was shown when it was created)"
    return 0
  fi
  while IFS= read -r line; do
    case "$line" in
    workspace_id=*) BOOTSTRAP_WORKSPACE_ID="${line#workspace_id=}" ;;
    api_key=*) BOOTSTRAP_API_KEY="${line#api_key=}" ;;
    esac
  done <<<"$out"
  [[ -n "$BOOTSTRAP_API_KEY" ]] ||
    die "bootstrap printed output without an api_key= line (see $logfile)"
  log "workspace '$BP_WORKSPACE_NAME' created"
}

print_api_key_banner() {
  local base="http://127.0.0.1:$BP_GATEWAY_PORT"
  cat <<EOF

==============================================================================
 Workspace '$BP_WORKSPACE_NAME' created${BOOTSTRAP_WORKSPACE_ID:+ (id $BOOTSTRAP_WORKSPACE_ID)}.
 Its API key is shown ONLY THIS ONCE and is not stored anywhere: copy it now.

   $BOOTSTRAP_API_KEY

 Try it:
   curl -sS $base/v1/health
   curl -sS -H 'Authorization: Bearer $BOOTSTRAP_API_KEY' $base/v1/pipes
==============================================================================

EOF
}
