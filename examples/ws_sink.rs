//! A WebSocket server that takes binary frames and counts them, for
//! measuring `--output-ws` (gor has no WebSocket input to receive with):
//!
//! ```sh
//! cargo run --release --example ws_sink -- 127.0.0.1:28030 /tmp/ws.count
//! ```
//!
//! Each connection is served by a thread of its own. Once the last
//! connection has closed (and at least one was served), it writes
//! "<frames> <bytes>" (the frames' payload bytes) to the file and exits.

use std::io::Write;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(addr), Some(out)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: ws_sink HOST:PORT COUNT_FILE");
        std::process::exit(2);
    };
    let listener = TcpListener::bind(addr)?;
    eprintln!("ws_sink listening on {}", listener.local_addr()?);
    let frames = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let open = Arc::new(AtomicUsize::new(0));
    let (closed_tx, closed_rx) = mpsc::channel::<()>();
    {
        let (frames, bytes, open) = (frames.clone(), bytes.clone(), open.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let _ = stream.set_nodelay(true);
                open.fetch_add(1, Ordering::SeqCst);
                let (frames, bytes, open) = (frames.clone(), bytes.clone(), open.clone());
                let closed = closed_tx.clone();
                std::thread::spawn(move || {
                    if let Ok(mut ws) = tungstenite::accept(stream) {
                        while let Ok(msg) = ws.read() {
                            match msg {
                                tungstenite::Message::Binary(b) => {
                                    frames.fetch_add(1, Ordering::Relaxed);
                                    bytes.fetch_add(b.len() as u64, Ordering::Relaxed);
                                }
                                tungstenite::Message::Close(_) => break,
                                _ => {}
                            }
                        }
                    }
                    open.fetch_sub(1, Ordering::SeqCst);
                    let _ = closed.send(());
                });
            }
        });
    }
    // Every close is a wake-up: done once none is open any more.
    while closed_rx.recv().is_ok() {
        if open.load(Ordering::SeqCst) == 0 {
            break;
        }
    }
    let mut f = std::fs::File::create(out)?;
    writeln!(
        f,
        "{} {}",
        frames.load(Ordering::Relaxed),
        bytes.load(Ordering::Relaxed)
    )
}
