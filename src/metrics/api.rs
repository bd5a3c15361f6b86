//! The answers of the metrics API (`/api/v1/metrics/*`, `/api/v1/spend`) as types, for the published contract.
//! The rows are `dashboard`'s and `store`'s own types, whose schemas come from the same fields that serialise
//! them (`tests/openapi.rs` also checks real answers against the document).

use std::collections::HashMap;

use chrono::NaiveDate;
use serde::Serialize;

use super::dashboard::{FunnelRow, LostRow, RoiRow, SpeedRow};
use super::store::SourceSpend;

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
    pub rows: Vec<FunnelRow>,
}

/// `GET /api/v1/metrics/speed-to-lead`: the whole cohort's figures and each loan officer's.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SpeedAnswer {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub total: SpeedRow,
    pub rows: Vec<SpeedRow>,
}

/// `GET /api/v1/metrics/lost-reasons`: lost leads by reason, by the furthest stage reached and by loan officer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LostAnswer {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The won path's stage keys, in order (the positions of each row's `by_stage`).
    pub stages: Vec<&'static str>,
    pub rows: Vec<LostRow>,
    /// The names of the loan officers (by id) of the rows' `by_lo`.
    pub lo_names: HashMap<String, String>,
}

/// `GET /api/v1/metrics/roi`: return on lead spend by source, and by campaign.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RoiAnswer {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub rows: Vec<RoiRow>,
    pub campaigns: Vec<RoiRow>,
}

/// `GET /api/v1/spend`: the newest 500 spend entries.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SpendList {
    pub spend: Vec<SourceSpend>,
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
