//! Packet sources: where captured frames come from, behind one trait so the
//! reassembler is fed the same way by libpcap, an AF_PACKET ring, a pcap
//! file, a VXLAN listener, or a test that crafts frames in memory.
//!
//! * [`address`] — `--input-raw` address forms;
//! * [`filter`] — the automatic BPF filter (spec 8.3);
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

/// What a capture thread does each time it finds its ring empty.
///
/// Under load a poll on the ring wakes the thread for every block the
/// kernel fills, thousands of times a second, and on a virtual machine each
/// wake-up costs more than reading the block (a quarter of the capture
/// thread's CPU with large POST bodies). So after a busy moment the thread
/// hands on what it has, then sleeps [`crate::linger::LINGER`] while more
/// blocks gather, and polls only once a linger found nothing new. The ring
/// must hold a linger of traffic: 32 MiB holds 25 ms at 10 Gbit/s.
#[derive(Debug, Default)]
pub struct Drain {
    state: DrainState,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum DrainState {
    /// Frames came since the ring was last found empty.
    Busy,
    /// What came was handed on; the next empty ring lingers.
    Drained,
    /// A linger found nothing: the next empty ring polls.
    #[default]
    Quiet,
}

/// What to do about an empty ring, from [`Drain::on_empty`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnEmpty {
    /// Say `Idle` now, so the frames read so far are handed on.
    HandOn,
    /// The thread has slept a linger: look at the ring again.
    Lingered,
    /// Nothing came for a while: block until the ring has something.
    Poll,
}

impl Drain {
    /// Frames were read from the ring.
    pub fn frames(&mut self) {
        self.state = DrainState::Busy;
    }

    /// The ring is empty: hand on, linger (done here) or poll.
    pub fn on_empty(&mut self) -> OnEmpty {
        match self.state {
            DrainState::Busy => {
                self.state = DrainState::Drained;
                OnEmpty::HandOn
            }
            DrainState::Drained => {
                self.state = DrainState::Quiet;
                std::thread::sleep(crate::linger::LINGER);
                OnEmpty::Lingered
            }
            DrainState::Quiet => OnEmpty::Poll,
        }
    }
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
mod drain_tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_busy_ring_hands_on_then_lingers_then_polls() {
        let mut d = Drain::default();
        assert_eq!(d.on_empty(), OnEmpty::Poll, "nothing came yet: block");
        d.frames();
        assert_eq!(d.on_empty(), OnEmpty::HandOn);
        let t = Instant::now();
        assert_eq!(d.on_empty(), OnEmpty::Lingered);
        assert!(t.elapsed() >= crate::linger::LINGER);
        // Frames during the linger: the cycle starts again.
        d.frames();
        assert_eq!(d.on_empty(), OnEmpty::HandOn);
        assert_eq!(d.on_empty(), OnEmpty::Lingered);
        assert_eq!(d.on_empty(), OnEmpty::Poll, "a linger found nothing");
        assert_eq!(d.on_empty(), OnEmpty::Poll);
    }
}
