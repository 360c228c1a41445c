//! The `pcap_file` engine: a .pcap or .pcapng file read to its end. A file
//! cut short (a capture killed mid-write) gives every whole packet before
//! the cut, and the cut is counted.

use super::{Frame, LinkType, Next, PacketSource};
use crate::stats::Counter;
use pcap::{Capture, Offline, Precision};

pub struct PcapFile {
    cap: Capture<Offline>,
    link: LinkType,
    name: String,
    truncated: Counter,
    done: bool,
}

impl PcapFile {
    pub fn open(path: &str, filter: &str) -> anyhow::Result<PcapFile> {
        let mut cap = Capture::from_file_with_precision(path, Precision::Nano)
            .map_err(|e| anyhow::anyhow!("--input-raw {path}: cannot read the pcap file: {e}"))?;
        let dlt = cap.get_datalink().0;
        let link = LinkType::from_dlt(dlt).ok_or_else(|| {
            anyhow::anyhow!("--input-raw {path}: unsupported link type (DLT {dlt})")
        })?;
        if !filter.is_empty() {
            cap.filter(filter, true)
                .map_err(|e| anyhow::anyhow!("--input-raw {path}: BPF filter '{filter}': {e}"))?;
        }
        Ok(PcapFile {
            cap,
            link,
            name: path.to_string(),
            truncated: crate::stats::drop_counter("input_raw.truncated_pcap_files"),
            done: false,
        })
    }
}

impl PacketSource for PcapFile {
    fn next(&mut self) -> anyhow::Result<Next<'_>> {
        if self.done {
            return Ok(Next::End);
        }
        match self.cap.next_packet() {
            Ok(p) => Ok(Next::Frame(Frame {
                data: p.data,
                // A pcapng timestamp is 64 bits of any unit: far-future or
                // negative times saturate instead of wrapping.
                ts_ns: p
                    .header
                    .ts
                    .tv_sec
                    .saturating_mul(1_000_000_000)
                    .saturating_add(p.header.ts.tv_usec)
                    .max(0),
                link: self.link,
            })),
            Err(pcap::Error::NoMorePackets) => {
                self.done = true;
                Ok(Next::End)
            }
            Err(e) => {
                self.done = true;
                self.truncated.drop_one(&format_args!(
                    "{}: the file ends in the middle of a packet ({e})",
                    self.name
                ));
                Ok(Next::End)
            }
        }
    }

    fn name(&self) -> &str {
        &self.name
    }
}
