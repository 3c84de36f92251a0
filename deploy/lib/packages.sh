# shellcheck shell=bash
# Debian packages from deploy/packages.txt: install the missing ones, print nothing otherwise.

# Package names from packages.txt, without comments and blank lines.
package_list() {
  sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$BP_DEPLOY_DIR/packages.txt"
}

# The packages that dpkg does not report as installed, one per line.
missing_packages() {
  local -a wanted=()
  local pkg
  while IFS= read -r pkg; do
    # A Node.js from elsewhere (nodesource, /usr/local/bin) must not be replaced by Debian's.
    case "$pkg" in
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
    esac
    wanted+=("$pkg")
  done < <(package_list)
  ((${#wanted[@]})) || return 0

  local installed
  # dpkg-query exits 1 (and names them on stderr) when some packages are unknown to it.
  installed="$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${wanted[@]}" 2>/dev/null |
    awk '$2 == "installed" { print $1 }')" || true
  for pkg in "${wanted[@]}"; do
    grep -qxF -- "$pkg" <<<"$installed" || printf '%s\n' "$pkg"
  done
}

install_packages() {
  command -v dpkg-query >/dev/null 2>&1 || die "dpkg-query not found: these scripts need Debian (bookworm)"
  local -a missing
  mapfile -t missing < <(missing_packages)
  ((${#missing[@]})) || return 0

  local -a sudo=()
  if ((EUID != 0)); then
    command -v sudo >/dev/null 2>&1 || die "missing packages (${missing[*]}) and not root: run as root or install them"
    sudo=(sudo)
  fi
  log "installing ${#missing[@]} missing Debian package(s): ${missing[*]}"
  local apt_log
  apt_log="$(mktemp /tmp/bp-apt.XXXXXX)"
  if ! "${sudo[@]}" apt-get update -qq >"$apt_log" 2>&1; then
    show_log_tail "$apt_log" 40
    rm -f -- "$apt_log"
    die "apt-get update failed"
  fi
  if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$apt_log" 2>&1; then
    show_log_tail "$apt_log" 40
    rm -f -- "$apt_log"
    die "apt-get install failed"
  fi
  rm -f -- "$apt_log"
  # Anything still missing (a typo in packages.txt, a held package) is an error, not a surprise later.
  mapfile -t missing < <(missing_packages)
  ((${#missing[@]} == 0)) || die "still missing after apt-get install: ${missing[*]}"
  log "packages installed"
}
