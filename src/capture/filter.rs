//! The automatic BPF filter: requests are TCP to the ports (and
//! to the host's addresses unless promiscuous); with response tracking, the
//! same from them; with VLAN options, prefixed by `vlan [vid] and`.

use std::net::IpAddr;

pub struct FilterSpec<'a> {
    pub ports: &'a [u16],
    /// Addresses of the captured host; empty for no host terms.
    pub hosts: &'a [IpAddr],
    pub track_response: bool,
    pub vlan: bool,
    pub vlan_vids: &'a [i64],
}

fn part(dir: &str, spec: &FilterSpec) -> String {
    let ports = if spec.ports.is_empty() {
        format!("tcp {dir} portrange 0-65535")
    } else {
        spec.ports
            .iter()
            .map(|p| format!("tcp {dir} port {p}"))
            .collect::<Vec<_>>()
            .join(" or ")
    };
    if spec.hosts.is_empty() {
        return format!("({ports})");
    }
    let hosts = spec
        .hosts
        .iter()
        .map(|h| format!("{dir} host {h}"))
        .collect::<Vec<_>>()
        .join(" or ");
    format!("(({ports}) and ({hosts}))")
}

pub fn build(spec: &FilterSpec) -> String {
    let mut f = part("dst", spec);
    if spec.track_response {
        f = format!("{f} or {}", part("src", spec));
    }
    if spec.vlan || !spec.vlan_vids.is_empty() {
        // GoReplay prefixed `vlan and ` without parentheses, so the response
        // half escaped the VLAN test (`and` binds tighter than `or`).
        if spec.track_response {
            f = format!("({f})");
        }
        if spec.vlan_vids.is_empty() {
            f = format!("vlan and {f}");
        }
        for vid in spec.vlan_vids {
            f = format!("vlan {vid} and {f}");
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_matches_goreplay_example() {
        let hosts: Vec<IpAddr> = vec!["10.0.0.5".parse().unwrap(), "::1".parse().unwrap()];
        let f = build(&FilterSpec {
            ports: &[80],
            hosts: &hosts,
            track_response: true,
            vlan: false,
            vlan_vids: &[],
        });
        assert_eq!(
            f,
            "((tcp dst port 80) and (dst host 10.0.0.5 or dst host ::1)) or ((tcp src port 80) and (src host 10.0.0.5 or src host ::1))"
        );
    }

    #[test]
    fn all_ports_no_hosts_and_vlan_prefixes() {
        let f = build(&FilterSpec {
            ports: &[],
            hosts: &[],
            track_response: false,
            vlan: true,
            vlan_vids: &[10, 20],
        });
        assert_eq!(f, "vlan 20 and vlan 10 and (tcp dst portrange 0-65535)");
        let f = build(&FilterSpec {
            ports: &[80, 81],
            hosts: &[],
            track_response: false,
            vlan: true,
            vlan_vids: &[],
        });
        assert_eq!(f, "vlan and (tcp dst port 80 or tcp dst port 81)");
    }
}
