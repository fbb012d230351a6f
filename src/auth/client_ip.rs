//! The client's IP address, for rate limiting and the request log.
//!
//! It is the TCP peer, unless that peer is a proxy listed in
//! `CHRONIK_TRUSTED_PROXIES`: then the one forwarding header named by
//! `CHRONIK_CLIENT_IP_HEADER` is read from the right (the hop closest to us)
//! and the first address that is not itself a trusted proxy is the client.
//! Anything further left could have been written by the client and is
//! ignored, and so is every other forwarding header: a proxy that appends to
//! `X-Forwarded-For` passes a client's own `Forwarded` through untouched, so
//! choosing a header by its presence would let clients pick their bucket.

use actix_web::http::header::{self, HeaderMap};
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};

/// The proxies named in `CHRONIK_TRUSTED_PROXIES`: IPs or CIDR ranges, comma-separated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(pub Vec<IpNet>);

impl std::str::FromStr for TrustedProxies {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        raw.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("`{s}` is not an IP address or CIDR range"))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

impl std::fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let nets: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&nets.join(","))
    }
}

/// The forwarding header the trusted proxies write (`CHRONIK_CLIENT_IP_HEADER`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ClientIpHeader {
    /// `X-Forwarded-For: client, proxy1, …` (nginx's `$proxy_add_x_forwarded_for`, HAProxy, most load balancers).
    #[default]
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239).
    Forwarded,
}

/// Whom to believe about the client's address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyTrust {
    pub proxies: Vec<IpNet>,
    pub header: ClientIpHeader,
}

impl ProxyTrust {
    /// The client of a request from `peer` with `headers`.
    pub fn client_ip(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> IpAddr {
        client_ip(peer, headers, &self.proxies, self.header)
    }

    /// Whether `peer` is one of the trusted proxies, whose headers are believed.
    pub fn trusts_peer(&self, peer: Option<SocketAddr>) -> bool {
        peer.is_some_and(|addr| is_trusted(canonical(addr.ip()), &self.proxies))
    }
}

pub fn client_ip(
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
    trusted: &[IpNet],
    header: ClientIpHeader,
) -> IpAddr {
    let peer = peer
        .map(|addr| canonical(addr.ip()))
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    if !is_trusted(peer, trusted) {
        return peer;
    }
    let hops = forwarded_for(headers, header);
    hops.into_iter()
        .rev()
        .find(|hop| !is_trusted(*hop, trusted))
        .unwrap_or(peer)
}

fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|net| net.contains(&ip))
}

/// IPv4 clients of a dual-stack socket appear as `::ffff:a.b.c.d`.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// The addresses in the `header` the proxies write, left (original client)
/// to right (last proxy). An unparsable hop ends the list there: nothing left
/// of it can be trusted.
fn forwarded_for(headers: &HeaderMap, header: ClientIpHeader) -> Vec<IpAddr> {
    let raw: Vec<Option<IpAddr>> = match header {
        ClientIpHeader::Forwarded => headers
            .get_all(header::FORWARDED)
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|element| {
                element
                    .split(';')
                    .filter_map(|pair| pair.split_once('='))
                    .find(|(k, _)| k.trim().eq_ignore_ascii_case("for"))
                    .and_then(|(_, v)| parse_node(v))
            })
            .collect(),
        ClientIpHeader::XForwardedFor => headers
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(parse_node)
            .collect(),
    };
    // Keep only the hops right of the last unparsable one.
    let start = raw.iter().rposition(Option::is_none).map_or(0, |i| i + 1);
    raw.get(start..)
        .unwrap_or_default()
        .iter()
        .flatten()
        .map(|ip| canonical(*ip))
        .collect()
}

/// `203.0.113.7`, `"[2001:db8::1]:4711"`, `198.51.100.2:80`.
fn parse_node(raw: &str) -> Option<IpAddr> {
    let node = raw.trim().trim_matches('"');
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(addr) = node.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    node.strip_prefix('[')
        .and_then(|rest| rest.split(']').next())
        .and_then(|ip| ip.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    const XFF: ClientIpHeader = ClientIpHeader::XForwardedFor;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    fn peer(ip: &str) -> Option<SocketAddr> {
        Some(SocketAddr::new(ip.parse().unwrap(), 40000))
    }

    #[test]
    fn trusted_proxies_are_addresses_or_ranges() {
        let parsed: TrustedProxies = " 10.0.0.0/8, 127.0.0.1 ,::1,".parse().unwrap();
        assert_eq!(parsed.to_string(), "10.0.0.0/8,127.0.0.1/32,::1/128");
        assert_eq!("".parse::<TrustedProxies>(), Ok(TrustedProxies::default()));
        assert!("localhost".parse::<TrustedProxies>().is_err());
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client() {
        let h = headers(&[("x-forwarded-for", "203.0.113.7")]);
        assert_eq!(
            client_ip(peer("198.51.100.1"), &h, &[], XFF),
            "198.51.100.1".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn a_trusted_proxy_forwards_the_rightmost_untrusted_hop() {
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.7, 10.0.0.3")]);
        assert_eq!(
            client_ip(peer("10.0.0.2"), &h, &trusted, XFF),
            "203.0.113.7".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn forwarded_header_is_understood() {
        let trusted = ["127.0.0.1/32".parse().unwrap()];
        let h = headers(&[(
            "forwarded",
            "for=192.0.2.60;proto=http, for=\"[2001:db8:cafe::17]:4711\"",
        )]);
        assert_eq!(
            client_ip(peer("127.0.0.1"), &h, &trusted, ClientIpHeader::Forwarded),
            "2001:db8:cafe::17".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn garbage_in_the_header_falls_back_to_what_can_be_trusted() {
        let trusted = ["127.0.0.1/32".parse().unwrap()];
        let h = headers(&[("x-forwarded-for", "not-an-ip")]);
        assert_eq!(
            client_ip(peer("127.0.0.1"), &h, &trusted, XFF),
            "127.0.0.1".parse::<IpAddr>().unwrap()
        );
        let h = headers(&[("x-forwarded-for", "203.0.113.9, unknown")]);
        assert_eq!(
            client_ip(peer("127.0.0.1"), &h, &trusted, XFF),
            "127.0.0.1".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn mapped_ipv4_addresses_are_canonical() {
        assert_eq!(
            client_ip(peer("::ffff:192.0.2.1"), &HeaderMap::new(), &[], XFF),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
    }

    /// nginx appends to `X-Forwarded-For` and passes a client's own
    /// `Forwarded` on untouched: that one must not choose the bucket.
    #[test]
    fn only_the_configured_header_is_read_whatever_else_is_present() {
        let trusted = ["127.0.0.1/32".parse().unwrap()];
        let h = headers(&[
            ("forwarded", "for=198.51.100.99"),
            ("x-forwarded-for", "203.0.113.7"),
        ]);
        let client = |header| client_ip(peer("127.0.0.1"), &h, &trusted, header);
        assert_eq!(client(XFF), "203.0.113.7".parse::<IpAddr>().unwrap());
        assert_eq!(
            client(ClientIpHeader::Forwarded),
            "198.51.100.99".parse::<IpAddr>().unwrap()
        );
        let only_forwarded = headers(&[("forwarded", "for=198.51.100.99")]);
        assert_eq!(
            client_ip(peer("127.0.0.1"), &only_forwarded, &trusted, XFF),
            "127.0.0.1".parse::<IpAddr>().unwrap()
        );
    }
}
