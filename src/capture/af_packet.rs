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
    fd: libc::c_int,
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

fn setsockopt<T>(fd: libc::c_int, level: libc::c_int, opt: libc::c_int, v: &T) -> libc::c_int {
    // SAFETY: `v` points to a live value of the size given.
    unsafe {
        libc::setsockopt(
            fd,
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
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
        if fd < 0 {
            return Err(os_error("socket(AF_PACKET)", name));
        }
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
            drain: Drain::new(LOTS_OF_BYTES),
        };
        if setsockopt(fd, libc::SOL_PACKET, libc::PACKET_VERSION, &TPACKET_V3) != 0 {
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
            if setsockopt(fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog) != 0 {
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
        if setsockopt(fd, libc::SOL_PACKET, libc::PACKET_RX_RING, &req) != 0 {
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
                fd,
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
                fd,
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
            if setsockopt(fd, libc::SOL_PACKET, libc::PACKET_ADD_MEMBERSHIP, &mreq) != 0 {
                return Err(os_error("promiscuous mode", name));
            }
        }
        Ok(this)
    }

    fn block_ptr(&self, i: usize) -> *mut u8 {
        // SAFETY: i < blocks, so the offset stays inside the mapping.
        unsafe { self.ring.add(i * BLOCK_SIZE) }
    }

    fn block_status(&self, i: usize) -> u32 {
        // SAFETY: the block descriptor's status word is at offset 8 of the
        // block; the kernel writes it, so read it volatile and fence after.
        let v = unsafe { std::ptr::read_volatile(self.block_ptr(i).add(8) as *const u32) };
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
                self.fd,
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                st.as_mut_ptr() as *mut libc::c_void,
                &mut len,
            )
        };
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
        // SAFETY: handing the block back to the kernel (status = TP_STATUS_KERNEL).
        unsafe { std::ptr::write_volatile(self.block_ptr(self.block).add(8) as *mut u32, 0) };
        self.block = (self.block + 1) % self.blocks;
        self.in_block = false;
    }
}

fn rd32(p: *const u8, off: usize) -> u32 {
    // SAFETY: callers stay within the current block.
    unsafe { std::ptr::read_unaligned(p.add(off) as *const u32) }
}

fn rd16(p: *const u8, off: usize) -> u16 {
    // SAFETY: as above.
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
                let block = self.block_ptr(self.block);
                // SAFETY: `offset` came from the kernel's packet chain and
                // stays inside this block.
                let hdr = unsafe { block.add(self.offset) };
                let next_offset = rd32(hdr, 0) as usize;
                let sec = rd32(hdr, 4);
                let nsec = rd32(hdr, 8);
                let snaplen = rd32(hdr, 12) as usize;
                let mac = rd16(hdr, 24) as usize;
                // sockaddr_ll follows the 48-byte tpacket3_hdr
                let hatype = rd16(hdr, 48 + 8);
                // SAFETY: as above.
                let pkttype = unsafe { *hdr.add(48 + 10) };
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
            if self.block_status(self.block) & TP_STATUS_USER != 0 {
                if self.block == 0 {
                    self.count_kernel_drops();
                }
                let b = self.block_ptr(self.block);
                self.left = rd32(b, 12);
                self.offset = rd32(b, 16) as usize;
                self.in_block = true;
                continue;
            }
            match self.drain.on_empty() {
                OnEmpty::HandOn => return Ok(Next::Idle),
                OnEmpty::Lingered => continue,
                OnEmpty::Poll => {}
            }
            let mut pfd = libc::pollfd {
                fd: self.fd,
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
            if self.block_status(self.block) & TP_STATUS_USER == 0 {
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
        // SAFETY: unmapping and closing what `open` created.
        unsafe {
            if !self.ring.is_null() {
                libc::munmap(self.ring as *mut libc::c_void, self.ring_len);
            }
            libc::close(self.fd);
        }
    }
}
