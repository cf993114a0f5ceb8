//! The private-address guard.
//!
//! Tracker URLs come from a database that ordinary site users can edit, so a request must never
//! reach this machine, the local network or cloud metadata endpoints unless the operator says
//! so. The guard checks the *resolved* address of every connection (through [`GuardedResolver`]),
//! IP-literal hosts before any connection, and every redirect hop.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;

/// Which addresses requests may reach.
#[derive(Debug, Clone, Default)]
pub struct NetworkPolicy {
    /// Allow every address, private ones included (`--allow-private-networks`).
    pub allow_private: bool,
    /// Ranges allowed even though they are private (`--allow-network 127.0.0.0/8`).
    pub allowed: Vec<IpNet>,
}

impl NetworkPolicy {
    /// The policy that allows only public addresses.
    pub fn public_only() -> Self {
        NetworkPolicy::default()
    }

    /// A policy that also allows `ranges` (tests use `127.0.0.0/8`).
    pub fn allowing(ranges: impl IntoIterator<Item = IpNet>) -> Self {
        NetworkPolicy {
            allow_private: false,
            allowed: ranges.into_iter().collect(),
        }
    }

    /// `Err(reason)` when `ip` may not be reached under this policy.
    pub fn check(&self, ip: IpAddr) -> Result<(), String> {
        if self.allow_private || self.allowed.iter().any(|net| net.contains(&ip)) {
            return Ok(());
        }
        match non_public_kind(ip) {
            None => Ok(()),
            Some(kind) => Err(format!(
                "{ip} is a {kind} address (allow it with --allow-network or --allow-private-networks)"
            )),
        }
    }
}

/// What kind of non-public address `ip` is, or `None` for a public one.
pub fn non_public_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_kind(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return v4_kind(v4);
            }
            v6_kind(v6)
        }
    }
}

fn v4_kind(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if ip.is_broadcast() || ip.is_unspecified() || o[0] == 0 {
        Some("unspecified or broadcast")
    } else if o[0] == 100 && (64..128).contains(&o[1]) {
        Some("shared (carrier-grade NAT)")
    } else if o[0] >= 240 {
        Some("reserved")
    } else if (o[0] == 192 && o[1] == 0 && o[2] == 0) || (o[0] == 198 && (o[1] & 0xfe) == 18) {
        Some("special-purpose")
    } else {
        None
    }
}

fn v6_kind(ip: Ipv6Addr) -> Option<&'static str> {
    let seg = ip.segments();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if (seg[0] & 0xfe00) == 0xfc00 {
        Some("private (unique local)")
    } else if (seg[0] & 0xffc0) == 0xfe80 {
        Some("link-local")
    } else if (seg[0] & 0xffc0) == 0xfec0 {
        Some("site-local")
    } else if seg[0] == 0x64 && seg[1] == 0xff9b {
        // NAT64: the embedded IPv4 address decides.
        let v4 = Ipv4Addr::new(
            (seg[6] >> 8) as u8,
            seg[6] as u8,
            (seg[7] >> 8) as u8,
            seg[7] as u8,
        );
        v4_kind(v4)
    } else if ip.to_ipv4().is_some() && seg[0..6].iter().all(|s| *s == 0) {
        Some("IPv4-compatible")
    } else {
        None
    }
}

/// The error our resolver returns when every address of a name is refused; the fetch layer
/// finds it in reqwest's error chain and reports [`crate::Error::Refused`].
#[derive(Debug)]
pub(crate) struct RefusedAddress(pub(crate) String);

impl std::fmt::Display for RefusedAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RefusedAddress {}

/// A DNS resolver that drops the addresses the policy refuses; a name with no address left
/// fails with [`RefusedAddress`] before any connection is attempted.
#[derive(Debug, Clone)]
pub(crate) struct GuardedResolver {
    pub(crate) policy: Arc<NetworkPolicy>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut reasons = Vec::new();
            let allowed: Vec<SocketAddr> = addrs
                .into_iter()
                .filter(|a| match policy.check(a.ip()) {
                    Ok(()) => true,
                    Err(r) => {
                        reasons.push(r);
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let why = reasons
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "no address".to_owned());
                return Err(
                    Box::new(RefusedAddress(format!("{host} resolves to {why}")))
                        as Box<dyn std::error::Error + Send + Sync>,
                );
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn refuses_every_non_public_range() {
        let p = NetworkPolicy::public_only();
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "100.64.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(p.check(ip(a)).is_err(), "{a} should be refused");
        }
        for a in [
            "93.184.216.34",
            "2606:2800:220:1:248:1893:25c8:1946",
            "8.8.8.8",
        ] {
            assert!(p.check(ip(a)).is_ok(), "{a} should be allowed");
        }
    }

    #[test]
    fn allowed_ranges_and_allow_all() {
        let p = NetworkPolicy::allowing(["127.0.0.0/8".parse().unwrap()]);
        assert!(p.check(ip("127.0.0.1")).is_ok());
        assert!(p.check(ip("10.0.0.1")).is_err());
        assert!(p.check(ip("::1")).is_err());
        let all = NetworkPolicy {
            allow_private: true,
            allowed: vec![],
        };
        assert!(all.check(ip("10.0.0.1")).is_ok());
    }
}
