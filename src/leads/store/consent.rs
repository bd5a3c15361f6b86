//! Consent to call, enforced: the do-not-call lists (the lender's own and the national registry's), the
//! calling windows by state, and why a lead may not be called now (for its page). A lead's phone is stored in
//! E.164 (`+1` and ten digits, `model::normalize_phone`); the lists hold the ten digits, `right(phone, 10)`.

use super::*;
use crate::leads::consent::{CallingRules, CallingWindow, dnc_number};

/// The calling window of every state and the state of every area code, from the maintained
/// `calling_windows` and `area_code_states` tables.
pub async fn calling_rules(db: &mut sqlx::PgConnection) -> sqlx::Result<CallingRules> {
    let windows = calling_windows(&mut *db).await?;
    let area_codes = sqlx::query!("SELECT area_code, state FROM area_code_states")
        .fetch_all(&mut *db)
        .await?
        .into_iter()
        .map(|r| (r.area_code, r.state))
        .collect();
    Ok(CallingRules { windows, area_codes })
}

/// The calling window of every state, from the maintained `calling_windows` table.
async fn calling_windows<'e>(db: impl sqlx::PgExecutor<'e>) -> sqlx::Result<Vec<CallingWindow>> {
    let rows = sqlx::query!(
        r#"SELECT w.state, w.time_zones, w.weekday_from, w.weekday_until, w.saturday_from, w.saturday_until,
                  w.sunday_from, w.sunday_until, w.source,
                  ARRAY(SELECT h.on_date FROM calling_holidays h WHERE h.state = w.state ORDER BY h.on_date) AS "holidays!"
           FROM calling_windows w ORDER BY w.state"#
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| CallingWindow {
            state: r.state,
            zones: r.time_zones.iter().filter_map(|z| z.parse().ok()).collect(),
            weekday: (r.weekday_from, r.weekday_until),
            saturday: r.saturday_from.zip(r.saturday_until),
            sunday: r.sunday_from.zip(r.sunday_until),
            holidays: r.holidays,
            source: r.source,
        })
        .filter(|w| !w.zones.is_empty())
        .collect())
}

/// The first moment at or after `at` when this lead may be called (cadence attempts are scheduled there);
/// `hours` is [`crate::config::Config::calling_hours`] (None: not enforced, `at` itself).
pub async fn callable_from(
    tx: &mut Transaction<'_, Postgres>,
    lead: Uuid,
    at: DateTime<Utc>,
    hours: Option<chrono_tz::Tz>,
) -> sqlx::Result<DateTime<Utc>> {
    let Some(org) = hours else { return Ok(at) };
    let Some(l) =
        sqlx::query!("SELECT property_state, phone FROM leads WHERE id = $1", lead).fetch_optional(&mut **tx).await?
    else {
        return Ok(at);
    };
    let rules = calling_rules(tx).await?;
    Ok(rules.window_for(l.property_state.as_deref(), l.phone.as_deref(), org).next_allowed(at))
}

/// Why this lead may not be called at `now`, for its page; None when it may. `hours` as for [`callable_from`].
pub async fn call_block(
    db: &sqlx::PgPool,
    lead: Uuid,
    now: DateTime<Utc>,
    hours: Option<chrono_tz::Tz>,
) -> sqlx::Result<Option<String>> {
    let Some(r) = sqlx::query!(
        r#"SELECT l.property_state, l.phone,
                  EXISTS (SELECT 1 FROM lead_opt_outs o WHERE o.lead_id = l.id AND o.channel IN ('call', 'all')) AS "opted_out!",
                  EXISTS (SELECT 1 FROM do_not_call_numbers d WHERE d.list = 'internal'
                          AND d.phone = right(l.phone, 10)) AS "internal!",
                  EXISTS (SELECT 1 FROM do_not_call_numbers d WHERE d.list = 'national'
                          AND d.phone = right(l.phone, 10)) AS "national!",
                  EXISTS (SELECT 1 FROM lead_consents c WHERE c.lead_id = l.id AND c.channel IN ('call', 'all')) AS "consented!"
           FROM leads l WHERE l.id = $1"#,
        lead
    )
    .fetch_optional(db)
    .await?
    else {
        return Ok(None);
    };
    if r.opted_out {
        return Ok(Some("The borrower asked not to be called (opt-out).".into()));
    }
    if r.internal {
        return Ok(Some("The phone number is on our internal do-not-call list.".into()));
    }
    if r.national && !r.consented {
        return Ok(Some(
            "The phone number is on the national Do Not Call Registry and the borrower has not consented to calls in writing."
                .into(),
        ));
    }
    let Some(org) = hours else { return Ok(None) };
    let rules = calling_rules(&mut *db.acquire().await?).await?;
    let (property, phone) = (r.property_state.as_deref(), r.phone.as_deref());
    let window = rules.window_for(property, phone, org);
    if !window.allows(now) {
        let next = window.next_allowed(now).with_timezone(&window.zones[0]);
        let whose = match rules.state_for(property, phone) {
            _ if window.state.is_empty() => "no property state or known area code, federal hours".to_string(),
            Some((s, true)) => format!("{s}, from the phone's area code"),
            _ => window.state.clone(),
        };
        return Ok(Some(format!(
            "Outside calling hours in the borrower's time zone ({whose}: {}); next allowed {}.",
            window.describe(),
            next.format("%a %-d %b %-H:%M %Z")
        )));
    }
    Ok(None)
}

/// Whether the borrower of `lead` may get a text message: None when texting is not in question (no phone, or
/// no consent to texts on record: a text needs the borrower's prior express consent); otherwise the phone
/// and why it may not go now (an opt-out of texts, the lender's own do-not-call list), or None when it may.
pub async fn text_permission(
    tx: &mut Transaction<'_, Postgres>,
    lead: Uuid,
) -> sqlx::Result<Option<(String, Option<&'static str>)>> {
    let Some(r) = sqlx::query!(
        r#"SELECT l.phone AS "phone!",
                  EXISTS (SELECT 1 FROM lead_opt_outs o WHERE o.lead_id = l.id AND o.channel IN ('text', 'all')) AS "opted_out!",
                  EXISTS (SELECT 1 FROM do_not_call_numbers d WHERE d.list = 'internal'
                          AND d.phone = right(l.phone, 10)) AS "internal!"
           FROM leads l
           WHERE l.id = $1 AND l.phone IS NOT NULL
             AND EXISTS (SELECT 1 FROM lead_consents c WHERE c.lead_id = l.id AND c.channel IN ('text', 'all'))"#,
        lead
    )
    .fetch_optional(&mut **tx)
    .await?
    else {
        return Ok(None);
    };
    let blocked = if r.opted_out {
        Some("the borrower opted out of text messages")
    } else if r.internal {
        Some("the phone number is on our internal do-not-call list")
    } else {
        None
    };
    Ok(Some((r.phone, blocked)))
}

/// Adds a number to the lender's own do-not-call list and stops calls to every lead with it, in one
/// transaction. False when the number was already listed.
pub async fn add_internal_dnc(
    tx: &mut Transaction<'_, Postgres>,
    phone: &str,
    reason: &str,
    actor: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let added = sqlx::query!(
        "INSERT INTO do_not_call_numbers (phone, list, reason, added_by, created_at) VALUES ($1, 'internal', $2, $3, $4)
         ON CONFLICT DO NOTHING",
        phone,
        reason,
        actor,
        now
    )
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1;
    let leads =
        sqlx::query_scalar!("SELECT id FROM leads WHERE phone = '+1' || $1", phone).fetch_all(&mut **tx).await?;
    for lead in leads {
        stop_calls(tx, lead, now).await?;
    }
    Ok(added)
}

/// Replaces the national registry's numbers with `numbers` (its latest download), in the caller's
/// transaction; the number now listed.
pub async fn replace_national_dnc(tx: &mut Transaction<'_, Postgres>, numbers: &[String]) -> sqlx::Result<u64> {
    sqlx::query!("DELETE FROM do_not_call_numbers WHERE list = 'national'").execute(&mut **tx).await?;
    for chunk in numbers.chunks(10_000) {
        sqlx::query!(
            "INSERT INTO do_not_call_numbers (phone, list) SELECT p, 'national' FROM unnest($1::text[]) AS p
             ON CONFLICT DO NOTHING",
            chunk
        )
        .execute(&mut **tx)
        .await?;
    }
    Ok(sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM do_not_call_numbers WHERE list = 'national'"#)
        .fetch_one(&mut **tx)
        .await? as u64)
}

/// The lender's own list, newest first, and the size of the national list.
pub async fn dnc_lists(db: &sqlx::PgPool) -> sqlx::Result<(Vec<(String, String, DateTime<Utc>)>, i64)> {
    let internal = sqlx::query!(
        "SELECT phone, reason, created_at FROM do_not_call_numbers WHERE list = 'internal' ORDER BY created_at DESC LIMIT 500"
    )
    .fetch_all(db)
    .await?
    .into_iter()
    .map(|r| (r.phone, r.reason, r.created_at))
    .collect();
    let national = sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM do_not_call_numbers WHERE list = 'national'"#)
        .fetch_one(db)
        .await?;
    Ok((internal, national))
}

/// Reads a national registry download (or any list of numbers): one number per line, either ten digits in any
/// punctuation or `area code,number`. All or nothing: the numbers, or every bad line by its number.
pub fn parse_dnc_file(text: &str) -> Result<Vec<String>, Vec<(usize, String)>> {
    let mut numbers = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || (i == 0 && line.chars().any(|c| c.is_ascii_alphabetic())) {
            continue;
        }
        let joined: String = line.split(',').map(str::trim).collect();
        match dnc_number(&joined) {
            Some(n) => numbers.push(n),
            None => bad.push((
                i + 1,
                format!("'{}' is not a ten-digit US phone number", line.chars().take(40).collect::<String>()),
            )),
        }
    }
    if bad.is_empty() { Ok(numbers) } else { Err(bad) }
}

/// The channels a borrower can opt out of.
pub const OPT_OUT_CHANNELS: [(&str, &str); 4] =
    [("call", "Calls"), ("text", "Text messages"), ("email", "Email"), ("all", "All contact")];

/// Someone who may work the lead records that the borrower opted out of `channel` (`via` says how the
/// borrower asked: the lead page, the API), in one transaction with its audit entry: from then on the lead is
/// in no call queue (for calls), gets no call task, and no email (for email). True when it is new.
pub async fn opt_out(state: &AppState, user: &CurrentUser, id: Uuid, channel: &str, via: &str) -> AppResult<bool> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    // The scope first: a lead the caller may not see is not found, whatever the body says.
    lock_lead(&mut tx, user, id).await?;
    if !OPT_OUT_CHANNELS.iter().any(|(c, _)| *c == channel) {
        return Err(AppError::invalid("channel", "must be one of: call, text, email, all"));
    }
    let added = record_opt_out(&mut tx, id, channel, now).await?;
    if added {
        Entry::new(Some(user), "lead.opt_out", "lead", id)
            .after(serde_json::json!({"channel": channel, "via": via}))
            .write(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(added)
}
