//! The names people read for a lead's keys: its stage in its pipeline, its source's record, its loan purpose
//! and credit band. Pages show these, never the keys.

use super::{DEFAULT_PIPELINE, LeadSummary, stage_list};
use std::collections::HashMap;
use std::sync::Arc;

use crate::error::{AppError, AppResult};
use crate::leads::model;
use crate::state::AppState;

/// Lead sources' names by key (pages show names, never keys).
pub async fn source_labels(db: &sqlx::PgPool) -> sqlx::Result<std::collections::HashMap<String, String>> {
    let rows = sqlx::query!("SELECT key, label FROM lead_sources").fetch_all(db).await?;
    Ok(rows.into_iter().map(|r| (r.key, r.label)).collect())
}

/// Every source's name by key, from this instance's copy of at most a minute ago (an edit here clears it at once;
/// other instances pick it up within the minute, as with the stage lists). Kept in the state's extensions.
pub async fn source_labels_kept(state: &AppState) -> AppResult<Arc<HashMap<String, String>>> {
    kept_sources(state)
        .0
        .try_get_with((), async { source_labels(&state.db).await.map(Arc::new) })
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("loading the sources' names: {e}")))
}

/// Forgets this instance's copy of the sources' names (after an admin's edit).
pub async fn sources_changed_here(state: &AppState) {
    kept_sources(state).0.invalidate(&()).await;
}

struct KeptSources(moka::future::Cache<(), Arc<HashMap<String, String>>>);

fn kept_sources(state: &AppState) -> Arc<KeptSources> {
    state.extensions.get_or_insert_with(|| {
        KeptSources(
            moka::future::Cache::builder().max_capacity(1).time_to_live(std::time::Duration::from_secs(60)).build(),
        )
    })
}

/// The managed lost reasons (key, label), active ones only.
pub async fn lost_reasons(db: &sqlx::PgPool) -> sqlx::Result<Vec<(String, String)>> {
    let rows = sqlx::query!("SELECT key, label FROM lost_reasons WHERE active ORDER BY position").fetch_all(db).await?;
    Ok(rows.into_iter().map(|r| (r.key, r.label)).collect())
}

/// A source's name, or its key when it has no record.
pub async fn source_name(db: &sqlx::PgPool, key: &str) -> sqlx::Result<String> {
    let label = sqlx::query_scalar!("SELECT label FROM lead_sources WHERE key = $1", key).fetch_optional(db).await?;
    Ok(label.unwrap_or_else(|| key.to_string()))
}

/// A lead's keys as names.
#[derive(Debug, Clone, Default)]
pub struct LeadNames {
    pub stage: String,
    pub source: String,
    pub purpose: String,
    pub credit_band: String,
}

/// The names of one lead's keys: the stage from this instance's copy of the pipeline (at most a minute old),
/// the source from its record (its key when it has none).
pub async fn lead_names(state: &AppState, lead: &LeadSummary) -> AppResult<LeadNames> {
    let stages = stage_list(state, DEFAULT_PIPELINE).await?;
    let source = source_name(&state.db, &lead.source).await?;
    let label = |list: &[(&str, &str)], v: &Option<String>| {
        v.as_deref().map(|k| model::label_of(list, k).to_string()).unwrap_or_default()
    };
    Ok(LeadNames {
        stage: stages.iter().find(|s| s.key == lead.stage).map(|s| s.label.clone()).unwrap_or(lead.stage.clone()),
        source,
        purpose: label(&model::LOAN_PURPOSES, &lead.loan_purpose),
        credit_band: label(&model::CREDIT_BANDS, &lead.credit_band),
    })
}
