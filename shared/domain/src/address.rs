//! The destination guard's address rule (SPEC §6): one pure function, used when a URL with
//! an IP literal is subscribed and, at delivery time, on every resolved address.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// IPv4 ranges that are never a webhook destination.
const REFUSED_V4: &[(u32, u8)] = &[
    (0x0000_0000, 8),  // 0.0.0.0/8 "this network"
    (0x0a00_0000, 8),  // 10/8 private
    (0x6440_0000, 10), // 100.64/10 carrier-grade NAT
    (0x7f00_0000, 8),  // 127/8 loopback
    (0xa9fe_0000, 16), // 169.254/16 link-local, cloud metadata
    (0xac10_0000, 12), // 172.16/12 private
    (0xc000_0000, 24), // 192.0.0/24 IETF protocol assignments
    (0xc000_0200, 24), // 192.0.2/24 TEST-NET-1
    (0xc058_6300, 24), // 192.88.99/24 6to4 relay anycast
    (0xc0a8_0000, 16), // 192.168/16 private
    (0xc612_0000, 15), // 198.18/15 benchmarking
    (0xc633_6400, 24), // 198.51.100/24 TEST-NET-2
    (0xcb00_7100, 24), // 203.0.113/24 TEST-NET-3
    (0xe000_0000, 4),  // 224/4 multicast
    (0xf000_0000, 4),  // 240/4 reserved, includes 255.255.255.255
];

fn v4_in(ip: u32, base: u32, prefix: u8) -> bool {
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
    ip & mask == base & mask
}

fn v6_in(ip: u128, base: u128, prefix: u8) -> bool {
    let mask = if prefix == 0 { 0 } else { u128::MAX << (128 - prefix) };
    ip & mask == base & mask
}

fn v4_is_global(ip: Ipv4Addr) -> bool {
    let bits = u32::from(ip);
    !REFUSED_V4.iter().any(|&(base, prefix)| v4_in(bits, base, prefix))
}

/// The IPv4 address an IPv6 address stands for, where it embeds one: IPv4-mapped
/// (::ffff:0:0/96), NAT64 (64:ff9b::/96) and 6to4 (2002::/16).
pub fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(ip);
    if v6_in(bits, 0xffff_0000_0000, 96) || v6_in(bits, 0x0064_ff9b << 96, 96) {
        return Some(Ipv4Addr::from(bits as u32));
    }
    if v6_in(bits, 0x2002 << 112, 16) {
        return Some(Ipv4Addr::from((bits >> 80) as u32));
    }
    None
}

fn v6_is_global(ip: Ipv6Addr) -> bool {
    if let Some(v4) = embedded_v4(ip) {
        return v4_is_global(v4);
    }
    let bits = u128::from(ip);
    // Only 2000::/3 is allocated global unicast; this also refuses ::, ::1, ::/96
    // (IPv4-compatible), 64:ff9b:1::/48, 100::/64, fc00::/7, fe80::/10 and ff00::/8.
    if !v6_in(bits, 0x2000 << 112, 3) {
        return false;
    }
    let refused: &[(u128, u8)] = &[
        (0x2001_0db8 << 96, 32), // documentation
        (0x2001_0000 << 96, 32), // Teredo: the IPv4 inside is obfuscated, refuse it whole
        (0x3fff << 112, 20),     // documentation (RFC 9637)
    ];
    !refused.iter().any(|&(base, prefix)| v6_in(bits, base, prefix))
}

/// Whether hookpost may ever deliver to this address (SPEC §6), before any allow-list.
pub fn is_globally_routable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4_is_global(v4),
        IpAddr::V6(v6) => v6_is_global(v6),
    }
}

/// An address range, `a.b.c.d/n` or `x::/n`; a bare address is a /32 or /128.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    base: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Every IPv4 address.
    pub const ALL_V4: Cidr = Cidr { base: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), prefix: 0 };
    /// Every IPv6 address.
    pub const ALL_V6: Cidr = Cidr { base: IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED), prefix: 0 };

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.base, ip) {
            (IpAddr::V4(base), IpAddr::V4(ip)) => v4_in(u32::from(ip), u32::from(base), self.prefix),
            (IpAddr::V6(base), IpAddr::V6(ip)) => v6_in(u128::from(ip), u128::from(base), self.prefix),
            _ => false,
        }
    }

    /// A comma-separated list, as in `HOOKPOST_ALLOW_CIDRS`; blanks are skipped.
    pub fn parse_list(s: &str) -> Result<Vec<Cidr>, String> {
        s.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::parse).collect()
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let base: IpAddr = addr.trim().parse().map_err(|_| format!("`{s}` is not a CIDR range"))?;
        let max = if base.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{s}` has a bad prefix length"))?,
            None => max,
        };
        Ok(Self { base, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

/// The operator's policy for destinations: the only ways around the guard.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DestinationPolicy {
    /// `HOOKPOST_ALLOW_HTTP=true`: accept `http://` URLs.
    pub allow_http: bool,
    /// `HOOKPOST_ALLOW_CIDRS`: ranges let through although not globally routable.
    pub allow_cidrs: Vec<Cidr>,
}

/// `HOOKPOST_RESOLVE`: names answered without DNS, for tests and local development (a
/// machine whose resolver must not be asked, a receiver on a name that is not in DNS). The
/// destination guard still vets every address given here.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResolveOverrides {
    /// (lower-case name, address); the name `*` answers every name not listed.
    pub entries: Vec<(String, IpAddr)>,
}

impl ResolveOverrides {
    /// `name=ip,name=ip,*=ip`; blanks are skipped.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut entries = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, ip) = part.split_once('=').ok_or_else(|| format!("`{part}` is not name=ip"))?;
            let ip: IpAddr = ip.trim().parse().map_err(|_| format!("`{}` is not an IP address", ip.trim()))?;
            let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
            if name.is_empty() {
                return Err(format!("`{part}` has no name"));
            }
            entries.push((name, ip));
        }
        Ok(Self { entries })
    }

    /// The address given for `host`, if any.
    pub fn lookup(&self, host: &str) -> Option<IpAddr> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let exact = self.entries.iter().find(|(name, _)| *name == host);
        exact.or_else(|| self.entries.iter().find(|(name, _)| name == "*")).map(|(_, ip)| *ip)
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl DestinationPolicy {
    pub fn permits(&self, ip: IpAddr) -> bool {
        self.allow_cidrs.iter().any(|c| c.contains(ip)) || is_globally_routable(ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_everything_ranges_are_what_their_text_says() {
        assert_eq!(Cidr::parse_list("0.0.0.0/0,::/0").unwrap(), vec![Cidr::ALL_V4, Cidr::ALL_V6]);
    }

    #[test]
    fn resolve_overrides_answer_listed_names_then_the_wildcard() {
        let o = ResolveOverrides::parse("Receiver.test=127.0.0.2, *=192.0.2.1").unwrap();
        assert_eq!(o.lookup("receiver.test."), Some("127.0.0.2".parse().unwrap()));
        assert_eq!(o.lookup("crm.example.com"), Some("192.0.2.1".parse().unwrap()));
        assert_eq!(ResolveOverrides::parse("a=1.2.3.4").unwrap().lookup("b"), None);
        for bad in ["a", "a=nope", "=1.2.3.4"] {
            assert!(ResolveOverrides::parse(bad).is_err(), "{bad}");
        }
        assert!(ResolveOverrides::parse(" ").unwrap().is_empty());
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn refuses_every_listed_ipv4_range_at_both_ends() {
        let cases = [
            ("0.0.0.0", "0.255.255.255"),
            ("10.0.0.0", "10.255.255.255"),
            ("100.64.0.0", "100.127.255.255"),
            ("127.0.0.0", "127.255.255.255"),
            ("169.254.0.0", "169.254.255.255"),
            ("172.16.0.0", "172.31.255.255"),
            ("192.0.0.0", "192.0.0.255"),
            ("192.0.2.0", "192.0.2.255"),
            ("192.88.99.0", "192.88.99.255"),
            ("192.168.0.0", "192.168.255.255"),
            ("198.18.0.0", "198.19.255.255"),
            ("198.51.100.0", "198.51.100.255"),
            ("203.0.113.0", "203.0.113.255"),
            ("224.0.0.0", "239.255.255.255"),
            ("240.0.0.0", "255.255.255.254"),
            ("255.255.255.255", "255.255.255.255"),
        ];
        for (low, high) in cases {
            assert!(!is_globally_routable(ip(low)), "{low}");
            assert!(!is_globally_routable(ip(high)), "{high}");
        }
    }

    #[test]
    fn accepts_public_ipv4_next_to_refused_ranges() {
        for s in [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "169.253.255.255",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.0",
            "192.167.255.255",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "93.184.216.34",
        ] {
            assert!(is_globally_routable(ip(s)), "{s}");
        }
    }

    #[test]
    fn refuses_listed_ipv6_ranges() {
        for s in [
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "ff02::1",
            "2001:db8::1",
            "100::1",
            "::7f00:1",
            "64:ff9b:1::1",
            "2001::1",
            "3fff::1",
        ] {
            assert!(!is_globally_routable(ip(s)), "{s}");
        }
    }

    #[test]
    fn checks_the_ipv4_inside_mapped_nat64_and_6to4() {
        for s in [
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "64:ff9b::7f00:1",
            "2002:c0a8:0101::1",
            "2002:7f00:1::",
        ] {
            assert!(!is_globally_routable(ip(s)), "{s}");
        }
        for s in ["::ffff:8.8.8.8", "64:ff9b::808:808", "2002:0808:0808::1"] {
            assert!(is_globally_routable(ip(s)), "{s}");
        }
        assert_eq!(embedded_v4("2002:c0a8:0101::1".parse().unwrap()), Some(Ipv4Addr::new(192, 168, 1, 1)));
    }

    #[test]
    fn accepts_global_ipv6() {
        for s in ["2606:4700:4700::1111", "2a00:1450:4001:81b::200e", "2001:4860:4860::8888"] {
            assert!(is_globally_routable(ip(s)), "{s}");
        }
    }

    #[test]
    fn cidr_parsing_and_membership() {
        let c: Cidr = "127.0.0.0/8".parse().unwrap();
        assert!(c.contains(ip("127.1.2.3")));
        assert!(c.contains(ip("::ffff:127.0.0.1")));
        assert!(!c.contains(ip("128.0.0.1")));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd00::5")));
        assert!(!v6.contains(ip("10.0.0.1")));
        let single: Cidr = "10.0.0.7".parse().unwrap();
        assert!(single.contains(ip("10.0.0.7")));
        assert!(!single.contains(ip("10.0.0.8")));
        assert!("0.0.0.0/0".parse::<Cidr>().unwrap().contains(ip("10.0.0.1")));
        for bad in ["10.0.0.0/33", "::/129", "nonsense", "10.0.0/8", "10.0.0.0/x"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
        assert_eq!(Cidr::parse_list(" 127.0.0.0/8, ::1/128 ,").unwrap().len(), 2);
        assert!(Cidr::parse_list("127.0.0.0/8,bad").is_err());
        assert_eq!(c.to_string(), "127.0.0.0/8");
    }

    #[test]
    fn allow_list_is_the_only_way_around() {
        let closed = DestinationPolicy::default();
        assert!(!closed.permits(ip("127.0.0.1")));
        assert!(closed.permits(ip("8.8.8.8")));
        let open = DestinationPolicy { allow_http: true, allow_cidrs: Cidr::parse_list("127.0.0.0/8").unwrap() };
        assert!(open.permits(ip("127.0.0.1")));
        assert!(!open.permits(ip("10.0.0.1")));
    }
}
