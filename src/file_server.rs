//! `gor file-server :PORT`: serves the current directory over HTTP and logs
//! each request head (spec 2.2), a helper for trying replays by hand.
//! Paths are confined to the directory: `..` segments are refused.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};

pub fn serve(addr: &str) -> anyhow::Result<()> {
    let bind = crate::settings::values::listen_address(addr).ok_or_else(|| {
        anyhow::anyhow!("file-server: {addr:?} is not an address to listen on (e.g. :8000)")
    })?;
    let listener = TcpListener::bind(&bind)
        .map_err(|e| anyhow::anyhow!("file-server: cannot listen on {addr}: {e}"))?;
    eprintln!(
        "gor file-server: serving {} on {addr}",
        std::env::current_dir()?.display()
    );
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || {
            if let Err(e) = handle(stream) {
                eprintln!("file-server: {e}");
            }
        });
    }
    Ok(())
}

fn handle(stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let mut head = String::new();
        let mut line = String::new();
        while reader.read_line(&mut line)? > 0 {
            if line == "\r\n" || line == "\n" {
                break;
            }
            head.push_str(&line);
            line.clear();
        }
        if head.is_empty() {
            return Ok(());
        }
        eprintln!("{}", head.trim_end());
        // A body (POST, PUT) is read and discarded, so the next request on a
        // keep-alive connection starts where it should.
        let length = head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
        std::io::copy(&mut (&mut reader).take(length), &mut std::io::sink())?;
        let target = head.split_whitespace().nth(1).unwrap_or("/");
        let path = target.split('?').next().unwrap_or("/");
        match local_path(path).and_then(|p| std::fs::read(p).ok()) {
            Some(body) => {
                write!(
                    out,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                )?;
                out.write_all(&body)?;
            }
            None => {
                out.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found")?
            }
        }
    }
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
    fn parent_directory_paths_are_refused() {
        assert_eq!(local_path("/../etc/passwd"), None);
        assert_eq!(local_path("/a/../../b"), None);
    }
}
