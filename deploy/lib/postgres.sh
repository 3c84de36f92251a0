# shellcheck shell=bash
# PostgreSQL as a plain process in a directory of ours: BASE/data (cluster), BASE/socket.
# Postgres refuses to run as root, so as root every server command runs as the postgres user.
#
# Authentication is `trust` for local sockets and 127.0.0.1: anyone on this machine can connect
# as any role. That is a deliberate local-only choice (nothing listens beyond loopback); never
# use these clusters for anything but local development and tests.

pg_bin_dir() {
  if [[ -n "${BP_PG_BIN_DIR:-}" ]]; then
    printf '%s\n' "$BP_PG_BIN_DIR"
  elif [[ -x /usr/lib/postgresql/15/bin/postgres ]]; then
    printf '%s\n' /usr/lib/postgresql/15/bin
  else
    # Another Debian release: the newest installed major version.
    local dir
    dir="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin 2>/dev/null | sort -V | tail -n 1)"
    [[ -n "$dir" ]] || die "PostgreSQL server binaries not found under /usr/lib/postgresql (package postgresql)"
    printf '%s\n' "$dir"
  fi
}

# Sets PG_BIN, the directory of initdb, pg_ctl, psql... (once).
pg_init_bin() { PG_BIN="${PG_BIN:-$(pg_bin_dir)}"; }

pg_as_owner() {
  if ((EUID == 0)); then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# Not recursive: what initdb and the server create inside is theirs already.
pg_chown() {
  ((EUID == 0)) || return 0
  chown postgres:postgres -- "$@"
}

# pg_prepare BASE [INITDB_ARGS...]: directories with the right owner, and a cluster in BASE/data.
pg_prepare() {
  local base="$1"
  shift
  check_plain_path "$base"
  pg_init_bin
  mkdir -p -- "$base/data" "$base/socket"
  chmod 700 -- "$base/data"
  pg_chown "$base" "$base/data" "$base/socket"
  pg_as_owner test -w "$base/socket" ||
    die "the postgres user cannot reach $base (is a parent directory private, like /root?): set BP_DATA_DIR to a directory under /var/tmp or /srv"
  [[ -s "$base/data/PG_VERSION" ]] && return 0

  log "creating PostgreSQL cluster in $base/data"
  if ! pg_as_owner "$PG_BIN/initdb" -D "$base/data" -U postgres --auth=trust -E UTF8 --locale=C \
    --no-instructions "$@" >"$base/initdb.log" 2>&1; then
    show_log_tail "$base/initdb.log" 40
    die "initdb failed"
  fi
}

# The postmaster's pid when the cluster in BASE runs.
pg_pid() {
  local pidfile="$1/data/postmaster.pid" pid
  [[ -r "$pidfile" ]] || return 1
  read -r pid <"$pidfile" || return 1
  pid_is "$pid" postgres || return 1
  printf '%s\n' "$pid"
}

# The port the running cluster in BASE listens on (line 4 of postmaster.pid).
pg_running_port() { sed -n 4p "$1/data/postmaster.pid" 2>/dev/null; }

# As user postgres: without -U, pg_isready would log a FATAL "role root does not exist" per poll.
pg_ready() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$1" -U postgres -d postgres -t 1; }

# pg_start BASE PORT [EXTRA_SERVER_OPTIONS]: starts the cluster unless it already runs on PORT
# (running on another port: restarted); log in $BP_LOG_DIR/postgres.log. Returns non-zero, with
# the log's tail, on failure.
pg_start() {
  local base="$1" port="$2" extra="${3:-}" logfile
  logfile="$(proc_log postgres)"
  pg_init_bin
  local pid
  if pid="$(pg_pid "$base")"; then
    local running_port
    running_port="$(pg_running_port "$base")"
    if [[ "$running_port" == "$port" ]]; then
      log "PostgreSQL already running (pid $pid, 127.0.0.1:$port)"
      wait_until "$BP_READY_TIMEOUT" "$pid" pg_ready "$port" && return 0
      show_log_tail "$logfile" 40
      warn "PostgreSQL runs but does not accept connections on port $port"
      return 1
    fi
    log "PostgreSQL runs on port $running_port, $port wanted: restarting it"
    pg_stop "$base" || return 1
  fi
  check_port_free "$port" BP_PG_PORT || return 1

  touch -- "$logfile"
  pg_chown "$logfile"
  printf '\n===== %s starting PostgreSQL on 127.0.0.1:%s\n' "$(date -u +%FT%TZ)" "$port" >>"$logfile"
  # pg_ctl detaches the postmaster into its own session and waits until it accepts connections.
  if ! pg_as_owner "$PG_BIN/pg_ctl" -D "$base/data" -l "$logfile" -s -w -t "$BP_READY_TIMEOUT" \
    -o "-c listen_addresses=127.0.0.1 -p $port -k '$base/socket' $extra" start >/dev/null; then
    show_log_tail "$logfile" 40
    warn "PostgreSQL did not start on 127.0.0.1:$port"
    return 1
  fi
  if ! wait_until "$BP_READY_TIMEOUT" '' pg_ready "$port"; then
    show_log_tail "$logfile" 40
    warn "PostgreSQL started but pg_isready fails on 127.0.0.1:$port"
    return 1
  fi
  log "PostgreSQL ready on 127.0.0.1:$port (pid $(pg_pid "$base" || echo '?'))"
}

# Fast shutdown (SIGINT: rolls back open transactions, unlike SIGTERM's wait for every client),
# then SIGKILL after BP_STOP_TIMEOUT.
pg_stop() {
  local base="$1" pid
  if ! pid="$(pg_pid "$base")"; then
    log "PostgreSQL is not running"
    return 0
  fi
  pg_init_bin
  if pg_as_owner "$PG_BIN/pg_ctl" -D "$base/data" -s -m fast -w -t "$BP_STOP_TIMEOUT" stop >/dev/null 2>&1; then
    log "stopped PostgreSQL (pid $pid)"
    return 0
  fi
  warn "PostgreSQL (pid $pid) did not stop within ${BP_STOP_TIMEOUT}s: sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  if ! wait_until 5 '' not_running "$pid"; then
    warn "PostgreSQL (pid $pid) is still there after SIGKILL"
    return 1
  fi
  log "killed PostgreSQL (pid $pid)"
}

# pg_ensure_database PORT NAME: creates database NAME once.
pg_ensure_database() {
  local port="$1" name="$2" exists
  pg_init_bin
  exists="$("$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = '$name'")" || die "cannot query PostgreSQL on port $port"
  [[ "$exists" == 1 ]] && return 0
  "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U postgres "$name" || die "createdb $name failed"
  log "created database $name"
}
