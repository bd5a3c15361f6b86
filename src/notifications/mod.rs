//! In-app notifications: the bell in the header, for requesters and approvers.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::auth::CurrentUser;
use crate::auth::PageCtx;
use crate::error::AppResult;
use crate::events::{Event, Notice};
use crate::state::AppState;
use crate::web::Routes;

pub fn router() -> Routes {
    Routes::new()
        .route("/notifications", &["GET"], get(list))
        .route("/notifications/unread", &["GET"], get(unread))
        .route("/notifications/{id}/read", &["POST"], post(mark_read))
}

pub use crate::auth::store::unread_count;

/// The domain-event subscriber: a [`Event::Notify`] or [`Event::NotifyEach`] becomes bell notifications, in the
/// emitting transaction.
pub fn on_event<'a, 'c, 'e>(
    tx: &'a mut Transaction<'c, Postgres>,
    event: &'a Event<'e>,
) -> futures_util::future::BoxFuture<'a, AppResult<()>> {
    Box::pin(async move {
        if let Some((kind, notices)) = event.notices() {
            notify_each(tx, kind, &notices).await?;
        }
        Ok(())
    })
}

/// Bell notifications of one kind, each person's own, in one statement.
pub async fn notify_each(tx: &mut Transaction<'_, Postgres>, kind: &str, notices: &[Notice]) -> sqlx::Result<()> {
    if notices.is_empty() {
        return Ok(());
    }
    let users: Vec<Uuid> = notices.iter().map(|n| n.user_id).collect();
    let titles: Vec<&str> = notices.iter().map(|n| n.title.as_str()).collect();
    let links: Vec<&str> = notices.iter().map(|n| n.link.as_str()).collect();
    sqlx::query!(
        "INSERT INTO notifications (user_id, kind, title, link)
         SELECT u, $2, t, l FROM UNNEST($1::uuid[], $3::text[], $4::text[]) AS x(u, t, l)",
        &users,
        kind,
        &titles as &[&str],
        &links as &[&str]
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub struct NotificationRow {
    pub id: i64,
    pub title: String,
    pub link: String,
    pub read: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Template, WebTemplate)]
#[template(path = "notifications/list.html")]
struct ListPage {
    ctx: PageCtx,
    items: Vec<NotificationRow>,
}

async fn list(user: CurrentUser, ctx: PageCtx, State(state): State<AppState>) -> AppResult<impl IntoResponse> {
    let items = sqlx::query_as!(
        NotificationRow,
        r#"SELECT id, title, link, read_at IS NOT NULL AS "read!", created_at FROM notifications
           WHERE user_id = $1 ORDER BY created_at DESC LIMIT 100"#,
        user.id
    )
    .fetch_all(&state.db)
    .await?;
    Ok(ListPage { ctx, items })
}

/// `GET /notifications/unread` → `{"unread": n}`: what the bell's script asks every few seconds, so the
/// count changes without a reload. The script marks its requests as background polls, which do not keep an
/// idle session alive.
async fn unread(user: CurrentUser, State(state): State<AppState>) -> AppResult<impl IntoResponse> {
    let n = unread_count(&state.db, user.id).await?;
    Ok(([(axum::http::header::CACHE_CONTROL, "no-store")], axum::Json(serde_json::json!({ "unread": n }))))
}

async fn mark_read(
    user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> AppResult<impl IntoResponse> {
    let link = sqlx::query_scalar!(
        "UPDATE notifications SET read_at = coalesce(read_at, now()) WHERE id = $1 AND user_id = $2 RETURNING link",
        id,
        user.id
    )
    .fetch_optional(&state.db)
    .await?
    .ok_or(crate::error::AppError::NotFound)?;
    // The bell on the page this opens counts it at once here (other instances forget on the trigger's notification).
    crate::auth::session_cache::person_changed_here(&state, user.id);
    let target = if link.starts_with('/') && !link.starts_with("//") { link } else { "/notifications".into() };
    Ok(Redirect::to(&target))
}
