# Sourced by the benchmarks: start_nginx WORKDIR HTTP_LINES LOCATION_LINES
# starts nginx (one worker, foreground) on a free loopback port with the
# given extra http-block and location lines, waits until it accepts, and
# sets $port and $nginx_pid. The caller kills $nginx_pid when done.
start_nginx() {
  local work=$1 http_lines=$2 location_lines=$3
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p "$work/logs" "$work/tmp"
  cat > "$work/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/logs/error.log crit;
events { worker_connections 4096; }
http {
  client_body_temp_path $work/tmp;
  keepalive_requests 1000000;
  $http_lines
  server {
    listen 127.0.0.1:$port;
    $location_lines
  }
}
CONF
  nginx -c "$work/nginx.conf" -p "$work" &
  nginx_pid=$!
  for _ in $(seq 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1',$port)).close()" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "nginx did not start on port $port" >&2
  return 1
}
