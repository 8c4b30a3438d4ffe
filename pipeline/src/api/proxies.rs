//! The client's address behind reverse proxies the operator trusts (`api.trusted_proxies`).
//!
//! The API limits unknown key ids per client address. Behind a proxy every request comes from
//! the proxy, so every client would share one budget. A request whose peer is a trusted proxy is
//! therefore counted against the address the proxies name in `X-Forwarded-For`: read from the
//! right (each proxy appends the address it was reached from), the first address that is not
//! itself a trusted proxy. Nothing left of it can be believed, since a client writes what it
//! likes there; a peer that is not trusted is its own address whatever the header says.

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

use crate::error::{Error, Result};

/// The address blocks whose `X-Forwarded-For` is believed; empty (the default) believes none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses `api.trusted_proxies`: addresses (`10.0.0.7`, `::1`) or blocks (`10.0.0.0/8`).
    pub fn parse(entries: &[String]) -> Result<TrustedProxies> {
        let mut nets = Vec::new();
        for entry in entries.iter().map(|e| e.trim()) {
            let net = match entry.parse::<IpNet>() {
                Ok(net) => net.trunc(),
                Err(_) => match entry.parse::<IpAddr>() {
                    Ok(ip) => IpNet::from(canonical(ip)),
                    Err(_) => {
                        return Err(Error::Config(format!(
                            "api.trusted_proxies: expected an address or a block like \
                             \"10.0.0.0/8\", got {entry:?}"
                        )));
                    }
                },
            };
            nets.push(net);
        }
        Ok(TrustedProxies(nets))
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's address for a request from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = canonical(peer);
        if !self.trusts(client) {
            return client;
        }
        // Several header lines are one list, in order.
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect();
        for hop in hops.iter().rev() {
            let Some(ip) = hop_address(hop) else {
                // Not an address: whoever wrote it is not a proxy we trust, and its address is
                // lost, so the request counts against the trusted hop that passed it on.
                return client;
            };
            client = ip;
            if !self.trusts(ip) {
                return client;
            }
        }
        client
    }
}

/// An entry of `X-Forwarded-For`: an address, perhaps with a port (`1.2.3.4:80`, `[::1]:80`),
/// which some proxies add.
fn hop_address(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            hop.strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .and_then(|h| h.parse().ok())
        })
        .map(canonical)
}

/// An IPv4 address as itself, also when it comes as an IPv4-mapped IPv6 address (a dual-stack
/// listener's peers).
fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(lines: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for line in lines {
            h.append("x-forwarded-for", line.parse().expect("header"));
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn trusted(entries: &[&str]) -> TrustedProxies {
        let entries: Vec<String> = entries.iter().map(|e| (*e).to_owned()).collect();
        TrustedProxies::parse(&entries).expect("parse")
    }

    #[test]
    fn a_peer_that_is_not_trusted_is_the_client_whatever_it_says() {
        let none = TrustedProxies::default();
        let spoofed = headers(&["198.51.100.1"]);
        assert_eq!(none.client(ip("203.0.113.7"), &spoofed), ip("203.0.113.7"));
        let t = trusted(&["10.0.0.0/8"]);
        assert_eq!(t.client(ip("203.0.113.7"), &spoofed), ip("203.0.113.7"));
    }

    #[test]
    fn the_first_untrusted_hop_from_the_right_is_the_client() {
        let t = trusted(&["10.0.0.0/8", "192.0.2.1"]);
        // client → 192.0.2.1 (edge proxy) → 10.1.1.1 (internal) → us; the client lied at the left.
        let h = headers(&["1.1.1.1, 203.0.113.7, 192.0.2.1"]);
        assert_eq!(t.client(ip("10.1.1.1"), &h), ip("203.0.113.7"));
        // The same list over two header lines.
        let h = headers(&["1.1.1.1, 203.0.113.7", "192.0.2.1"]);
        assert_eq!(t.client(ip("10.1.1.1"), &h), ip("203.0.113.7"));
        // Ports and brackets some proxies add; IPv6 hops.
        let h = headers(&["203.0.113.7:5555"]);
        assert_eq!(t.client(ip("10.1.1.1"), &h), ip("203.0.113.7"));
        let h = headers(&["[2001:db8::5]:443, 10.2.2.2"]);
        assert_eq!(t.client(ip("10.1.1.1"), &h), ip("2001:db8::5"));
        let h = headers(&["2001:db8::6"]);
        assert_eq!(t.client(ip("10.1.1.1"), &h), ip("2001:db8::6"));
    }

    #[test]
    fn without_a_usable_header_the_last_trusted_hop_is_counted() {
        let t = trusted(&["10.0.0.0/8"]);
        assert_eq!(t.client(ip("10.1.1.1"), &HeaderMap::new()), ip("10.1.1.1"));
        let h = headers(&["203.0.113.7, not-an-address, 10.3.3.3"]);
        assert_eq!(t.client(ip("10.1.1.1"), &h), ip("10.3.3.3"));
        // Every hop trusted: the leftmost is as far as the proxies saw.
        let h = headers(&["10.4.4.4, 10.3.3.3"]);
        assert_eq!(t.client(ip("10.1.1.1"), &h), ip("10.4.4.4"));
    }

    #[test]
    fn ipv4_mapped_peers_and_hops_match_ipv4_blocks() {
        let t = trusted(&["127.0.0.1"]);
        let h = headers(&["::ffff:203.0.113.7"]);
        assert_eq!(t.client(ip("::ffff:127.0.0.1"), &h), ip("203.0.113.7"));
    }

    #[test]
    fn entries_are_checked() {
        assert_eq!(trusted(&[]), TrustedProxies::default());
        assert!(
            TrustedProxies::parse(&[String::new()]).is_err(),
            "an empty entry"
        );
        assert_eq!(trusted(&["10.1.2.3/8"]), trusted(&["10.0.0.0/8"]));
        let bad = TrustedProxies::parse(&["10.0.0.0/33".to_owned()]).expect_err("refused");
        assert!(bad.to_string().contains("api.trusted_proxies"), "{bad}");
        assert!(TrustedProxies::parse(&["proxy.internal".to_owned()]).is_err());
    }
}
