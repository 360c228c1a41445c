//! `--input-raw`: live HTTP capture, without sitting in the
//! traffic's path.
//!
//! One capture thread per interface (or file, or VXLAN port) reads frames
//! from its engine, decodes them and feeds one shared [`Reassembler`]; the
//! same flow seen on two interfaces, or twice on loopback, is then just a
//! retransmission and is emitted once. Complete messages go through a
//! bounded channel that [`Input::read`] drains. A capture thread never waits
//! for the consumer: when the channel is full the message is dropped and
//! counted (`input_raw.queue_full`). A pcap file is the exception: it is
//! finite, nothing is lost by waiting, so its thread waits.

use crate::capture::address::{self, Address, Host};
use crate::capture::decode::{Decoded, decode};
use crate::capture::filter::{FilterSpec, build as build_filter};
use crate::capture::{self, Dispatched, Frame, PacketSource};
use crate::linger::Lingering;
use crate::message::Message;
use crate::plugin::{Input, Result, Shutdown};
use crate::settings::choices::{CaptureProtocol, Engine, TimestampType};
use crate::settings::{Settings, UsageError};
use crate::stats::{self, Counter};
use crate::tcp::{Config, Protocol, Reassembler};
use crossbeam_channel::{Sender, TrySendError};
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Batches waiting for the copy loop (up to `QUEUE * BATCH` messages): a
/// burst is absorbed (a capture block holds thousands of packets), and a byte
/// budget bounds the memory big messages may take.
const QUEUE: usize = 4096;
const QUEUE_BYTES: usize = 512 * 1024 * 1024;
/// Messages per batch handed to the copy loop.
const BATCH: usize = 64;
/// Longest a complete message waits for its batch to fill (capture clock).
const MAX_HOLD_NS: i64 = 2_000_000;
/// How often idle connections are looked for.
const EXPIRE_EVERY_NS: i64 = 100_000_000;
/// Batches taken between two waits after which the copy loop lingers
/// rather than blocks (see `crate::linger`): 256 messages and more come
/// from full-rate traffic; a delivery at 2,000 requests a second is one
/// batch.
const LOTS_OF_BATCHES: usize = 4;

struct Counters {
    packets: Counter,
    not_tcp: Counter,
    malformed: Counter,
    queue_full: Counter,
}

struct Shared {
    reassembler: Mutex<Reassembler>,
    /// Payload bytes in the queue.
    queued_bytes: std::sync::atomic::AtomicUsize,
    counters: Counters,
    /// Sources being captured now (a vanished interface leaves this list,
    /// so it is picked up again if it comes back).
    active: Mutex<Vec<String>>,
}

pub struct RawInput {
    /// Batches from the capture threads, taken as they come in bursts.
    rx: Lingering<Vec<Message>>,
    pending: std::vec::IntoIter<Message>,
    shared: Arc<Shared>,
    finite: bool,
    description: String,
}

/// The `--input-raw-*` flags, shared by every `--input-raw` address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawConfig {
    /// `--input-raw-engine` (a `.pcap` address reads its file whatever
    /// this says).
    pub engine: Engine,
    /// `--input-raw-protocol`.
    pub protocol: Protocol,
    /// `--input-raw-track-response`: emit responses (type 2) too.
    pub track_response: bool,
    /// `--input-raw-realip-header`: header set to the client IP.
    pub realip_header: Option<Vec<u8>>,
    /// `--input-raw-expire`: idle time before an unfinished message is
    /// given up (never zero).
    pub expire: Duration,
    /// `--input-raw-allow-incomplete`: emit expired messages instead.
    pub allow_incomplete: bool,
    /// `--input-raw-bpf-filter`, trimmed; empty for the automatic filter.
    pub bpf_filter: String,
    /// `--input-raw-timestamp-type`.
    pub timestamp_type: TimestampType,
    /// `--input-raw-buffer-timeout`: libpcap read timeout (zero:
    /// immediate delivery).
    pub buffer_timeout: Duration,
    /// `--input-raw-buffer-size`: kernel buffer per interface, in bytes
    /// (never zero).
    pub buffer_size: usize,
    /// `--input-raw-promisc`.
    pub promisc: bool,
    /// `--input-raw-monitor`.
    pub monitor: bool,
    /// `--input-raw-ignore-interface`.
    pub ignore_interfaces: Vec<String>,
    /// `--input-raw-vxlan-port`.
    pub vxlan_port: u16,
    /// `--input-raw-vxlan-vni`.
    pub vxlan_vnis: Vec<i64>,
    /// `--input-raw-vlan`.
    pub vlan: bool,
    /// `--input-raw-vlan-vid`.
    pub vlan_vids: Vec<i64>,
}

impl RawConfig {
    /// Reads the `--input-raw-*` flags; zeros mean the defaults, as in
    /// GoReplay.
    pub fn from_settings(s: &Settings) -> Result<RawConfig> {
        let vxlan_port = match s.input_raw_vxlan_port {
            0 => 4789,
            p => match u16::try_from(p) {
                Ok(port) => port,
                // Only the vxlan engine listens on it; GoReplay ignores the
                // value otherwise, so gor does too.
                Err(_) if s.input_raw_engine != Engine::Vxlan => 4789,
                Err(_) => {
                    return Err(UsageError::invalid_value(
                        "input-raw-vxlan-port",
                        &p.to_string(),
                        "not a UDP port (1 to 65535)",
                    )
                    .into());
                }
            },
        };
        Ok(RawConfig {
            engine: s.input_raw_engine,
            protocol: match s.input_raw_protocol {
                CaptureProtocol::Http => Protocol::Http,
                CaptureProtocol::Binary => Protocol::Binary,
            },
            track_response: s.input_raw_track_response,
            realip_header: (!s.input_raw_realip_header.is_empty())
                .then(|| s.input_raw_realip_header.clone().into_bytes()),
            expire: if s.input_raw_expire.is_zero() {
                Duration::from_secs(1)
            } else {
                s.input_raw_expire
            },
            allow_incomplete: s.input_raw_allow_incomplete,
            bpf_filter: s.input_raw_bpf_filter.trim().to_string(),
            timestamp_type: s.input_raw_timestamp_type.clone(),
            buffer_timeout: s.input_raw_buffer_timeout,
            buffer_size: match s.input_raw_buffer_size {
                0 => capture::DEFAULT_BUFFER,
                n => n.min(usize::MAX as u64) as usize,
            },
            promisc: s.input_raw_promisc,
            monitor: s.input_raw_monitor,
            ignore_interfaces: s.input_raw_ignore_interface.clone(),
            vxlan_port,
            vxlan_vnis: s.input_raw_vxlan_vni.clone(),
            vlan: s.input_raw_vlan,
            vlan_vids: s.input_raw_vlan_vid.clone(),
        })
    }
}

/// The flags' defaults.
impl Default for RawConfig {
    fn default() -> Self {
        RawConfig {
            engine: Engine::Libpcap,
            protocol: Protocol::Http,
            track_response: false,
            realip_header: None,
            expire: Duration::from_secs(2),
            allow_incomplete: false,
            bpf_filter: String::new(),
            timestamp_type: TimestampType::Default,
            buffer_timeout: Duration::ZERO,
            buffer_size: capture::DEFAULT_BUFFER,
            promisc: false,
            monitor: false,
            ignore_interfaces: Vec::new(),
            vxlan_port: 4789,
            vxlan_vnis: Vec::new(),
            vlan: false,
            vlan_vids: Vec::new(),
        }
    }
}

impl RawInput {
    /// Starts capturing on `addr` as `config` says. Errors (a bad address,
    /// no interface, no capture rights) are one line. On a stop (`shutdown`)
    /// every capture thread ends within its engine's read timeout, and then
    /// the input ends.
    pub fn open(addr: &str, config: &RawConfig, shutdown: &Shutdown) -> Result<Box<dyn Input>> {
        let address = address::parse(addr).map_err(UsageError)?;
        let mut engine = config.engine;
        if address.file.is_some() {
            engine = Engine::PcapFile;
        }
        let custom = config.bpf_filter.clone();
        let reassembly = Config {
            ports: address.ports.clone(),
            track_response: config.track_response,
            custom_filter: !custom.is_empty(),
            protocol: config.protocol,
            expire_ns: config.expire.as_nanos().min(i64::MAX as u128) as i64,
            allow_incomplete: config.allow_incomplete,
            realip_header: config.realip_header.clone(),
        };
        let (sources, watcher) = open_sources(engine, &address, addr, config, &custom)?;
        let shared = Arc::new(Shared {
            reassembler: Mutex::new(Reassembler::new(reassembly)),
            queued_bytes: Default::default(),
            counters: Counters {
                packets: stats::counter("input_raw.packets"),
                not_tcp: stats::counter("input_raw.not_tcp_packets"),
                malformed: stats::drop_counter("input_raw.malformed_packets"),
                queue_full: stats::drop_counter("input_raw.queue_full"),
            },
            active: Mutex::new(Vec::new()),
        });
        let finite = engine == Engine::PcapFile;
        let weak = Arc::downgrade(&shared);
        stats::gauge(
            "input_raw.queue",
            &stats::QUEUE_BYTES,
            &[("queue", "input_raw")],
            move || {
                weak.upgrade()
                    .map(|s| s.queued_bytes.load(std::sync::atomic::Ordering::Relaxed) as u64)
            },
        );
        let (tx, rx) = crossbeam_channel::bounded(QUEUE);
        for source in sources {
            spawn_capture(source, shared.clone(), tx.clone(), finite, shutdown);
        }
        if let Some((opener, failed)) = watcher {
            watch_new_interfaces(opener, failed, shared.clone(), tx.clone(), shutdown);
        }
        Ok(Box::new(RawInput {
            rx: Lingering::new(rx, LOTS_OF_BATCHES),
            pending: Vec::new().into_iter(),
            shared,
            finite,
            description: "input_raw".into(),
        }))
    }
}

/// The sources opened at start-up, and what watching for new interfaces
/// needs (the opener and the interfaces that failed to open).
type Opened = (
    Vec<Box<dyn PacketSource>>,
    Option<(DeviceOpener, Vec<String>)>,
);

fn open_sources(
    engine: Engine,
    address: &Address,
    addr: &str,
    config: &RawConfig,
    custom: &str,
) -> Result<Opened> {
    let filter_for = |hosts: &[IpAddr]| {
        if !custom.is_empty() {
            return custom.to_string();
        }
        build_filter(&FilterSpec {
            ports: &address.ports,
            hosts,
            track_response: config.track_response || config.protocol == Protocol::Binary,
            vlan: config.vlan,
            vlan_vids: &config.vlan_vids,
        })
    };
    let mut watcher = None;
    let buffer = config.buffer_size;
    let mut sources: Vec<Box<dyn PacketSource>> = Vec::new();
    match engine {
        Engine::PcapFile => {
            let path = address.file.clone().unwrap_or_else(|| addr.to_string());
            let filter = filter_for(&[]);
            tracing::info!("BPF Filter: {filter}");
            sources.push(Box::new(capture::pcap_file::PcapFile::open(
                &path, &filter,
            )?));
        }
        Engine::Vxlan => {
            sources.push(Box::new(capture::vxlan::Vxlan::open(
                config.vxlan_port,
                config.vxlan_vnis.clone(),
            )?));
        }
        Engine::Libpcap | Engine::RawSocket => {
            let devices = select_devices(&address.host, &config.ignore_interfaces)?;
            let opener = DeviceOpener::new(engine, address, config, custom, buffer);
            let mut errors = Vec::new();
            let mut failed = Vec::new();
            for device in devices {
                let name = device.name.clone();
                match opener.open(device) {
                    Ok(s) => sources.push(s),
                    // Without the right to capture, no interface will work:
                    // say so once, plainly.
                    Err(e) if e.to_string().contains("CAP_NET_RAW") => return Err(e),
                    Err(e) => {
                        failed.push(name);
                        errors.push(format!("{e:#}"));
                    }
                }
            }
            if sources.is_empty() {
                anyhow::bail!(
                    "--input-raw {addr}: pcap handles error: {}",
                    errors.join("; ")
                );
            }
            for e in errors {
                tracing::warn!("--input-raw {addr}: {e}");
            }
            if matches!(
                address.host,
                Host::Any | Host::Interface { prefix: true, .. }
            ) {
                watcher = Some((opener, failed));
            }
        }
    }
    Ok((sources, watcher))
}

/// Opens a live capture on one interface with the filter for it.
#[derive(Clone)]
struct DeviceOpener {
    engine: Engine,
    host: Host,
    ports: Vec<u16>,
    custom: String,
    promisc: bool,
    /// Both directions are captured: with the binary protocol too, whose
    /// requests end when the server speaks (its replies are emitted only
    /// with `--input-raw-track-response`).
    track_response: bool,
    vlan: bool,
    vlan_vids: Vec<i64>,
    ignore: Vec<String>,
    buffer: usize,
    opts: capture::pcap_live::LiveOptions,
}

impl DeviceOpener {
    fn new(
        engine: Engine,
        address: &Address,
        config: &RawConfig,
        custom: &str,
        buffer: usize,
    ) -> Self {
        DeviceOpener {
            engine,
            host: address.host.clone(),
            ports: address.ports.clone(),
            custom: custom.to_string(),
            promisc: config.promisc,
            track_response: config.track_response || config.protocol == Protocol::Binary,
            vlan: config.vlan,
            vlan_vids: config.vlan_vids.clone(),
            ignore: config.ignore_interfaces.clone(),
            buffer,
            opts: capture::pcap_live::LiveOptions {
                snaplen: capture::SNAPLEN,
                buffer_size: buffer,
                timeout_ms: (!config.buffer_timeout.is_zero())
                    .then(|| config.buffer_timeout.as_millis().min(i32::MAX as u128) as i32),
                promisc: config.promisc || config.monitor,
                monitor: config.monitor,
                timestamp_type: pcap_timestamp_type(&config.timestamp_type),
                wall_clock: config.timestamp_type == TimestampType::Go,
            },
        }
    }

    fn filter(&self, hosts: &[IpAddr]) -> String {
        if !self.custom.is_empty() {
            return self.custom.clone();
        }
        // An AF_PACKET socket receives frames with the 802.1Q tag already
        // removed by the kernel, so a `vlan` filter would match nothing.
        let raw = self.engine == Engine::RawSocket;
        build_filter(&FilterSpec {
            ports: &self.ports,
            hosts: if self.promisc { &[] } else { hosts },
            track_response: self.track_response,
            vlan: self.vlan && !raw,
            vlan_vids: if raw { &[] } else { &self.vlan_vids },
        })
    }

    fn open(&self, device: pcap::Device) -> anyhow::Result<Box<dyn PacketSource>> {
        let hosts: Vec<IpAddr> = match &self.host {
            Host::Ip(ip) => vec![*ip],
            _ => device.addresses.iter().map(|a| a.addr).collect(),
        };
        let filter = self.filter(&hosts);
        let name = device.name.clone();
        let source: Box<dyn PacketSource> = if self.engine == Engine::Libpcap {
            Box::new(capture::pcap_live::PcapLive::open(
                device, &self.opts, &filter,
            )?)
        } else {
            let block_ms = self
                .opts
                .timeout_ms
                .map_or(capture::DELIVERY_MS as u32, |ms| ms as u32);
            Box::new(capture::af_packet::AfPacket::open(
                &name,
                self.buffer,
                block_ms,
                self.opts.promisc,
                &filter,
            )?)
        };
        tracing::info!("Interface: {name} . BPF Filter: {filter}");
        Ok(source)
    }
}

/// libpcap's timestamp source for `--input-raw-timestamp-type`: none for
/// libpcap's default and for `go` (which stamps packets when they are read),
/// `host` for a name libpcap does not know, as libpcap itself falls back.
fn pcap_timestamp_type(t: &TimestampType) -> Option<pcap::TimestampType> {
    Some(match t {
        TimestampType::Default | TimestampType::Go => return None,
        TimestampType::Host | TimestampType::Unknown(_) => pcap::TimestampType::Host,
        TimestampType::HostLowPrec => pcap::TimestampType::HostLowPrec,
        TimestampType::HostHiPrec => pcap::TimestampType::HostHighPrec,
        TimestampType::Adapter => pcap::TimestampType::Adapter,
        TimestampType::AdapterUnsynced => pcap::TimestampType::AdapterUnsynced,
    })
}

/// Interfaces that appear later (a container's veth, a VPN) are captured
/// too: the list is looked at every second.
fn watch_new_interfaces(
    opener: DeviceOpener,
    mut failed: Vec<String>,
    shared: Arc<Shared>,
    tx: Sender<Vec<Message>>,
    shutdown: &Shutdown,
) {
    let stop = shutdown.clone();
    let spawned = shutdown.spawn("interface watch", move || {
        loop {
            if stop.wait_timeout(Duration::from_secs(1)) {
                return;
            }
            let Ok(devices) = select_devices(&opener.host, &opener.ignore) else {
                continue;
            };
            for device in devices {
                let active = shared.active.lock().unwrap_or_else(|p| p.into_inner());
                if active.contains(&device.name) || failed.contains(&device.name) {
                    continue;
                }
                drop(active);
                tracing::info!("Found new interface: {}", device.name);
                let name = device.name.clone();
                match opener.open(device) {
                    Ok(source) => spawn_capture(source, shared.clone(), tx.clone(), false, &stop),
                    Err(e) => {
                        tracing::warn!("{e:#}");
                        failed.push(name);
                    }
                }
            }
        }
    });
    if let Err(e) = spawned {
        tracing::warn!("cannot watch for new interfaces: {e}");
    }
}

fn spawn_capture(
    source: Box<dyn PacketSource>,
    shared: Arc<Shared>,
    tx: Sender<Vec<Message>>,
    finite: bool,
    shutdown: &Shutdown,
) {
    let name = source.name().to_string();
    shared
        .active
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(name.clone());
    let stop = shutdown.clone();
    let spawned = shutdown.spawn(format!("capture {name}"), move || {
        capture_loop(source, &shared, &tx, finite, &stop);
        let mut active = shared.active.lock().unwrap_or_else(|p| p.into_inner());
        active.retain(|n| *n != name);
    });
    if let Err(e) = spawned {
        tracing::error!("cannot start a capture thread: {e}");
    }
}

/// The interfaces an address names: the one whose name, name prefix or
/// address matches the host; otherwise every interface that is up and has
/// an address.
fn select_devices(host: &Host, ignore: &[String]) -> Result<Vec<pcap::Device>> {
    let all: Vec<pcap::Device> = pcap::Device::list()
        .map_err(|e| anyhow::anyhow!("--input-raw: cannot list interfaces: {e}"))?
        .into_iter()
        // `any` only when asked for by name: it would see every packet again
        .filter(|d| {
            (d.name != "any"
                || matches!(host, Host::Interface { name, prefix: false } if name == "any"))
                && !ignore.contains(&d.name)
        })
        .collect();
    let matched: Vec<pcap::Device> = all
        .iter()
        .filter(|d| match host {
            Host::Interface { name, prefix: true } => d.name.starts_with(name.as_str()),
            Host::Interface {
                name,
                prefix: false,
            } => d.name == *name,
            Host::Ip(ip) => d.addresses.iter().any(|a| a.addr == *ip),
            Host::Any => false,
        })
        .cloned()
        .collect();
    if !matched.is_empty() {
        return Ok(matched);
    }
    if let Host::Interface { name, prefix } = host {
        anyhow::bail!(
            "--input-raw: no interface named {name}{}",
            if *prefix { "*" } else { "" }
        );
    }
    let up: Vec<pcap::Device> = all
        .into_iter()
        .filter(|d| d.flags.is_up() && !d.addresses.is_empty())
        .collect();
    if up.is_empty() {
        anyhow::bail!("--input-raw: no usable interface (none is up with an address)");
    }
    Ok(up)
}

fn capture_loop(
    mut source: Box<dyn PacketSource>,
    shared: &Shared,
    tx: &Sender<Vec<Message>>,
    finite: bool,
    shutdown: &Shutdown,
) {
    let c = &shared.counters;
    let mut out = Batcher::new(tx, shared, finite);
    // The capture clock: the newest packet time (a file is replayed on its
    // own clock), and the wall clock while a live capture is idle.
    let mut clock = 0i64;
    let mut last_expire = 0i64;
    // Every engine returns from `dispatch` within its read timeout when
    // nothing arrives, so a stop is seen promptly.
    while !shutdown.is_stopping() {
        let mut on_frame = |frame: Frame<'_>| {
            c.packets.inc();
            clock = clock.max(frame.ts_ns);
            let now = clock;
            match decode(&frame) {
                Decoded::Tcp(seg) => {
                    let mut r = shared.reassembler.lock().unwrap_or_else(|p| p.into_inner());
                    r.push(&seg, &mut |m| out.push(m, now));
                }
                Decoded::Other => c.not_tcp.inc(),
                Decoded::Malformed => c
                    .malformed
                    .drop_one(&"a captured packet has cut-short or broken headers"),
            }
            housekeeping(shared, &mut out, now, &mut last_expire);
        };
        match source.dispatch(&mut on_frame) {
            Ok(Dispatched::Frames(_)) => continue,
            // Nothing arrives, yet live time goes on.
            Ok(Dispatched::Idle) if !finite => {
                clock = clock.max(crate::message::now_ns());
                out.flush();
            }
            Ok(Dispatched::Idle) => out.flush(),
            Ok(Dispatched::End) => break,
            // Said here, once: the other interfaces (and inputs) go on,
            // and this input ends quietly once all of its captures have.
            Err(e) => {
                tracing::warn!("capture on {} stopped: {e:#}", source.name());
                break;
            }
        }
        housekeeping(shared, &mut out, clock, &mut last_expire);
    }
    if finite {
        let mut r = shared.reassembler.lock().unwrap_or_else(|p| p.into_inner());
        r.finish(&mut |m| out.push(m, clock));
    }
    out.flush();
}

/// After each frame and each idle moment: idle connections are expired every
/// [`EXPIRE_EVERY_NS`], and a batch held for [`MAX_HOLD_NS`] is handed on.
fn housekeeping(shared: &Shared, out: &mut Batcher, now: i64, last_expire: &mut i64) {
    if now - *last_expire >= EXPIRE_EVERY_NS {
        *last_expire = now;
        let mut r = shared.reassembler.lock().unwrap_or_else(|p| p.into_inner());
        r.expire(now, &mut |m| out.push(m, now));
    }
    out.flush_if_held_since(now - MAX_HOLD_NS);
}

/// Messages go to the copy loop a batch at a time: one channel operation
/// and at most one wake-up of the copy loop per batch, not per message.
struct Batcher<'a> {
    tx: &'a Sender<Vec<Message>>,
    shared: &'a Shared,
    finite: bool,
    batch: Vec<Message>,
    bytes: usize,
    /// Capture time at which the oldest message in the batch was added.
    since: i64,
}

impl<'a> Batcher<'a> {
    fn new(tx: &'a Sender<Vec<Message>>, shared: &'a Shared, finite: bool) -> Self {
        Batcher {
            tx,
            shared,
            finite,
            batch: Vec::with_capacity(BATCH),
            bytes: 0,
            since: 0,
        }
    }

    fn push(&mut self, m: Message, now: i64) {
        if self.batch.is_empty() {
            self.since = now;
        }
        self.bytes += m.data.len();
        self.batch.push(m);
        if self.batch.len() >= BATCH {
            self.flush();
        }
    }

    fn flush_if_held_since(&mut self, t: i64) {
        if !self.batch.is_empty() && self.since <= t {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        let bytes = std::mem::take(&mut self.bytes);
        let queued = &self.shared.queued_bytes;
        if self.finite {
            queued.fetch_add(bytes, Ordering::Relaxed);
            let _ = self.tx.send(batch);
            return;
        }
        let n = batch.len() as u64;
        let full = queued.load(Ordering::Relaxed) + bytes > QUEUE_BYTES;
        if !full {
            queued.fetch_add(bytes, Ordering::Relaxed);
        }
        if full || matches!(self.tx.try_send(batch), Err(TrySendError::Full(_))) {
            if !full {
                queued.fetch_sub(bytes, Ordering::Relaxed);
            }
            let c = &self.shared.counters.queue_full;
            c.drop_one(&"captured messages arrive faster than the outputs take them");
            c.add(n - 1);
        }
    }
}

/// `--input-raw-stats`: the capture counters, one line (printed at exit by
/// main, however gor ends).
pub fn stats_line() -> String {
    let parts: Vec<String> = stats::snapshot()
        .into_iter()
        .filter(|(name, _, _)| name.starts_with("input_raw."))
        .map(|(name, v, _)| format!("{}={v}", &name["input_raw.".len()..]))
        .collect();
    format!("input_raw stats: {}", parts.join(" "))
}

impl Input for RawInput {
    fn read(&mut self) -> Result<Option<Message>> {
        if let Some(m) = self.pending.next() {
            return Ok(Some(m));
        }
        match self.rx.recv() {
            Ok(batch) => {
                let bytes: usize = batch.iter().map(|m| m.data.len()).sum();
                self.shared.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
                self.pending = batch.into_iter();
                Ok(self.pending.next())
            }
            // Every capture thread ended (a failure was logged by the
            // thread that had it).
            Err(_) => Ok(None),
        }
    }

    fn is_live(&self) -> bool {
        !self.finite
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{LinkType, MemorySource};
    use etherparse::PacketBuilder;

    fn frame(from_client: bool, seq: u32, ack: u32, payload: &[u8]) -> Vec<u8> {
        let (src, dst, sp, dp) = if from_client {
            ([10, 1, 1, 2], [10, 1, 1, 1], 40_000, 8080)
        } else {
            ([10, 1, 1, 1], [10, 1, 1, 2], 8080, 40_000)
        };
        let mut out = Vec::new();
        PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4(src, dst, 64)
            .tcp(sp, dp, seq, 1000)
            .ack(ack)
            .write(&mut out, payload)
            .unwrap();
        out
    }

    fn shared(config: Config) -> Shared {
        Shared {
            reassembler: Mutex::new(Reassembler::new(config)),
            queued_bytes: Default::default(),
            counters: Counters {
                packets: stats::counter("test.raw.packets"),
                not_tcp: stats::counter("test.raw.not_tcp"),
                malformed: stats::drop_counter("test.raw.malformed"),
                queue_full: stats::drop_counter("test.raw.queue_full"),
            },
            active: Mutex::new(Vec::new()),
        }
    }

    #[test]
    fn config_reads_the_flags_with_goreplay_zero_defaults() {
        let mut s = Settings::defaults();
        s.input_raw_expire = Duration::ZERO;
        s.input_raw_vxlan_port = 0;
        s.input_raw_bpf_filter = "  tcp port 80 ".into();
        s.input_raw_realip_header = "X-Real-IP".into();
        let c = RawConfig::from_settings(&s).unwrap();
        assert_eq!(c.engine, Engine::Libpcap);
        assert_eq!(c.protocol, Protocol::Http);
        assert_eq!(c.expire, Duration::from_secs(1));
        assert_eq!(c.vxlan_port, 4789);
        assert_eq!(c.buffer_size, capture::DEFAULT_BUFFER);
        assert_eq!(c.bpf_filter, "tcp port 80");
        assert_eq!(c.realip_header.as_deref(), Some(&b"X-Real-IP"[..]));
    }

    #[test]
    fn config_defaults_are_the_flags_defaults() {
        assert_eq!(
            RawConfig::from_settings(&Settings::defaults()).unwrap(),
            RawConfig::default()
        );
    }

    #[test]
    fn a_vxlan_port_out_of_range_is_refused_naming_the_flag() {
        let mut s = Settings::defaults();
        s.input_raw_vxlan_port = 70_000;
        // Ignored by the other engines, as GoReplay ignores it.
        assert_eq!(RawConfig::from_settings(&s).unwrap().vxlan_port, 4789);
        s.input_raw_engine = Engine::Vxlan;
        let e = RawConfig::from_settings(&s).unwrap_err().to_string();
        assert!(
            e.starts_with("invalid value \"70000\" for flag -input-raw-vxlan-port"),
            "{e}"
        );
    }

    #[test]
    fn frames_from_any_source_become_messages_in_the_queue() {
        let get = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        let frames = vec![
            (frame(true, 100, 500, &get[..10]), 1_000),
            (frame(true, 110, 500, &get[10..]), 2_000),
            (b"garbage".to_vec(), 2_500),
            (frame(false, 500, 100 + get.len() as u32, ok), 3_000),
        ];
        let source = Box::new(MemorySource::new(LinkType::Ethernet, frames));
        let shared = shared(Config {
            ports: vec![8080],
            ..Config::default()
        });
        let (tx, rx) = crossbeam_channel::bounded(16);
        capture_loop(source, &shared, &tx, true, &Shutdown::new());
        let got: Vec<Message> = rx.try_iter().flatten().collect();
        assert_eq!(got.len(), 2);
        assert_eq!(&got[0].data[..], get);
        assert_eq!(&got[1].data[..], ok);
        assert_eq!(got[0].timestamp(), 1_000);
        assert_eq!(got[0].latency(), Some(1_000));
        assert_eq!(got[0].id(), got[1].id());
        assert!(shared.counters.malformed.get() >= 1);
    }

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let mut frames = Vec::new();
        let mut seq = 100u32;
        for i in 0..5u32 {
            let req = format!("GET /{i} HTTP/1.1\r\nHost: x\r\n\r\n");
            // 10 ms apart: a held batch is handed over after 2 ms
            frames.push((
                frame(true, seq, 7 + i, req.as_bytes()),
                i64::from(i) * 10_000_000,
            ));
            seq += req.len() as u32;
        }
        let source = Box::new(MemorySource::new(LinkType::Ethernet, frames));
        let shared = shared(Config {
            ports: vec![8080],
            ..Config::default()
        });
        let before = shared.counters.queue_full.get();
        let (tx, rx) = crossbeam_channel::bounded(2);
        // live (not finite): the capture thread must never wait
        capture_loop(source, &shared, &tx, false, &Shutdown::new());
        let got: usize = rx.try_iter().map(|b| b.len()).sum();
        assert_eq!(got as u64 + shared.counters.queue_full.get() - before, 5);
        assert!(got < 5);
    }
}
