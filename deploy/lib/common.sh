# shellcheck shell=bash
# Shared helpers for deploy/batchpipe.sh: messages, settings with defaults, polling.

# Messages go to stderr so that functions can return values on stdout.
if [[ -t 2 && -z "${NO_COLOR:-}" ]]; then
  _bp_bold=$'\e[1m' _bp_red=$'\e[31m' _bp_yellow=$'\e[33m' _bp_reset=$'\e[0m'
else
  _bp_bold='' _bp_red='' _bp_yellow='' _bp_reset=''
fi

log() { printf '%s==>%s %s\n' "$_bp_bold" "$_bp_reset" "$*" >&2; }
warn() { printf '%swarning:%s %s\n' "$_bp_yellow" "$_bp_reset" "$*" >&2; }
die() {
  printf '%serror:%s %s\n' "$_bp_red" "$_bp_reset" "$*" >&2
  exit 1
}

# Settings: every BP_* variable below can be overridden from the environment.
load_settings() {
  local repo_hash
  repo_hash="$(printf '%s' "$BP_REPO_DIR" | sha256sum | cut -c1-10)"
  # Outside the repository on purpose: the postgres user must be able to traverse every parent
  # directory, which is not true of /root or of many home directories.
  BP_DATA_DIR="${BP_DATA_DIR:-/var/tmp/batchpipe-$repo_hash}"
  BP_BUILD_DIR="${BP_BUILD_DIR:-build}"
  [[ "$BP_BUILD_DIR" == /* ]] || BP_BUILD_DIR="$BP_REPO_DIR/$BP_BUILD_DIR"
  BP_BIN_DIR="${BP_BIN_DIR:-$BP_BUILD_DIR/bin}"
  BP_PG_PORT="${BP_PG_PORT:-54329}"
  BP_NATS_PORT="${BP_NATS_PORT:-42229}"
  BP_NATS_MONITOR_PORT="${BP_NATS_MONITOR_PORT:-8229}"
  BP_GATEWAY_PORT="${BP_GATEWAY_PORT:-8080}"
  BP_CONTROL_PLANE_GRPC_PORT="${BP_CONTROL_PLANE_GRPC_PORT:-7070}"
  BP_CONTROL_PLANE_HTTP_PORT="${BP_CONTROL_PLANE_HTTP_PORT:-7071}"
  BP_WORKER_HTTP_PORT="${BP_WORKER_HTTP_PORT:-7072}"
  BP_WORKSPACE_NAME="${BP_WORKSPACE_NAME:-default}"
  # Local replicas of each service (the multi-replica shape of a deployment, on one machine).
  # Instance N > 1 is named NAME-N and listens on each of the service's ports + 100 * (N - 1).
  BP_GATEWAY_REPLICAS="${BP_GATEWAY_REPLICAS:-1}"
  BP_CONTROL_PLANE_REPLICAS="${BP_CONTROL_PLANE_REPLICAS:-1}"
  BP_WORKER_REPLICAS="${BP_WORKER_REPLICAS:-1}"
  BP_READY_TIMEOUT="${BP_READY_TIMEOUT:-30}"
  BP_STOP_TIMEOUT="${BP_STOP_TIMEOUT:-20}"

  local name
  for name in BP_PG_PORT BP_NATS_PORT BP_NATS_MONITOR_PORT BP_GATEWAY_PORT \
    BP_CONTROL_PLANE_GRPC_PORT BP_CONTROL_PLANE_HTTP_PORT BP_WORKER_HTTP_PORT; do
    if ! [[ "${!name}" =~ ^[0-9]+$ ]] || ((${!name} < 1 || ${!name} > 65535)); then
      die "$name must be a TCP port number, got '${!name}'"
    fi
  done
  for name in BP_GATEWAY_REPLICAS BP_CONTROL_PLANE_REPLICAS BP_WORKER_REPLICAS; do
    [[ "${!name}" =~ ^[1-9]$ ]] || die "$name must be a number of replicas from 1 to 9, got '${!name}'"
  done
  for name in BP_GATEWAY_PORT BP_CONTROL_PLANE_GRPC_PORT BP_CONTROL_PLANE_HTTP_PORT BP_WORKER_HTTP_PORT; do
    ((${!name} + 800 <= 65535)) || die "$name must leave room for replicas (+100 each), got '${!name}'"
  done
  for name in BP_READY_TIMEOUT BP_STOP_TIMEOUT; do
    [[ "${!name}" =~ ^[0-9]+$ ]] || die "$name must be a number of seconds, got '${!name}'"
  done
}

# Microseconds since the epoch, without forking (EPOCHREALTIME's separator follows the locale).
now_us() { printf '%s' "${EPOCHREALTIME//[!0-9]/}"; }

# wait_until TIMEOUT_S PID CMD...: polls CMD every 0.1 s until it succeeds (0), TIMEOUT_S passes
# (1) or, when PID is not empty, that process is gone (2).
wait_until() {
  local timeout_s="$1" pid="$2"
  shift 2
  local deadline=$(($(now_us) + timeout_s * 1000000))
  while true; do
    "$@" && return 0
    if [[ -n "$pid" ]] && ! pid_running "$pid"; then
      "$@" && return 0 # it may have become ready just before exiting
      return 2
    fi
    (($(now_us) < deadline)) || return 1
    sleep 0.1
  done
}

http_ok() { curl -sf -o /dev/null --max-time 2 "$1"; }

# Paths end up inside option strings (pg_ctl -o) and URLs: keep them to plain characters.
check_plain_path() {
  [[ "$1" =~ ^[A-Za-z0-9._/+@-]+$ ]] ||
    die "path '$1' may only contain letters, digits and . _ / + @ - (set another BP_DATA_DIR)"
}

# show_log_tail FILE [N]: the last N lines of FILE written since its last "=====" start marker.
show_log_tail() {
  local file="$1" lines="${2:-40}" from
  if [[ -s "$file" ]]; then
    from="$(grep -n '^===== ' -- "$file" | tail -n 1 | cut -d: -f1)" || true
    printf -- '----- last lines of %s -----\n' "$file" >&2
    tail -n "+${from:-1}" -- "$file" | tail -n "$lines" >&2
    printf -- '----- end of %s -----\n' "$file" >&2
  else
    printf '(log %s is empty or missing)\n' "$file" >&2
  fi
}
