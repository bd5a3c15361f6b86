//! Password hashing (argon2id) and the password policy (NIST SP 800-63B: length, not composition rules,
//! and a check against commonly used passwords).

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

/// The 1,000 most common passwords (and variants), bundled so the check works offline.
const COMMON: &str = include_str!("common_passwords.txt");

pub const MIN_LEN: usize = 12;
pub const MAX_LEN: usize = 128;

pub fn hash(password: &str) -> anyhow::Result<String> {
    let h = Argon2::default().hash_password(password.as_bytes()).map_err(|e| anyhow::anyhow!("hashing failed: {e}"))?;
    Ok(h.to_string())
}

pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// A hash of a random password, verified against when the account does not exist, so unknown users and wrong
/// passwords take similar time.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash(&uuid::Uuid::new_v4().to_string()).unwrap_or_default())
}

/// Why a new password is refused, or None when acceptable.
pub fn policy_violation(password: &str, email: &str) -> Option<&'static str> {
    let chars = password.chars().count();
    if chars < MIN_LEN {
        return Some("Use at least 12 characters.");
    }
    if chars > MAX_LEN {
        return Some("Use at most 128 characters.");
    }
    let lower = password.to_lowercase();
    if COMMON.lines().any(|c| c == lower) {
        return Some("That password is on the list of commonly used passwords.");
    }
    let local = email.split('@').next().unwrap_or("").to_lowercase();
    if local.len() >= 4 && lower.contains(&local) {
        return Some("Do not use your email address in your password.");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let h = hash("correct horse battery staple").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse battery staple", &h));
        assert!(!verify("wrong horse battery staple", &h));
        assert!(!verify("x", "not a hash"));
    }

    #[test]
    fn policy() {
        assert!(policy_violation("short", "a@b.c").is_some());
        assert!(policy_violation("password1234", "a@b.c").is_some());
        assert!(policy_violation(&"x".repeat(64), "a@b.c").is_none());
        assert!(policy_violation("maria.lopez-2026!", "maria.lopez@x.com").is_some());
        assert!(policy_violation("Underwriting-Clears-Friday", "a@b.c").is_none());
    }
}
