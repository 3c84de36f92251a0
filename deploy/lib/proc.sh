# shellcheck shell=bash
# Background processes known by a NAME: pid in $BP_RUN_DIR/NAME.pid, the addresses it serves and
# its readiness URL in $BP_RUN_DIR/NAME.addr (two lines), output in $BP_LOG_DIR/NAME.log.
# Start detached, check, stop.

proc_pidfile() { printf '%s\n' "$BP_RUN_DIR/$1.pid"; }
proc_log() { printf '%s\n' "$BP_LOG_DIR/$1.log"; }
proc_addr() { sed -n 1p -- "$BP_RUN_DIR/$1.addr" 2>/dev/null; }
proc_ready_url() { sed -n 2p -- "$BP_RUN_DIR/$1.addr" 2>/dev/null; }

# pid_field PID N: field N (3 = state, 5 = process group) of /proc/PID/stat.
pid_field() {
  local stat fields
  [[ "$1" =~ ^[0-9]+$ ]] || return 1
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  # The command name (field 2) is in parentheses and may contain spaces: split after it.
  read -r -a fields <<<"${stat##*) }"
  printf '%s\n' "${fields[$(($2 - 3))]}"
}

# True while PID exists and is not a zombie.
pid_running() {
  local state
  state="$(pid_field "$1" 3)" || return 1
  [[ -n "$state" && "$state" != Z && "$state" != X ]]
}

not_running() { ! pid_running "$1"; }

# True when PID runs PROGRAM: the file name of its argv[0], or of argv[1] for a script run by an
# interpreter.
pid_is() {
  local -a argv=()
  pid_running "$1" || return 1
  mapfile -t -d '' -n 2 argv <"/proc/$1/cmdline" 2>/dev/null || return 1
  [[ "${argv[0]##*/}" == "$2" || "${argv[1]:-}" == */"$2" ]]
}

# proc_pid NAME PROGRAM: prints the pid of NAME when it runs PROGRAM; fails otherwise (no pid
# file, process gone, or a stale pid now used by an unrelated process).
proc_pid() {
  local pidfile pid
  pidfile="$(proc_pidfile "$1")"
  [[ -s "$pidfile" ]] || return 1
  read -r pid <"$pidfile" || return 1
  pid_is "$pid" "$2" || return 1
  printf '%s\n' "$pid"
}

# spawn NAME ADDR READY_URL CMD...: runs CMD in a session of its own (it outlives this script
# and the terminal), output appended to NAME's log; records its pid (that of CMD itself), ADDR
# and READY_URL. Prints the pid.
spawn() {
  local name="$1" addr="$2" ready_url="$3" pidfile logfile
  shift 3
  pidfile="$(proc_pidfile "$name")"
  logfile="$(proc_log "$name")"
  rm -f -- "$pidfile"
  printf '%s\n' "$addr" "$ready_url" >"$BP_RUN_DIR/$name.addr"
  printf '\n===== %s starting: %s\n' "$(date -u +%FT%TZ)" "$*" >>"$logfile"
  # shellcheck disable=SC2016 # $$ and $@ belong to the inner shell
  nohup setsid bash -c 'echo "$$" >"$0" && exec "$@"' "$pidfile" "$@" >>"$logfile" 2>&1 </dev/null &
  local i
  for ((i = 0; i < 100; i++)); do
    if [[ -s "$pidfile" ]]; then
      cat -- "$pidfile"
      return 0
    fi
    sleep 0.05
  done
  warn "$name wrote no pid file ($pidfile)"
  return 1
}

# stop_pid LABEL PID: SIGTERM to the process (to its whole process group when it leads one),
# waits up to BP_STOP_TIMEOUT seconds, then SIGKILL.
stop_pid() {
  local label="$1" pid="$2" target="$2"
  [[ "$(pid_field "$pid" 5)" == "$pid" ]] && target="-$pid"
  kill -TERM -- "$target" 2>/dev/null || true
  if wait_until "$BP_STOP_TIMEOUT" '' not_running "$pid"; then
    log "stopped $label (pid $pid)"
    return 0
  fi
  warn "$label (pid $pid) did not stop within ${BP_STOP_TIMEOUT}s: sending SIGKILL"
  kill -KILL -- "$target" 2>/dev/null || true
  if ! wait_until 5 '' not_running "$pid"; then
    warn "$label (pid $pid) is still there after SIGKILL"
    return 1
  fi
  log "killed $label (pid $pid)"
}

# proc_stop LABEL NAME PROGRAM: stops NAME if it runs; forgets its pid and address.
proc_stop() {
  local label="$1" name="$2" pid
  if pid="$(proc_pid "$name" "$3")"; then
    stop_pid "$label" "$pid" || return 1
  else
    log "$label is not running"
  fi
  rm -f -- "$(proc_pidfile "$name")" "$BP_RUN_DIR/$name.addr"
}
