//! `--output-ws` against a real WebSocket server started by the test: the
//! Authorization header built from the URL's userinfo, one binary frame per
//! message (`Meta ‖ Data`), replayed responses skipped.

mod common;
#[path = "common/relay.rs"]
mod relay_common;

use base64::Engine;
use common::{counted, record, run, wait_until};
use relay_common::{messages, write_file};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tungstenite::handshake::server::{Request, Response};

#[derive(Default)]
struct Seen {
    /// (path, Authorization header) of each handshake.
    handshakes: Vec<(String, String)>,
    frames: Vec<Vec<u8>>,
    text_frames: usize,
}

/// A WebSocket server on a thread per connection, recording what it sees.
fn server() -> (u16, Arc<Mutex<Seen>>) {
    server_with(None)
}

/// Reads and writes either a plain or a TLS connection.
trait Stream: std::io::Read + std::io::Write + Send {}
impl<T: std::io::Read + std::io::Write + Send> Stream for T {}

/// The server, over TLS when `tls` is given (`wss://`).
fn server_with(tls: Option<Arc<rustls::ServerConfig>>) -> (u16, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(tcp) = stream else { continue };
            let s = s.clone();
            let tls = tls.clone();
            std::thread::spawn(move || {
                let stream: Box<dyn Stream> = match tls {
                    None => Box::new(tcp),
                    Some(config) => Box::new(rustls::StreamOwned::new(
                        rustls::ServerConnection::new(config).unwrap(),
                        tcp,
                    )),
                };
                let hs = s.clone();
                let callback = move |req: &Request, resp: Response| {
                    let auth = req
                        .headers()
                        .get("Authorization")
                        .map(|v| v.to_str().unwrap().to_string())
                        .unwrap_or_else(|| "<none>".into());
                    hs.lock()
                        .unwrap()
                        .handshakes
                        .push((req.uri().to_string(), auth));
                    Ok(resp)
                };
                let Ok(mut ws) = tungstenite::accept_hdr(stream, callback) else {
                    return;
                };
                loop {
                    match ws.read() {
                        Ok(tungstenite::Message::Binary(b)) => {
                            s.lock().unwrap().frames.push(b.to_vec())
                        }
                        Ok(tungstenite::Message::Text(_)) => s.lock().unwrap().text_frames += 1,
                        Ok(tungstenite::Message::Close(_)) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
            });
        }
    });
    (port, seen)
}

#[test]
fn messages_arrive_as_binary_frames_with_the_urls_credentials() {
    let (port, seen) = server();
    let dir = tempfile::tempdir().unwrap();
    let sent = messages(2_000, 5, |_| 1_700_000_000_000_000_000);
    // A replayed response: not relayed.
    let mut recorded = sent.clone();
    recorded.push((
        "3 ffff 1700000000000000000 0".to_string(),
        b"HTTP/1.1 200 OK\r\n\r\n".to_vec(),
    ));
    let input = dir.path().join("in.gor");
    write_file(&input, &recorded);
    let url = format!("ws://user1:p%40ss@127.0.0.1:{port}/relay?x=1");
    let r = run(
        &[
            "--input-file",
            input.to_str().unwrap(),
            "--output-ws",
            &url,
            "--output-ws-workers",
            "3",
        ],
        Duration::from_secs(30),
    );
    assert_eq!(r.code(), Some(0), "{}", r.stderr);
    assert_eq!(
        counted(&r.stderr, "output_ws.replayed_responses_skipped"),
        1
    );
    wait_until(Duration::from_secs(10), "every frame", || {
        seen.lock().unwrap().frames.len() >= sent.len()
    });
    let seen = seen.lock().unwrap();
    let mut want: Vec<Vec<u8>> = sent
        .iter()
        .map(|(h, p)| [h.as_bytes(), b"\n", p].concat())
        .collect();
    want.sort();
    let mut got = seen.frames.clone();
    got.sort();
    assert!(
        got == want,
        "frames differ from Meta ‖ Data of each message"
    );
    assert_eq!(seen.text_frames, 0);
    let expected_auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("user1:p%40ss")
    );
    assert_eq!(seen.handshakes.len(), 3, "one connection per worker");
    for (path, auth) in &seen.handshakes {
        assert_eq!(path, "/relay?x=1");
        assert_eq!(auth, &expected_auth);
    }
}

#[test]
fn without_userinfo_the_credential_is_empty() {
    let (port, seen) = server();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.gor");
    std::fs::write(
        &input,
        record("1 ab 1700000000000000000 0", b"GET / HTTP/1.1\r\n\r\n"),
    )
    .unwrap();
    let url = format!("ws://127.0.0.1:{port}/");
    let r = run(
        &["--input-file", input.to_str().unwrap(), "--output-ws", &url],
        Duration::from_secs(30),
    );
    assert_eq!(r.code(), Some(0), "{}", r.stderr);
    wait_until(Duration::from_secs(10), "the frame", || {
        !seen.lock().unwrap().frames.is_empty()
    });
    let seen = seen.lock().unwrap();
    // "Basic " on the wire; HTTP parsers trim the trailing space.
    assert_eq!(seen.handshakes[0].1.trim_end(), "Basic");
    assert_eq!(
        seen.frames[0],
        b"1 ab 1700000000000000000 0\nGET / HTTP/1.1\r\n\r\n"
    );
}

#[test]
fn wss_delivers_the_same_frames() {
    let (port, seen) = server_with(Some(common::tls::server_config()));
    let dir = tempfile::tempdir().unwrap();
    let sent = messages(200, 9, |_| 1_700_000_000_000_000_000);
    let input = dir.path().join("in.gor");
    write_file(&input, &sent);
    let url = format!("wss://u:p@127.0.0.1:{port}/secure");
    let r = run(
        &[
            "--input-file",
            input.to_str().unwrap(),
            "--output-ws",
            &url,
            "--output-ws-skip-verify",
            "--output-ws-sticky",
        ],
        Duration::from_secs(30),
    );
    assert_eq!(r.code(), Some(0), "{}", r.stderr);
    wait_until(Duration::from_secs(10), "every frame", || {
        seen.lock().unwrap().frames.len() >= sent.len()
    });
    let seen = seen.lock().unwrap();
    let mut want: Vec<Vec<u8>> = sent
        .iter()
        .map(|(h, p)| [h.as_bytes(), b"\n", p].concat())
        .collect();
    want.sort();
    let mut got = seen.frames.clone();
    got.sort();
    assert!(
        got == want,
        "frames differ from Meta ‖ Data of each message"
    );
    assert_eq!(seen.handshakes[0].1, "Basic dTpw");
}
