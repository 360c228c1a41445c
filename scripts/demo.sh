#!/usr/bin/env bash
# The main job in miniature: record traffic to a file, then replay the file.
# (Until live capture lands, the traffic comes from --input-dummy.)
set -euo pipefail
cd "$(dirname "$0")/.."
GOR=${GOR:-target/release/gor}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

echo "== 1. record 3 seconds of generated traffic to $dir/requests.gor"
"$GOR" --input-dummy demo --output-file "$dir/requests.gor" --exit-after 3500ms 2>/dev/null
ls -l "$dir"

echo "== 2. replay the recording to stdout, twice as fast as it was recorded"
"$GOR" --input-file "$dir/requests_0.gor|200%" --output-stdout 2>/dev/null

echo "== done: $(grep -c '^1 ' "$dir/requests_0.gor") requests recorded and replayed"
