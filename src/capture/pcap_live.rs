//! The `libpcap` engine: one live pcap handle per interface.
//!
//! Packets are delivered within [`DELIVERY_MS`] (20 ms) by default, a
//! 32 MiB kernel buffer unless told otherwise, snap length 262144,
//! nanosecond timestamps. The handle is non-blocking: the capture thread
//! waits on its descriptor itself, so idle connections still expire.

use super::{
    DELIVERY_MS, Dispatched, Frame, IDLE_WAIT_MS, LOTS_OF_BYTES, LinkType, Next, PacketSource,
};
use crate::linger::{Drain, OnEmpty};
use pcap::{Active, Capture, Device, Precision, TimestampType};
use std::os::fd::AsRawFd;

/// Most frames one `dispatch` hands over (the capture loop looks at its
/// clock between calls anyway, after each frame).
const DISPATCH_MAX: usize = 4096;
/// Kernel drops are looked at after this many frames (and when idle).
const DROPS_EVERY: u32 = 65_536;

#[derive(Clone)]
pub struct LiveOptions {
    pub snaplen: i32,
    pub buffer_size: usize,
    /// `Some` = `--input-raw-buffer-timeout`; `None` = [`DELIVERY_MS`].
    pub timeout_ms: Option<i32>,
    pub promisc: bool,
    pub monitor: bool,
    pub timestamp_type: Option<TimestampType>,
    /// `--input-raw-timestamp-type go`: wall clock at read time.
    pub wall_clock: bool,
}

pub struct PcapLive {
    kernel_drops: crate::stats::Counter,
    reported_drops: u32,
    interface: super::InterfaceStats,
    /// libpcap's received, dropped and interface-dropped counts when last
    /// read (they only grow, wrapping).
    seen: (u32, u32, u32),
    idle_calls: u32,
    calls: u32,
    drain: Drain,
    /// The last `pcap_dispatch` took everything the ring held: the next
    /// look waits first (an empty non-blocking dispatch costs a poll).
    emptied: bool,
    cap: Capture<Active>,
    fd: std::os::fd::RawFd,
    link: LinkType,
    name: String,
    wall_clock: bool,
}

impl PcapLive {
    /// Opens and activates a handle on `device` with `filter` applied.
    pub fn open(device: Device, opts: &LiveOptions, filter: &str) -> anyhow::Result<PcapLive> {
        let name = device.name.clone();
        let mut inactive = Capture::from_device(device)?
            .snaplen(opts.snaplen)
            .promisc(opts.promisc)
            .buffer_size(opts.buffer_size.min(i32::MAX as usize) as i32)
            .precision(Precision::Nano);
        inactive = match opts.timeout_ms {
            Some(ms) => inactive.timeout(ms.max(1)),
            None => inactive.timeout(DELIVERY_MS),
        };
        if opts.monitor {
            inactive = inactive.rfmon(true);
        }
        if let Some(t) = opts.timestamp_type {
            inactive = inactive.tstamp_type(t);
        }
        let mut cap = match inactive.open() {
            Ok(c) => c,
            Err(e) if opts.monitor && e.to_string().contains("rfmon") => {
                // GoReplay ignores "cannot set rfmon" too.
                Capture::from_device(name.as_str())?
                    .snaplen(opts.snaplen)
                    .promisc(opts.promisc)
                    .timeout(opts.timeout_ms.unwrap_or(DELIVERY_MS))
                    .precision(Precision::Nano)
                    .open()?
            }
            Err(e) if super::is_permission_error(&e.to_string()) => {
                return Err(super::privilege_error(&name, &e.to_string()));
            }
            Err(e) => return Err(anyhow::anyhow!("{name}: {e}")),
        };
        let dlt = cap.get_datalink().0;
        let link = LinkType::from_dlt(dlt).ok_or_else(|| {
            anyhow::anyhow!("can not identify link type of an interface '{name}' (DLT {dlt})")
        })?;
        if !filter.is_empty() {
            cap.filter(filter, true)
                .map_err(|e| anyhow::anyhow!("{name}: BPF filter '{filter}': {e}"))?;
        }
        // Non-blocking, with our own poll: in immediate mode libpcap may
        // block forever, and idle connections must still expire.
        let cap = cap.setnonblock()?;
        Ok(PcapLive {
            kernel_drops: crate::stats::drop_counter("input_raw.kernel_drops"),
            reported_drops: 0,
            interface: super::InterfaceStats::new(&name),
            seen: (0, 0, 0),
            idle_calls: 0,
            calls: 0,
            drain: Drain::new(LOTS_OF_BYTES),
            emptied: true,
            fd: cap.as_raw_fd(),
            cap,
            link,
            name,
            wall_clock: opts.wall_clock,
        })
    }
}

/// Nothing in the ring: sleeps until something comes (or
/// [`IDLE_WAIT_MS`]). False when nothing came.
fn wait(fd: std::os::fd::RawFd) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: polling the handle's own descriptor.
    unsafe { libc::poll(&mut pfd, 1, IDLE_WAIT_MS) != 0 }
}

impl PcapLive {
    /// Packets the kernel could not queue for us (buffer full).
    fn count_kernel_drops(&mut self) {
        if let Ok(s) = self.cap.stats() {
            let (received, dropped, if_dropped) = &mut self.seen;
            self.interface.add(
                super::grown(received, s.received),
                super::grown(dropped, s.dropped),
                super::grown(if_dropped, s.if_dropped),
            );
            let new = s.dropped.wrapping_sub(self.reported_drops);
            if new > 0 && new < u32::MAX / 2 {
                self.kernel_drops.drop_one(&format_args!(
                    "{}: the kernel dropped packets before gor could read them (raise --input-raw-buffer-size)",
                    self.name
                ));
                self.kernel_drops.add(u64::from(new) - 1);
                self.reported_drops = s.dropped;
            }
        }
    }

    /// The ring is empty: hand on (false), or linger or sleep until
    /// something comes (true when something may have).
    fn on_empty(&mut self) -> bool {
        match self.drain.on_empty() {
            OnEmpty::HandOn => false,
            OnEmpty::Lingered => true,
            OnEmpty::Poll => {
                let woken = wait(self.fd);
                if !woken {
                    self.idle_calls += 1;
                }
                woken
            }
        }
    }
}

impl PacketSource for PcapLive {
    fn next(&mut self) -> anyhow::Result<Next<'_>> {
        self.calls = self.calls.wrapping_add(1);
        if self.idle_calls > 0 || self.calls.is_multiple_of(DROPS_EVERY) {
            self.idle_calls = 0;
            self.count_kernel_drops();
        }
        match self.cap.next_packet() {
            Ok(p) => {
                self.drain.took(p.data.len());
                let ts_ns = if self.wall_clock {
                    crate::message::now_ns()
                } else {
                    p.header.ts.tv_sec * 1_000_000_000 + p.header.ts.tv_usec
                };
                Ok(Next::Frame(Frame {
                    data: p.data,
                    ts_ns,
                    link: self.link,
                }))
            }
            Err(pcap::Error::TimeoutExpired) => {
                // (fields, not `on_empty`: the packet borrows the handle)
                if self.drain.on_empty() == OnEmpty::Poll && !wait(self.fd) {
                    self.idle_calls += 1;
                }
                Ok(Next::Idle)
            }
            Err(pcap::Error::NoMorePackets) => Ok(Next::End),
            Err(e) => Err(anyhow::anyhow!("{}: {e}", self.name)),
        }
    }

    /// The frames waiting in the ring, each read in place: `next_packet`
    /// (pcap_next_ex) copies every frame out of the ring first, one more
    /// copy of every captured byte. Once the ring was found empty, waits
    /// (hands on, lingers or blocks) before looking again.
    fn dispatch(&mut self, f: &mut dyn FnMut(Frame<'_>)) -> anyhow::Result<Dispatched> {
        if self.idle_calls > 0 || self.calls >= DROPS_EVERY {
            self.idle_calls = 0;
            self.calls = 0;
            self.count_kernel_drops();
        }
        if self.emptied && !self.on_empty() {
            return Ok(Dispatched::Idle);
        }
        let (link, wall_clock) = (self.link, self.wall_clock);
        let mut bytes = 0usize;
        let got = self.cap.dispatch(Some(DISPATCH_MAX), |p| {
            bytes += p.data.len();
            let ts_ns = if wall_clock {
                crate::message::now_ns()
            } else {
                p.header.ts.tv_sec * 1_000_000_000 + p.header.ts.tv_usec
            };
            f(Frame {
                data: p.data,
                ts_ns,
                link,
            });
        });
        match got {
            Ok(0) => {
                self.emptied = true;
                Ok(Dispatched::Idle)
            }
            Ok(n) => {
                self.drain.took(bytes);
                // Fewer than asked for: libpcap stopped at a block the
                // kernel has not handed over yet.
                self.emptied = n < DISPATCH_MAX;
                self.calls = self
                    .calls
                    .saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
                Ok(Dispatched::Frames(n))
            }
            Err(pcap::Error::NoMorePackets) => Ok(Dispatched::End),
            Err(e) => Err(anyhow::anyhow!("{}: {e}", self.name)),
        }
    }

    fn name(&self) -> &str {
        &self.name
    }
}
