//! A middleware that passes every message through unchanged, in Rust with no
//! dependencies (fast enough to be the limit in benchmarks).
//!
//!     rustc -O examples/middleware/echo.rs -o /tmp/gor-echo
//!     gor --input-raw :8080 --middleware /tmp/gor-echo --output-stdout
//!
//! Each stdin line is the hex of one message (header line + HTTP payload).
//! Decode it, change it if you like, encode it and print it to deliver it.
//! Output is flushed whenever stdin has nothing more buffered, so single
//! messages are not held back and bursts are written in large blocks.

use std::io::{self, BufRead, BufReader, BufWriter, Write};

fn decode(hex: &[u8]) -> Option<Vec<u8>> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    if hex.len() % 2 != 0 {
        return None;
    }
    hex.chunks(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

fn encode(data: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in data {
        out.push(HEX[(b >> 4) as usize]);
        out.push(HEX[(b & 15) as usize]);
    }
}

fn main() -> io::Result<()> {
    let mut input = BufReader::with_capacity(1 << 16, io::stdin().lock());
    let mut output = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let (mut line, mut out) = (Vec::new(), Vec::new());
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break output.flush();
        }
        let hex = line.strip_suffix(b"\n").unwrap_or(&line);
        let Some(message) = decode(hex) else {
            eprintln!("echo.rs: skipping a line that is not hex");
            continue;
        };
        // `message` is b"<type> <id> <timestamp> <latency>\n" + the HTTP bytes.
        out.clear();
        encode(&message, &mut out);
        out.push(b'\n');
        output.write_all(&out)?;
        if input.buffer().is_empty() {
            output.flush()?;
        }
    }
}
