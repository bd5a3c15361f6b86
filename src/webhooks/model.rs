//! Webhook rules that need no network: which events exist, which addresses deliveries may never reach,
//! the signature, and the retry schedule.

use std::net::{IpAddr, Ipv4Addr};

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The events an endpoint can subscribe to.
pub const EVENTS: [&str; 4] = ["lead.created", "lead.stage_changed", "lead.funded", "escalation.decided"];

pub fn event_label(e: &str) -> &'static str {
    match e {
        "lead.created" => "Lead created",
        "lead.stage_changed" => "Lead stage changed",
        "lead.funded" => "Lead funded",
        "escalation.decided" => "Escalation decided",
        _ => "Other",
    }
}

/// `sha256=<hex>`: HMAC-SHA256 of the exact request body with the endpoint's secret.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Why a delivery may not go to this address (server-side request forgery guard), or None when it may.
/// IPv4-mapped, IPv4-compatible and NAT64 IPv6 forms are judged by the IPv4 address they carry.
pub fn forbidden_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_reason(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return v4_reason(v4);
            }
            if v6.is_loopback() {
                return Some("loopback");
            }
            if v6.is_unspecified() {
                return Some("unspecified");
            }
            let s = v6.segments();
            if s[0] & 0xfe00 == 0xfc00 {
                return Some("private (unique local)");
            }
            if s[0] & 0xffc0 == 0xfe80 || s[0] & 0xffc0 == 0xfec0 {
                return Some("link-local");
            }
            if s[0] & 0xff00 == 0xff00 {
                return Some("multicast");
            }
            let embedded = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
            if s[..6] == [0; 6] {
                // Deprecated IPv4-compatible form ::a.b.c.d.
                return v4_reason(embedded).or(Some("IPv4-compatible"));
            }
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0; 4] {
                return v4_reason(embedded);
            }
            None
        }
    }
}

fn v4_reason(v4: Ipv4Addr) -> Option<&'static str> {
    let o = v4.octets();
    if v4.is_loopback() {
        Some("loopback")
    } else if v4.is_unspecified() || o[0] == 0 {
        Some("unspecified")
    } else if v4.is_private() {
        Some("private")
    } else if v4.is_link_local() {
        Some("link-local")
    } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
        Some("private (carrier-grade NAT)")
    } else if v4.is_broadcast() || v4.is_multicast() {
        Some("broadcast or multicast")
    } else {
        None
    }
}

/// Seconds to wait before the next attempt after `attempts` failed ones (the job queue's schedule:
/// 30 s × 2^attempts, so 60 s, 2 min, 4 min, 8 min).
pub fn backoff_secs(attempts: i32) -> i64 {
    30 * 2i64.pow(attempts.clamp(0, 10) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn signature_is_hmac_sha256_hex() {
        // RFC-style known vector.
        assert_eq!(
            signature("key", b"The quick brown fox jumps over the lazy dog"),
            "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
    }

    #[test]
    fn private_and_special_addresses_are_refused() {
        for a in [
            "127.0.0.1",
            "127.1.2.3",
            "10.0.0.5",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "ff02::1",
        ] {
            assert!(forbidden_reason(ip(a)).is_some(), "{a} should be refused");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for a in ["93.184.216.34", "8.8.8.8", "172.32.0.1", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"] {
            assert_eq!(forbidden_reason(ip(a)), None, "{a} should be allowed");
        }
    }

    #[test]
    fn backoff_doubles() {
        assert_eq!(backoff_secs(1), 60);
        assert_eq!(backoff_secs(2), 120);
        assert_eq!(backoff_secs(4), 480);
    }
}
