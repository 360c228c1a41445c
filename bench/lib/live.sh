# What the live-capture benchmarks share, sourced after GOR is set:
# `live_setup NAME TOOL...` skips the benchmark with one line when a tool is
# missing or capture is not allowed (root or CAP_NET_RAW), builds gor if
# needed, makes the work directory $work, and stops gor ($gor_pid) and nginx
# ($nginx_pid) and removes $work on exit.

live_setup() {
  local name=$1 tool
  shift
  for tool in "$@"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      echo "$name: skipped, $tool is not installed (apt-get install nginx-light wrk python3)"
      exit 0
    fi
  done
  if [ "$(id -u)" != 0 ]; then
    echo "$name: skipped, live capture needs root (or CAP_NET_RAW)"
    exit 0
  fi
  [ -x "$GOR" ] || cargo build --release -q
  work=$(mktemp -d)
  nginx_pid=""
  gor_pid=""
  trap live_cleanup EXIT
}

live_cleanup() {
  [ -n "$gor_pid" ] && kill "$gor_pid" 2>/dev/null || true
  if [ -n "$nginx_pid" ]; then kill "$nginx_pid" 2>/dev/null || true; wait "$nginx_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
