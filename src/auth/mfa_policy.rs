//! Who must sign in with a second factor: the `mfa_required_roles` setting and its reading. Identity owns the
//! policy (sign-in and every session check apply it); the admin's security page in `accounts` only edits it.

use sqlx::{Executor, PgPool, Postgres, Transaction};

use super::Role;

/// The `mfa_required_roles` setting: `"all"`, or a list of role names (which may contain "all").
pub fn required(setting: &serde_json::Value, role: Role) -> bool {
    match setting {
        serde_json::Value::String(s) => s == "all" || s == role.as_str(),
        serde_json::Value::Array(list) => {
            list.iter().any(|v| v.as_str().is_some_and(|r| r == "all" || r == role.as_str()))
        }
        _ => false,
    }
}

/// The setting as stored (an empty list when none is).
pub async fn setting<'e, E: Executor<'e, Database = Postgres>>(db: E) -> sqlx::Result<serde_json::Value> {
    Ok(sqlx::query_scalar!("SELECT value FROM settings WHERE key = 'mfa_required_roles'")
        .fetch_optional(db)
        .await?
        .unwrap_or_else(|| serde_json::json!([])))
}

/// Stores the setting inside the caller's transaction (which audits the change).
pub async fn set_setting(tx: &mut Transaction<'_, Postgres>, value: &serde_json::Value) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO settings (key, value) VALUES ('mfa_required_roles', $1)
         ON CONFLICT (key) DO UPDATE SET value = $1, updated_at = now()",
        value
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Whether the setting requires a second factor of `role`.
pub async fn required_for(db: &PgPool, role: Role) -> sqlx::Result<bool> {
    Ok(required(&setting(db).await?, role))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setting_accepts_all_or_roles() {
        use serde_json::json;
        assert!(required(&json!("all"), Role::Lo));
        assert!(required(&json!(["all"]), Role::Intake));
        assert!(required(&json!(["admin", "manager"]), Role::Manager));
        assert!(!required(&json!(["admin"]), Role::Lo));
        assert!(!required(&json!([]), Role::Admin));
    }
}
