//! `gor file-server :PORT`: serves the current directory over HTTP and logs
//! each request head, a helper for trying replays by hand. Slow or silent
//! clients are held to the connection limits of `http::listener`.
//! Paths are confined to the directory: `..` segments are refused.

use crate::http::framing::{BodyDecoder, FramingHeaders};
use crate::http::listener::{self, Connection, ConnectionLimits, Read, ServerName};
use crate::plugin::Shutdown;
use crate::runtime::runtime;
use crate::stats;
use std::path::{Component, Path, PathBuf};
use tokio::net::TcpStream;

const NAME: ServerName = ServerName {
    flag: "file-server",
    counters: "file_server",
};

/// Largest request head accepted.
const MAX_HEAD: usize = 64 * 1024;

const BAD: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// Serves until `shutdown` stops (SIGINT, SIGTERM), within the default
/// [`ConnectionLimits`]. Prints the address it listens on (with the port it
/// got, when asked for port 0).
pub fn serve(addr: &str, shutdown: &Shutdown) -> anyhow::Result<()> {
    // The first cut-off of each kind is logged, with its counter's name.
    crate::logging::init(0);
    let listener = listener::bind(NAME, addr)?;
    eprintln!(
        "gor file-server: serving {} on {}",
        std::env::current_dir()?.display(),
        listener.local_addr()?
    );
    runtime().block_on(async {
        tokio::select! {
            _ = listener::accept(listener, NAME, ConnectionLimits::default(), handle) => {}
            _ = shutdown.until_stopped() => {}
        }
    });
    Ok(())
}

/// One connection: requests one after the other (keep-alive).
async fn handle(mut stream: TcpStream, mut conn: Connection) {
    let mut buf: Vec<u8> = Vec::with_capacity(8 * 1024);
    loop {
        let head_len = loop {
            if let Some(end) = crate::http::edit::find_blank_line(&buf) {
                break end + 4;
            }
            if buf.len() > MAX_HEAD || conn.read(&mut stream, &mut buf).await != Read::Data {
                return;
            }
        };
        conn.head_done();
        let closes = closes_after(&buf[..head_len]);
        let head = String::from_utf8_lossy(&buf[..head_len]).into_owned();
        eprintln!("{}", head.trim_end());
        // A body (POST, PUT) is read and discarded, so the next request on a
        // keep-alive connection starts where it should; where it ends follows
        // the framing policy of `http::framing`, and a request whose body
        // cannot be delimited gets a 400 and the connection is closed.
        let mut body = match FramingHeaders::of_head(&buf[..head_len]).request_body() {
            Ok(kind) => BodyDecoder::new(kind),
            Err(e) => return refuse(&mut stream, &mut conn, e).await,
        };
        buf.drain(..head_len);
        loop {
            match body.feed(&buf) {
                Ok(used) => drop(buf.drain(..used)),
                Err(e) => return refuse(&mut stream, &mut conn, e).await,
            }
            if body.is_done() {
                break;
            }
            if conn.read(&mut stream, &mut buf).await != Read::Data {
                return;
            }
        }
        let target = head.split_whitespace().nth(1).unwrap_or("/").to_string();
        conn.request_done(!buf.is_empty());
        let path = target.split('?').next().unwrap_or("/");
        let body = match local_path(path) {
            Some(p) => tokio::task::spawn_blocking(move || std::fs::read(p).ok())
                .await
                .ok()
                .flatten(),
            None => None,
        };
        let close = if closes { "Connection: close\r\n" } else { "" };
        let (status, body) = match &body {
            Some(body) => ("200 OK", &body[..]),
            None => ("404 Not Found", &b"not found"[..]),
        };
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\n{close}\r\n",
            body.len()
        );
        let sent =
            conn.write(&mut stream, head.as_bytes()).await && conn.write(&mut stream, body).await;
        if !sent || closes {
            // Dropping the stream closes it: everything written is sent.
            return;
        }
    }
}

/// True when the client asked for the connection to end after this
/// request (`Connection: close`, or HTTP/1.0 without `keep-alive`); a head
/// that does not parse ends it too.
fn closes_after(head: &[u8]) -> bool {
    let mut headers = [httparse::EMPTY_HEADER; 128];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {
            let connection = req
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("connection"))
                .map(|h| h.value);
            crate::http::framing::closes_connection(req.version == Some(0), connection)
        }
        _ => true,
    }
}

/// Answers 400 to a request whose body cannot be delimited (counted as
/// `file_server.unframeable_requests`).
async fn refuse(stream: &mut TcpStream, conn: &mut Connection, why: impl std::fmt::Display) {
    stats::drop_counter("file_server.unframeable_requests").drop_one(&format_args!(
        "file-server: a request whose body length cannot be known was refused ({why})"
    ));
    conn.write(stream, BAD).await;
}

/// The file under the current directory that `path` names, if it is a plain
/// relative path without `..`.
fn local_path(path: &str) -> Option<PathBuf> {
    let rel = Path::new(path.trim_start_matches('/'));
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    let p = if rel.as_os_str().is_empty() {
        PathBuf::from("index.html")
    } else {
        rel.to_path_buf()
    };
    p.is_file().then_some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_ends_when_the_client_asks() {
        assert!(closes_after(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n"));
        assert!(closes_after(b"GET / HTTP/1.0\r\n\r\n"));
        assert!(!closes_after(
            b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        ));
        assert!(!closes_after(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    }

    #[test]
    fn parent_directory_paths_are_refused() {
        assert_eq!(local_path("/../etc/passwd"), None);
        assert_eq!(local_path("/a/../../b"), None);
    }
}
