//! The calendar setting, the daily deadline digest, and the reads behind the case page and the reports.

use super::*;

/// The organisation's business-day calendar (the setting [`calendar::SETTING_OBSERVED_IN_LIEU`]; the default
/// when never set).
pub async fn calendar(db: &PgPool) -> AppResult<Calendar> {
    Ok(calendar::organisation(db).await?)
}

/// Sets whether days observed in lieu of a weekend legal public holiday are business days (admins only),
/// audit-logged in the same transaction.
pub async fn set_calendar(db: &PgPool, user: &CurrentUser, cal: Calendar) -> AppResult<()> {
    user.require(&[Role::Admin])?;
    let before = calendar(db).await?;
    let mut tx = db.begin().await?;
    sqlx::query!(
        "INSERT INTO settings (key, value) VALUES ($1, $2)
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
        calendar::SETTING_OBSERVED_IN_LIEU,
        serde_json::json!(cal.observed_in_lieu_is_business_day)
    )
    .execute(&mut *tx)
    .await?;
    Entry::new(Some(user), "setting_changed", "setting", calendar::SETTING_OBSERVED_IN_LIEU)
        .before(serde_json::json!(before.observed_in_lieu_is_business_day))
        .after(serde_json::json!(cal.observed_in_lieu_is_business_day))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// The job that tells each specialist, once a day, about deadlines due within two days and breaches.
pub const DIGEST_JOB: &str = "lossmit.deadline_digest";

pub(crate) fn digest_key(at: DateTime<Utc>) -> String {
    format!("{DIGEST_JOB}:{}", at.date_naive())
}

/// The next 07:00 in the organisation's time zone strictly after `now`.
pub fn next_digest_at(now: DateTime<Utc>, tz: chrono_tz::Tz) -> DateTime<Utc> {
    use chrono::TimeZone;
    let local = now.with_timezone(&tz);
    let mut day = local.date_naive();
    loop {
        let at = day.and_hms_opt(7, 0, 0).and_then(|t| tz.from_local_datetime(&t).earliest());
        if let Some(at) = at.map(|a| a.with_timezone(&Utc)).filter(|a| *a > now) {
            return at;
        }
        day = day.succ_opt().unwrap_or(day);
    }
}

/// Sends the digest for `today` and schedules the next one a day later. Returns the notifications sent.
pub async fn send_deadline_digest(db: &PgPool, today: NaiveDate, next_run: DateTime<Utc>) -> AppResult<usize> {
    let cases =
        select_cases!("WHERE c.stage <> 'resolved' AND c.specialist_id IS NOT NULL ORDER BY c.specialist_id, c.id")
            .fetch_all(db)
            .await?;
    let mut per: std::collections::BTreeMap<Uuid, (usize, usize)> = std::collections::BTreeMap::new();
    for c in &cases {
        let Some(s) = c.specialist_id else { continue };
        let e = per.entry(s).or_default();
        for d in c.deadlines(today) {
            match d.status {
                clocks::ClockStatus::Due
                    if d.key != "first_filing_earliest" && d.due_on <= today + chrono::Duration::days(2) =>
                {
                    e.0 += 1
                }
                clocks::ClockStatus::Breached => e.1 += 1,
                _ => {}
            }
        }
    }
    let mut tx = db.begin().await?;
    let mut sent = 0;
    for (specialist, (due, breached)) in per {
        if due == 0 && breached == 0 {
            continue;
        }
        let title = format!("Loss mitigation: {due} deadline(s) due within 2 days, {breached} breached");
        crate::events::notify(&mut tx, specialist, "lossmit.digest", &title, "/lossmit").await?;
        sent += 1;
    }
    crate::jobs::enqueue(&mut tx, DIGEST_JOB, serde_json::json!({}), next_run, Some(&digest_key(next_run))).await?;
    tx.commit().await?;
    Ok(sent)
}

/// One line of the case's record, for the timeline, the letters and the export.
#[derive(Debug, Clone, Serialize)]
pub struct RecordLine {
    pub record: String,
    pub on: NaiveDate,
    pub kind: String,
    pub detail: String,
    pub flag: bool,
    pub actor: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Every immutable record of a case, oldest first, in one query.
pub async fn records(db: &PgPool, case_id: Uuid) -> AppResult<Vec<RecordLine>> {
    Ok(sqlx::query_as!(
        RecordLine,
        r#"SELECT r.record AS "record!", r.on_date AS "on!", r.kind AS "kind!", r.detail AS "detail!", r.flag AS "flag!",
                  u.name AS "actor?", r.created_at AS "created_at!"
           FROM (
             SELECT 'contact' AS record, occurred_on AS on_date, channel AS kind, outcome AS detail, live_contact AS flag, actor_id, created_at
               FROM lossmit_contact_attempts WHERE case_id = $1
             UNION ALL SELECT 'notice', sent_on, kind, note, false, actor_id, created_at FROM lossmit_notices WHERE case_id = $1
             UNION ALL SELECT 'document', received_on, document, note, false, actor_id, created_at FROM lossmit_documents WHERE case_id = $1
             UNION ALL SELECT 'application', received_on, CASE WHEN complete_on IS NULL THEN 'incomplete' ELSE 'complete' END,
                   COALESCE('complete on ' || complete_on::text, ''), complete_on IS NOT NULL, actor_id, created_at
               FROM lossmit_applications WHERE case_id = $1
             UNION ALL SELECT 'assessment', created_at::date, hardship_reason, hardship_duration, false, actor_id, created_at
               FROM lossmit_assessments WHERE case_id = $1
             UNION ALL SELECT 'decision', decided_on, option, reason, approved, actor_id, created_at FROM lossmit_decisions WHERE case_id = $1
             UNION ALL SELECT 'appeal', filed_on, 'filed', '', false, actor_id, created_at FROM lossmit_appeals WHERE case_id = $1
             UNION ALL SELECT 'appeal_decision', d.decided_on, CASE WHEN d.granted THEN 'granted' ELSE 'denied' END, d.reason, d.granted,
                   d.actor_id, d.created_at
               FROM lossmit_appeal_decisions d JOIN lossmit_appeals p ON p.id = d.appeal_id WHERE p.case_id = $1
             UNION ALL SELECT 'foreclosure_step', occurred_on, step, '', false, actor_id, created_at FROM lossmit_foreclosure_steps WHERE case_id = $1
             UNION ALL SELECT 'assignment', a.assigned_on, 'assigned', COALESCE(f.name, '(none)') || ' -> ' || t.name || CASE WHEN a.reason = '' THEN '' ELSE ': ' || a.reason END,
                   false, a.actor_id, a.created_at
               FROM lossmit_assignments a JOIN users t ON t.id = a.to_specialist_id LEFT JOIN users f ON f.id = a.from_specialist_id
               WHERE a.case_id = $1
             UNION ALL SELECT 'stage', changed_on, to_stage, COALESCE(from_stage, '') || COALESCE(' / ' || resolution, ''), false, actor_id, created_at
               FROM lossmit_stage_changes WHERE case_id = $1
           ) r LEFT JOIN users u ON u.id = r.actor_id
           ORDER BY r.created_at, r.record"#,
        case_id
    )
    .fetch_all(db)
    .await?)
}

/// The decisions of a case with their terms, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct DecisionRow {
    pub option: String,
    pub program: String,
    pub application_no: i32,
    pub approved: bool,
    pub decided_on: NaiveDate,
    pub reason: String,
    pub terms: serde_json::Value,
}

pub async fn decisions(db: &PgPool, case_id: Uuid) -> AppResult<Vec<DecisionRow>> {
    Ok(sqlx::query_as!(
        DecisionRow,
        "SELECT option, program, application_no, approved, decided_on, reason, terms FROM lossmit_decisions
         WHERE case_id = $1 ORDER BY decided_on DESC, id",
        case_id
    )
    .fetch_all(db)
    .await?)
}

/// The documents received since the delinquency began (first receipt of each), for the checklist; one
/// received earlier never counts.
pub async fn documents_received(db: &PgPool, case: &CaseRow) -> AppResult<Vec<(Document, NaiveDate)>> {
    let rows = sqlx::query!(
        r#"SELECT document, min(received_on) AS "first!" FROM lossmit_documents WHERE case_id = $1 AND received_on >= $2
           GROUP BY document ORDER BY document"#,
        case.id,
        case.first_unpaid_due_date
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().filter_map(|r| Document::parse(&r.document).map(|d| (d, r.first))).collect())
}

/// Facts for the reports, one row per case (visible to supervisors and admins).
pub struct ReportFacts {
    pub decisions: Vec<(Uuid, String, bool, NaiveDate)>,
    pub reopened_after_cure: Vec<Uuid>,
    pub ever_cured_or_modified: Vec<Uuid>,
}

pub async fn report_facts(db: &PgPool) -> AppResult<ReportFacts> {
    let decisions = sqlx::query!("SELECT case_id, option, approved, decided_on FROM lossmit_decisions ORDER BY id")
        .fetch_all(db)
        .await?
        .into_iter()
        .map(|r| (r.case_id, r.option, r.approved, r.decided_on))
        .collect();
    // A re-default: a case resolved as cured or modified that was later reopened.
    let reopened_after_cure = sqlx::query_scalar!(
        "SELECT DISTINCT s.case_id FROM lossmit_stage_changes s
         WHERE s.from_stage = 'resolved' AND EXISTS (
             SELECT 1 FROM lossmit_stage_changes r WHERE r.case_id = s.case_id AND r.to_stage = 'resolved'
               AND r.resolution IN ('cured', 'modified') AND r.id < s.id)"
    )
    .fetch_all(db)
    .await?;
    let ever_cured_or_modified = sqlx::query_scalar!(
        "SELECT DISTINCT case_id FROM lossmit_stage_changes WHERE to_stage = 'resolved' AND resolution IN ('cured', 'modified')"
    )
    .fetch_all(db)
    .await?;
    Ok(ReportFacts { decisions, reopened_after_cure, ever_cured_or_modified })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn digest_runs_at_seven_in_the_organisations_time_zone() {
        let tz = chrono_tz::America::Chicago; // CST = UTC-6 in November
        let at = |h, m| Utc.with_ymd_and_hms(2026, 11, 23, h, m, 0).unwrap();
        assert_eq!(next_digest_at(at(12, 0), tz), at(13, 0));
        assert_eq!(next_digest_at(at(13, 0), tz), Utc.with_ymd_and_hms(2026, 11, 24, 13, 0, 0).unwrap());
        assert_eq!(digest_key(at(13, 0)), "lossmit.deadline_digest:2026-11-23");
    }
}
