# shellcheck shell=bash
# The three BatchPipe services of the local stack: their settings, start, readiness, bootstrap.

# svc_config NAME: sets SVC_ENV (the BP_* variables it runs with), SVC_PORT_VARS (the settings
# naming the ports it listens on), SVC_READY_URL and SVC_ADDR (for `status`).
svc_config() {
  local nats_url="nats://127.0.0.1:$BP_NATS_PORT"
  local control_plane="127.0.0.1:$BP_CONTROL_PLANE_GRPC_PORT"
  local http_port
  case "$1" in
  control-plane)
    http_port="$BP_CONTROL_PLANE_HTTP_PORT"
    SVC_ENV=(
      "BP_PG_URL=postgresql://postgres@127.0.0.1:$BP_PG_PORT/batchpipe"
      "BP_NATS_URL=$nats_url"
      "BP_GRPC_LISTEN=$control_plane"
      "BP_HTTP_LISTEN=127.0.0.1:$http_port"
      "BP_MASTER_KEY_FILE=$BP_DATA_DIR/master.key"
    )
    SVC_PORT_VARS=(BP_CONTROL_PLANE_GRPC_PORT BP_CONTROL_PLANE_HTTP_PORT)
    SVC_ADDR="grpc $control_plane, http 127.0.0.1:$http_port"
    ;;
  gateway)
    http_port="$BP_GATEWAY_PORT"
    SVC_ENV=(
      "BP_HTTP_LISTEN=127.0.0.1:$http_port"
      "BP_CONTROL_PLANE_ADDR=$control_plane"
      "BP_NATS_URL=$nats_url"
    )
    SVC_PORT_VARS=(BP_GATEWAY_PORT)
    SVC_ADDR="http 127.0.0.1:$http_port"
    ;;
  delivery-worker)
    http_port="$BP_WORKER_HTTP_PORT"
    SVC_ENV=(
      "BP_CONTROL_PLANE_ADDR=$control_plane"
      "BP_NATS_URL=$nats_url"
      "BP_HTTP_LISTEN=127.0.0.1:$http_port"
      # Local development posts to webhooks on this machine; production keeps the default (off).
      "BP_WEBHOOK_ALLOW_PRIVATE=1"
      "BP_FILE_SINK_ROOT=$BP_DATA_DIR/files"
    )
    SVC_PORT_VARS=(BP_WORKER_HTTP_PORT)
    SVC_ADDR="http 127.0.0.1:$http_port"
    ;;
  *) die "unknown service '$1'" ;;
  esac
  SVC_READY_URL="http://127.0.0.1:$http_port/readyz"
}

# svc_start NAME: starts batchpipe-NAME and waits until it is ready. One that already runs with
# the same binary and settings is left alone; otherwise it is restarted.
svc_start() {
  local name="$1" program="batchpipe-$1" bin config pid
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

  local var
  for var in "${SVC_PORT_VARS[@]}"; do
    check_port_free "${!var}" "$var" || die "could not start $name"
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
  script_vars+='|STOP_TIMEOUT|SKIP_[A-Z]*|CMAKE_ARGS|BUILD_JOBS|TEST_[A-Z_]*|KEEP_TEST_DIR|PG_BIN_DIR|LOG_LINES)='
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
  proc_stop "$name" "$name" "batchpipe-$name" >/dev/null 2>&1 || true
  die "$name failed to start; full log: $(proc_log "$name")"
}

svc_stop() { proc_stop "$1" "$1" "batchpipe-$1"; }

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
