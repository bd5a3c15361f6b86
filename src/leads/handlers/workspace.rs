//! The LO's pages: My day, the lead list and the new-lead form.

use super::*;

#[derive(Template, WebTemplate)]
#[template(path = "leads/my_day.html")]
pub(crate) struct MyDayPage {
    ctx: PageCtx,
    queue: Vec<QueueView>,
    overdue_tasks: usize,
}

pub(crate) struct QueueView {
    id: Uuid,
    name: String,
    phone: String,
    stage: String,
    source: String,
    purpose: String,
    reason: &'static str,
    waiting: String,
}

pub(crate) async fn my_day(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
) -> AppResult<impl IntoResponse> {
    user.require(&[Role::Lo, Role::Manager, Role::Admin])?;
    let now = state.clock.now();
    let (entries, stages, sources) = tokio::try_join!(
        store::call_queue(&state, &user),
        store::stage_list(&state, store::DEFAULT_PIPELINE),
        async { Ok(store::source_labels(&state.db).await?) },
    )?;
    let stage_label =
        |k: &str| stages.iter().find(|s| s.key == k).map(|s| s.label.clone()).unwrap_or_else(|| k.to_string());
    let queue = entries
        .into_iter()
        .map(|e| QueueView {
            id: e.id,
            name: format!("{} {}", e.first_name, e.last_name).trim().to_string(),
            phone: e.phone.unwrap_or_default(),
            stage: stage_label(&e.stage),
            source: sources.get(&e.source).cloned().unwrap_or(e.source),
            purpose: e.loan_purpose.map(|p| model::label_of(&model::LOAN_PURPOSES, &p).to_string()).unwrap_or_default(),
            reason: e.reason.map(|r| r.label()).unwrap_or(""),
            waiting: age(&e.since, now),
        })
        .collect();
    let overdue_tasks = store::open_tasks(&state, &user, true).await?.len();
    Ok(MyDayPage { ctx, queue, overdue_tasks })
}

#[derive(Template, WebTemplate)]
#[template(path = "leads/list.html")]
pub(crate) struct ListPage {
    ctx: PageCtx,
    f: LeadFilter,
    rows: Vec<store::LeadRow>,
    next: Option<String>,
    query: String,
    stages: Vec<Opt>,
    purposes: Vec<Opt>,
    ages: Vec<Opt>,
    officers: Vec<Opt>,
    sorts: Vec<Opt>,
    /// Drill-down filters the form has no input for, kept as hidden fields.
    hidden: Vec<(&'static str, String)>,
    /// "N" and whether it is exactly one (None when the filter was refused).
    /// The total's number and the words after it ("12" "assignments of 11 leads").
    total: Option<(String, String)>,
    /// Why the filter was refused (422), naming the parameter.
    error: String,
    /// Marketing's list: no names, contact details or links to the leads.
    anonymous: bool,
    /// Whether the user may email the leads the filter finds (a bulk send: LOs, managers, admins).
    bulk_send: bool,
}

impl ListPage {
    fn money(&self, c: &Option<i64>) -> String {
        money(c)
    }
    fn when(&self, t: &DateTime<Utc>) -> String {
        crate::web::format::local_date(t)
    }
    fn purpose(&self, p: &Option<String>) -> String {
        p.as_deref().map(|p| model::label_of(&model::LOAN_PURPOSES, p).to_string()).unwrap_or_default()
    }
}

pub(crate) async fn list(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> AppResult<Response> {
    let (f, errors) = LeadFilter::from_pairs(&pairs);
    // A filter the list does not understand is never dropped silently: the page says which, with 422.
    let valid = errors.is_empty();
    let listing = async {
        if valid {
            let (listed, total, facts) = store::list_with_total(&state, &user, &f).await?;
            Ok::<_, AppError>(Some((listed, total_words(total, facts))))
        } else {
            Ok(None)
        }
    };
    // Independent reads, run side by side.
    let (listing, stages, officers) =
        tokio::try_join!(listing, store::stage_list(&state, store::DEFAULT_PIPELINE), async {
            Ok(store::visible_officers(&state.db, &user).await?)
        },)?;
    let ((rows, next), total) = match listing {
        Some((listed, total)) => (listed, Some(total)),
        None => ((Vec::new(), None), None),
    };
    let stage_list: Vec<(String, String)> = stages.iter().map(|s| (s.key.clone(), s.label.clone())).collect();
    let officers: Vec<(String, String)> = officers.into_iter().map(|(id, n)| (id.to_string(), n)).collect();
    let error = if valid {
        String::new()
    } else {
        let fields: Vec<String> = errors.0.iter().map(|(k, m)| format!("{k}: {}", m.join(" "))).collect();
        format!("This list cannot be shown as asked. {}", fields.join(" "))
    };
    let page = ListPage {
        ctx,
        query: f.query_string(),
        stages: owned_opts(&stage_list, &f.stage, "Any stage"),
        purposes: opts(&model::LOAN_PURPOSES, &f.purpose, "Any purpose"),
        ages: opts(
            &[
                ("today", "Last 24 hours"),
                ("7d", "Last 7 days"),
                ("30d", "Last 30 days"),
                ("older", "Older than 30 days"),
            ],
            &f.age,
            "Any age",
        ),
        officers: owned_opts(&officers, &f.lo, "Any LO"),
        sorts: opts(&[("oldest", "Oldest first")], &f.sort, "Newest first"),
        hidden: f.hidden_pairs(),
        total,
        error,
        anonymous: !user.sees_borrowers(),
        bulk_send: matches!(user.role, Role::Lo | Role::Manager | Role::Admin),
        f,
        rows,
        next,
    };
    let status = if valid { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok((status, page).into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "leads/new.html")]
pub(crate) struct NewPage {
    ctx: PageCtx,
    draft: LeadDraft,
    errors: FieldErrors,
    o: LeadFormOptions,
}

pub(crate) async fn new_form(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
) -> AppResult<impl IntoResponse> {
    user.require(&[Role::Lo, Role::Manager, Role::Admin])?;
    let draft = LeadDraft::default();
    Ok(NewPage { ctx, o: LeadFormOptions::load(&state.db, &draft).await?, draft, errors: FieldErrors::new() })
}

pub(crate) async fn create(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    user.require(&[Role::Lo, Role::Manager, Role::Admin])?;
    let (draft, _) = draft_from_form(&pairs);
    let fields = match draft.validate() {
        Ok(f) => f,
        Err(errors) => {
            let page = NewPage { ctx, o: LeadFormOptions::load(&state.db, &draft).await?, draft, errors };
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
    };
    let (id, outcome) = match store::create_lead(&state, &user, &fields, None, None).await {
        Ok(done) => done,
        Err(e) => {
            let (status, errors) = form_errors(e)?;
            let page = NewPage { ctx, o: LeadFormOptions::load(&state.db, &draft).await?, draft, errors };
            return Ok((status, page).into_response());
        }
    };
    let msg = match outcome {
        CreateOutcome::Created => "Lead created.",
        CreateOutcome::Replayed => "This lead already exists (same source and external id).",
        CreateOutcome::Duplicate => {
            "This borrower matches an existing lead (same phone, email, or source and external id); the submission \
             was recorded on it."
        }
    };
    Flash::push(&session, if outcome == CreateOutcome::Created { "success" } else { "info" }, msg).await;
    // The existing lead may be out of the user's scope: only go there if they may see it.
    if store::visible_lead(&state.db, &user, id).await.is_ok() {
        Ok(Redirect::to(&format!("/leads/{id}")).into_response())
    } else {
        Ok(Redirect::to("/leads").into_response())
    }
}

/// The list's total as the figure behind it counts: leads, or (cohorts `assigned` and `lost`) assignments or
/// losses first, with the leads they are on.
fn total_words(leads: store::ListTotal, facts: Option<store::FactTotal>) -> (String, String) {
    let noun = |t: &store::ListTotal| if t.count == 1 && !t.capped { "lead" } else { "leads" };
    match facts {
        Some(f) => (f.total.label(), format!("{} of {} {}", f.noun(), leads.label(), noun(&leads))),
        None => (leads.label(), noun(&leads).to_string()),
    }
}
