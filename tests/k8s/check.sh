#!/usr/bin/env bash
# Renders every Kustomize overlay under k8s/overlays with `kubectl kustomize` and checks the
# objects (tests/k8s/check.mjs): images, probes, ports and BP_* names against what the binaries
# in BP_BIN_DIR read, securityContext, PodDisruptionBudgets, NetworkPolicies, autoscalers, the
# NATS cluster; also deploy/Dockerfile, deploy/docker-compose.yaml and the Grafana dashboard.
# ctest runs it (label k8s). Without kubectl or node it reports "skipped: ..." and exits 0.
set -euo pipefail

here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
repo="${BP_REPO_DIR:-$(cd -- "$here/../.." && pwd -P)}"
# BP_BIN_DIR (exported by deploy/batchpipe.sh test), else the bin directory of the ctest build
# tree (BP_BIN_DIR_DEFAULT, set in tests/CMakeLists.txt), else build/bin.
bin_dir="${BP_BIN_DIR:-${BP_BIN_DIR_DEFAULT:-$repo/build/bin}}"

if ! command -v kubectl >/dev/null 2>&1; then
  echo "skipped: kubectl not available (Debian bookworm does not package it; see docs/KUBERNETES.md)"
  exit 0
fi
if ! command -v node >/dev/null 2>&1; then
  echo "skipped: node not available (deploy/packages.txt installs nodejs)"
  exit 0
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/bp-k8s.XXXXXX")"
trap 'rm -rf -- "$work"' EXIT

# The base alone must render too (overlays build on it), but it is checked through them.
if ! kubectl kustomize "$repo/k8s/base" >"$work/base.yaml" 2>"$work/err"; then
  echo "FAIL kubectl kustomize k8s/base:" >&2
  cat "$work/err" >&2
  exit 1
fi
shopt -s nullglob
overlays=("$repo"/k8s/overlays/*/)
if ((${#overlays[@]} == 0)); then
  echo "FAIL no overlays under k8s/overlays" >&2
  exit 1
fi
for dir in "${overlays[@]}"; do
  name="$(basename -- "$dir")"
  if ! kubectl kustomize "$dir" >"$work/$name.yaml" 2>"$work/err"; then
    echo "FAIL kubectl kustomize k8s/overlays/$name:" >&2
    cat "$work/err" >&2
    exit 1
  fi
  echo "rendered k8s/overlays/$name ($(grep -c '^kind:' "$work/$name.yaml") objects)"
done

node "$here/check.mjs" --repo "$repo" --bin-dir "$bin_dir" --rendered "$work"
