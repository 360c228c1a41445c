//! The `raw_socket` engine (also `af_packet`): an AF_PACKET socket with a
//! memory-mapped TPACKET_V3 ring, so frames are read where the kernel wrote
//! them, in blocks, without a system call per packet.
//!
//! On loopback the kernel hands an AF_PACKET socket every packet twice, once
//! leaving and once arriving; the leaving copy (`PACKET_OUTGOING`) is skipped
//! there (GoReplay skipped "every second frame", which loses packets as soon
//! as the two copies do not alternate). On other interfaces outgoing packets
//! are real traffic (a local server's responses) and are kept.

use super::{Frame, IDLE_WAIT_MS, LOTS_OF_BYTES, LinkType, Next, PacketSource};
use crate::linger::{Drain, OnEmpty};
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const TPACKET_V3: libc::c_int = 2;
const TP_STATUS_USER: u32 = 1;
const PACKET_OUTGOING: u8 = 4;
const ARPHRD_LOOPBACK: u16 = 772;
/// Every block holds whole packets; it must exceed the snap length.
const BLOCK_SIZE: usize = 1 << 20;

#[repr(C)]
struct TpacketReq3 {
    block_size: u32,
    block_nr: u32,
    frame_size: u32,
    frame_nr: u32,
    retire_blk_tov: u32,
    sizeof_priv: u32,
    feature_req_word: u32,
}

pub struct AfPacket {
    /// Closed when the value is dropped, after the ring is unmapped.
    fd: OwnedFd,
    ring: *mut u8,
    ring_len: usize,
    blocks: usize,
    block: usize,
    in_block: bool,
    left: u32,
    offset: usize,
    name: String,
    skipped: crate::stats::Counter,
    kernel_drops: crate::stats::Counter,
    interface: super::InterfaceStats,
    drain: Drain,
}

// The ring is owned by this value alone and only touched by its thread.
unsafe impl Send for AfPacket {}

fn os_error(what: &str, name: &str) -> anyhow::Error {
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EPERM) || e.raw_os_error() == Some(libc::EACCES) {
        return super::privilege_error(name, &format!("{what}: {e}"));
    }
    anyhow::anyhow!("raw_socket on {name}: {what}: {e}")
}

/// `setsockopt` with `v` as the option value.
///
/// # Safety
///
/// `T` must be the type the kernel expects for `level`/`opt`, and any
/// pointer inside `v` must point to memory that is valid for the call (the
/// kernel reads through it, e.g. a `sock_fprog`'s filter).
unsafe fn setsockopt<T>(fd: &OwnedFd, level: libc::c_int, opt: libc::c_int, v: &T) -> libc::c_int {
    // SAFETY: `v` points to a live value of the size given; the caller
    // vouches for its type and the pointers in it.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            opt,
            v as *const T as *const libc::c_void,
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    }
}

impl AfPacket {
    /// Opens a ring of about `buffer_size` bytes on interface `name` with
    /// the BPF `filter` (compiled for Ethernet) attached.
    pub fn open(
        name: &str,
        buffer_size: usize,
        block_timeout_ms: u32,
        promisc: bool,
        filter: &str,
    ) -> anyhow::Result<AfPacket> {
        let cname = CString::new(name)?;
        // SAFETY: plain libc calls on values we own; results are checked.
        let ifindex = unsafe { libc::if_nametoindex(cname.as_ptr()) };
        if ifindex == 0 {
            anyhow::bail!("raw_socket: no interface named {name}");
        }
        let proto = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: creating a socket.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
        if raw < 0 {
            return Err(os_error("socket(AF_PACKET)", name));
        }
        // SAFETY: `raw` is a descriptor just opened and owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut this = AfPacket {
            fd,
            ring: std::ptr::null_mut(),
            ring_len: 0,
            blocks: 0,
            block: 0,
            in_block: false,
            left: 0,
            offset: 0,
            name: name.to_string(),
            skipped: crate::stats::counter("input_raw.loopback_outgoing_copies"),
            kernel_drops: crate::stats::drop_counter("input_raw.kernel_drops"),
            interface: super::InterfaceStats::new(name),
            drain: Drain::new(LOTS_OF_BYTES),
        };
        // SAFETY: PACKET_VERSION takes a c_int.
        if unsafe {
            setsockopt(
                &this.fd,
                libc::SOL_PACKET,
                libc::PACKET_VERSION,
                &TPACKET_V3,
            )
        } != 0
        {
            return Err(os_error("PACKET_VERSION", name));
        }
        if !filter.is_empty() {
            let dead = pcap::Capture::dead(pcap::Linktype::ETHERNET)?;
            let prog = dead
                .compile(filter, true)
                .map_err(|e| anyhow::anyhow!("raw_socket: BPF filter '{filter}': {e}"))?;
            let insns = prog.get_instructions();
            // SAFETY: pcap's bpf_insn and the kernel's sock_filter have the
            // same layout (u16 code, u8 jt, u8 jf, u32 k).
            let mut code: Vec<libc::sock_filter> = insns
                .iter()
                .map(|i| unsafe {
                    std::ptr::read(i as *const pcap::BpfInstruction as *const libc::sock_filter)
                })
                .collect();
            // A filter's accept value is the snap length; pcap compiled it
            // for 65535, which would cut loopback's 64 KiB super-packets.
            for insn in &mut code {
                if insn.code == (libc::BPF_RET | libc::BPF_K) as u16 && insn.k != 0 {
                    insn.k = super::SNAPLEN as u32;
                }
            }
            let fprog = libc::sock_fprog {
                len: code.len() as u16,
                filter: code.as_mut_ptr(),
            };
            // SAFETY: SO_ATTACH_FILTER takes a sock_fprog; its `filter`
            // points to `code`, `len` instructions long and alive until
            // the call returns (the kernel copies the program).
            let rc =
                unsafe { setsockopt(&this.fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog) };
            if rc != 0 {
                return Err(os_error("SO_ATTACH_FILTER", name));
            }
        }
        let blocks = (buffer_size / BLOCK_SIZE).max(2);
        let req = TpacketReq3 {
            block_size: BLOCK_SIZE as u32,
            block_nr: blocks as u32,
            frame_size: 2048,
            frame_nr: (BLOCK_SIZE / 2048 * blocks) as u32,
            retire_blk_tov: block_timeout_ms.max(1),
            sizeof_priv: 0,
            feature_req_word: 0,
        };
        // SAFETY: PACKET_RX_RING with TPACKET_V3 takes a tpacket_req3,
        // which `TpacketReq3` mirrors field for field.
        if unsafe { setsockopt(&this.fd, libc::SOL_PACKET, libc::PACKET_RX_RING, &req) } != 0 {
            return Err(os_error("PACKET_RX_RING", name));
        }
        let len = BLOCK_SIZE * blocks;
        // SAFETY: mapping the ring the kernel just allocated for this socket.
        let ring = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                this.fd.as_raw_fd(),
                0,
            )
        };
        if ring == libc::MAP_FAILED {
            return Err(os_error("mmap", name));
        }
        this.ring = ring as *mut u8;
        this.ring_len = len;
        this.blocks = blocks;
        // SAFETY: a zeroed sockaddr_ll is valid; the fields we need are set.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto;
        sll.sll_ifindex = ifindex as i32;
        // SAFETY: binding with a properly sized sockaddr_ll.
        let rc = unsafe {
            libc::bind(
                this.fd.as_raw_fd(),
                &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(os_error("bind", name));
        }
        if promisc {
            let mreq = libc::packet_mreq {
                mr_ifindex: ifindex as i32,
                mr_type: libc::PACKET_MR_PROMISC as u16,
                mr_alen: 0,
                mr_address: [0; 8],
            };
            // SAFETY: PACKET_ADD_MEMBERSHIP takes a packet_mreq.
            let rc = unsafe {
                setsockopt(
                    &this.fd,
                    libc::SOL_PACKET,
                    libc::PACKET_ADD_MEMBERSHIP,
                    &mreq,
                )
            };
            if rc != 0 {
                return Err(os_error("promiscuous mode", name));
            }
        }
        Ok(this)
    }

    /// The start of block `i` in the ring.
    ///
    /// # Safety
    ///
    /// `i < self.blocks` and the ring is mapped (it is from `open` on).
    unsafe fn block_ptr(&self, i: usize) -> *mut u8 {
        // SAFETY: i < blocks (the caller's promise), so the offset stays
        // inside the mapping.
        unsafe { self.ring.add(i * BLOCK_SIZE) }
    }

    /// The status word of the block being read (`self.block`, always below
    /// `self.blocks`: it only moves on modulo `blocks`).
    fn block_status(&self) -> u32 {
        // SAFETY: self.block < self.blocks. The block descriptor's status
        // word is at offset 8 of the block; the kernel writes it, so read
        // it volatile and fence after.
        let v = unsafe { std::ptr::read_volatile(self.block_ptr(self.block).add(8) as *const u32) };
        std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
        v
    }

    /// Packets the kernel dropped because the ring was full (reading the
    /// statistics resets them).
    fn count_kernel_drops(&self) {
        // tpacket_stats_v3: packets, drops, freeze_q_cnt
        let mut st = [0u32; 3];
        let mut len = std::mem::size_of_val(&st) as libc::socklen_t;
        // SAFETY: reading PACKET_STATISTICS into a buffer of the right size.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                st.as_mut_ptr() as *mut libc::c_void,
                &mut len,
            )
        };
        if rc == 0 {
            // The kernel's packet count includes the drops.
            self.interface.add(u64::from(st[0]), u64::from(st[1]), 0);
        }
        if rc == 0 && st[1] > 0 {
            self.kernel_drops.drop_one(&format_args!(
                "{}: the kernel dropped packets before gor could read them (raise --input-raw-buffer-size)",
                self.name
            ));
            self.kernel_drops.add(u64::from(st[1]) - 1);
        }
    }

    fn release_block(&mut self) {
        std::sync::atomic::fence(std::sync::atomic::Ordering::Release);
        // SAFETY: self.block < self.blocks; handing the block back to the
        // kernel (status = TP_STATUS_KERNEL).
        unsafe { std::ptr::write_volatile(self.block_ptr(self.block).add(8) as *mut u32, 0) };
        self.block = (self.block + 1) % self.blocks;
        self.in_block = false;
    }
}

/// The native-endian u32 at `p + off`.
///
/// # Safety
///
/// The 4 bytes at `p + off` lie inside one live allocation (here: the
/// block being read, which the kernel does not write while it is ours).
unsafe fn rd32(p: *const u8, off: usize) -> u32 {
    // SAFETY: the caller's promise; unaligned reads are allowed.
    unsafe { std::ptr::read_unaligned(p.add(off) as *const u32) }
}

/// The native-endian u16 at `p + off`.
///
/// # Safety
///
/// As [`rd32`], for 2 bytes.
unsafe fn rd16(p: *const u8, off: usize) -> u16 {
    // SAFETY: the caller's promise; unaligned reads are allowed.
    unsafe { std::ptr::read_unaligned(p.add(off) as *const u16) }
}

impl PacketSource for AfPacket {
    fn next(&mut self) -> anyhow::Result<Next<'_>> {
        loop {
            if self.in_block {
                // 64: the packet header and the address that follows it
                if self.left == 0 || self.offset + 64 > BLOCK_SIZE {
                    self.release_block();
                    continue;
                }
                // SAFETY: self.block < self.blocks; `offset` came from the
                // kernel's packet chain and `offset + 64 <= BLOCK_SIZE`
                // (checked above), so the header and the address after it
                // (bytes 0..59 from `hdr`) lie inside this block, which is
                // ours until release_block.
                let (next_offset, sec, nsec, snaplen, mac, hatype, pkttype, hdr) = unsafe {
                    let hdr = self.block_ptr(self.block).add(self.offset);
                    (
                        rd32(hdr, 0) as usize,
                        rd32(hdr, 4),
                        rd32(hdr, 8),
                        rd32(hdr, 12) as usize,
                        rd16(hdr, 24) as usize,
                        // sockaddr_ll follows the 48-byte tpacket3_hdr
                        rd16(hdr, 48 + 8),
                        *hdr.add(48 + 10),
                        hdr,
                    )
                };
                self.left -= 1;
                self.offset += next_offset;
                if pkttype == PACKET_OUTGOING && hatype == ARPHRD_LOOPBACK {
                    self.skipped.inc();
                    continue;
                }
                if self.offset - next_offset + mac + snaplen > BLOCK_SIZE {
                    continue;
                }
                // SAFETY: the frame lies inside the block (checked above) and
                // the block stays ours until release_block.
                let data = unsafe { std::slice::from_raw_parts(hdr.add(mac), snaplen) };
                self.drain.took(snaplen);
                return Ok(Next::Frame(Frame {
                    data,
                    ts_ns: i64::from(sec) * 1_000_000_000 + i64::from(nsec),
                    link: LinkType::Ethernet,
                }));
            }
            if self.block_status() & TP_STATUS_USER != 0 {
                if self.block == 0 {
                    self.count_kernel_drops();
                }
                // SAFETY: self.block < self.blocks; the block descriptor's
                // packet count and first offset are its bytes 12..20.
                let (left, offset) = unsafe {
                    let b = self.block_ptr(self.block);
                    (rd32(b, 12), rd32(b, 16) as usize)
                };
                self.left = left;
                self.offset = offset;
                self.in_block = true;
                continue;
            }
            match self.drain.on_empty() {
                OnEmpty::HandOn => return Ok(Next::Idle),
                OnEmpty::Lingered => continue,
                OnEmpty::Poll => {}
            }
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN | libc::POLLERR,
                revents: 0,
            };
            // SAFETY: polling our own socket.
            let rc = unsafe { libc::poll(&mut pfd, 1, IDLE_WAIT_MS) };
            if rc == 0 {
                self.count_kernel_drops();
                return Ok(Next::Idle);
            }
            if rc < 0 {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(anyhow::anyhow!("raw_socket on {}: poll: {e}", self.name));
                }
            }
            if self.block_status() & TP_STATUS_USER == 0 {
                return Ok(Next::Idle);
            }
        }
    }

    fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for AfPacket {
    fn drop(&mut self) {
        if !self.ring.is_null() {
            // SAFETY: unmapping the ring `open` mapped, once; nothing
            // borrows from it past this point (frames borrow `self`).
            unsafe { libc::munmap(self.ring as *mut libc::c_void, self.ring_len) };
        }
        // `fd` is closed when the field is dropped, after this.
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn is_root() -> bool {
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() == 0 }
    }

    /// What descriptor `fd` of this process is (e.g. `socket:[1234]`).
    fn fd_target(fd: i32) -> Option<std::path::PathBuf> {
        std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()
    }

    #[test]
    fn a_ring_reads_frames_in_place_and_closes_its_socket_when_dropped() {
        if !is_root() {
            eprintln!("skipped: capturing on lo needs root (CAP_NET_RAW)");
            return;
        }
        let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = receiver.local_addr().unwrap().port();
        let mut ring =
            AfPacket::open("lo", 4 << 20, 1, false, &format!("udp port {port}")).unwrap();
        let fd = ring.fd.as_raw_fd();
        let socket = fd_target(fd).expect("the ring's socket is open");
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let payload = b"af_packet ring test payload";
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut seen = false;
        while !seen && Instant::now() < deadline {
            sender.send_to(payload, ("127.0.0.1", port)).unwrap();
            let until = Instant::now() + Duration::from_millis(200);
            while Instant::now() < until {
                match ring.next().unwrap() {
                    Next::Frame(f) => {
                        assert_eq!(f.link, LinkType::Ethernet);
                        assert!(f.ts_ns > 0);
                        if f.data.ends_with(payload) {
                            seen = true;
                            break;
                        }
                    }
                    Next::Idle => {}
                    Next::End => panic!("a live ring does not end"),
                }
            }
        }
        assert!(seen, "the datagram was read from the ring");
        drop(ring);
        // The number may be reused by another test's thread, but not for
        // the same socket.
        assert_ne!(fd_target(fd), Some(socket), "the socket was closed");
    }

    #[test]
    fn a_filter_libpcap_cannot_compile_is_an_error_naming_it() {
        if !is_root() {
            eprintln!("skipped: capturing on lo needs root (CAP_NET_RAW)");
            return;
        }
        let err = AfPacket::open("lo", 4 << 20, 10, false, "tcp port nonsense")
            .err()
            .expect("a bad filter fails");
        assert!(err.to_string().contains("BPF filter"), "{err}");
    }
}
