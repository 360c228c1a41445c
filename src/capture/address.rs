//! `--input-raw` addresses: `[host]:port[,port…]`, where
//! the host is empty, `0.0.0.0`, `::` or `[::]` (every interface), an IP
//! address, an interface name, an interface-name prefix ending in `*`,
//! `localhost`; or the path of a pcap file (`dump.pcap`, optionally with
//! `:port`).

use std::net::IpAddr;

/// What the host part of an address names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// Every interface.
    Any,
    Ip(IpAddr),
    /// An interface name, or a prefix when it ended in `*`.
    Interface {
        name: String,
        prefix: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub host: Host,
    /// Server ports; empty means every port (port 0).
    pub ports: Vec<u16>,
    /// A pcap file to read instead of an interface.
    pub file: Option<String>,
}

fn is_pcap_path(s: &str) -> bool {
    s.ends_with("pcap") || s.ends_with("pcapng") || s.ends_with(".cap")
}

/// Parses one `--input-raw` value. Errors are one line naming the value.
pub fn parse(value: &str) -> Result<Address, String> {
    if value.starts_with("k8s://") {
        return Err(format!(
            "--input-raw {value}: k8s:// addresses are not supported by this build of gor; capture on the node's veth* interfaces instead"
        ));
    }
    let (host, ports) = if let Some(rest) = value.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or_else(|| {
            format!("input-raw: error while parsing address: {value}: missing ']'")
        })?;
        let ports = after.strip_prefix(':').ok_or_else(|| {
            format!("input-raw: error while parsing address: {value}: missing port")
        })?;
        (h.to_string(), ports)
    } else {
        if value.parse::<IpAddr>().is_ok() {
            // a bare IPv6 address: its colons are not a port separator
            return Err(format!(
                "input-raw: error while parsing address: {value}: missing port (write [{value}]:PORT)"
            ));
        }
        match value.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p),
            None if is_pcap_path(value) => {
                return Ok(Address {
                    host: Host::Any,
                    ports: Vec::new(),
                    file: Some(value.to_string()),
                });
            }
            None => {
                return Err(format!(
                    "input-raw: error while parsing address: {value}: missing port (e.g. :80 or eth0:80)"
                ));
            }
        }
    };
    let mut list = Vec::new();
    for p in ports.split(',') {
        let p = p.trim();
        let n: u16 = p
            .parse()
            .map_err(|_| format!("parsing port error: {value}: '{p}' is not a port number"))?;
        if n == 0 {
            list.clear();
            break;
        }
        if !list.contains(&n) {
            list.push(n);
        }
    }
    if is_pcap_path(&host) {
        return Ok(Address {
            host: Host::Any,
            ports: list,
            file: Some(host),
        });
    }
    let host = match host.as_str() {
        "" | "0.0.0.0" | "::" => Host::Any,
        "localhost" => Host::Ip(IpAddr::from([127, 0, 0, 1])),
        h => match h.parse::<IpAddr>() {
            Ok(ip) => Host::Ip(ip),
            Err(_) => match h.strip_suffix('*') {
                Some(prefix) => Host::Interface {
                    name: prefix.to_string(),
                    prefix: true,
                },
                None => Host::Interface {
                    name: h.to_string(),
                    prefix: false,
                },
            },
        },
    };
    Ok(Address {
        host,
        ports: list,
        file: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(v: &str) -> Address {
        parse(v).unwrap_or_else(|e| panic!("{v}: {e}"))
    }

    #[test]
    fn every_address_form_is_understood() {
        assert_eq!(ok(":80").host, Host::Any);
        assert_eq!(ok(":80").ports, vec![80]);
        assert_eq!(ok("0.0.0.0:80,8080").ports, vec![80, 8080]);
        assert_eq!(ok("[::]:80").host, Host::Any);
        assert_eq!(ok("[::1]:80").host, Host::Ip("::1".parse().unwrap()));
        assert_eq!(ok("localhost:80").host, Host::Ip([127, 0, 0, 1].into()));
        assert_eq!(
            ok("eth*:80").host,
            Host::Interface {
                name: "eth".into(),
                prefix: true
            }
        );
        assert_eq!(
            ok("lo:8000").host,
            Host::Interface {
                name: "lo".into(),
                prefix: false
            }
        );
        assert_eq!(ok("10.0.0.1: 80 , 81").ports, vec![80, 81]);
        assert!(ok(":0").ports.is_empty());
    }

    #[test]
    fn pcap_file_addresses_need_no_port() {
        let a = ok("/tmp/dump.pcap");
        assert_eq!(a.file.as_deref(), Some("/tmp/dump.pcap"));
        assert!(a.ports.is_empty());
        assert_eq!(ok("dump.pcapng:80").ports, vec![80]);
    }

    #[test]
    fn bad_addresses_are_one_line_errors() {
        for bad in ["eth0", ":http", ":70000", "[::1", "::1", "k8s://pod/x:80"] {
            let e = parse(bad).unwrap_err();
            assert!(!e.contains('\n') && e.contains(bad), "{bad}: {e}");
        }
    }
}
