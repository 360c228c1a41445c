//! https targets: a self-signed certificate is refused (and counted) unless
//! `--output-http-skip-verify` is given; with it the request arrives intact.

mod common;
#[path = "common/replay.rs"]
mod replay_common;

use common::run;
use replay_common::{OK, counted, request_len, write_gor};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

/// A TLS server with a fresh self-signed certificate for 127.0.0.1 that
/// records the requests it decrypts.
fn tls_server() -> (u16, Arc<Mutex<Vec<Vec<u8>>>>) {
    let config = common::tls::server_config();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(tcp) = stream else { continue };
            let (config, g) = (config.clone(), g.clone());
            std::thread::spawn(move || {
                let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                let mut buf = Vec::new();
                let mut chunk = [0u8; 16384];
                loop {
                    while let Some(n) = request_len(&buf) {
                        g.lock().unwrap().push(buf.drain(..n).collect::<Vec<u8>>());
                        if tls.write_all(OK).and_then(|_| tls.flush()).is_err() {
                            return;
                        }
                    }
                    match tls.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    (port, got)
}

#[test]
fn self_signed_target_is_refused_without_skip_verify_and_accepted_with_it() {
    let (port, got) = tls_server();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.gor");
    let req = b"POST /secure?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbody".to_vec();
    write_gor(&file, &[("000000000000000000000005", req)]);
    let url = format!("https://127.0.0.1:{port}");

    let refused = run(
        &[
            "--input-file",
            file.to_str().unwrap(),
            "--output-http",
            &url,
        ],
        T,
    );
    assert_eq!(refused.code(), Some(0), "{}", refused.stderr);
    assert_eq!(
        counted(&refused.stderr, "output_http.errors.tls_failed"),
        1,
        "{}",
        refused.stderr
    );
    assert!(got.lock().unwrap().is_empty());

    let accepted = run(
        &[
            "--input-file",
            file.to_str().unwrap(),
            "--output-http",
            &url,
            "--output-http-skip-verify",
        ],
        T,
    );
    assert_eq!(accepted.code(), Some(0), "{}", accepted.stderr);
    assert_eq!(
        counted(&accepted.stderr, "output_http.errors.tls_failed"),
        0,
        "{}",
        accepted.stderr
    );
    let received = got.lock().unwrap().clone();
    assert_eq!(
        received,
        vec![format!("POST /secure?x=1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 4\r\n\r\nbody").into_bytes()]
    );
}
