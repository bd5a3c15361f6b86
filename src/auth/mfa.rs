//! Time-based one-time passwords (RFC 6238) and one-time recovery codes.

use sha2::Digest;
use totp_rs::{Algorithm, Secret, TOTP};

pub const ISSUER: &str = "Loanfloor";

pub fn new_secret() -> String {
    Secret::generate_secret().to_encoded().to_string()
}

fn totp(secret_b32: &str, account: &str) -> Option<TOTP> {
    let bytes = Secret::Encoded(secret_b32.to_string()).to_bytes().ok()?;
    TOTP::new(Algorithm::SHA1, 6, 1, 30, bytes, Some(ISSUER.to_string()), account.to_string()).ok()
}

/// Accepts the code for the current 30-second step or one step either side (clock skew).
pub fn verify(secret_b32: &str, account: &str, code: &str, unix_time: u64) -> bool {
    matching_step(secret_b32, account, code, unix_time).is_some()
}

/// The 30-second time step whose code was entered (current step or one either side), so the caller can refuse
/// a step already used: a code observed over someone's shoulder must not work a second time.
pub fn matching_step(secret_b32: &str, account: &str, code: &str, unix_time: u64) -> Option<u64> {
    let code: String = code.chars().filter(|c| c.is_ascii_digit()).collect();
    if code.len() != 6 {
        return None;
    }
    let t = totp(secret_b32, account)?;
    let step = unix_time / 30;
    [step.saturating_sub(1), step, step + 1].into_iter().find(|s| {
        let expected = t.generate(s * 30);
        // Compare without an early exit.
        expected.len() == code.len() && expected.bytes().zip(code.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    })
}

/// The current code (tests and the enrolment page's self-check).
pub fn current_code(secret_b32: &str, account: &str, unix_time: u64) -> Option<String> {
    totp(secret_b32, account).map(|t| t.generate(unix_time))
}

/// The otpauth:// URL and its QR code as inline SVG.
pub fn enrolment(secret_b32: &str, account: &str) -> Option<(String, String)> {
    let url = totp(secret_b32, account)?.get_url();
    let code = qrcode::QrCode::new(url.as_bytes()).ok()?;
    let svg = code.render::<qrcode::render::svg::Color>().min_dimensions(200, 200).build();
    Some((url, svg))
}

pub fn new_recovery_codes() -> Vec<String> {
    use rand::Rng;
    let mut rng = rand::rngs::OsRng;
    (0..10)
        .map(|_| {
            let n: u64 = rng.gen_range(0..10u64.pow(10));
            let s = format!("{n:010}");
            format!("{}-{}", &s[..5], &s[5..])
        })
        .collect()
}

pub fn hash_recovery(code: &str) -> String {
    let normal: String = code.chars().filter(|c| c.is_ascii_digit()).collect();
    hex::encode(sha2::Sha256::digest(normal.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_verify_within_one_step() {
        let s = new_secret();
        let t = 1_800_000_000;
        let c = current_code(&s, "a@b.c", t).unwrap();
        assert!(verify(&s, "a@b.c", &c, t));
        assert!(verify(&s, "a@b.c", &c, t + 30));
        assert!(!verify(&s, "a@b.c", &c, t + 120));
        assert!(!verify(&s, "a@b.c", "000000", t) || c == "000000");
    }

    #[test]
    fn the_matching_step_is_reported() {
        let s = new_secret();
        let t = 1_800_000_010;
        let c = current_code(&s, "a@b.c", t).unwrap();
        assert_eq!(matching_step(&s, "a@b.c", &c, t), Some(t / 30));
        assert_eq!(matching_step(&s, "a@b.c", &c, t + 30), Some(t / 30));
        assert_eq!(matching_step(&s, "a@b.c", "12345", t), None);
    }

    #[test]
    fn rfc6238_sha1_vector() {
        // RFC 6238 appendix B: secret "12345678901234567890", T = 59 -> 94287082 (8 digits); 6 digits: 287082.
        let secret = totp_rs::Secret::Raw(b"12345678901234567890".to_vec()).to_encoded().to_string();
        assert_eq!(current_code(&secret, "x", 59).unwrap(), "287082");
    }

    #[test]
    fn recovery_codes_are_unique_and_hash_ignoring_dashes() {
        let codes = new_recovery_codes();
        let set: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(set.len(), 10);
        assert_eq!(hash_recovery("12345-67890"), hash_recovery("1234567890"));
    }
}
