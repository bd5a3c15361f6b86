//! The approver's consistency check on a pricing exception (issue 28): how the requested concession compares
//! with the concessions granted for similar loans — same credit band, LTV band, loan amount band and product —
//! decided in the last 90 days. It reads no protected-class information (no demographics, no proxies, no
//! name or place), so it may sit beside the decision; the fair-lending analysis stays with compliance.

use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// How far back the similar loans go.
pub const WINDOW_DAYS: i64 = 90;

/// The check's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Consistency {
    pub requested_bps: i32,
    /// "720+ · LTV ≤80% · $200k to $399k · purchase".
    pub similar: String,
    /// Granted similar requests (approved or countered) in the window.
    pub n: usize,
    /// Their median granted concession (the lower median), None when there are none.
    pub median_bps: Option<i32>,
}

/// Loan-to-value bands.
pub fn ltv_band(amount_cents: Option<i64>, value_cents: Option<i64>) -> &'static str {
    match (amount_cents, value_cents) {
        (Some(a), Some(v)) if v > 0 => match a as f64 * 100.0 / v as f64 {
            x if x <= 80.0 => "LTV ≤80%",
            x if x <= 90.0 => "LTV 80–90%",
            x if x <= 95.0 => "LTV 90–95%",
            _ => "LTV >95%",
        },
        _ => "LTV unknown",
    }
}

/// The lower median of granted concessions.
pub fn median(mut bps: Vec<i32>) -> Option<i32> {
    bps.sort_unstable();
    (!bps.is_empty()).then(|| bps[(bps.len() - 1) / 2])
}

/// The check for pricing exception `id` at `now` (None for another kind of request).
pub async fn check(db: &PgPool, id: Uuid, now: DateTime<Utc>) -> sqlx::Result<Option<Consistency>> {
    let Some(me) = sqlx::query!(
        r#"SELECT e.concession_bps, l.credit_band, coalesce(e.loan_amount_cents, l.loan_amount_cents) AS amount,
                  l.property_value_cents AS value,
                  coalesce((SELECT k.product FROM rate_locks k WHERE k.lead_id = l.id
                            ORDER BY k.created_at DESC LIMIT 1), l.loan_purpose) AS product
           FROM escalations e JOIN leads l ON l.id = e.lead_id
           WHERE e.id = $1 AND e.kind = 'pricing_exception'"#,
        id
    )
    .fetch_optional(db)
    .await?
    else {
        return Ok(None);
    };
    let peers = sqlx::query!(
        r#"SELECT e.granted_bps, coalesce(e.loan_amount_cents, l.loan_amount_cents) AS amount,
                  l.property_value_cents AS value
           FROM escalations e JOIN leads l ON l.id = e.lead_id
           WHERE e.kind = 'pricing_exception' AND e.id <> $1 AND e.decision IN ('approve', 'counter')
             AND e.decided_at >= $2 AND e.decided_at <= $3
             AND l.credit_band IS NOT DISTINCT FROM $4
             AND coalesce((SELECT k.product FROM rate_locks k WHERE k.lead_id = l.id
                           ORDER BY k.created_at DESC LIMIT 1), l.loan_purpose) IS NOT DISTINCT FROM $5"#,
        id,
        now - Duration::days(WINDOW_DAYS),
        now,
        me.credit_band,
        me.product
    )
    .fetch_all(db)
    .await?;
    let (ltv, amount) = (ltv_band(me.amount, me.value), super::model::amount_band(me.amount));
    let similar: Vec<i32> = peers
        .into_iter()
        .filter(|p| ltv_band(p.amount, p.value) == ltv && super::model::amount_band(p.amount) == amount)
        .map(|p| p.granted_bps)
        .collect();
    let known = |v: Option<&str>, what: &str| v.map_or_else(|| format!("{what} unknown"), str::to_string);
    Ok(Some(Consistency {
        requested_bps: me.concession_bps,
        similar: format!(
            "{} · {ltv} · {amount} · {}",
            known(me.credit_band.as_deref(), "credit"),
            known(me.product.as_deref(), "product")
        ),
        n: similar.len(),
        median_bps: median(similar),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_and_bands() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![30, 10, 20]), Some(20));
        assert_eq!(median(vec![40, 10, 20, 30]), Some(20), "the lower median: a concession someone got");
        assert_eq!(ltv_band(Some(9_000_000), Some(10_000_000)), "LTV 80–90%");
        assert_eq!(ltv_band(None, Some(1)), "LTV unknown");
    }
}
