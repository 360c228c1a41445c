//! `--http-pprof ADDR`: a small HTTP server with gor's counters, as JSON at
//! `/debug/vars` (where GoReplay serves Go's expvar) and in Prometheus text
//! format at `/metrics` (a gor extension). Go's `/debug/pprof/*` profiles
//! have no Rust equivalent; those paths answer 404 with a pointer to `perf`.

use crate::plugin::Shutdown;
use crate::stats::{self, Family, Reading};
use std::collections::BTreeMap;
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
    // Plugin names (in labels and keys) come from the command line.
    let body = crate::redact::text(&body);
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

/// Drop counters known by name only: the part before the last `.` is where
/// the drop happened, the part after is why.
const DROPPED: Family = Family {
    name: "gor_dropped_total",
    help: "Messages, packets, records or connections gor dropped or skipped, by component and reason.",
};
/// Drop counters named `output_http.errors.<kind>`.
const REPLAY_ERRORS: Family = Family {
    name: "gor_replay_errors_total",
    help: "Replayed requests that got no response, by kind of failure (each one is a request lost to the target).",
};
/// Other counters known by name only.
const EVENTS: Family = Family {
    name: "gor_events_total",
    help: "Other counted events (requests replayed, segments reassembled, reconnects, ...), by component and event.",
};

/// One family's lines, as they are gathered.
struct Lines {
    help: &'static str,
    kind: &'static str,
    samples: Vec<String>,
}

/// The Prometheus text format: per family a `# HELP` and `# TYPE` line and
/// its samples; names follow Prometheus conventions (`gor_` prefix,
/// `_total` counters, units in the name) and what varies is in labels.
fn prometheus() -> String {
    let mut families: BTreeMap<&'static str, Lines> = BTreeMap::new();
    let mut add = |family: &'static Family, kind: &'static str, sample: String| {
        families
            .entry(family.name)
            .or_insert_with(|| Lines {
                help: family.help,
                kind,
                samples: Vec::new(),
            })
            .samples
            .push(sample);
    };
    for reading in stats::readings() {
        match reading {
            Reading::Counter {
                series: Some(series),
                value,
                ..
            } => add(
                series.family,
                "counter",
                format!(
                    "{}{} {value}",
                    series.family.name,
                    labels(&series.labels, None)
                ),
            ),
            Reading::Counter {
                name,
                value,
                is_drop,
                series: None,
            } => {
                let (component, what) = name.rsplit_once('.').unwrap_or(("gor", name.as_str()));
                let (family, labels) = match (is_drop, component) {
                    (true, "output_http.errors") => {
                        (&REPLAY_ERRORS, labels(&[("kind", what)], None))
                    }
                    (true, _) => (
                        &DROPPED,
                        labels(&[("component", component), ("reason", what)], None),
                    ),
                    (false, _) => (
                        &EVENTS,
                        labels(&[("component", component), ("event", what)], None),
                    ),
                };
                add(
                    family,
                    "counter",
                    format!("{}{labels} {value}", family.name),
                );
            }
            Reading::Gauge { series, value } => add(
                series.family,
                "gauge",
                format!(
                    "{}{} {value}",
                    series.family.name,
                    labels(&series.labels, None)
                ),
            ),
            Reading::Histogram {
                series,
                buckets,
                count,
                sum_seconds,
            } => {
                let name = series.family.name;
                for (bound, n) in buckets {
                    let le = if bound.is_infinite() {
                        "+Inf".to_string()
                    } else {
                        bound.to_string()
                    };
                    add(
                        series.family,
                        "histogram",
                        format!("{name}_bucket{} {n}", labels(&series.labels, Some(&le))),
                    );
                }
                let plain = labels(&series.labels, None);
                add(
                    series.family,
                    "histogram",
                    format!("{name}_sum{plain} {sum_seconds}"),
                );
                add(
                    series.family,
                    "histogram",
                    format!("{name}_count{plain} {count}"),
                );
            }
        }
    }
    let mut out = String::new();
    for (name, lines) in families {
        out.push_str(&format!(
            "# HELP {name} {}\n# TYPE {name} {}\n",
            lines.help, lines.kind
        ));
        for sample in lines.samples {
            out.push_str(&sample);
            out.push('\n');
        }
    }
    out
}

/// `{k="v",...}` with values escaped as the text format wants (`\\`, `\"`,
/// `\n`); `le` is a histogram bucket's bound.
fn labels<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)], le: Option<&str>) -> String {
    let mut parts: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}=\"{}\"", k.as_ref(), escape(v.as_ref())))
        .collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_known_by_name_become_labels() {
        stats::counter("test_metrics(a.gor).seen").add(5);
        stats::drop_counter("test_metrics.queue_full").add(2);
        stats::drop_counter("output_http.errors.test_kind").add(3);
        let text = prometheus();
        assert!(
            text.contains("gor_events_total{component=\"test_metrics(a.gor)\",event=\"seen\"} 5"),
            "{text}"
        );
        assert!(
            text.contains("gor_dropped_total{component=\"test_metrics\",reason=\"queue_full\"} 2")
        );
        assert!(text.contains("gor_replay_errors_total{kind=\"test_kind\"} 3"));
        assert!(json().contains("\"test_metrics(a.gor).seen\":5"));
    }

    #[test]
    fn every_family_has_one_help_and_type_line() {
        stats::series_counter(
            "test_metrics_in(x).messages",
            &stats::MESSAGES_READ,
            &[("input", "x")],
        )
        .inc();
        stats::replay_latency("test-family").observe(Duration::from_millis(3));
        let text = prometheus();
        for family in ["gor_messages_read_total", "gor_replay_latency_seconds"] {
            assert_eq!(
                text.matches(&format!("# HELP {family} ")).count(),
                1,
                "{text}"
            );
            assert_eq!(
                text.matches(&format!("# TYPE {family} ")).count(),
                1,
                "{text}"
            );
        }
        assert!(text.contains("# TYPE gor_replay_latency_seconds histogram"));
        assert!(
            text.contains(
                "gor_replay_latency_seconds_bucket{target=\"test-family\",le=\"0.005\"} 1"
            )
        );
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(
            labels(&[("input", "a\"b\\c\nd")], None),
            "{input=\"a\\\"b\\\\c\\nd\"}"
        );
        assert_eq!(labels::<&str, &str>(&[], None), "");
    }
}
