//! Writing new leads in bulk (an import's batch, the API's leads created together): the lead rows and their
//! consents in a few statements, whatever the number of leads. The caller records their creation
//! ([`crate::leads::lifecycle::record_created`]) in the same transaction.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::leads::lifecycle::FirstOwner;
use crate::leads::model::{self, LeadFields};

/// A new lead's id: a time-ordered UUID (version 7), so each new lead's entries in the leads' primary key and in
/// every index on a lead id (activities, stage changes, assignments, metric contributions, jobs' leads…) land
/// at the right-hand edge of the index, on pages already in memory, instead of on a random page of an index of a
/// million entries: fewer pages read, and after each checkpoint fewer pages written whole to the WAL (issue 22;
/// the README's fifteenth reading). The id says when the lead was created, which anyone who may see it can read
/// on the lead anyway.
pub fn new_lead_id() -> Uuid {
    Uuid::now_v7()
}

/// A lead to write: its new id, its checked fields and the portfolio loan that referred it, if any.
pub struct NewLead<'a> {
    pub id: Uuid,
    pub fields: &'a LeadFields,
    pub referred_by: Option<Uuid>,
}

/// Inserts `rows` as leads in stage `new` (given to `owner` from their first moment when there is one), with
/// their consents.
pub async fn insert_many(
    tx: &mut Transaction<'_, Postgres>,
    rows: &[NewLead<'_>],
    owner: Option<&FirstOwner<'_>>,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    macro_rules! col {
        ($f:ident) => {
            rows.iter().map(|r| r.fields.$f.clone()).collect::<Vec<_>>()
        };
    }
    let referred_by: Vec<Option<Uuid>> = rows.iter().map(|r| r.referred_by).collect();
    let partners: Vec<Option<Uuid>> = rows.iter().map(|r| r.fields.referral_partner_id).collect();
    let (lo, team) = (owner.map(|o| o.lo), owner.and_then(|o| o.team));
    let assigned_at = lo.map(|_| now);
    sqlx::query(
        "INSERT INTO leads (id, pipeline_id, stage, first_name, last_name, email, phone, property_state, property_zip,
             loan_purpose, loan_amount_cents, property_value_cents, credit_band, occupancy, property_type, rate_quoted,
             source, campaign, vendor, cost_cents, external_id, loan_number, referred_by_loan_id, assigned_lo_id,
             team_id, assigned_at, stage_changed_at, created_at, updated_at, referral_partner_id)
         SELECT t.id, $20, 'new', t.first_name, t.last_name, t.email, t.phone, t.property_state, t.property_zip,
             t.loan_purpose, t.loan_amount_cents, t.property_value_cents, t.credit_band, t.occupancy, t.property_type,
             t.rate_milli / 1000.0, t.source, t.campaign, t.vendor, t.cost_cents, t.external_id, t.loan_number,
             t.referred_by, $21, $22, $23, $24, $24, $24, t.partner
         FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                     $9::bigint[], $10::bigint[], $11::text[], $12::text[], $13::text[], $14::int4[], $15::text[],
                     $16::text[], $17::text[], $18::bigint[], $19::text[], $25::text[], $26::uuid[], $27::uuid[])
           AS t(id, first_name, last_name, email, phone, property_state, property_zip, loan_purpose,
                loan_amount_cents, property_value_cents, credit_band, occupancy, property_type, rate_milli, source,
                campaign, vendor, cost_cents, external_id, loan_number, referred_by, partner)",
    )
    .bind(&ids)
    .bind(col!(first_name))
    .bind(col!(last_name))
    .bind(col!(email))
    .bind(col!(phone))
    .bind(col!(property_state))
    .bind(col!(property_zip))
    .bind(col!(loan_purpose))
    .bind(col!(loan_amount_cents))
    .bind(col!(property_value_cents))
    .bind(col!(credit_band))
    .bind(col!(occupancy))
    .bind(col!(property_type))
    .bind(col!(rate_quoted_milli))
    .bind(col!(source))
    .bind(col!(campaign))
    .bind(col!(vendor))
    .bind(col!(cost_cents))
    .bind(col!(external_id))
    .bind(super::DEFAULT_PIPELINE)
    .bind(lo)
    .bind(team)
    .bind(assigned_at)
    .bind(now)
    .bind(col!(loan_number))
    .bind(&referred_by)
    .bind(&partners)
    .execute(&mut **tx)
    .await?;
    let with_consent: Vec<(Uuid, &model::Consent)> =
        rows.iter().filter_map(|r| r.fields.consent.as_ref().map(|c| (r.id, c))).collect();
    if !with_consent.is_empty() {
        let cid: Vec<Uuid> = with_consent.iter().map(|c| c.0).collect();
        let channel: Vec<String> = with_consent.iter().map(|c| c.1.channel.clone()).collect();
        let text: Vec<String> = with_consent.iter().map(|c| c.1.text.clone()).collect();
        let at: Vec<Option<DateTime<Utc>>> = with_consent.iter().map(|c| c.1.captured_at).collect();
        let page: Vec<Option<String>> = with_consent.iter().map(|c| c.1.source_page.clone()).collect();
        let token: Vec<Option<String>> = with_consent.iter().map(|c| c.1.token.clone()).collect();
        sqlx::query(
            "INSERT INTO lead_consents (lead_id, channel, consent_text, captured_at, source_page, token)
             SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[])",
        )
        .bind(&cid)
        .bind(&channel)
        .bind(&text)
        .bind(&at)
        .bind(&page)
        .bind(&token)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
