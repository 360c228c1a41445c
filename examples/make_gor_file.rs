//! Writes a recorded-traffic file of a given size in GoReplay's format, for
//! benchmarks and experiments:
//!
//! ```sh
//! cargo run --release --example make_gor_file -- /tmp/big.gor 1024   # size in MB
//! ```
//!
//! Requests and their responses alternate, with headers and bodies of
//! realistic, varied sizes (a few hundred bytes to 16 KB), 24-hex ids and
//! timestamps 1 ms apart.

use std::io::{BufWriter, Write};

const SEPARATOR: &[u8] = "\n🐵🙈🙉\n".as_bytes();

/// A small deterministic generator (xorshift), so every run writes the same file.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> usize {
        (self.next() % n) as usize
    }
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(path), Some(mb)) = (args.get(1), args.get(2).and_then(|s| s.parse::<u64>().ok()))
    else {
        eprintln!("usage: make_gor_file PATH SIZE_IN_MB");
        std::process::exit(2);
    };
    let target = mb * 1024 * 1024;
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let filler: Vec<u8> = (0..16384).map(|i| b'a' + (i % 26) as u8).collect();
    let mut written = 0u64;
    let mut ts: i64 = 1_700_000_000_000_000_000;
    while written < target {
        let id = format!("{:016x}{:08x}", rng.next(), rng.next() as u32);
        let path_len = 8 + rng.below(60);
        let cookie = 32 + rng.below(400);
        let (method, body) = if rng.below(4) == 0 {
            ("POST", 200 + rng.below(2000))
        } else {
            ("GET", 0)
        };
        let mut req = format!(
            "{method} /api/{} HTTP/1.1\r\nHost: example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\nAccept: */*\r\nCookie: s={}\r\n",
            String::from_utf8_lossy(&filler[..path_len]),
            String::from_utf8_lossy(&filler[..cookie]),
        )
        .into_bytes();
        if body > 0 {
            req.extend_from_slice(format!("Content-Length: {body}\r\n").as_bytes());
        }
        req.extend_from_slice(b"\r\n");
        req.extend_from_slice(&filler[..body]);
        let resp_body = 500 + rng.below(15000);
        let mut resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {resp_body}\r\n\r\n"
        )
        .into_bytes();
        resp.extend_from_slice(&filler[..resp_body]);
        for (kind, data, lat) in [(1, &req, -1), (2, &resp, 250_000)] {
            let head = format!("{kind} {id} {ts} {lat}\n");
            out.write_all(head.as_bytes())?;
            out.write_all(data)?;
            out.write_all(SEPARATOR)?;
            written += (head.len() + data.len() + SEPARATOR.len()) as u64;
            ts += 500_000;
        }
    }
    out.flush()
}
