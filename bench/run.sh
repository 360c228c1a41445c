#!/usr/bin/env bash
# `make bench`: runs every benchmark script in this folder; each prints one
# summary line, a ratio against a limit measured in the same run.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
for b in bench/*.sh; do
  [ "$(basename "$b")" = run.sh ] && continue
  echo "### $(basename "$b")" >&2
  bash "$b" "$@" || { echo "$(basename "$b"): FAILED" ; status=1; }
done
exit $status
