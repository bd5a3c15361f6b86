//! Who the client is, and whether its request came over TLS: the one place that reads the connection's peer
//! address and the forwarding headers. Throttling and the audit log record what this decides (through
//! `RequestCtx::client_addr`), so a client cannot choose the address they record.
//!
//! Forwarding headers are believed only from `--trust-proxy` addresses. `X-Forwarded-For` is read from the
//! right: each proxy appends the address it received the request from, so the entries to the right were
//! written by proxies we trust and the first untrusted one is the client; anything further left was sent by
//! the client and may be invented.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The client's address: the peer itself unless the peer is a trusted proxy, else the right-most
/// `X-Forwarded-For` entry that is not a trusted proxy. When every entry is trusted the left-most is the
/// client; an entry that is not an address stops the walk at the trusted hop to its right.
pub fn client_addr(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    let mut client = peer.to_canonical();
    if !is_trusted(&client) {
        return client;
    }
    // Several header lines count as one list, in order (RFC 9110 §5.3).
    let entries: Vec<Option<IpAddr>> = headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| match v.to_str() {
            Ok(s) => s.split(',').map(forwarded_addr).collect::<Vec<_>>(),
            Err(_) => vec![None],
        })
        .collect();
    for entry in entries.into_iter().rev() {
        let Some(ip) = entry else { break };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

/// Whether the request came over TLS. Loanfloor serves plain HTTP itself (TLS ends at a proxy in front of
/// it), so only a trusted proxy can say so, in `X-Forwarded-Proto` (its right-most value: the one that proxy
/// wrote).
pub fn came_over_tls(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> bool {
    let peer = peer.to_canonical();
    trusted.iter().any(|n| n.contains(&peer))
        && headers
            .get_all("x-forwarded-proto")
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
}

/// One `X-Forwarded-For` entry: an address, optionally with a port (`203.0.113.9:4711`, `[2001:db8::1]:443`).
fn forwarded_addr(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| entry.strip_prefix('[')?.strip_suffix(']')?.parse().ok())
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let h = xff(&["198.51.100.7"]);
        assert_eq!(client_addr(ip("192.0.2.1"), &h, &[]), ip("192.0.2.1"));
        assert_eq!(client_addr(ip("192.0.2.1"), &h, &nets(&["127.0.0.1/32"])), ip("192.0.2.1"));
    }

    #[test]
    fn behind_trusted_proxies_the_right_most_untrusted_entry_is_the_client() {
        let trusted = nets(&["127.0.0.1/32", "10.0.0.0/8"]);
        let peer = ip("127.0.0.1");
        // The client put 198.51.100.7 there itself; the proxy appended the address it saw.
        assert_eq!(client_addr(peer, &xff(&["198.51.100.7, 203.0.113.9"]), &trusted), ip("203.0.113.9"));
        assert_eq!(client_addr(peer, &xff(&["198.51.100.7", "203.0.113.9, 10.1.2.3"]), &trusted), ip("203.0.113.9"));
        assert_eq!(client_addr(peer, &xff(&["203.0.113.9:4711"]), &trusted), ip("203.0.113.9"));
        assert_eq!(client_addr(peer, &xff(&["[2001:db8::1]:443"]), &trusted), ip("2001:db8::1"));
        // Only trusted hops: the furthest one.
        assert_eq!(client_addr(peer, &xff(&["10.9.9.9, 10.1.2.3"]), &trusted), ip("10.9.9.9"));
        // No header: the proxy itself.
        assert_eq!(client_addr(peer, &HeaderMap::new(), &trusted), peer);
        // Garbage stops the walk at the last trusted hop; nothing left of it is believed.
        assert_eq!(client_addr(peer, &xff(&["198.51.100.7, unknown, 10.1.2.3"]), &trusted), ip("10.1.2.3"));
        assert_eq!(client_addr(peer, &xff(&["198.51.100.7, nonsense"]), &trusted), peer);
        // An IPv4-mapped IPv6 peer is the IPv4 address.
        assert_eq!(client_addr(ip("::ffff:127.0.0.1"), &xff(&["203.0.113.9"]), &trusted), ip("203.0.113.9"));
    }

    #[test]
    fn tls_is_believed_from_a_trusted_proxy_only() {
        let trusted = nets(&["127.0.0.1/32"]);
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-proto", "https".parse().unwrap());
        assert!(came_over_tls(ip("127.0.0.1"), &h, &trusted));
        assert!(!came_over_tls(ip("192.0.2.1"), &h, &trusted), "an untrusted peer's header is ignored");
        assert!(!came_over_tls(ip("127.0.0.1"), &h, &[]), "no proxy is trusted by default");
        assert!(!came_over_tls(ip("127.0.0.1"), &HeaderMap::new(), &trusted));
        h.insert("x-forwarded-proto", "https, http".parse().unwrap());
        assert!(!came_over_tls(ip("127.0.0.1"), &h, &trusted), "the nearest proxy's value counts");
    }
}
