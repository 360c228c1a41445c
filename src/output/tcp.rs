//! `--output-tcp host:port`: sends requests and captured responses to
//! another gor (or GoReplay) listening with `--input-tcp`, in the record
//! format of files (`Meta ‖ Data ‖ "\n🐵🙈🙉\n"`), over persistent
//! connections, plain or TLS (`--output-tcp-secure`).
//!
//! The workers, their queues, sticky routing, reconnection and the stats
//! line are the relay pool's (`relay::pool`); this file only says how a
//! connection is opened and how messages are written on it.

use crate::message::{Message, SEPARATOR};
use crate::plugin::{Output, Result, Shutdown};
use crate::relay::pool::{Connector, Link, Pool, PoolConfig, worker_count};
use crate::relay::stream::{self, RelayStream, TlsTarget};
use crate::settings::{Settings, UsageError};
use std::io::{IoSlice, Write};
use std::sync::Arc;
use std::time::Duration;

/// The queue stats period of `--output-tcp-stats`.
const STATS_PERIOD: Duration = Duration::from_secs(5);

/// What `--output-tcp` needs from the command line.
#[derive(Debug, Clone)]
pub struct TcpOutputConfig {
    /// `host:port`.
    pub address: String,
    pub secure: bool,
    pub skip_verify: bool,
    pub workers: usize,
    pub sticky: bool,
    pub stats_period: Option<Duration>,
}

impl TcpOutputConfig {
    pub fn from_settings(address: &str, s: &Settings) -> Result<TcpOutputConfig> {
        let workers = worker_count("output-tcp", s.output_tcp_workers)?;
        check_address("output-tcp", address)?;
        Ok(TcpOutputConfig {
            address: address.to_string(),
            secure: s.output_tcp_secure,
            skip_verify: s.output_tcp_skip_verify,
            workers,
            sticky: s.output_tcp_sticky,
            stats_period: (s.stats && s.output_tcp_stats).then_some(STATS_PERIOD),
        })
    }
}

/// `host:port` with a numeric port (the host is resolved at each dial, so
/// a receiver that moves to a new address is found again).
fn check_address(flag: &str, address: &str) -> Result<()> {
    let port = address.rsplit_once(':').map(|(_, p)| p);
    if port.and_then(|p| p.parse::<u16>().ok()).is_none() {
        return Err(UsageError(format!("--{flag} {address:?}: expected host:port")).into());
    }
    Ok(())
}

/// The `--output-tcp` output: the relay pool over TCP connections.
pub struct TcpOutput;

impl TcpOutput {
    pub fn open(config: TcpOutputConfig, shutdown: &Shutdown) -> Result<Arc<dyn Output>> {
        let tls = if config.secure {
            let client = crate::relay::tls::client_config("output-tcp-secure", config.skip_verify)?;
            let host = config
                .address
                .rsplit_once(':')
                .map_or(config.address.as_str(), |(h, _)| h);
            let host = if host.is_empty() { "localhost" } else { host };
            Some(
                TlsTarget::new(client, host)
                    .map_err(|e| UsageError(format!("--output-tcp {}: {e}", config.address)))?,
            )
        } else {
            None
        };
        let connector = Arc::new(TcpConnector {
            address: dial_address(&config.address),
            tls,
        });
        let pool = Pool::start(
            PoolConfig {
                flag: "output-tcp",
                target: config.address.clone(),
                workers: config.workers,
                sticky: config.sticky,
                stats_period: config.stats_period,
            },
            connector,
            shutdown,
        )?;
        Ok(Arc::new(pool))
    }
}

/// `:28020` means this host, as for the listening side.
fn dial_address(address: &str) -> String {
    match address.strip_prefix(':') {
        Some(port) => format!("127.0.0.1:{port}"),
        None => address.to_string(),
    }
}

struct TcpConnector {
    address: String,
    tls: Option<TlsTarget>,
}

impl Connector for TcpConnector {
    fn connect(
        &self,
        on_socket: &dyn Fn(&std::net::TcpStream),
    ) -> std::result::Result<Box<dyn Link>, String> {
        let stream = stream::dial(&self.address, self.tls.as_ref(), on_socket)?;
        Ok(Box::new(TcpLink { stream }))
    }
}

/// One connection: records written back to back, each batch in one write.
struct TcpLink {
    stream: RelayStream,
}

impl Link for TcpLink {
    fn send(&mut self, batch: &[Message]) -> std::io::Result<()> {
        // Straight from the messages' buffers, no copy: one writev, or with
        // TLS, records sealed from the slices.
        let mut slices: Vec<IoSlice<'_>> = batch
            .iter()
            .flat_map(|m| {
                [
                    IoSlice::new(&m.meta),
                    IoSlice::new(&m.data),
                    IoSlice::new(SEPARATOR),
                ]
            })
            .collect();
        write_all_vectored(&mut self.stream, &mut slices)?;
        self.stream.flush()
    }

    fn peer_closed(&mut self) -> bool {
        self.stream.peer_closed()
    }

    fn close(&mut self) {
        self.stream.close();
    }
}

/// Writes every slice, however the kernel splits the writes.
fn write_all_vectored(
    sock: &mut impl Write,
    mut slices: &mut [IoSlice<'_>],
) -> std::io::Result<()> {
    while !slices.is_empty() {
        match sock.write_vectored(slices) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
