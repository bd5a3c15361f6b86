//! Webhook rules that need no network: which events exist, what each carries, which addresses deliveries may
//! never reach, the timestamped signature, and the retry schedule.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

/// The events an endpoint can subscribe to.
pub const EVENTS: [&str; 12] = [
    "lead.created",
    "lead.stage_changed",
    "lead.funded",
    "escalation.decided",
    "message.text",
    "lock.created",
    "lock.extended",
    "lock.expiring",
    "lock.expired",
    "lock.relocked",
    "lock.floated_down",
    "lock.cancelled",
];

/// Events that only go to endpoints an admin allowed the borrower's contact details (a text is nothing
/// without the number it goes to).
pub const CONTACT_ONLY: [&str; 1] = ["message.text"];

pub fn event_label(e: &str) -> &'static str {
    match e {
        "lead.created" => "Lead created",
        "lead.stage_changed" => "Lead stage changed",
        "lead.funded" => "Lead funded",
        "escalation.decided" => "Escalation decided",
        "message.text" => "Text message to send (your texting tool)",
        "lock.created" => "Rate lock created",
        "lock.extended" => "Rate lock extended",
        "lock.expiring" => "Rate lock expiring in 3 days",
        "lock.expired" => "Rate lock expired",
        "lock.relocked" => "Rate lock relocked",
        "lock.floated_down" => "Rate lock floated down",
        "lock.cancelled" => "Rate lock cancelled",
        _ => "Other",
    }
}

/// What an event carries to every endpoint (paths into the event's data): ids, stages, amounts and times —
/// what a receiver needs to act, nothing that identifies or reaches the borrower.
fn needed(event: &str) -> &'static [&'static str] {
    match event {
        "lead.created" => &[
            "lead_id",
            "lead.external_id",
            "lead.loan_number",
            "lead.source",
            "lead.campaign",
            "lead.vendor",
            "lead.loan_purpose",
            "lead.loan_amount_cents",
            "lead.property_value_cents",
            "lead.property_state",
            "lead.property_type",
            "lead.occupancy",
            "lead.rate_quoted_milli",
            "lead.cost_cents",
        ],
        "lead.stage_changed" | "lead.funded" => {
            &["lead_id", "loan_number", "from", "to", "lost_reason", "at", "origin"]
        }
        "escalation.decided" => {
            &["escalation_id", "lead_id", "kind", "decision", "status", "granted_bps", "decided_by"]
        }
        "message.text" => &["message_id", "lead_id", "text"],
        // A lock's terms and what changed; never the borrower's name or contact details.
        e if e.starts_with("lock.") => &LOCK_FIELDS,
        _ => &[],
    }
}

/// What every `lock.*` event carries (see `locks::service::webhook_payload`).
const LOCK_FIELDS: [&str; 20] = [
    "lock_id",
    "lead_id",
    "loan_number",
    "los_lock_id",
    "investor",
    "product",
    "rate_milli",
    "price_bps",
    "base_price_bps",
    "extension_bps",
    "loan_amount_cents",
    "period_days",
    "extended_days",
    "last_day",
    "expires_at",
    "status",
    "extension.days",
    "extension.cost_bps",
    "extension.cost_cents",
    "origin",
];

/// The borrower's contact details, sent only to an endpoint an admin opted in.
const CONTACT: [&str; 4] = ["lead.first_name", "lead.last_name", "lead.email", "lead.phone"];

/// The data an endpoint receives for `event`: only the event's needed fields (an allow-list, so a field added
/// to an event later stays home until it is listed here), plus the borrower's contact details when the endpoint
/// opted in.
pub fn event_data(event: &str, data: &Value, include_contact: bool) -> Value {
    let mut out = Value::Object(Map::new());
    let contact: &[&str] = if include_contact { &CONTACT } else { &[] };
    for path in needed(event).iter().chain(contact) {
        let pointer = format!("/{}", path.replace('.', "/"));
        let Some(v) = data.pointer(&pointer) else { continue };
        let mut at = &mut out;
        let mut keys = path.split('.').peekable();
        while let Some(k) = keys.next() {
            let Some(obj) = at.as_object_mut() else { break };
            if keys.peek().is_none() {
                obj.insert(k.to_string(), v.clone());
                break;
            }
            at = obj.entry(k.to_string()).or_insert_with(|| Value::Object(Map::new()));
        }
    }
    out
}

/// Signature header value `t=<unix seconds>,v1=<hex>`: HMAC-SHA256, keyed with the endpoint's secret, of
/// `"<t>.<body>"`. The timestamp is signed with the body, so a receiver that refuses old timestamps (five minutes
/// is usual) cannot be fed a recorded delivery again.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", hex::encode(mac(secret, timestamp, body)))
}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// What a receiver does (the README shows the same in Python and JavaScript): the signature matches the body
/// and the timestamp, compared in constant time, and the timestamp is within `tolerance_secs` of `now`.
pub fn verify(secret: &str, header: &str, body: &[u8], now: i64, tolerance_secs: i64) -> bool {
    let mut t = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", s)) => t = s.parse::<i64>().ok(),
            Some(("v1", s)) => v1.extend(hex::decode(s).ok()),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    if (now - t).abs() > tolerance_secs {
        return false;
    }
    v1.iter().any(|sig| {
        let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
        m.update(t.to_string().as_bytes());
        m.update(b".");
        m.update(body);
        m.verify_slice(sig).is_ok()
    })
}

/// Why a delivery may not go to this address (server-side request forgery guard), or None when it may.
/// IPv6 forms that carry an IPv4 address (mapped, compatible, translated, NAT64, 6to4, Teredo) are judged by
/// the IPv4 address they carry.
pub fn forbidden_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_reason(v4),
        IpAddr::V6(v6) => v6_reason(v6),
    }
}

fn v4_at(hi: u16, lo: u16) -> Ipv4Addr {
    Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo))
}

fn v6_reason(v6: Ipv6Addr) -> Option<&'static str> {
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
    let last = v4_at(s[6], s[7]);
    if s[..6] == [0; 6] {
        // Deprecated IPv4-compatible form ::a.b.c.d.
        return v4_reason(last).or(Some("IPv4-compatible"));
    }
    if s[..4] == [0; 4] && s[4] == 0xffff && s[5] == 0 {
        // IPv4-translated ::ffff:0:a.b.c.d (SIIT).
        return v4_reason(last).or(Some("IPv4-translated"));
    }
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0; 4] {
        // NAT64 well-known prefix 64:ff9b::/96: the gateway connects to the IPv4 address inside.
        return v4_reason(last);
    }
    if s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1 {
        // Local-use NAT64 64:ff9b:1::/48: how it embeds IPv4 is the local network's choice.
        return Some("local-use NAT64");
    }
    if s[0] == 0x2002 {
        // 6to4 2002:AABB:CCDD::/48 reaches the IPv4 address AA.BB.CC.DD.
        return v4_reason(v4_at(s[1], s[2]));
    }
    if s[0] == 0x2001 && s[1] == 0 {
        // Teredo 2001:0::/32: the server's IPv4 address, then the client's (bits inverted) at the end.
        return v4_reason(v4_at(s[2], s[3])).or_else(|| v4_reason(v4_at(!s[6], !s[7])));
    }
    if s[0] == 0x2001 && s[1] == 0x0db8 {
        return Some("documentation");
    }
    if s[..4] == [0x100, 0, 0, 0] {
        return Some("discard-only");
    }
    None
}

fn v4_reason(v4: Ipv4Addr) -> Option<&'static str> {
    let o = v4.octets();
    let within = |net: [u8; 4], bits: u32| (u32::from(v4) ^ u32::from(Ipv4Addr::from(net))) >> (32 - bits) == 0;
    if v4.is_loopback() {
        Some("loopback")
    } else if v4.is_unspecified() || o[0] == 0 {
        Some("unspecified")
    } else if v4.is_private() {
        Some("private")
    } else if v4.is_link_local() {
        Some("link-local")
    } else if within([100, 64, 0, 0], 10) {
        Some("private (carrier-grade NAT)")
    } else if v4.is_broadcast() || v4.is_multicast() {
        Some("broadcast or multicast")
    } else if within([192, 0, 0, 0], 24) {
        Some("reserved (IETF protocol assignments)")
    } else if within([192, 0, 2, 0], 24) || within([198, 51, 100, 0], 24) || within([203, 0, 113, 0], 24) {
        Some("documentation")
    } else if within([198, 18, 0, 0], 15) {
        Some("reserved (benchmarking)")
    } else if within([192, 88, 99, 0], 24) {
        Some("reserved (6to4 relay)")
    } else if within([240, 0, 0, 0], 4) {
        Some("reserved")
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

    fn refused(a: &str, why: &str) {
        match forbidden_reason(ip(a)) {
            Some(reason) => assert!(reason.contains(why), "{a}: refused as {reason}, expected {why}"),
            None => panic!("{a} should be refused ({why})"),
        }
    }

    fn allowed(a: &str) {
        assert_eq!(forbidden_reason(ip(a)), None, "{a} should be allowed");
    }

    #[test]
    fn signature_signs_the_timestamp_and_the_body() {
        // HMAC-SHA256("key", "1700000000.The quick brown fox jumps over the lazy dog"), as Python's
        // hmac.new(b"key", b"1700000000." + body, hashlib.sha256).hexdigest() computes it.
        let body = b"The quick brown fox jumps over the lazy dog";
        let expected = "t=1700000000,v1=2f658d6aef4f246e91cd741bbcded7479e9605f9d41c9e248122a117e0e1765b";
        assert_eq!(signature("key", 1_700_000_000, body), expected);
        assert_ne!(signature("key", 1_700_000_001, body), expected, "another time, another signature");
    }

    #[test]
    fn receivers_refuse_a_changed_body_a_wrong_secret_and_an_old_timestamp() {
        let body = br#"{"id":"x"}"#;
        let h = signature("whsec_1", 1_700_000_000, body);
        assert!(verify("whsec_1", &h, body, 1_700_000_000 + 10, 300));
        assert!(!verify("whsec_1", &h, br#"{"id":"y"}"#, 1_700_000_010, 300), "body changed");
        assert!(!verify("whsec_2", &h, body, 1_700_000_010, 300), "other secret");
        assert!(!verify("whsec_1", &h, body, 1_700_000_000 + 301, 300), "replayed after five minutes");
        let moved = h.replace("t=1700000000", "t=1700000300");
        assert!(!verify("whsec_1", &moved, body, 1_700_000_300, 300), "a fresh timestamp on an old signature");
        assert!(!verify("whsec_1", "sha256=abc", body, 1_700_000_000, 300));
    }

    #[test]
    fn loopback_private_link_local_and_unspecified_are_refused() {
        refused("127.0.0.1", "loopback");
        refused("127.1.2.3", "loopback");
        refused("10.0.0.5", "private");
        refused("172.16.0.1", "private");
        refused("172.31.255.255", "private");
        refused("192.168.1.1", "private");
        refused("169.254.169.254", "link-local");
        refused("0.0.0.0", "unspecified");
        refused("0.1.2.3", "unspecified");
        refused("255.255.255.255", "broadcast");
        refused("224.0.0.1", "multicast");
        refused("::1", "loopback");
        refused("::", "unspecified");
        refused("fc00::1", "unique local");
        refused("fd12:3456::1", "unique local");
        refused("fe80::1", "link-local");
        refused("ff02::1", "multicast");
        allowed("172.32.0.1");
        allowed("172.15.255.255");
    }

    #[test]
    fn carrier_grade_nat_100_64_0_0_10_is_refused() {
        refused("100.64.0.1", "carrier-grade NAT");
        refused("100.127.255.255", "carrier-grade NAT");
        allowed("100.63.255.255");
        allowed("100.128.0.0");
    }

    #[test]
    fn ietf_protocol_assignments_192_0_0_0_24_are_refused() {
        refused("192.0.0.0", "IETF");
        refused("192.0.0.170", "IETF");
        refused("192.0.0.255", "IETF");
        allowed("192.0.1.1");
        allowed("191.255.255.255");
    }

    #[test]
    fn benchmarking_198_18_0_0_15_is_refused() {
        refused("198.18.0.1", "benchmarking");
        refused("198.19.255.255", "benchmarking");
        allowed("198.17.255.255");
        allowed("198.20.0.0");
    }

    #[test]
    fn reserved_240_0_0_0_4_is_refused() {
        refused("240.0.0.1", "reserved");
        refused("250.1.2.3", "reserved");
        refused("255.255.255.254", "reserved");
        allowed("223.255.255.254");
    }

    #[test]
    fn documentation_ranges_are_refused() {
        refused("192.0.2.1", "documentation");
        refused("198.51.100.7", "documentation");
        refused("203.0.113.9", "documentation");
        refused("2001:db8::1", "documentation");
    }

    #[test]
    fn ipv6_forms_carrying_a_refused_ipv4_address_are_refused() {
        // Mapped, compatible and translated.
        refused("::ffff:127.0.0.1", "loopback");
        refused("::ffff:10.1.2.3", "private");
        refused("::ffff:169.254.169.254", "link-local");
        refused("::127.0.0.1", "loopback");
        refused("::ffff:0:7f00:1", "loopback");
        allowed("::ffff:8.8.8.8");
    }

    #[test]
    fn nat64_64_ff9b_96_is_judged_by_the_ipv4_address_inside() {
        refused("64:ff9b::a00:1", "private");
        refused("64:ff9b::7f00:1", "loopback");
        refused("64:ff9b::c0a8:101", "private");
        refused("64:ff9b::6440:1", "carrier-grade NAT");
        refused("64:ff9b::a9fe:a9fe", "link-local");
        refused("64:ff9b::c612:1", "benchmarking");
        refused("64:ff9b:1::a00:1", "local-use NAT64");
        allowed("64:ff9b::808:808");
    }

    #[test]
    fn six_to_four_2002_16_is_judged_by_the_ipv4_address_inside() {
        refused("2002:7f00:1::1", "loopback");
        refused("2002:c0a8:101::1", "private");
        refused("2002:a9fe:a9fe::", "link-local");
        refused("2002:6440:1::1", "carrier-grade NAT");
        refused("2002:f000:1::1", "reserved");
        allowed("2002:808:808::1");
    }

    #[test]
    fn teredo_2001_0_32_is_judged_by_the_server_and_client_ipv4_addresses() {
        // Server 65.54.227.120; client 8.8.8.8 (stored inverted: f7f7:f7f7).
        allowed("2001:0:4136:e378:8000:63bf:f7f7:f7f7");
        // Client 10.0.0.1 (inverted f5ff:fffe).
        refused("2001:0:4136:e378:8000:63bf:f5ff:fffe", "private");
        // Client 127.0.0.1 (inverted 80ff:fffe).
        refused("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback");
        // Server 192.168.0.1.
        refused("2001:0:c0a8:1:8000:63bf:f7f7:f7f7", "private");
    }

    #[test]
    fn public_addresses_are_allowed() {
        for a in ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700::1111", "2a00:1450:4001:80b::200e"] {
            allowed(a);
        }
    }

    #[test]
    fn payloads_carry_ids_stages_and_amounts_and_contact_details_only_when_opted_in() {
        let data = serde_json::json!({
            "lead_id": "6f1c",
            "lead": {
                "first_name": "Dana", "last_name": "Reyes", "email": "dana@example.com", "phone": "+15125550100",
                "property_zip": "78701", "consent": {"text": "I agree", "token": "tf-1"},
                "source": "zillow", "loan_amount_cents": 30_000_000, "property_state": "TX", "credit_band": "720+",
            },
        });
        let out = event_data("lead.created", &data, false);
        assert_eq!(
            out,
            serde_json::json!({
                "lead_id": "6f1c",
                "lead": {"source": "zillow", "loan_amount_cents": 30_000_000, "property_state": "TX"},
            })
        );
        let text = out.to_string();
        for secret in ["Dana", "Reyes", "dana@example.com", "5550100", "78701", "tf-1", "720+"] {
            assert!(!text.contains(secret), "{secret} left the building: {text}");
        }
        let opted = event_data("lead.created", &data, true);
        assert_eq!(opted["lead"]["email"], "dana@example.com");
        assert_eq!(opted["lead"]["first_name"], "Dana");
        assert!(opted["lead"].get("consent").is_none() && opted["lead"].get("property_zip").is_none());

        let stage = serde_json::json!({"lead_id": "6f1c", "from": "new", "to": "funded", "at": "2026-11-21",
                                       "borrower": "Dana Reyes"});
        let out = event_data("lead.funded", &stage, true);
        assert_eq!(out, serde_json::json!({"lead_id": "6f1c", "from": "new", "to": "funded", "at": "2026-11-21"}));
        assert_eq!(event_data("something.else", &stage, true), serde_json::json!({}));

        // A text carries the number it goes to only for an endpoint allowed contact details.
        let text =
            serde_json::json!({"message_id": 7, "lead_id": "6f1c", "text": "Hi", "lead": {"phone": "+15125550100"}});
        assert_eq!(
            event_data("message.text", &text, false),
            serde_json::json!({"message_id": 7, "lead_id": "6f1c", "text": "Hi"})
        );
        assert_eq!(event_data("message.text", &text, true)["lead"]["phone"], "+15125550100");
    }

    #[test]
    fn backoff_doubles() {
        assert_eq!(backoff_secs(1), 60);
        assert_eq!(backoff_secs(2), 120);
        assert_eq!(backoff_secs(4), 480);
    }
}
