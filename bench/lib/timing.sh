# How the throughput benchmarks time a command, sourced after RUNS is set.
# Each keeps the best of $RUNS runs: on a shared machine the best run is
# the one least disturbed by other jobs. A script may define `before_run`
# (e.g. to empty an output directory); it is called before every timed run.

# best_of CMD...: the shortest wall time in ns over $RUNS runs.
best_of() {
  local best=0 start took
  for _ in $(seq "$RUNS"); do
    if declare -F before_run >/dev/null; then before_run; fi
    start=$(date +%s%N)
    "$@" > /dev/null 2>&1
    took=$(( $(date +%s%N) - start ))
    if [ "$best" -eq 0 ] || [ "$took" -lt "$best" ]; then best=$took; fi
  done
  echo "$best"
}

# cpu_ms CMD...: the least CPU time (user + system, ms) over $RUNS runs; on
# a shared machine this varies less than wall time.
cpu_ms() {
  local best=0 t
  for _ in $(seq "$RUNS"); do
    if declare -F before_run >/dev/null; then before_run; fi
    t=$( { TIMEFORMAT='%3U %3S'; time "$@" > /dev/null 2>&1; } 2>&1 | awk '{ printf "%d", ($1 + $2) * 1000 }')
    if [ "$best" -eq 0 ] || [ "$t" -lt "$best" ]; then best=$t; fi
  done
  echo "$best"
}
