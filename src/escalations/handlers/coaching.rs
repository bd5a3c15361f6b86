//! Coaching: the LOs whose pricing exceptions or talk time call for a review.

use super::*;

#[derive(Template, WebTemplate)]
#[template(path = "escalations/coaching.html")]
pub(crate) struct CoachingPage {
    ctx: PageCtx,
    officers: Vec<LoMetrics>,
    errors: FieldErrors,
    form: CoachingForm,
}

impl CoachingPage {
    fn err(&self, f: &str) -> &str {
        self.errors.get(f).unwrap_or("")
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct CoachingForm {
    #[serde(default)]
    lo_id: String,
    #[serde(default)]
    notes: String,
    #[serde(default)]
    follow_up_on: String,
}

pub(crate) async fn coaching(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
) -> AppResult<impl IntoResponse> {
    user.require(&[Role::Manager, Role::Admin])?;
    let officers = store::lo_metrics(&state, &user, None).await?;
    Ok(CoachingPage { ctx, officers, errors: FieldErrors::new(), form: CoachingForm::default() })
}

/// Whether the user coaches this LO: their manager, or an admin.
pub(crate) fn coaches(user: &CurrentUser, lo_team: Option<Uuid>) -> bool {
    user.manages_team_of(lo_team)
}

pub(crate) async fn open_coaching(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    axum::Form(form): axum::Form<CoachingForm>,
) -> AppResult<Response> {
    user.require(&[Role::Manager, Role::Admin])?;
    let mut errors = FieldErrors::new();
    let lo = match Uuid::parse_str(form.lo_id.trim()) {
        Ok(id) => match store::lo_basics(&state.db, id).await? {
            Some((_, team)) if coaches(&user, team) => Some(id),
            _ => {
                errors.add("lo_id", "Choose a loan officer on your teams.");
                None
            }
        },
        Err(_) => {
            errors.add("lo_id", "Choose a loan officer.");
            None
        }
    };
    let follow_up = match form.follow_up_on.trim() {
        "" => None,
        s => match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            Ok(d) if d >= state.clock.now().date_naive() => Some(d),
            Ok(_) => {
                errors.add("follow_up_on", "The follow-up date cannot be in the past.");
                None
            }
            Err(_) => {
                errors.add("follow_up_on", "Enter the date as YYYY-MM-DD.");
                None
            }
        },
    };
    if form.notes.trim().is_empty() || form.notes.len() > 8000 {
        errors.add("notes", "Write your coaching notes (up to 8,000 characters).");
    }
    let Some(lo_id) = lo.filter(|_| errors.is_empty()) else {
        let officers = store::lo_metrics(&state, &user, None).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, CoachingPage { ctx, officers, errors, form }).into_response());
    };
    let snapshot = store::lo_metrics(&state, &user, Some(lo_id)).await?.into_iter().next().unwrap_or_default();
    let metrics = serde_json::to_value(&snapshot).unwrap_or_default();
    let mut tx = state.db.begin().await?;
    let id = store::insert_coaching(&mut tx, lo_id, user.id, &metrics, form.notes.trim(), follow_up).await?;
    Entry::new(Some(&user), "coaching.create", "coaching_review", id)
        .after(serde_json::json!({"lo_id": lo_id, "metrics": metrics, "follow_up_on": follow_up}))
        .write(&mut *tx)
        .await?;
    crate::events::notify(
        &mut tx,
        lo_id,
        "coaching.created",
        &format!("{} opened a coaching review with you", user.name),
        &format!("/coaching/lo/{lo_id}"),
    )
    .await?;
    tx.commit().await?;
    Flash::push(&session, "success", "Coaching review saved.").await;
    Ok(Redirect::to(&format!("/coaching/lo/{lo_id}")).into_response())
}

pub struct CoachingView {
    pub manager_name: String,
    pub metrics: LoMetrics,
    pub notes: String,
    pub follow_up_on: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Template, WebTemplate)]
#[template(path = "escalations/coaching_lo.html")]
pub(crate) struct CoachingLoPage {
    ctx: PageCtx,
    lo_name: String,
    reviews: Vec<CoachingView>,
}

pub(crate) async fn coaching_lo(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Path(lo_id): Path<Uuid>,
) -> AppResult<impl IntoResponse> {
    let (lo_name, team) = store::lo_basics(&state.db, lo_id).await?.ok_or(AppError::NotFound)?;
    if user.id != lo_id && !coaches(&user, team) {
        return Err(AppError::NotFound);
    }
    let reviews = store::coaching_for(&state.db, lo_id)
        .await?
        .into_iter()
        .map(|c| CoachingView {
            manager_name: c.manager_name,
            metrics: serde_json::from_value(c.metrics).unwrap_or_default(),
            notes: c.notes,
            follow_up_on: c.follow_up_on.map(|d| d.to_string()).unwrap_or_else(|| "—".into()),
            created_at: c.created_at,
        })
        .collect();
    Ok(CoachingLoPage { ctx, lo_name, reviews })
}
