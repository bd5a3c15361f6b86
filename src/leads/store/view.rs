//! A lead as the JSON API shows it: one typed shape, which is also its published schema (`/api/v1/openapi.json`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::Lead;
use crate::leads::model;

/// A lead as the API shows it: money in cents, the quoted rate as a decimal percent, times in RFC 3339 (UTC).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Lead)]
pub struct LeadView {
    pub id: Uuid,
    /// The pipeline stage's key (`new`, `contacted`, ..., `funded`, `lost`).
    pub stage: String,
    /// Send it back with a change (PATCH, stage): a change based on an older version is refused with 409.
    pub version: i32,
    pub assigned_lo: Option<AssignedLo>,
    pub team_id: Option<Uuid>,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub property_state: Option<String>,
    pub property_zip: Option<String>,
    pub loan_purpose: Option<String>,
    pub loan_amount_cents: Option<i64>,
    pub property_value_cents: Option<i64>,
    /// Loan to value in basis points, when both amounts are known.
    pub ltv_bps: Option<i64>,
    pub credit_band: Option<String>,
    pub occupancy: Option<String>,
    pub property_type: Option<String>,
    /// A decimal percent, e.g. `6.875`.
    #[schema(value_type = Option<f64>)]
    pub rate_quoted: Option<serde_json::Number>,
    pub source: String,
    pub campaign: Option<String>,
    pub vendor: Option<String>,
    pub cost_cents: i64,
    pub external_id: Option<String>,
    pub loan_number: Option<String>,
    pub referred_by_loan_number: Option<String>,
    pub referral_partner_id: Option<Uuid>,
    pub referral_partner: Option<String>,
    pub lost_reason: Option<String>,
    pub duplicate_of: Option<Uuid>,
    pub first_call_at: Option<DateTime<Utc>>,
    pub first_contact_at: Option<DateTime<Utc>>,
    pub last_activity_at: Option<DateTime<Utc>>,
    pub stage_changed_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The loan officer a lead is assigned to.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AssignedLo {
    pub id: Uuid,
    pub email: String,
    pub name: String,
}

impl Lead {
    /// The lead as the API shows it.
    pub fn view(&self) -> LeadView {
        let rate = self.rate_quoted_milli.and_then(|m| model::format_rate(m).parse::<serde_json::Number>().ok());
        let assigned_lo = match (self.assigned_lo_id, &self.assigned_lo_email, &self.assigned_lo_name) {
            (Some(id), Some(email), Some(name)) => Some(AssignedLo { id, email: email.clone(), name: name.clone() }),
            _ => None,
        };
        let l = self.clone();
        LeadView {
            id: l.id,
            stage: l.stage,
            version: l.version,
            assigned_lo,
            team_id: l.team_id,
            first_name: l.first_name,
            last_name: l.last_name,
            email: l.email,
            phone: l.phone,
            property_state: l.property_state,
            property_zip: l.property_zip,
            loan_purpose: l.loan_purpose,
            loan_amount_cents: l.loan_amount_cents,
            property_value_cents: l.property_value_cents,
            ltv_bps: self.ltv_bps(),
            credit_band: l.credit_band,
            occupancy: l.occupancy,
            property_type: l.property_type,
            rate_quoted: rate,
            source: l.source,
            campaign: l.campaign,
            vendor: l.vendor,
            cost_cents: l.cost_cents,
            external_id: l.external_id,
            loan_number: l.loan_number,
            referred_by_loan_number: l.referred_by_loan_number,
            referral_partner_id: l.referral_partner_id,
            referral_partner: l.referral_partner,
            lost_reason: l.lost_reason,
            duplicate_of: l.duplicate_of,
            first_call_at: l.first_call_at,
            first_contact_at: l.first_contact_at,
            last_activity_at: l.last_activity_at,
            stage_changed_at: l.stage_changed_at,
            created_at: l.created_at,
            updated_at: l.updated_at,
        }
    }
}
