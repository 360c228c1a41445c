#!/usr/bin/env bash
# Runs every fuzz target for FUZZ_SECONDS seconds each (default 20) with
# libFuzzer under AddressSanitizer, 512 MB of memory and 10 s per input.
# Any crash, timeout or out-of-memory fails the run; libFuzzer saves the
# input under fuzz/artifacts/<target>/. To keep a fault fixed, copy that
# input to fuzz/regressions/<target>/ (tests/fuzz_regressions.rs replays it).
#
#   make fuzz FUZZ_SECONDS=600          # a campaign: ten minutes per target
#   FUZZ_TARGETS="argv prettify" make fuzz
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-20}
export PATH="$HOME/.cargo/bin:$PATH"

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

targets=${FUZZ_TARGETS:-$(cd fuzz/fuzz_targets && ls *.rs | sed 's/\.rs$//')}
cd fuzz
cargo +nightly fuzz build
failed=()
for t in $targets; do
    mkdir -p "corpus/$t"
    echo "== fuzz $t: ${seconds}s"
    if ! cargo +nightly fuzz run "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=512 -timeout=10 -dict=http.dict \
        -print_final_stats=1 >"corpus/$t.log" 2>&1; then
        failed+=("$t")
        tail -40 "corpus/$t.log"
    fi
    grep -E '^stat::number_of_executed_units|^Done' "corpus/$t.log" || true
done
if ((${#failed[@]})); then
    echo "fuzz: faults found in: ${failed[*]} (inputs under fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz: ${seconds}s per target, no crash, timeout or out-of-memory"
