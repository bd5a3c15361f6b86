//! The availability board: who can take leads now, and managers setting an LO's status.

use super::*;

/// LOs this user may assign to: all active LOs (admins) or those in the teams they manage.
pub(crate) async fn assignable_officers(db: &sqlx::PgPool, user: &CurrentUser) -> AppResult<Vec<Choice>> {
    let (all, lo, teams) = user.scope().roster_binds();
    let rows = sqlx::query!(
        "SELECT u.id, u.name, u.email FROM users u WHERE u.originator AND u.active
           AND ($1 OR u.id = $2 OR u.team_id = ANY($3)) ORDER BY u.name",
        all,
        lo,
        &teams
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| Choice { id: r.id, label: format!("{} ({})", r.name, r.email) }).collect())
}

pub(crate) async fn assignable_teams(db: &sqlx::PgPool, user: &CurrentUser) -> AppResult<Vec<Choice>> {
    let (all, _, teams) = user.scope().roster_binds();
    let rows = sqlx::query!("SELECT id, name FROM teams WHERE $1 OR id = ANY($2) ORDER BY name", all, &teams)
        .fetch_all(db)
        .await?;
    Ok(rows.into_iter().map(|r| Choice { id: r.id, label: r.name }).collect())
}

// ---- Availability board -------------------------------------------------------------------------------------

pub use crate::routing::store::BoardRow;

impl BoardRow {
    pub fn compliance(&self) -> String {
        if self.cadence_due == 0 { "—".into() } else { format!("{}%", self.cadence_done * 100 / self.cadence_due) }
    }
    pub fn away_with_new(&self) -> bool {
        self.status != "available" && self.new_waiting > 0
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "routing/availability.html")]
pub(crate) struct AvailabilityPage {
    ctx: PageCtx,
    rows: Vec<BoardRow>,
    queue_waiting: i64,
    now: chrono::DateTime<chrono::Utc>,
}

impl AvailabilityPage {
    fn any_away(&self) -> bool {
        self.rows.iter().any(BoardRow::away_with_new)
    }
    fn age(&self, t: &Option<chrono::DateTime<chrono::Utc>>) -> String {
        match t {
            None => "—".into(),
            Some(t) => {
                let m = (self.now - *t).num_minutes().max(0);
                if m < 60 {
                    format!("{m} min")
                } else if m < 2880 {
                    format!("{} h", m / 60)
                } else {
                    format!("{} days", m / 1440)
                }
            }
        }
    }
}

pub(crate) async fn availability_page(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
) -> AppResult<impl IntoResponse> {
    user.require(&[Role::Admin, Role::Manager])?;
    let now = state.clock.now();
    let rows = rstore::availability_board(&state.db, &user.scope(), now).await?;
    let queue_waiting = rstore::queue_waiting(&state.db, &user.scope()).await?;
    Ok(AvailabilityPage { ctx, rows, queue_waiting, now })
}

#[derive(Deserialize)]
pub(crate) struct StatusForm {
    status: String,
}

pub(crate) async fn set_status(
    user: CurrentUser,
    session: Session,
    State(state): State<AppState>,
    Path(lo_id): Path<Uuid>,
    Form(f): Form<StatusForm>,
) -> AppResult<Response> {
    user.require(&[Role::Admin, Role::Manager])?;
    if !matches!(f.status.as_str(), "available" | "away" | "offline") {
        return Err(AppError::invalid("status", "Choose available, away or offline."));
    }
    let lo = rstore::lo_by_id(&state.db, lo_id).await?.filter(|l| l.role == "lo").ok_or(AppError::NotFound)?;
    if !user.manages_team_of(lo.team_id) {
        return Err(AppError::NotFound);
    }
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let before = sqlx::query_scalar!("SELECT status FROM lo_profiles WHERE user_id = $1 FOR UPDATE", lo_id)
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query!(
        "UPDATE lo_profiles SET status = $2, status_changed_at = $3, updated_at = $3 WHERE user_id = $1",
        lo_id,
        f.status,
        now
    )
    .execute(&mut *tx)
    .await?;
    Entry::new(Some(&user), "lo.status", "user", lo_id)
        .before(json!({"status": before}))
        .after(json!({"status": f.status}))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Flash::push(&session, "success", format!("{} is now {}.", lo.name, f.status)).await;
    Ok(Redirect::to("/availability").into_response())
}

// ---- Reassignment ------------------------------------------------------------------------------------------
