# shellcheck shell=bash
# Loopback TCP ports: is one taken, pick free ones (bash's /dev/tcp only: no python, no ss).

# True when something accepts connections on 127.0.0.1:PORT (which includes 0.0.0.0 and [::]).
port_in_use() {
  (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Ports handed out by pick_free_port in this run, so that two picks never collide.
BP_PICKED_PORTS=()

# pick_free_port VAR: sets VAR to a random free port below the kernel's ephemeral range (so that
# outgoing connections cannot grab it between the pick and the bind).
pick_free_port() {
  local -n _bp_port_out="$1"
  local low=20000 high=32767 ephemeral_low _ port picked attempt
  if read -r ephemeral_low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null &&
    ((ephemeral_low - 1 - low >= 1000)); then
    high=$((ephemeral_low - 1))
  fi
  for ((attempt = 0; attempt < 200; attempt++)); do
    port=$((low + ${SRANDOM:-$RANDOM} % (high - low + 1)))
    for picked in "${BP_PICKED_PORTS[@]}"; do
      [[ "$picked" == "$port" ]] && continue 2
    done
    port_in_use "$port" && continue
    BP_PICKED_PORTS+=("$port")
    _bp_port_out="$port"
    return 0
  done
  die "could not find a free TCP port in $low-$high on 127.0.0.1"
}

# check_port_free PORT VARIABLE: a clear message (and status 1) instead of a server failing to bind.
check_port_free() {
  port_in_use "$1" || return 0
  warn "port $1 on 127.0.0.1 is already in use by another process: stop it or set $2 to another port"
  return 1
}

# pick_free_port_block VAR: like pick_free_port, for a base port whose replica ports (+100, +200:
# instances 2 and 3 of a service, deploy/lib/services.sh) are free too.
pick_free_port_block() {
  local -n _bp_block_out="$1"
  local p attempt
  for ((attempt = 0; attempt < 50; attempt++)); do
    pick_free_port p
    ((p + 200 < 65535)) || continue
    port_in_use $((p + 100)) || port_in_use $((p + 200)) || {
      _bp_block_out="$p"
      BP_PICKED_PORTS+=($((p + 100)) $((p + 200)))
      return 0
    }
  done
  die "no free block of ports (base, +100, +200) found"
}
