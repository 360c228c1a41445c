//! The `vxlan` engine: a UDP listener for VXLAN-encapsulated traffic (a
//! mirror session from a cloud load balancer or a switch). Each datagram is
//! an 8-byte VXLAN header and an inner Ethernet frame.
//!
//! `--input-raw-vxlan-vni`: with no entries every VNI passes; a VNI passes
//! when it equals a positive entry, is refused when it equals the absolute
//! value of a negative entry, and otherwise passes only when there is at
//! least one negative entry.

use super::{Frame, LinkType, Next, PacketSource};
use crate::stats::Counter;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;

pub struct Vxlan {
    socket: UdpSocket,
    buf: Vec<u8>,
    vnis: Vec<i64>,
    name: String,
    refused: Counter,
    malformed: Counter,
    /// Frames were returned since the last `Idle`.
    got_frames: bool,
}

/// Does a VNI pass the allow/deny list?
pub fn vni_passes(vni: i64, list: &[i64]) -> bool {
    if list.is_empty() {
        return true;
    }
    let mut has_negative = false;
    for &entry in list {
        if entry == 0 {
            continue;
        }
        if entry > 0 && entry == vni {
            return true;
        }
        if entry < 0 {
            if -entry == vni {
                return false;
            }
            has_negative = true;
        }
    }
    has_negative
}

impl Vxlan {
    pub fn open(port: u16, vnis: Vec<i64>) -> anyhow::Result<Vxlan> {
        let socket = UdpSocket::bind(("0.0.0.0", port))
            .map_err(|e| anyhow::anyhow!("--input-raw-vxlan-port {port}: cannot listen: {e}"))?;
        socket.set_nonblocking(true)?;
        tracing::info!("VXLAN: listening on UDP port {port}");
        Ok(Vxlan {
            socket,
            buf: vec![0; 65_536],
            vnis,
            name: format!("vxlan :{port}"),
            refused: crate::stats::counter("input_raw.vxlan_vni_refused"),
            malformed: crate::stats::drop_counter("input_raw.malformed_vxlan"),
            got_frames: false,
        })
    }

    pub fn local_port(&self) -> u16 {
        self.socket.local_addr().map(|a| a.port()).unwrap_or(0)
    }
}

impl PacketSource for Vxlan {
    fn next(&mut self) -> anyhow::Result<Next<'_>> {
        loop {
            let n = match self.socket.recv(&mut self.buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if std::mem::take(&mut self.got_frames) {
                        // drained: what was captured is handed on now
                        return Ok(Next::Idle);
                    }
                    let mut pfd = libc::pollfd {
                        fd: self.socket.as_raw_fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    };
                    // SAFETY: polling our own socket.
                    if unsafe { libc::poll(&mut pfd, 1, 100) } <= 0 {
                        return Ok(Next::Idle);
                    }
                    continue;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(anyhow::anyhow!("{}: {e}", self.name)),
            };
            // flags byte with the I bit, then the 24-bit VNI at bytes 4..7
            if n < 8 + 14 || self.buf[0] & 0x08 == 0 {
                self.malformed
                    .drop_one(&"a datagram on the VXLAN port is not VXLAN");
                continue;
            }
            let vni = i64::from(u32::from_be_bytes([
                0,
                self.buf[4],
                self.buf[5],
                self.buf[6],
            ]));
            if !vni_passes(vni, &self.vnis) {
                self.refused.inc();
                continue;
            }
            self.got_frames = true;
            return Ok(Next::Frame(Frame {
                data: &self.buf[8..n],
                ts_ns: crate::message::now_ns(),
                link: LinkType::Ethernet,
            }));
        }
    }

    fn name(&self) -> &str {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vni_list_allows_and_denies_as_goreplay_does() {
        assert!(vni_passes(5, &[]));
        assert!(vni_passes(5, &[5]));
        assert!(!vni_passes(6, &[5]));
        assert!(!vni_passes(5, &[-5]));
        assert!(vni_passes(6, &[-5]));
        assert!(vni_passes(7, &[0, 7]));
        assert!(!vni_passes(7, &[0]));
    }
}
