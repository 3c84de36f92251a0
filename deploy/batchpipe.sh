#!/usr/bin/env bash
# BatchPipe on one Debian machine: install, build, run the local stack, run the test suites.
# Usage and settings: deploy/README.md, or `bash deploy/batchpipe.sh help`.
set -euo pipefail

BP_DEPLOY_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
BP_REPO_DIR="$(cd -- "$BP_DEPLOY_DIR/.." && pwd -P)"

# shellcheck source=SCRIPTDIR/lib/common.sh
source "$BP_DEPLOY_DIR/lib/common.sh"
# shellcheck source=SCRIPTDIR/lib/proc.sh
source "$BP_DEPLOY_DIR/lib/proc.sh"
# shellcheck source=SCRIPTDIR/lib/ports.sh
source "$BP_DEPLOY_DIR/lib/ports.sh"
# shellcheck source=SCRIPTDIR/lib/packages.sh
source "$BP_DEPLOY_DIR/lib/packages.sh"
# shellcheck source=SCRIPTDIR/lib/build.sh
source "$BP_DEPLOY_DIR/lib/build.sh"
# shellcheck source=SCRIPTDIR/lib/postgres.sh
source "$BP_DEPLOY_DIR/lib/postgres.sh"
# shellcheck source=SCRIPTDIR/lib/nats.sh
source "$BP_DEPLOY_DIR/lib/nats.sh"
# shellcheck source=SCRIPTDIR/lib/services.sh
source "$BP_DEPLOY_DIR/lib/services.sh"
# shellcheck source=SCRIPTDIR/lib/stack.sh
source "$BP_DEPLOY_DIR/lib/stack.sh"
# shellcheck source=SCRIPTDIR/lib/test.sh
source "$BP_DEPLOY_DIR/lib/test.sh"

usage() {
  cat <<'EOF'
Usage: bash deploy/batchpipe.sh COMMAND [ARGS]

  up              install missing packages, build, start Postgres, NATS and the three
                  services, bootstrap the workspace (its API key is printed once)
  down            stop everything (SIGTERM, then SIGKILL after BP_STOP_TIMEOUT seconds)
  status          what runs, on which ports (exit 3 unless everything is ready)
  logs [-f] [NAME]
                  recent log lines of every process, or of NAME (postgres, nats,
                  control-plane, gateway, delivery-worker, bootstrap); -f follows
  build           install missing packages and build
  test [CTEST_ARGS...]
                  install, build, start throw-away Postgres and NATS, run every test
                  suite (arguments go to ctest, e.g. -L unit), stop them
  test-sanitized [CTEST_ARGS...]
                  the same, built with AddressSanitizer and UndefinedBehaviorSanitizer
                  in build-asan (BP_BUILD_DIR); by default the unit and integration
                  tests only (-L 'unit|integration'); BP_TEST_NODE=1 adds the Node
                  suites, run against the sanitized services

Settings are BP_* environment variables: see deploy/README.md.
EOF
}

main() {
  local subcommand="${1:-help}"
  (($# == 0)) || shift
  case "$subcommand" in
  up | down | status | logs | test)
    load_settings
    "cmd_$subcommand" "$@"
    ;;
  test-sanitized)
    BP_BUILD_DIR="${BP_BUILD_DIR:-build-asan}"
    load_settings
    cmd_test_sanitized "$@"
    ;;
  build)
    (($# == 0)) || die "build takes no arguments"
    load_settings
    prepare_machine
    ;;
  help | -h | --help) usage ;;
  *)
    usage >&2
    die "unknown command '$subcommand'"
    ;;
  esac
}

main "$@"
