//! The answers of the metrics API (`/api/v1/metrics/*`, `/api/v1/spend`) as types, for the published contract.
//! The rows come from `dashboard` and `store`, which serialise them; the `*Schema` types here describe those
//! rows for the contract (`tests/openapi.rs` checks real answers against them, so a row that changes shape
//! without its schema fails there).

use std::collections::HashMap;

use chrono::NaiveDate;
use serde::Serialize;

use super::dashboard::{FunnelRow, LostRow, RoiRow, SpeedRow};
use super::model::Roi;
use super::store::SourceSpend;

/// The metrics API's query parameters (`GET /api/v1/metrics/*`).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MetricsParams {
    /// First day, `YYYY-MM-DD` in the organisation's time zone (default: 30 days before `to`).
    pub from: Option<String>,
    /// The day after the last, `YYYY-MM-DD` (exclusive; default: tomorrow). At most ten years after `from`.
    pub to: Option<String>,
    /// A team's id.
    pub team: Option<String>,
    /// A loan officer's id.
    pub lo: Option<String>,
    /// A lead source key.
    pub source: Option<String>,
    /// A campaign key.
    pub campaign: Option<String>,
    /// The property's state (two letters).
    pub state: Option<String>,
    /// The loan purpose.
    pub purpose: Option<String>,
    /// The funnel's rows: `team` (default), `lo` or `source`.
    pub group_by: Option<String>,
    /// `base`: compute from the base tables rather than the rollups (checking and benchmarking).
    pub figures: Option<String>,
}

/// `GET /api/v1/metrics/funnel`: leads reaching each won-path stage in the range, by `group_by`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct FunnelAnswer {
    pub from: NaiveDate,
    /// Exclusive.
    pub to: NaiveDate,
    /// `team`, `lo` or `source`.
    pub group_by: String,
    /// The won path's stage keys, in order (the keys of each row's `reached` and `conversion`).
    pub stages: Vec<&'static str>,
    #[schema(value_type = Vec<FunnelRowSchema>)]
    pub rows: Vec<FunnelRow>,
}

/// One row of the funnel: a team, a loan officer or a source.
#[derive(utoipa::ToSchema)]
#[schema(as = FunnelRow)]
pub struct FunnelRowSchema {
    pub key: String,
    pub label: String,
    /// The leads (or, by `lo`, the assignments) of the range.
    pub cohort: i64,
    /// By stage key: how many of the cohort reached it.
    pub reached: HashMap<String, i64>,
    /// By stage key: the conversion into it.
    pub conversion: HashMap<String, ConversionSchema>,
}

/// A funnel step's conversion, percent (null without a denominator), with the cumulative rate's 95% interval.
#[derive(utoipa::ToSchema)]
#[schema(as = FunnelConversion)]
pub struct ConversionSchema {
    pub step: Option<f64>,
    pub cumulative: Option<f64>,
    pub cumulative_low: Option<f64>,
    pub cumulative_high: Option<f64>,
}

/// `GET /api/v1/metrics/speed-to-lead`: the whole cohort's figures and each loan officer's.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SpeedAnswer {
    pub from: NaiveDate,
    pub to: NaiveDate,
    #[schema(value_type = SpeedRowSchema)]
    pub total: SpeedRow,
    #[schema(value_type = Vec<SpeedRowSchema>)]
    pub rows: Vec<SpeedRow>,
}

/// Speed-to-lead, contact and talk figures of one loan officer (or the whole cohort); rates are percents.
#[derive(utoipa::ToSchema)]
#[schema(as = SpeedRow)]
pub struct SpeedRowSchema {
    pub key: String,
    pub label: String,
    pub assigned: i64,
    pub called: i64,
    /// Assignments reached by phone.
    pub contacted: i64,
    /// The median time to the first call, as shown ("4m", "—").
    pub median: String,
    pub p90: String,
    pub median_bucket_max_seconds: Option<i64>,
    pub p90_bucket_max_seconds: Option<i64>,
    pub within_5_min_pct: Option<f64>,
    pub contact_rate_pct: Option<f64>,
    pub attempts_before_contact: Option<f64>,
    pub never_called_twice_pct: Option<f64>,
    pub talk_seconds: i64,
    pub talk_per_lead_seconds: Option<i64>,
    pub talk_per_funded_seconds: Option<i64>,
    pub application_rate_pct: Option<f64>,
    /// The contact rate's 95% Wilson interval, `[low, high]` percent.
    #[schema(value_type = Option<Vec<f64>>)]
    pub contact_interval: Option<(f64, f64)>,
    /// The application rate's 95% Wilson interval, `[low, high]` percent.
    #[schema(value_type = Option<Vec<f64>>)]
    pub application_interval: Option<(f64, f64)>,
    pub funded: i64,
    /// Much talk, little conversion, against the other loan officers.
    pub flagged: bool,
}

/// `GET /api/v1/metrics/lost-reasons`: lost leads by reason, by the furthest stage reached and by loan officer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LostAnswer {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The won path's stage keys, in order (the positions of each row's `by_stage`).
    pub stages: Vec<&'static str>,
    #[schema(value_type = Vec<LostRowSchema>)]
    pub rows: Vec<LostRow>,
    /// The names of the loan officers (by id) of the rows' `by_lo`.
    pub lo_names: HashMap<String, String>,
}

/// The leads lost for one reason.
#[derive(utoipa::ToSchema)]
#[schema(as = LostRow)]
pub struct LostRowSchema {
    /// The reason's key (`unspecified` when none was given).
    pub reason: String,
    pub label: String,
    pub total: i64,
    /// By the furthest won-path stage reached before the loss (index = the stage's position in `stages`).
    pub by_stage: Vec<i64>,
    /// By the id of the loan officer who lost the lead.
    pub by_lo: HashMap<String, i64>,
}

/// `GET /api/v1/metrics/roi`: return on lead spend by source, and by campaign.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RoiAnswer {
    pub from: NaiveDate,
    pub to: NaiveDate,
    #[schema(value_type = Vec<RoiRowSchema>)]
    pub rows: Vec<RoiRow>,
    #[schema(value_type = Vec<RoiRowSchema>)]
    pub campaigns: Vec<RoiRow>,
}

/// The return on a source, or on one campaign under it: the `Roi` figures and which source (campaign) it is.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = RoiRow)]
pub struct RoiRowSchema {
    pub source: String,
    /// The campaign (campaign rows only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    pub label: String,
    #[serde(flatten)]
    pub roi: Roi,
}

/// `GET /api/v1/spend`: the newest 500 spend entries.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SpendList {
    #[schema(value_type = Vec<SpendEntrySchema>)]
    pub spend: Vec<SourceSpend>,
}

/// One month's spend on a source, or on one of its campaigns.
#[derive(utoipa::ToSchema)]
#[schema(as = SpendEntry)]
pub struct SpendEntrySchema {
    pub source: String,
    /// The source's name.
    pub label: String,
    /// The campaign's key; empty for the whole source.
    pub campaign: String,
    /// The month's first day.
    pub month: NaiveDate,
    pub spend_cents: i64,
}

/// `PUT /api/v1/spend`: the entry as saved, and the month's amount before.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SpendSaved {
    pub source: String,
    /// Empty for the whole source.
    pub campaign: String,
    /// `YYYY-MM`.
    pub month: String,
    pub amount_cents: i64,
    /// The amount before (null: there was none).
    pub before_cents: Option<i64>,
}
