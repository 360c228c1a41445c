//! Packet sources: where captured frames come from, behind one trait so the
//! reassembler is fed the same way by libpcap, an AF_PACKET ring, a pcap
//! file, a VXLAN listener, or a test that crafts frames in memory.
//!
//! * [`address`] — `--input-raw` address forms;
//! * [`filter`] — the automatic BPF filter;
//! * [`decode`] — link, IP and TCP headers with etherparse;
//! * [`pcap_live`], [`pcap_file`], [`af_packet`], [`vxlan`] — the engines.

pub mod address;
pub mod af_packet;
pub mod decode;
pub mod filter;
pub mod pcap_file;
pub mod pcap_live;
pub mod vxlan;

#[cfg(test)]
mod robustness_tests;

/// Tcpdump's default snap length: whole super-packets from GRO/TSO and
/// loopback's 64 KiB MTU are kept (GoReplay's MTU+200 truncated them).
pub const SNAPLEN: i32 = 262_144;
/// Kernel buffer when `--input-raw-buffer-size` is 0: enough for bursts
/// while the reassembler catches up.
pub const DEFAULT_BUFFER: usize = 32 * 1024 * 1024;
/// Longest a captured packet waits in the kernel before it is handed over,
/// in milliseconds, when `--input-raw-buffer-timeout` is not given. The
/// kernel hands packets over a block at a time, when a block is full or
/// this long after its first packet: one wake-up of the capture thread per
/// block instead of one per packet (per-packet delivery costs a context
/// switch each and loses packets under load). 20 ms keeps the wake-ups of
/// a modest steady rate to 50 a second, and no request is held back long
/// (GoReplay's 2 s read timeout held requests back at low traffic).
pub const DELIVERY_MS: i32 = 20;
/// Bytes of frames a ring engine took between two waits after which it
/// lingers instead of blocking (see `crate::linger`). Full-rate traffic
/// fills a ring block (256 KiB with libpcap, 1 MiB with raw_socket; a
/// quarter to a half of it is frame bytes when packets are small) well
/// before the delivery time; a steady 2,000 requests a second brings about
/// 30 KB per delivery, and a linger after it would find the ring empty.
pub const LOTS_OF_BYTES: usize = 64 * 1024;
/// Longest a ring engine blocks with nothing arriving: idle connections
/// are expired and kernel drops looked at this often.
pub const IDLE_WAIT_MS: i32 = 100;

/// How a frame starts (the pcap link type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkType {
    Ethernet,
    /// BSD loopback: 4-byte address family in host byte order.
    Null,
    /// OpenBSD loopback: the family in network byte order.
    Loop,
    /// No link header: the frame starts with the IP header.
    RawIp,
    /// Linux "cooked" capture, version 1 (16 bytes).
    LinuxSll,
    /// Linux "cooked" capture, version 2 (20 bytes).
    LinuxSll2,
}

impl LinkType {
    /// From a pcap DLT / LINKTYPE value; `None` for links gor cannot read.
    pub fn from_dlt(dlt: i32) -> Option<Self> {
        Some(match dlt {
            1 => LinkType::Ethernet,
            0 => LinkType::Null,
            108 => LinkType::Loop,
            12 | 14 | 101 | 228 | 229 => LinkType::RawIp,
            113 => LinkType::LinuxSll,
            276 => LinkType::LinuxSll2,
            _ => return None,
        })
    }
}

/// One captured frame, borrowed from the source's buffer until the next call.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    pub data: &'a [u8],
    /// Capture time, Unix nanoseconds.
    pub ts_ns: i64,
    pub link: LinkType,
}

/// What a source has next.
pub enum Next<'a> {
    Frame(Frame<'a>),
    /// Nothing arrived for a while (a chance to expire idle connections).
    Idle,
    /// The source is exhausted (end of a file).
    End,
}

/// What one [`PacketSource::dispatch`] call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dispatched {
    /// This many frames were handed over.
    Frames(usize),
    /// Nothing arrived for a while.
    Idle,
    /// The source is exhausted.
    End,
}

/// A source of frames; each runs on its own capture thread.
pub trait PacketSource: Send {
    fn next(&mut self) -> anyhow::Result<Next<'_>>;
    /// Hands the frames available now to `f`, read in place from the
    /// engine's buffer where the engine allows it (libpcap copies every
    /// frame `next` returns out of its ring first). By default, one frame
    /// from `next`.
    fn dispatch(&mut self, f: &mut dyn FnMut(Frame<'_>)) -> anyhow::Result<Dispatched> {
        Ok(match self.next()? {
            Next::Frame(frame) => {
                f(frame);
                Dispatched::Frames(1)
            }
            Next::Idle => Dispatched::Idle,
            Next::End => Dispatched::End,
        })
    }
    /// How the user would name it (`lo`, `capture.pcap`, `vxlan :4789`).
    fn name(&self) -> &str;
}

/// A source made of frames held in memory, for tests.
pub struct MemorySource {
    frames: std::collections::VecDeque<(Vec<u8>, i64)>,
    current: Vec<u8>,
    link: LinkType,
}

impl MemorySource {
    pub fn new(link: LinkType, frames: Vec<(Vec<u8>, i64)>) -> Self {
        MemorySource {
            frames: frames.into(),
            current: Vec::new(),
            link,
        }
    }
}

impl PacketSource for MemorySource {
    fn next(&mut self) -> anyhow::Result<Next<'_>> {
        match self.frames.pop_front() {
            Some((data, ts_ns)) => {
                self.current = data;
                Ok(Next::Frame(Frame {
                    data: &self.current,
                    ts_ns,
                    link: self.link,
                }))
            }
            None => Ok(Next::End),
        }
    }

    fn name(&self) -> &str {
        "memory"
    }
}

/// The kernel's figures for one captured interface (`/metrics` and
/// `--stats`): packets it received for us, and those it or the interface
/// dropped. Engines read them every so often and add what is new.
pub struct InterfaceStats {
    packets: crate::stats::Counter,
    kernel_drops: crate::stats::Counter,
    interface_drops: crate::stats::Counter,
}

impl InterfaceStats {
    pub fn new(interface: &str) -> InterfaceStats {
        use crate::stats::{self, series_counter};
        let labels = [("interface", interface)];
        InterfaceStats {
            packets: series_counter(
                &format!("capture({interface}).packets"),
                &stats::CAPTURE_PACKETS,
                &labels,
            ),
            kernel_drops: series_counter(
                &format!("capture({interface}).kernel_drops"),
                &stats::CAPTURE_KERNEL_DROPS,
                &labels,
            ),
            interface_drops: series_counter(
                &format!("capture({interface}).interface_drops"),
                &stats::CAPTURE_INTERFACE_DROPS,
                &labels,
            ),
        }
    }

    /// Adds what is new since the last call.
    pub fn add(&self, packets: u64, kernel_drops: u64, interface_drops: u64) {
        self.packets.add(packets);
        self.kernel_drops.add(kernel_drops);
        self.interface_drops.add(interface_drops);
    }
}

/// What a counter that libpcap keeps as a wrapping `u32` grew by since
/// `last` (which becomes `now`).
pub fn grown(last: &mut u32, now: u32) -> u64 {
    let d = now.wrapping_sub(*last);
    *last = now;
    u64::from(d)
}

/// The one-line error for a capture the kernel refused for lack of rights.
pub fn privilege_error(what: &str, detail: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "--input-raw: capturing on {what} needs the CAP_NET_RAW capability ({detail}); run gor as root, or grant it with: sudo setcap cap_net_raw,cap_net_admin=eip $(which gor)"
    )
}

/// True when an error text says the kernel refused for lack of rights.
pub fn is_permission_error(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("permission") || t.contains("operation not permitted")
}

#[cfg(test)]
mod stats_tests {
    use super::*;

    #[test]
    fn wrapping_kernel_counters_grow_by_the_difference() {
        let mut last = u32::MAX - 1;
        assert_eq!(grown(&mut last, 3), 5);
        assert_eq!(last, 3);
        assert_eq!(grown(&mut last, 3), 0);
    }
}
