//! The least a loopback relay can cost, as a yardstick for
//! `bench/relay.sh`: a relay that only moves bytes, with none of gor's
//! work (no records, no queues, no threads, one connection), against its
//! own plain file copy. Its ratio is about as high as any relay's ratio
//! can be on the machine the benchmark runs on.
//!
//! ```text
//! relay_floor recv PORT FILE   # accept one connection, write it to FILE
//! relay_floor send PORT FILE   # send FILE to 127.0.0.1:PORT
//! relay_floor copy FROM TO     # copy FROM to TO
//! ```
//!
//! The receiver prints `listening` once it can accept. Reads are 128 KB
//! from files and 256 KB from the socket, the sizes gor uses.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};

fn pump(mut from: impl Read, mut to: impl Write, size: usize) -> io::Result<()> {
    let mut buf = vec![0u8; size];
    loop {
        match from.read(&mut buf) {
            Ok(0) => return to.flush(),
            Ok(n) => to.write_all(&buf[..n])?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn port(arg: &str) -> io::Result<u16> {
    arg.parse()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("bad port {arg:?}")))
}

fn run(args: &[String]) -> io::Result<()> {
    match args {
        [mode, a, b] if mode == "copy" => pump(File::open(a)?, File::create(b)?, 128 << 10),
        [mode, p, file] if mode == "send" => pump(
            File::open(file)?,
            TcpStream::connect((Ipv4Addr::LOCALHOST, port(p)?))?,
            128 << 10,
        ),
        [mode, p, file] if mode == "recv" => {
            let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port(p)?))?;
            println!("listening");
            io::stdout().flush()?;
            let (conn, _) = listener.accept()?;
            pump(conn, File::create(file)?, 256 << 10)
        }
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "usage: relay_floor recv|send PORT FILE, or relay_floor copy FROM TO",
        )),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(&args) {
        eprintln!("relay_floor: {e}");
        std::process::exit(1);
    }
}
