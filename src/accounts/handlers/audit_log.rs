//! The admin's audit log page, filtered and paged by id (keyset). The log itself is `crate::audit`.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::response::IntoResponse;
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::auth::{CurrentUser, PageCtx, Role};
use crate::error::AppResult;
use crate::state::AppState;
use crate::web::Routes;

pub fn router() -> Routes {
    Routes::new().route("/admin/audit", &["GET"], get(page))
}

#[derive(Debug, Default, Deserialize)]
pub struct AuditFilter {
    #[serde(default)]
    pub actor: String,
    #[serde(default)]
    pub entity: String,
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub entity_id: String,
    pub before: Option<i64>,
}

pub struct AuditRow {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    pub actor_label: String,
    pub action: String,
    pub entity: String,
    pub entity_id: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub request_id: String,
    pub client_addr: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "audit/list.html")]
struct AuditPage {
    ctx: PageCtx,
    f: AuditFilter,
    rows: Vec<AuditRow>,
    next: Option<i64>,
}

impl AuditPage {
    fn json(v: &Option<serde_json::Value>) -> String {
        v.as_ref().map(|v| v.to_string()).unwrap_or_default()
    }
}

async fn page(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Query(f): Query<AuditFilter>,
) -> AppResult<impl IntoResponse> {
    user.require(&[Role::Admin])?;
    let rows = sqlx::query_as!(
        AuditRow,
        r#"SELECT id, created_at, actor_label, action, entity, entity_id, before, after, request_id, client_addr
           FROM audit_log
           WHERE ($1 = '' OR actor_label ILIKE '%' || $1 || '%')
             AND ($2 = '' OR entity = $2) AND ($3 = '' OR action = $3) AND ($4 = '' OR entity_id = $4)
             AND ($5::bigint IS NULL OR id < $5)
           ORDER BY id DESC LIMIT 101"#,
        f.actor,
        f.entity,
        f.action,
        f.entity_id,
        f.before
    )
    .fetch_all(&state.db)
    .await?;
    let mut rows = rows;
    let next = if rows.len() > 100 {
        rows.truncate(100);
        rows.last().map(|r| r.id)
    } else {
        None
    };
    Ok(AuditPage { ctx, f, rows, next })
}
