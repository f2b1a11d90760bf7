//! The network guard of scans (DESIGN principle 11): which addresses a scan may connect
//! to, and a DNS resolver that refuses names resolving to any other, so that the address
//! checked is the address connected to (no DNS rebinding between the check and the
//! connection).
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Why an address is not a public one, or `None` when a scan may reach it.
pub fn non_global(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => non_global_v4(v4),
        IpAddr::V6(v6) => non_global_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn non_global_v4(ip: Ipv4Addr) -> Option<&'static str> {
    const RANGES: &[([u8; 4], u32, &str)] = &[
        ([0, 0, 0, 0], 8, "unspecified"),
        ([127, 0, 0, 0], 8, "loopback"),
        ([10, 0, 0, 0], 8, "private"),
        ([172, 16, 0, 0], 12, "private"),
        ([192, 168, 0, 0], 16, "private"),
        ([169, 254, 0, 0], 16, "link-local"),
        ([100, 64, 0, 0], 10, "shared (CGNAT)"),
        ([192, 0, 0, 0], 24, "reserved"),
        ([192, 0, 2, 0], 24, "documentation"),
        ([198, 51, 100, 0], 24, "documentation"),
        ([203, 0, 113, 0], 24, "documentation"),
        ([198, 18, 0, 0], 15, "reserved"),
        ([192, 88, 99, 0], 24, "reserved"),
        ([224, 0, 0, 0], 4, "multicast"),
        ([240, 0, 0, 0], 4, "reserved"),
    ];
    RANGES
        .iter()
        .find(|(net, prefix, _)| in_v4(ip, *net, *prefix))
        .map(|(_, _, why)| *why)
}

fn non_global_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    let embedded_v4 =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    // ::ffff:a.b.c.d (v4-mapped) and 64:ff9b::a.b.c.d (NAT64) reach that IPv4 address.
    if s[..5] == [0; 5] && s[5] == 0xffff || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return non_global_v4(embedded_v4(s[6], s[7]));
    }
    // 2002:a.b.c.d::/48 (6to4) tunnels to that IPv4 address.
    if s[0] == 0x2002 {
        return non_global_v4(embedded_v4(s[1], s[2]));
    }
    match s[0] {
        0xfc00..=0xfdff => Some("unique-local"),
        0xfe80..=0xfebf => Some("link-local"),
        0xfec0..=0xfeff => Some("site-local"),
        0xff00..=0xffff => Some("multicast"),
        0x2001 if s[1] == 0x0db8 => Some("documentation"),
        0x3fff if s[1] < 0x1000 => Some("documentation"),
        // Teredo, ORCHID and the other IETF protocol assignments of 2001::/23.
        0x2001 if s[1] < 0x0200 => Some("reserved"),
        // Only 2000::/3 is global unicast.
        0x2000..=0x3fff => None,
        _ => Some("reserved"),
    }
}

/// A refusal of the guard, carried through the HTTP client's error chain.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// Checks one address of `host`.
pub fn check(host: &str, ip: IpAddr, allow_private: bool) -> Result<(), Refused> {
    check_with(host, ip, allow_private, &[])
}

/// [`check`], with addresses let through whatever they are.
pub fn check_with(
    host: &str,
    ip: IpAddr,
    allow_private: bool,
    exempt: &[IpAddr],
) -> Result<(), Refused> {
    match non_global(ip) {
        Some(why) if !allow_private && !exempt.contains(&ip) => {
            Err(Refused(if host == ip.to_string() {
                format!("{ip} is a {why} address, which scans may not reach")
            } else {
                format!("{host} resolves to {ip}, a {why} address, which scans may not reach")
            }))
        }
        _ => Ok(()),
    }
}

/// The scan client's resolver: a name resolves only when every one of its addresses
/// passes [`check`], and the connection then goes to those very addresses.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    pub allow_private: bool,
    pub exempt: Vec<IpAddr>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let exempt = self.exempt.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addrs.is_empty() {
                return Err(Box::new(Refused(format!("{host} has no address"))) as _);
            }
            for a in &addrs {
                check_with(&host, a.ip(), allow_private, &exempt)?;
            }
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn why(s: &str) -> Option<&'static str> {
        non_global(s.parse().unwrap())
    }

    #[test]
    fn ipv4_ranges() {
        assert_eq!(why("127.0.0.1"), Some("loopback"));
        assert_eq!(why("127.255.255.254"), Some("loopback"));
        assert_eq!(why("10.1.2.3"), Some("private"));
        assert_eq!(why("172.16.0.1"), Some("private"));
        assert_eq!(why("172.31.255.255"), Some("private"));
        assert_eq!(why("172.32.0.1"), None);
        assert_eq!(why("192.168.1.1"), Some("private"));
        assert_eq!(why("169.254.169.254"), Some("link-local"));
        assert_eq!(why("100.64.0.1"), Some("shared (CGNAT)"));
        assert_eq!(why("100.127.255.255"), Some("shared (CGNAT)"));
        assert_eq!(why("100.128.0.1"), None);
        assert_eq!(why("0.0.0.0"), Some("unspecified"));
        assert_eq!(why("224.0.0.251"), Some("multicast"));
        assert_eq!(why("255.255.255.255"), Some("reserved"));
        assert_eq!(why("192.0.2.10"), Some("documentation"));
        assert_eq!(why("198.51.100.7"), Some("documentation"));
        assert_eq!(why("203.0.113.9"), Some("documentation"));
        assert_eq!(why("198.18.0.1"), Some("reserved"));
        assert_eq!(why("8.8.8.8"), None);
        assert_eq!(why("93.184.216.34"), None);
    }

    #[test]
    fn ipv6_ranges() {
        assert_eq!(why("::1"), Some("loopback"));
        assert_eq!(why("::"), Some("unspecified"));
        assert_eq!(why("fd12:3456::1"), Some("unique-local"));
        assert_eq!(why("fc00::1"), Some("unique-local"));
        assert_eq!(why("fe80::1"), Some("link-local"));
        assert_eq!(why("ff02::1"), Some("multicast"));
        assert_eq!(why("2001:db8::1"), Some("documentation"));
        assert_eq!(why("2001::1"), Some("reserved"));
        assert_eq!(why("100::1"), Some("reserved"));
        assert_eq!(why("2606:4700:4700::1111"), None);
        assert_eq!(why("2a00:1450:4007:80e::200e"), None);
    }

    #[test]
    fn ipv6_forms_of_ipv4_addresses_are_judged_as_ipv4() {
        assert_eq!(why("::ffff:127.0.0.1"), Some("loopback"));
        assert_eq!(why("::ffff:10.0.0.1"), Some("private"));
        assert_eq!(why("::ffff:169.254.169.254"), Some("link-local"));
        assert_eq!(why("::ffff:8.8.8.8"), None);
        assert_eq!(why("64:ff9b::192.168.0.1"), Some("private"));
        assert_eq!(why("64:ff9b::8.8.8.8"), None);
        assert_eq!(why("2002:7f00:1::"), Some("loopback"));
        // v4-compatible (deprecated) addresses are not global unicast.
        assert_eq!(why("::127.0.0.1"), Some("reserved"));
    }

    #[test]
    fn the_setting_lets_private_addresses_through() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(check("localhost", ip, true).is_ok());
        let refused = check("localhost", ip, false).unwrap_err();
        assert_eq!(
            refused.0,
            "localhost resolves to 127.0.0.1, a loopback address, which scans may not reach"
        );
        assert_eq!(
            check("10.0.0.1", "10.0.0.1".parse().unwrap(), false)
                .unwrap_err()
                .0,
            "10.0.0.1 is a private address, which scans may not reach"
        );
    }
}
