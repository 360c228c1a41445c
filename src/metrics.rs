//! `--http-pprof ADDR`: a small HTTP server with gor's counters, as JSON at
//! `/debug/vars` (where GoReplay serves Go's expvar) and in Prometheus text
//! format at `/metrics` (a gor extension). Go's `/debug/pprof/*` profiles
//! have no Rust equivalent; those paths answer 404 with a pointer to `perf`.

use crate::plugin::Shutdown;
use crate::stats;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// Binds at start-up (so a bad address fails early) and serves in the
/// background until gor exits (`shutdown` expires).
pub fn serve(addr: &str, shutdown: &Shutdown) -> anyhow::Result<()> {
    let bind = crate::settings::values::listen_address(addr).ok_or_else(|| {
        anyhow::anyhow!("--http-pprof: {addr:?} is not an address to listen on (e.g. :8000)")
    })?;
    let listener = TcpListener::bind(&bind)
        .map_err(|e| anyhow::anyhow!("--http-pprof: cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr()?;
    tracing::info!("--http-pprof listening on {local}");
    let me = shutdown.clone();
    shutdown.spawn("metrics", move || {
        for stream in listener.incoming().flatten() {
            if me.is_expired() {
                return;
            }
            let _ = answer(stream);
        }
    })?;
    // A blocked accept wakes only for a connection: at exit, make one.
    let me = shutdown.clone();
    shutdown.spawn("metrics-stop", move || {
        me.wait_expired(Duration::MAX);
        let mut wake = local;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
            });
        }
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
    })?;
    Ok(())
}

fn answer(stream: TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let (status, content_type, body) = match path {
        "/debug/vars" => ("200 OK", "application/json; charset=utf-8", json()),
        "/metrics" => ("200 OK", "text/plain; version=0.0.4", prometheus()),
        _ => (
            "404 Not Found",
            "text/plain",
            "gor serves /debug/vars and /metrics; for CPU profiles use perf record -p <pid>\n"
                .to_string(),
        ),
    };
    let mut out = stream;
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn json() -> String {
    let map: serde_json::Map<String, serde_json::Value> = stats::snapshot()
        .into_iter()
        .map(|(n, v, _)| (n, v.into()))
        .collect();
    serde_json::Value::Object(map).to_string() + "\n"
}

fn prometheus() -> String {
    let mut out = String::new();
    for (name, value, _) in stats::snapshot() {
        let metric: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        out.push_str(&format!(
            "# TYPE gor_{metric} counter\ngor_{metric} {value}\n"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_names_are_sanitised() {
        stats::counter("test.metrics-name(x)").add(5);
        assert!(prometheus().contains("gor_test_metrics_name_x_ 5"));
        assert!(json().contains("\"test.metrics-name(x)\":5"));
    }
}
