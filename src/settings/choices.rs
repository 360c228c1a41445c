//! Flags that name one of a few choices, parsed into enums once, when the
//! command line is read: a typo is reported before anything starts, in one
//! line naming the flag, and the plugins match on variants, not on strings.

use std::fmt;

/// `--input-raw-engine`: where captured packets come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// One libpcap handle per interface (the default; also the empty string).
    Libpcap,
    /// An AF_PACKET ring read without libpcap. GoReplay's `raw_socket` and
    /// `af_packet` are two rings of different sizes over the same kernel
    /// interface; gor has one ring, sized by `--input-raw-buffer-size`, for
    /// both names.
    RawSocket,
    /// A pcap file, read at its own pace (forced by a `.pcap` address).
    PcapFile,
    /// VXLAN-encapsulated traffic received on a UDP port.
    Vxlan,
}

impl Engine {
    /// The engine a name means; GoReplay's wording for anything else.
    pub fn parse(name: &str) -> Result<Engine, String> {
        Ok(match name {
            "" | "libpcap" => Engine::Libpcap,
            "raw_socket" | "af_packet" => Engine::RawSocket,
            "pcap_file" => Engine::PcapFile,
            "vxlan" => Engine::Vxlan,
            other => {
                return Err(format!(
                    "invalid engine {other} (expected libpcap, raw_socket, af_packet, pcap_file or vxlan)"
                ));
            }
        })
    }
}

/// `--input-raw-protocol`: how captured TCP streams are cut into messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureProtocol {
    /// HTTP/1.x requests and responses (the default; also the empty string).
    Http,
    /// Raw payloads, one message per burst of segments.
    Binary,
}

impl CaptureProtocol {
    /// The protocol a name means; GoReplay's wording for anything else.
    pub fn parse(name: &str) -> Result<CaptureProtocol, String> {
        match name {
            "" | "http" => Ok(CaptureProtocol::Http),
            "binary" => Ok(CaptureProtocol::Binary),
            other => Err(format!(
                "unsupported protocol {other} (expected http or binary)"
            )),
        }
    }
}

/// `--input-raw-timestamp-type`: which clock stamps captured packets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimestampType {
    /// libpcap's default source (the flag is empty).
    Default,
    /// The wall clock when gor reads the packet, whatever libpcap says.
    Go,
    Host,
    HostLowPrec,
    HostHiPrec,
    Adapter,
    AdapterUnsynced,
    /// A name libpcap does not know. GoReplay then falls back to `host` and
    /// goes on, and command lines in use rely on that, so this is not an
    /// error: gor falls back to `host` too, and says so once at start-up.
    Unknown(String),
}

impl TimestampType {
    /// Names are case-insensitive, as libpcap reads them. Never fails (see
    /// [`TimestampType::Unknown`]); the `Result` is what clap expects.
    pub fn parse(name: &str) -> Result<TimestampType, String> {
        Ok(match name.to_ascii_lowercase().as_str() {
            "" => TimestampType::Default,
            "go" => TimestampType::Go,
            "host" => TimestampType::Host,
            "host_lowprec" => TimestampType::HostLowPrec,
            "host_hiprec" => TimestampType::HostHiPrec,
            "adapter" => TimestampType::Adapter,
            "adapter_unsynced" => TimestampType::AdapterUnsynced,
            _ => TimestampType::Unknown(name.to_string()),
        })
    }

    /// The start-up notice for a name libpcap does not know.
    pub fn notice(&self) -> Option<String> {
        match self {
            TimestampType::Unknown(name) => Some(format!(
                "--input-raw-timestamp-type {name}: unknown timestamp source, using host (known: host, host_lowprec, host_hiprec, adapter, adapter_unsynced, go)"
            )),
            _ => None,
        }
    }
}

impl fmt::Display for TimestampType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimestampType::Default => "",
            TimestampType::Go => "go",
            TimestampType::Host => "host",
            TimestampType::HostLowPrec => "host_lowprec",
            TimestampType::HostHiPrec => "host_hiprec",
            TimestampType::Adapter => "adapter",
            TimestampType::AdapterUnsynced => "adapter_unsynced",
            TimestampType::Unknown(name) => name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_names_and_their_aliases() {
        assert_eq!(Engine::parse(""), Ok(Engine::Libpcap));
        assert_eq!(Engine::parse("libpcap"), Ok(Engine::Libpcap));
        assert_eq!(Engine::parse("af_packet"), Ok(Engine::RawSocket));
        assert_eq!(Engine::parse("raw_socket"), Ok(Engine::RawSocket));
        assert_eq!(Engine::parse("pcap_file"), Ok(Engine::PcapFile));
        assert_eq!(Engine::parse("vxlan"), Ok(Engine::Vxlan));
        let e = Engine::parse("Libpcap").unwrap_err();
        assert!(e.starts_with("invalid engine Libpcap"), "{e}");
    }

    #[test]
    fn protocol_names() {
        assert_eq!(CaptureProtocol::parse(""), Ok(CaptureProtocol::Http));
        assert_eq!(CaptureProtocol::parse("http"), Ok(CaptureProtocol::Http));
        assert_eq!(
            CaptureProtocol::parse("binary"),
            Ok(CaptureProtocol::Binary)
        );
        let e = CaptureProtocol::parse("http2").unwrap_err();
        assert!(e.starts_with("unsupported protocol http2"), "{e}");
    }

    #[test]
    fn timestamp_names_are_case_insensitive_and_unknown_ones_fall_back() {
        assert_eq!(TimestampType::parse(""), Ok(TimestampType::Default));
        assert_eq!(TimestampType::parse("GO"), Ok(TimestampType::Go));
        assert_eq!(
            TimestampType::parse("Host_HiPrec"),
            Ok(TimestampType::HostHiPrec)
        );
        let unknown = TimestampType::parse("atomic").unwrap();
        assert_eq!(unknown, TimestampType::Unknown("atomic".into()));
        assert!(
            unknown
                .notice()
                .unwrap()
                .starts_with("--input-raw-timestamp-type atomic: unknown")
        );
        assert_eq!(TimestampType::Adapter.notice(), None);
    }
}
