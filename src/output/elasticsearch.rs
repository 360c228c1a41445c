//! `--output-http-elasticsearch URL`: one document per replayed
//! request/response pair, bulk-indexed into `URL`'s index.
//!
//! Fixed from GoReplay: the export works without
//! `--output-http-track-response`, a URL without a scheme means `http://`,
//! and `RTT` is the round trip in milliseconds (GoReplay added whole seconds
//! to sub-second milliseconds, so 1.5 s read 501). Documents keep GoReplay's
//! field names and order. No `_type` is sent: ElasticSearch 8 refuses it.
//!
//! The replay workers hand documents over without waiting; a task batches
//! them into `POST <prefix>/_bulk` requests on one keep-alive connection.

use crate::http::client::conn::{self, Conn};
use crate::http::client::target::{PreparedRequest, Target};
use crate::http::{headers, start_line};
use crate::plugin::{ExchangeSink, Result, Shutdown, UsageError};
use crate::runtime::runtime;
use crate::settings::Settings;
use crate::stats::{self, Counter};
use bytes::Bytes;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// Documents waiting for a bulk request; more are dropped and counted.
const QUEUE: usize = 10_000;
/// Documents per bulk request at most.
const BATCH: usize = 500;
/// How long a document may wait for companions before its batch goes out.
const LINGER: Duration = Duration::from_millis(200);

/// Where documents go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EsTarget {
    pub target: Target,
    pub index: String,
}

impl EsTarget {
    /// `[scheme://][user[:pass]@]host[:port]/[path/]index`.
    pub fn parse(url: &str) -> std::result::Result<EsTarget, String> {
        let mut target = Target::parse(url)?;
        let path = std::mem::take(&mut target.prefix);
        let (prefix, index) = match path.rsplit_once('/') {
            Some((p, i)) => (p.to_string(), i.to_string()),
            None => (String::new(), path.clone()),
        };
        if index.is_empty() {
            return Err("no index in the URL (expected scheme://host[:port]/index_name)".into());
        }
        target.prefix = prefix;
        target.query.clear();
        Ok(EsTarget { target, index })
    }
}

/// `--output-http-elasticsearch` and the TLS flag it shares with replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExporterConfig {
    pub target: EsTarget,
    /// `--output-http-skip-verify`: do not verify the certificate.
    pub skip_verify: bool,
}

impl ExporterConfig {
    /// `None` when `--output-http-elasticsearch` is not given; a URL that
    /// does not parse is a usage error naming the flag (exit 2).
    pub fn from_settings(s: &Settings) -> Result<Option<ExporterConfig>> {
        let url = &s.output_http_elasticsearch;
        if url.is_empty() {
            return Ok(None);
        }
        let target = EsTarget::parse(url)
            .map_err(|e| UsageError(format!("--output-http-elasticsearch {url:?}: {e}")))?;
        Ok(Some(ExporterConfig {
            target,
            skip_verify: s.output_http_skip_verify,
        }))
    }
}

/// Sends documents to ElasticSearch in the background.
pub struct Exporter {
    tx: Mutex<Option<mpsc::Sender<String>>>,
    /// Replay outputs feeding this export; the last one to close flushes it.
    users: std::sync::atomic::AtomicUsize,
    finished: Mutex<Option<crossbeam_channel::Receiver<()>>>,
    dropped: Counter,
    /// Documents accepted and not yet sent (or failed).
    outstanding: Arc<AtomicU64>,
    abandoned: Counter,
    shutdown: Shutdown,
}

impl Exporter {
    /// Starts the sending task, which ends when `shutdown` expires.
    pub fn start(config: &ExporterConfig, shutdown: &Shutdown) -> Result<Arc<Exporter>> {
        let es = config.target.clone();
        let tls = if es.target.tls {
            Some(
                crate::http::client::tls::client_config(config.skip_verify)
                    .map_err(|e| UsageError(format!("--output-http-elasticsearch: {e}")))?,
            )
        } else {
            None
        };
        let (tx, rx) = mpsc::channel(QUEUE);
        let (done_tx, done_rx) = crossbeam_channel::bounded(1);
        let outstanding = Arc::new(AtomicU64::new(0));
        let (left, stop) = (outstanding.clone(), shutdown.clone());
        runtime().spawn(async move {
            tokio::select! {
                _ = sender(es, tls, rx, &left) => {}
                _ = stop.until_expired() => {}
            }
            let _ = done_tx.send(());
        });
        Ok(Arc::new(Exporter {
            tx: Mutex::new(Some(tx)),
            users: std::sync::atomic::AtomicUsize::new(0),
            finished: Mutex::new(Some(done_rx)),
            dropped: stats::drop_counter("elasticsearch.documents_dropped"),
            outstanding,
            abandoned: stats::drop_counter("elasticsearch.abandoned_at_close"),
            shutdown: shutdown.clone(),
        }))
    }

    /// Sends what is queued (waiting at most 10 s, and not past the
    /// shutdown's expiry) and stops; documents left unsent are counted as
    /// `elasticsearch.abandoned_at_close`.
    pub fn close(&self) {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(done) = self
            .finished
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        else {
            return;
        };
        let finished = crossbeam_channel::select! {
            recv(done) -> _ => true,
            recv(self.shutdown.expired()) -> _ => false,
            default(Duration::from_secs(10)) => false,
        };
        let left = self.outstanding.swap(0, Ordering::SeqCst);
        if !finished && left > 0 {
            self.abandoned.add(left - 1);
            self.abandoned.drop_one(&format_args!(
                "ElasticSearch export: {left} documents still unsent at close were given up"
            ));
        }
    }
}

impl ExchangeSink for Exporter {
    /// Queues the document of one exchange (`request` is the head that was
    /// sent, `response` the bytes received).
    fn exchange(&self, request: &[u8], response: &[u8], start_ns: i64, rtt_ns: i64) {
        let doc = document(request, response, start_ns, rtt_ns);
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match tx {
            Some(tx) if tx.try_send(doc).is_ok() => {
                self.outstanding.fetch_add(1, Ordering::SeqCst);
            }
            _ => self.dropped.drop_one(
                &"ElasticSearch cannot keep up (or the export was closed): a document was dropped",
            ),
        }
    }

    /// A replay output starts feeding this export.
    fn attach(&self) {
        self.users.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// A replay output is done; the last one closes the export.
    fn detach(&self) {
        if self.users.fetch_sub(1, std::sync::atomic::Ordering::SeqCst) <= 1 {
            self.close();
        }
    }
}

async fn sender(
    es: EsTarget,
    tls: Option<Arc<rustls::ClientConfig>>,
    mut rx: mpsc::Receiver<String>,
    outstanding: &AtomicU64,
) {
    let sent = stats::counter("elasticsearch.documents");
    let failed = stats::drop_counter("elasticsearch.bulk_failed");
    let mut conn: Option<Conn> = None;
    let action = format!(
        "{{\"index\":{{\"_index\":{}}}}}\n",
        serde_json::Value::String(es.index.clone())
    );
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + LINGER;
        while batch.len() < BATCH {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(doc)) => batch.push(doc),
                _ => break,
            }
        }
        let mut body =
            String::with_capacity(batch.iter().map(|d| d.len() + action.len() + 1).sum());
        for doc in &batch {
            body.push_str(&action);
            body.push_str(doc);
            body.push('\n');
        }
        let req = bulk_request(&es, body);
        let mut outcome = Err("not sent".to_string());
        for _ in 0..2 {
            outcome = send(&es.target, tls.as_ref(), &mut conn, &req).await;
            if outcome.is_ok() {
                break;
            }
            conn = None;
        }
        let _ = outstanding.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
            Some(n.saturating_sub(batch.len() as u64))
        });
        match outcome {
            Ok(()) => sent.add(batch.len() as u64),
            Err(e) => {
                failed.add(batch.len() as u64 - 1);
                failed.drop_one(&format_args!("ElasticSearch bulk request failed: {e}"));
            }
        }
    }
}

async fn send(
    target: &Target,
    tls: Option<&Arc<rustls::ClientConfig>>,
    conn: &mut Option<Conn>,
    req: &PreparedRequest,
) -> std::result::Result<(), String> {
    let mut c = match conn.take() {
        Some(c) => c,
        None => conn::connect(target, tls)
            .await
            .map_err(|e| e.to_string())?,
    };
    let resp = tokio::time::timeout(Duration::from_secs(60), c.exchange(req, 0))
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|e| e.to_string())?;
    if resp.reusable {
        *conn = Some(c);
    }
    if (200..300).contains(&resp.status) {
        Ok(())
    } else {
        Err(format!("status {}", resp.status))
    }
}

fn bulk_request(es: &EsTarget, body: String) -> PreparedRequest {
    let mut head = format!(
        "POST {}/_bulk HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\n",
        es.target.prefix,
        es.target.authority,
        body.len()
    );
    if let Some(auth) = &es.target.authorization {
        let _ = write!(head, "Authorization: {auth}\r\n");
    }
    head.push_str("\r\n");
    PreparedRequest {
        head: head.into_bytes(),
        body: Bytes::from(body),
        is_head: false,
        closes: false,
    }
}

/// The JSON document of one exchange, fields in GoReplay's order.
pub fn document(request: &[u8], response: &[u8], start_ns: i64, rtt_ns: i64) -> String {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let req_h = |name: &str| {
        headers::header_value(request, name.as_bytes())
            .map(text)
            .unwrap_or_default()
    };
    let resp_h = |name: &str| {
        headers::header_value(response, name.as_bytes())
            .map(text)
            .unwrap_or_default()
    };
    let status = start_line::status_line(response);
    let code = status.map(|s| s.code.to_string()).unwrap_or_default();
    let proto = status.map(|s| text(s.version)).unwrap_or_default();
    let mut doc = String::with_capacity(512);
    doc.push('{');
    let mut field = |name: &str, value: String, always: bool| {
        if always || !value.is_empty() {
            if doc.len() > 1 {
                doc.push(',');
            }
            let _ = write!(doc, "\"{name}\":{}", serde_json::Value::String(value));
        }
    };
    field(
        "Req_URL",
        start_line::target(request).map(text).unwrap_or_default(),
        true,
    );
    field(
        "Req_Method",
        start_line::method(request).map(text).unwrap_or_default(),
        true,
    );
    field("Req_User-Agent", req_h("User-Agent"), true);
    field("Req_Accept-Language", req_h("Accept-Language"), false);
    field("Req_Accept", req_h("Accept"), false);
    field("Req_Accept-Encoding", req_h("Accept-Encoding"), false);
    field("Req_If-Modified-Since", req_h("If-Modified-Since"), false);
    field("Req_Connection", req_h("Connection"), false);
    field("Req_Cookies", req_h("Cookie"), false);
    field("Resp_Status", code.clone(), true);
    field("Resp_Status-Code", code, true);
    field("Resp_Proto", proto, false);
    field("Resp_Content-Length", resp_h("Content-Length"), false);
    field("Resp_Content-Type", resp_h("Content-Type"), false);
    field("Resp_Transfer-Encoding", resp_h("Transfer-Encoding"), false);
    field("Resp_Content-Encoding", resp_h("Content-Encoding"), false);
    field("Resp_Expires", resp_h("Expires"), false);
    field("Resp_Cache-Control", resp_h("Cache-Control"), false);
    field("Resp_Vary", resp_h("Vary"), false);
    field("Resp_Set-Cookie", resp_h("Set-Cookie"), false);
    let _ = write!(doc, ",\"RTT\":{}", rtt_ns / 1_000_000);
    let ts = chrono::DateTime::from_timestamp_nanos(start_ns)
        .with_timezone(&chrono::Local)
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    let _ = write!(doc, ",\"Timestamp\":\"{ts}\"}}");
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_gives_up_on_a_silent_server_at_expiry_and_counts_the_documents() {
        // Accepts and never answers.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for s in listener.incoming() {
                held.push(s);
            }
        });
        let shutdown = Shutdown::new();
        let config = ExporterConfig {
            target: EsTarget::parse(&format!("http://127.0.0.1:{port}/idx")).unwrap(),
            skip_verify: false,
        };
        let export = Exporter::start(&config, &shutdown).unwrap();
        let abandoned = stats::drop_counter("elasticsearch.abandoned_at_close");
        let before = abandoned.get();
        for _ in 0..7 {
            export.exchange(b"GET / HTTP/1.1\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\n", 1, 1);
        }
        let s = shutdown.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            s.expire("test");
        });
        let started = std::time::Instant::now();
        export.close();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(abandoned.get() - before, 7);
    }

    #[test]
    fn url_needs_a_host_and_an_index() {
        let es = EsTarget::parse("http://u:p@es:9200/logs/gor").unwrap();
        assert_eq!(
            (es.target.prefix.as_str(), es.index.as_str()),
            ("/logs", "gor")
        );
        assert_eq!(es.target.port, 9200);
        assert!(es.target.authorization.is_some());
        assert_eq!(EsTarget::parse("localhost:9200/gor").unwrap().index, "gor");
        for bad in [
            "http://es:9200",
            "http://es:9200/",
            "http:///gor",
            "ftp://h/i",
        ] {
            assert!(EsTarget::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn config_is_read_only_when_the_flag_is_given() {
        let mut s = Settings::defaults();
        assert_eq!(ExporterConfig::from_settings(&s).unwrap(), None);
        s.output_http_elasticsearch = "es:9200/gor".into();
        s.output_http_skip_verify = true;
        let c = ExporterConfig::from_settings(&s).unwrap().unwrap();
        assert_eq!(c.target.index, "gor");
        assert!(c.skip_verify);
        s.output_http_elasticsearch = "http://es:9200/".into();
        let e = ExporterConfig::from_settings(&s).unwrap_err();
        assert!(
            e.to_string().starts_with("--output-http-elasticsearch"),
            "{e}"
        );
        assert!(e.downcast_ref::<UsageError>().is_some());
    }

    #[test]
    fn document_has_goreplay_fields_in_order_and_rtt_in_milliseconds() {
        let doc = document(
            b"GET /p?q=1 HTTP/1.1\r\nHost: h\r\nUser-Agent: ua\r\nCookie: a=b\r\n\r\n",
            b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nno",
            1_500_000_000_123_456_789,
            1_500_000_000,
        );
        let v: serde_json::Value = serde_json::from_str(&doc).unwrap();
        assert_eq!(v["Req_URL"], "/p?q=1");
        assert_eq!(v["Req_Method"], "GET");
        assert_eq!(v["Req_User-Agent"], "ua");
        assert_eq!(v["Req_Cookies"], "a=b");
        assert_eq!(v["Resp_Status"], "404");
        assert_eq!(v["Resp_Status-Code"], "404");
        assert_eq!(v["Resp_Proto"], "HTTP/1.1");
        assert_eq!(v["Resp_Content-Type"], "text/plain");
        assert_eq!(v["RTT"], 1500);
        assert!(v.get("Req_Accept").is_none());
        assert!(doc.starts_with("{\"Req_URL\":"));
        let ts = chrono::DateTime::parse_from_rfc3339(v["Timestamp"].as_str().unwrap()).unwrap();
        assert_eq!(ts.timestamp_nanos_opt(), Some(1_500_000_000_123_456_789));
    }
}
