//! What an upload leaves behind, and for how long (issue 24, in part): the uploaded file lives only while its
//! request runs (removed when the request ends, even when the client goes away mid-import), and the bad-row
//! report lives in the database for 24 hours, readable from every instance by the user who uploaded. The hourly
//! housekeeping job ([`purge`]) deletes older reports and any upload a crashed process left in the temporary
//! directory.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// How long a bad-row report can be downloaded, and the most an upload's leftovers stay.
pub const KEEP_HOURS: i64 = 24;

const UPLOAD_PREFIX: &str = "loanfloor-upload-";

/// An upload's temporary file, removed when this is dropped (the request ended, however it ended).
pub struct TempUpload {
    pub path: PathBuf,
}

impl TempUpload {
    pub fn new() -> Self {
        Self { path: std::env::temp_dir().join(format!("{UPLOAD_PREFIX}{}.csv", Uuid::new_v4().simple())) }
    }
}

impl Default for TempUpload {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TempUpload {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Keeps a bad-row report for its user; the token that downloads it.
pub async fn save_report(db: &PgPool, user: Uuid, body: Vec<u8>, now: DateTime<Utc>) -> sqlx::Result<Uuid> {
    let token = Uuid::new_v4();
    sqlx::query!(
        "INSERT INTO import_reports (token, user_id, body, created_at) VALUES ($1, $2, $3, $4)",
        token,
        user,
        body,
        now
    )
    .execute(db)
    .await?;
    Ok(token)
}

/// The user's own report, while it is younger than [`KEEP_HOURS`].
pub async fn report(db: &PgPool, user: Uuid, token: Uuid, now: DateTime<Utc>) -> sqlx::Result<Option<Vec<u8>>> {
    sqlx::query_scalar!(
        "SELECT body FROM import_reports
         WHERE token = $1 AND user_id = $2 AND created_at > $3::timestamptz - make_interval(hours => $4::int)",
        token,
        user,
        now,
        KEEP_HOURS as i32
    )
    .fetch_optional(db)
    .await
}

/// Deletes reports older than [`KEEP_HOURS`] and uploads a dead process left in the temporary directory;
/// (reports deleted, files removed).
pub async fn purge(db: &PgPool, now: DateTime<Utc>) -> anyhow::Result<(u64, usize)> {
    let reports = sqlx::query!(
        "DELETE FROM import_reports WHERE created_at <= $1::timestamptz - make_interval(hours => $2::int)",
        now,
        KEEP_HOURS as i32
    )
    .execute(db)
    .await?
    .rows_affected();
    let files = tokio::task::spawn_blocking(|| {
        let cutoff = std::time::SystemTime::now() - std::time::Duration::from_secs(KEEP_HOURS as u64 * 3600);
        let Ok(dir) = std::fs::read_dir(std::env::temp_dir()) else { return 0 };
        dir.flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(UPLOAD_PREFIX))
            .filter(|e| e.metadata().and_then(|m| m.modified()).is_ok_and(|t| t < cutoff))
            .filter(|e| std::fs::remove_file(e.path()).is_ok())
            .count()
    })
    .await?;
    Ok((reports, files))
}
