//! A local S3-compatible server for trying `--output-file s3://…` and
//! `--input-file s3://…` without an AWS account, and for bench/s3.sh:
//! s3s-fs on a free loopback port, objects kept as files under ROOT
//! (`ROOT/bucket/key`), every request's signature checked.
//!
//! ```sh
//! cargo run --release --example s3_server -- ROOT [BUCKET...]
//! ```
//!
//! Makes the buckets, prints one JSON line `{"endpoint", "access_key",
//! "secret_key"}` on stdout and serves until its standard input closes.

#[path = "../tests/common/s3_server.rs"]
mod s3_server;

use std::io::{Read, Write};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(root) = args.first() else {
        eprintln!("usage: s3_server ROOT [BUCKET...]");
        std::process::exit(2);
    };
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let server = match s3_server::S3Server::start(std::path::Path::new(root), threads) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("s3_server: cannot serve {root}: {e}");
            std::process::exit(1);
        }
    };
    for bucket in &args[1..] {
        server.bucket(bucket);
    }
    println!(
        "{}",
        serde_json::json!({
            "endpoint": server.endpoint,
            "access_key": server.access_key,
            "secret_key": server.secret_key,
        })
    );
    let _ = std::io::stdout().flush();
    // Until the caller closes our standard input (or exits).
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}
