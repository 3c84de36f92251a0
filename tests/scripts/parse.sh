#!/usr/bin/env bash
# Every shell script of the repository parses (`bash -n`): the deploy scripts, the benchmark and
# the test drivers. Most of them run only by hand or in long runs (bench/run.sh), where a
# syntax error would show only when someone runs them; a function body that does not parse
# stops every script that sources its file (on 2026-12-07 a quote inside an awk program in
# bench/stack.sh stopped bench/run.sh at its first line).
set -uo pipefail
repo="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)"
cd "$repo"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t scripts < <(git ls-files '*.sh' '.ci/run')
else
  mapfile -t scripts < <(find . -path ./build -prune -o -path '*/node_modules' -prune -o \( -name '*.sh' -o -path ./.ci/run \) -type f -print)
fi
((${#scripts[@]} > 0)) || { echo "no shell scripts found under $repo" >&2; exit 1; }
failed=0
for f in "${scripts[@]}"; do
  [[ -f "$f" ]] || continue
  if ! out="$(bash -n "$f" 2>&1)"; then
    echo "does not parse: $f" >&2
    echo "$out" >&2
    failed=$((failed + 1))
  fi
done
echo "${#scripts[@]} scripts checked, $failed that do not parse"
((failed == 0))
