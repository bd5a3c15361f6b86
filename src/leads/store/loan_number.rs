//! The LOS loan number recorded on a lead by the LOS itself (the status feed matched the lead by its id).

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::{loan_number_free, loan_number_taken};
use crate::audit::Entry;
use crate::auth::CurrentUser;
use crate::error::{AppError, AppResult};

/// Records `raw` (checked like the lead form's field) as the loan number of lead `id`, in the caller's
/// transaction, which holds the lead's row lock. Nothing changes when the lead has that number already;
/// otherwise the version moves on (an open edit form goes stale) and the change is audited as a lead edit.
/// Another lead's number is the same 409 as on the form and the API, naming that lead only in `actor`'s scope.
pub async fn record_loan_number(
    tx: &mut Transaction<'_, Postgres>,
    actor: &CurrentUser,
    id: Uuid,
    raw: &str,
    now: DateTime<Utc>,
) -> AppResult<String> {
    let number = super::model::check_loan_number(raw)
        .map_err(|m| AppError::invalid("loan_number", m))?
        .ok_or_else(|| AppError::invalid("loan_number", "required"))?;
    let before = sqlx::query_scalar!("SELECT loan_number FROM leads WHERE id = $1 FOR UPDATE", id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(AppError::NotFound)?;
    if before.as_deref() == Some(number.as_str()) {
        return Ok(number);
    }
    loan_number_free(tx, actor, &number, Some(id)).await?;
    let r = sqlx::query!(
        "UPDATE leads SET loan_number = $2, version = version + 1, updated_at = $3 WHERE id = $1",
        id,
        number,
        now
    )
    .execute(&mut **tx)
    .await;
    if let Err(e) = r {
        // Another request set the same number between the check above and this write.
        return Err(crate::error::on_constraint(e, &[("leads_loan_number_idx", || loan_number_taken(None))]));
    }
    Entry::new(Some(actor), "update", "lead", id)
        .before(serde_json::json!({ "loan_number": before }))
        .after(serde_json::json!({ "loan_number": number, "origin": "los" }))
        .write(&mut **tx)
        .await?;
    Ok(number)
}
