//! Secrets at rest (issue 24): TOTP secrets, webhook signing secrets and MFA enrolments in progress are
//! stored sealed with a key the database does not hold, so a copy of the database (a backup, a replica, a
//! leaked dump) does not hand out second factors or the means to forge webhook signatures.
//!
//! The key is 32 random bytes, kept as 64 hexadecimal characters in the file named by
//! `LOANFLOOR_SECRET_KEY_FILE` (`--secret-key-file`); the embedded mode makes `<data dir>/secret.key` (mode
//! 0600) on its first start. A sealed value is text, `enc:v1:<key id>:<base64 of nonce and ciphertext>`
//! (XChaCha20-Poly1305 with a random 24-byte nonce; the `enc:v1:<key id>` header is authenticated too), so a
//! value says which key sealed it and one sealed with another key is refused by name rather than decrypted to
//! garbage. The key id is a short SHA-256 fingerprint of the key, safe to log.
//!
//! Which columns hold sealed values is declared by the capabilities that own them ([`Place`]) and composed at
//! the top (`crate::sealed_places`): start-up seals any plaintext left from before (and refuses to start when
//! values were sealed with another key), and `loanfloor rotate-key` re-seals every value with a new key.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::Digest;
use sqlx::{PgPool, Postgres, Transaction};

use crate::config::Config;

/// What every sealed value starts with (the format's version is part of it).
pub const PREFIX: &str = "enc:v1:";
/// The key file the embedded mode keeps in its data directory.
pub const EMBEDDED_KEY_FILE: &str = "secret.key";
/// Serialises start-up sealing and rotation between processes sharing a database.
const LOCK: i64 = 727_024;

/// The 32-byte key that seals stored secrets. Its `Debug` shows the fingerprint only.
pub struct SecretKey {
    bytes: [u8; 32],
    id: String,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({})", self.id)
    }
}

impl SecretKey {
    fn from_bytes(bytes: [u8; 32]) -> Self {
        let digest = sha2::Sha256::new().chain_update(b"loanfloor secret key id\0").chain_update(bytes).finalize();
        Self { bytes, id: hex::encode(&digest[..6]) }
    }

    /// A fresh random key.
    pub fn generate() -> Self {
        use rand::RngCore;
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self::from_bytes(bytes)
    }

    /// A key from its file's text: 64 hexadecimal characters (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Option<Self> {
        let bytes: [u8; 32] = hex::decode(text.trim()).ok()?.try_into().ok()?;
        Some(Self::from_bytes(bytes))
    }

    /// Reads the key file at `path`; the error is one sentence naming the file and what to do.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            anyhow::anyhow!(
                "the secret key file {} cannot be read ({e}): Loanfloor needs the key that encrypts stored secrets; \
                 point LOANFLOOR_SECRET_KEY_FILE at it, or create a new one with `loanfloor new-key FILE`",
                path.display()
            )
        })?;
        let key = Self::from_hex(&text).ok_or_else(|| {
            anyhow::anyhow!(
                "the secret key file {} does not hold a key: it must hold 64 hexadecimal characters (32 bytes), as \
                 `loanfloor new-key FILE` writes",
                path.display()
            )
        })?;
        warn_if_shared(path);
        Ok(key)
    }

    /// Writes this key to a new file at `path`, readable by its owner only (mode 0600); an existing file is
    /// never overwritten.
    pub fn write_new(&self, path: &Path) -> anyhow::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f =
            std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).with_context(|| {
                format!("cannot create the key file {} (an existing file is never replaced)", path.display())
            })?;
        f.write_all(format!("{}\n", hex::encode(self.bytes)).as_bytes())?;
        f.sync_all()?;
        Ok(())
    }

    /// The key's fingerprint, as sealed values carry it.
    pub fn id(&self) -> &str {
        &self.id
    }
}

fn warn_if_shared(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(file = %path.display(), "the secret key file is readable by other users; chmod 600 it");
        }
    }
}

/// Where the key comes from: `--secret-key-file`, or with the embedded database `<data dir>/secret.key`
/// (made on first use). With DATABASE_URL and no key file the error is one sentence saying what to do.
pub fn key_path(config: &Config) -> anyhow::Result<PathBuf> {
    if let Some(path) = &config.secret_key_file {
        return Ok(path.clone());
    }
    if config.database_url.is_some() {
        anyhow::bail!(
            "LOANFLOOR_SECRET_KEY_FILE is not set: Loanfloor needs the key that encrypts stored secrets; create one \
             with `loanfloor new-key FILE` (or `head -c32 /dev/urandom | xxd -p -c64 > FILE; chmod 600 FILE`) and \
             set LOANFLOOR_SECRET_KEY_FILE to it"
        );
    }
    Ok(config.data_dir.join(EMBEDDED_KEY_FILE))
}

/// The configured key, made first when it is the embedded mode's own file and does not exist yet.
pub fn load(config: &Config) -> anyhow::Result<SecretKey> {
    let path = key_path(config)?;
    if config.secret_key_file.is_none() && !path.exists() {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("cannot create the data directory {}", config.data_dir.display()))?;
        let key = SecretKey::generate();
        match key.write_new(&path) {
            Ok(()) => {
                tracing::info!(file = %path.display(), key_id = key.id(), "created the key that encrypts stored secrets");
                return Ok(key);
            }
            // Another process made it first: read theirs.
            Err(_) if path.exists() => {}
            Err(e) => return Err(e),
        }
    }
    SecretKey::read(&path)
}

/// Seals and opens stored secrets with one key. Cheap to clone; `Sealer::default()` has no key and refuses
/// both (a state built without loading the key cannot store a secret in plaintext by mistake).
#[derive(Clone, Default)]
pub struct Sealer(Option<Arc<SecretKey>>);

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(k) => write!(f, "Sealer({})", k.id),
            None => write!(f, "Sealer(no key)"),
        }
    }
}

impl From<SecretKey> for Sealer {
    fn from(key: SecretKey) -> Self {
        Self(Some(Arc::new(key)))
    }
}

/// The key id a sealed value names, or None for plaintext.
pub fn key_id_of(value: &str) -> Option<&str> {
    value.strip_prefix(PREFIX)?.split_once(':').map(|(id, _)| id)
}

impl Sealer {
    fn key(&self) -> anyhow::Result<&SecretKey> {
        self.0.as_deref().ok_or_else(|| anyhow::anyhow!("no secret key is loaded (build the configuration with it)"))
    }

    /// The key's fingerprint, or None without a key.
    pub fn key_id(&self) -> Option<&str> {
        self.0.as_deref().map(SecretKey::id)
    }

    /// `plain`, sealed: `enc:v1:<key id>:<base64>`.
    pub fn seal(&self, plain: &str) -> anyhow::Result<String> {
        use rand::RngCore;
        let key = self.key()?;
        let header = format!("{PREFIX}{}", key.id);
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let cipher = XChaCha20Poly1305::new((&key.bytes).into());
        let sealed = cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plain.as_bytes(), aad: header.as_bytes() })
            .map_err(|_| anyhow::anyhow!("sealing a secret failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{header}:{}", base64::engine::general_purpose::STANDARD_NO_PAD.encode(out)))
    }

    /// The plaintext of a value this key sealed. A value sealed with another key, plaintext, or a damaged
    /// value is an error that says which.
    pub fn open(&self, sealed: &str) -> anyhow::Result<String> {
        let key = self.key()?;
        let Some(id) = key_id_of(sealed) else { anyhow::bail!("the stored secret is not sealed") };
        if id != key.id {
            anyhow::bail!("the stored secret was sealed with another key (key id {id}; this key's id is {})", key.id);
        }
        let header = format!("{PREFIX}{id}");
        let body = &sealed[header.len() + 1..];
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(body)
            .map_err(|_| anyhow::anyhow!("the stored secret is damaged (not base64)"))?;
        if bytes.len() < 24 {
            anyhow::bail!("the stored secret is damaged (too short)");
        }
        let (nonce, ciphertext) = bytes.split_at(24);
        let cipher = XChaCha20Poly1305::new((&key.bytes).into());
        let plain = cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ciphertext, aad: header.as_bytes() })
            .map_err(|_| anyhow::anyhow!("the stored secret is damaged (it does not authenticate under key {id})"))?;
        String::from_utf8(plain).map_err(|_| anyhow::anyhow!("the stored secret is damaged (not UTF-8)"))
    }
}

/// A column (or a field of a jsonb column) that holds sealed values, declared by the capability that owns
/// the table. Names are constants of the program, never input, and are spliced into SQL as identifiers.
#[derive(Debug, Clone, Copy)]
pub struct Place {
    pub table: &'static str,
    /// The primary key column (compared as text).
    pub key: &'static str,
    pub column: &'static str,
    /// The field of a jsonb object column (a session's data). Such values are disposable: one that no key
    /// here opens is removed (the person starts that step again) rather than stopping the server.
    pub json_field: Option<&'static str>,
}

impl Place {
    pub const fn column(table: &'static str, key: &'static str, column: &'static str) -> Self {
        Self { table, key, column, json_field: None }
    }
    pub const fn json_field(table: &'static str, key: &'static str, column: &'static str, field: &'static str) -> Self {
        Self { table, key, column, json_field: Some(field) }
    }

    fn describe(&self) -> String {
        match self.json_field {
            Some(f) => format!("{}.{}->{f}", self.table, self.column),
            None => format!("{}.{}", self.table, self.column),
        }
    }

    /// Every (key, value) here, locked for this transaction.
    async fn lock_values(&self, tx: &mut Transaction<'_, Postgres>) -> sqlx::Result<Vec<(String, String)>> {
        let (t, k, c) = (ident(self.table), ident(self.key), ident(self.column));
        let sql = match self.json_field {
            Some(f) => format!("SELECT {k}::text, {c} ->> '{f}' FROM {t} WHERE {c} ? '{f}' FOR UPDATE"),
            None => format!("SELECT {k}::text, {c} FROM {t} WHERE {c} IS NOT NULL FOR UPDATE"),
        };
        let rows: Vec<(String, Option<String>)> = sqlx::query_as(&sql).fetch_all(&mut **tx).await?;
        Ok(rows.into_iter().filter_map(|(k, v)| Some((k, v?))).collect())
    }

    /// Writes new values by key (None: remove a jsonb field).
    async fn write_values(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        changes: &[(String, Option<String>)],
    ) -> sqlx::Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let (t, k, c) = (ident(self.table), ident(self.key), ident(self.column));
        let keys: Vec<&str> = changes.iter().map(|(k, _)| k.as_str()).collect();
        let values: Vec<Option<&str>> = changes.iter().map(|(_, v)| v.as_deref()).collect();
        let set = match self.json_field {
            Some(f) => format!(
                "{c} = CASE WHEN v.value IS NULL THEN t.{c} - '{f}' ELSE jsonb_set(t.{c}, '{{{f}}}', to_jsonb(v.value)) END"
            ),
            None => format!("{c} = v.value"),
        };
        let sql = format!(
            "UPDATE {t} AS t SET {set} FROM unnest($1::text[], $2::text[]) AS v(key, value) WHERE t.{k}::text = v.key"
        );
        sqlx::query(&sql).bind(&keys).bind(&values).execute(&mut **tx).await?;
        Ok(())
    }
}

fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Start-up, after migrations: seals every value still stored in plaintext (the values written before
/// issue 24), in one transaction, one process at a time; returns how many. Refuses to start when a value was
/// sealed with another key (the key file is not the one the database was sealed with), saying how to fix it.
pub async fn seal_plaintext(db: &PgPool, sealer: &Sealer, places: &[Place]) -> anyhow::Result<usize> {
    let current = sealer.key()?.id.clone();
    let mut tx = db.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(LOCK).execute(&mut *tx).await?;
    let mut sealed = 0;
    let mut foreign: Vec<(String, String)> = Vec::new();
    for place in places {
        let mut changes = Vec::new();
        for (key, value) in place.lock_values(&mut tx).await? {
            match key_id_of(&value) {
                None => changes.push((key, Some(sealer.seal(&value)?))),
                Some(id) if id == current => {}
                Some(_) if place.json_field.is_some() => changes.push((key, None)),
                Some(id) => foreign.push((place.describe(), id.to_string())),
            }
        }
        sealed += changes.iter().filter(|(_, v)| v.is_some()).count();
        place.write_values(&mut tx, &changes).await?;
    }
    if let Some((place, id)) = foreign.first() {
        anyhow::bail!(
            "{} stored secrets (e.g. in {place}) were sealed with key {id}, not with this key ({current}): set \
             LOANFLOOR_SECRET_KEY_FILE to the key file they were sealed with (after an interrupted `loanfloor \
             rotate-key`, run it again with that key)",
            foreign.len()
        );
    }
    tx.commit().await?;
    if sealed > 0 {
        tracing::info!(sealed, key_id = %current, "encrypted stored secrets that were kept in plaintext");
    }
    Ok(sealed)
}

/// Re-seals every stored secret from `from` to `to` in one transaction (values already sealed with `to`
/// are left, so an interrupted rotation can be run again), audited as `secrets.rotate_key` with the key
/// ids and counts only. Returns how many values were re-sealed.
pub async fn rotate(db: &PgPool, from: &Sealer, to: &Sealer, places: &[Place]) -> anyhow::Result<usize> {
    let (from_id, to_id) = (from.key()?.id.clone(), to.key()?.id.clone());
    if from_id == to_id {
        anyhow::bail!("the new key is the key in use (key id {to_id}): make a new one with `loanfloor new-key FILE`");
    }
    let mut tx = db.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(LOCK).execute(&mut *tx).await?;
    let (mut resealed, mut dropped) = (0usize, 0usize);
    for place in places {
        let mut changes = Vec::new();
        for (key, value) in place.lock_values(&mut tx).await? {
            let plain = match key_id_of(&value) {
                None => value,
                Some(id) if id == to_id => continue,
                Some(_) => match from.open(&value) {
                    Ok(plain) => plain,
                    Err(_) if place.json_field.is_some() => {
                        changes.push((key, None));
                        dropped += 1;
                        continue;
                    }
                    Err(e) => return Err(e.context(format!("re-sealing {}", place.describe()))),
                },
            };
            changes.push((key, Some(to.seal(&plain)?)));
            resealed += 1;
        }
        place.write_values(&mut tx, &changes).await?;
    }
    crate::audit::Entry::new(None, "secrets.rotate_key", "secrets", "")
        .before(serde_json::json!({ "key_id": from_id }))
        .after(serde_json::json!({ "key_id": to_id, "resealed": resealed, "dropped_enrolments": dropped }))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(resealed)
}

/// `loanfloor new-key FILE`: a fresh key in a new file (mode 0600). Returns what to tell the operator.
pub fn new_key_command(file: &Path) -> anyhow::Result<String> {
    let key = SecretKey::generate();
    key.write_new(file)?;
    Ok(format!("wrote a new key (key id {}) to {}", key.id(), file.display()))
}

/// `loanfloor rotate-key`: re-seals every stored secret with the key in `new_key_file`, or, in the embedded
/// mode with its own key file and no `new_key_file`, with a fresh key that then replaces `secret.key` (the old
/// one kept as `secret.key.old`). Returns what to tell the operator.
pub async fn rotate_key_command(
    config: &Config,
    db: &PgPool,
    places: &[Place],
    new_key_file: Option<&Path>,
) -> anyhow::Result<String> {
    let current = key_path(config)?;
    let (key, staged) = match new_key_file {
        Some(path) => (SecretKey::read(path)?, None),
        None if config.secret_key_file.is_none() => {
            let staged = current.with_extension("key.new");
            let _ = std::fs::remove_file(&staged);
            let key = SecretKey::generate();
            key.write_new(&staged)?;
            (key, Some(staged))
        }
        None => anyhow::bail!(
            "give the new key with --new-key-file FILE (make one with `loanfloor new-key FILE`): Loanfloor does not \
             replace a key file it did not make"
        ),
    };
    let id = key.id().to_string();
    let resealed = rotate(db, &config.secrets, &Sealer::from(key), places).await?;
    let Some(staged) = staged else {
        return Ok(format!(
            "re-encrypted {resealed} stored secrets with key {id}: now point LOANFLOOR_SECRET_KEY_FILE at {} (or copy \
             it over {}) for every instance, then start them; keep the old key while backups made before now are kept",
            new_key_file.map(Path::display).map(|d| d.to_string()).unwrap_or_default(),
            current.display()
        ));
    };
    let old = current.with_extension("key.old");
    std::fs::rename(&current, &old).with_context(|| format!("cannot move {} aside", current.display()))?;
    std::fs::rename(&staged, &current).with_context(|| format!("cannot put the new key at {}", current.display()))?;
    Ok(format!(
        "re-encrypted {resealed} stored secrets with key {id}, now in {}; the old key is kept as {} for backups made \
         before now",
        current.display(),
        old.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_with_its_key_only() {
        let (a, b) = (Sealer::from(SecretKey::generate()), Sealer::from(SecretKey::generate()));
        let sealed = a.seal("JBSWY3DPEHPK3PXP").unwrap();
        assert!(sealed.starts_with(&format!("{PREFIX}{}:", a.key_id().unwrap())), "{sealed}");
        assert!(!sealed.contains("JBSWY3DPEHPK3PXP"));
        assert_eq!(a.open(&sealed).unwrap(), "JBSWY3DPEHPK3PXP");
        assert_ne!(a.seal("JBSWY3DPEHPK3PXP").unwrap(), sealed, "a fresh nonce every time");
        let err = b.open(&sealed).unwrap_err().to_string();
        assert!(err.contains("another key"), "{err}");
        assert!(Sealer::default().seal("x").is_err(), "no key, no sealing");
    }

    #[test]
    fn a_changed_value_or_header_does_not_open() {
        let a = Sealer::from(SecretKey::generate());
        let sealed = a.seal("whsec_0123").unwrap();
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert!(a.open(std::str::from_utf8(&tampered).unwrap()).is_err());
        assert!(a.open("whsec_0123").is_err(), "plaintext is not a sealed value");
        assert!(a.open(&format!("{PREFIX}{}:@@@", a.key_id().unwrap())).is_err());
    }

    #[test]
    fn key_files_hold_64_hex_characters() {
        let key = SecretKey::generate();
        let text = hex::encode(key.bytes);
        assert_eq!(SecretKey::from_hex(&format!("{text}\n")).unwrap().id(), key.id());
        assert!(SecretKey::from_hex(&text[..62]).is_none());
        assert!(SecretKey::from_hex("not a key").is_none());
        assert_eq!(key.id().len(), 12);
        assert!(!format!("{key:?}").contains(&text));
    }
}
