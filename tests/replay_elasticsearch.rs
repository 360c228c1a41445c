//! `--output-http-elasticsearch`: a local endpoint speaking the bulk API
//! receives one document per replayed exchange, in GoReplay's shape —
//! without `--output-http-track-response`.

mod common;
#[path = "common/replay.rs"]
mod replay_common;

use replay_common::{Behaviour, RecordingServer, replay};
use std::sync::Arc;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

#[test]
fn every_exchange_becomes_one_bulk_document_field_by_field() {
    let target = RecordingServer::start(Behaviour::Custom(Arc::new(|_req: &[u8]| {
        std::thread::sleep(Duration::from_millis(20));
        b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nCache-Control: no-cache\r\nVary: Accept\r\nSet-Cookie: s=1\r\nContent-Length: 4\r\n\r\nnope".to_vec()
    })));
    let es = RecordingServer::start(Behaviour::Respond(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{\"errors\":false}"[..].to_vec(),
    ));
    let recording = [
            (
                "000000000000000000000007",
                b"GET /products?page=2 HTTP/1.1\r\nHost: shop\r\nUser-Agent: curl/8\r\nAccept: text/html\r\nAccept-Language: fr\r\nCookie: sid=9\r\n\r\n".to_vec(),
            ),
            ("000000000000000000000008", b"POST /cart HTTP/1.1\r\nHost: shop\r\nContent-Length: 2\r\n\r\nhi".to_vec()),
        ];
    let es_url = format!("http://127.0.0.1:{}/logs/gor", es.port);
    let out = replay(
        &recording,
        &[
            "--output-http",
            &target.url(),
            "--output-http-elasticsearch",
            &es_url,
        ],
        T,
    );
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let bulks = es.received();
    assert!(!bulks.is_empty(), "{}", out.stderr);
    let mut docs = Vec::new();
    for bulk in &bulks {
        let text = String::from_utf8_lossy(bulk).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("POST /logs/_bulk HTTP/1.1\r\n"), "{head}");
        assert!(
            head.contains("Content-Type: application/x-ndjson"),
            "{head}"
        );
        let lines: Vec<&str> = body.lines().collect();
        assert_eq!(lines.len() % 2, 0);
        for pair in lines.chunks(2) {
            let action: serde_json::Value = serde_json::from_str(pair[0]).unwrap();
            assert_eq!(action["index"]["_index"], "gor");
            docs.push(serde_json::from_str::<serde_json::Value>(pair[1]).unwrap());
        }
    }
    assert_eq!(docs.len(), 2);
    docs.sort_by_key(|d| d["Req_URL"].as_str().unwrap_or("").to_string());
    let (cart, products) = (&docs[0], &docs[1]);
    assert_eq!(products["Req_URL"], "/products?page=2");
    assert_eq!(products["Req_Method"], "GET");
    assert_eq!(products["Req_User-Agent"], "curl/8");
    assert_eq!(products["Req_Accept"], "text/html");
    assert_eq!(products["Req_Accept-Language"], "fr");
    assert_eq!(products["Req_Cookies"], "sid=9");
    assert_eq!(cart["Req_URL"], "/cart");
    assert_eq!(cart["Req_Method"], "POST");
    assert_eq!(cart["Req_User-Agent"], "", "always present");
    assert!(cart.get("Req_Accept").is_none(), "omitted when empty");
    for d in [cart, products] {
        assert_eq!(d["Resp_Status"], "404");
        assert_eq!(d["Resp_Status-Code"], "404");
        assert_eq!(d["Resp_Proto"], "HTTP/1.1");
        assert_eq!(d["Resp_Content-Type"], "text/plain");
        assert_eq!(d["Resp_Content-Length"], "4");
        assert_eq!(d["Resp_Cache-Control"], "no-cache");
        assert_eq!(d["Resp_Vary"], "Accept");
        assert_eq!(d["Resp_Set-Cookie"], "s=1");
        let rtt = d["RTT"].as_i64().unwrap();
        assert!((20..5000).contains(&rtt), "RTT {rtt} ms");
        let ts = chrono::DateTime::parse_from_rfc3339(d["Timestamp"].as_str().unwrap()).unwrap();
        let age = chrono::Utc::now().signed_duration_since(ts);
        assert!(age.num_seconds() < 60, "{ts}");
    }
}
