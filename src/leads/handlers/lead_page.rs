//! One lead: its page (call, note, stage), editing with the 409 page for a stale edit.

use super::*;

#[derive(Template, WebTemplate)]
#[template(path = "leads/show.html")]
pub(crate) struct ShowPage {
    ctx: PageCtx,
    lead: Lead,
    name: String,
    stage_label: String,
    /// The lead source's name (its key when it has no record).
    source_label: String,
    purpose: String,
    band: String,
    occupancy: String,
    property_type: String,
    loan_amount: String,
    property_value: String,
    ltv: String,
    rate: String,
    lost_reason: String,
    consents: Vec<store::ConsentRow>,
    opt_outs: Vec<String>,
    /// Why the borrower may not be called now (opt-out, a do-not-call list, calling hours), if so.
    call_block: Option<String>,
    opt_out_channels: &'static [(&'static str, &'static str)],
    timeline: Vec<store::TimelineItem>,
    outcomes: Vec<Opt>,
    stages: Vec<Opt>,
    reasons: Vec<Opt>,
    errors: FieldErrors,
    call: CallForm,
    /// Other capabilities' panels (routing history, escalations), as HTML, in page order.
    panels: Vec<String>,
    may_merge: bool,
    draft: LeadDraft,
    o: LeadFormOptions,
}

impl ShowPage {
    fn when(&self, t: &DateTime<Utc>) -> String {
        fmt_time(t)
    }
    fn when_opt(&self, t: &Option<DateTime<Utc>>) -> String {
        t.as_ref().map(fmt_time).unwrap_or_else(|| "—".into())
    }
}

#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(default)]
pub struct CallForm {
    pub outcome: String,
    pub talk_time: String,
    pub callback_at: String,
    pub note: String,
}

#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(default)]
pub struct StageForm {
    pub stage: String,
    pub lost_reason: String,
    pub version: i32,
}

pub(crate) async fn render_lead(
    state: &AppState,
    user: &CurrentUser,
    ctx: PageCtx,
    id: Uuid,
    errors: FieldErrors,
    call: CallForm,
    stage_form: Option<&StageForm>,
) -> AppResult<ShowPage> {
    let lead = store::lead(&state.db, user, id).await?;
    let stage_defs = store::stages(&state.db, lead.pipeline_id).await?;
    let reasons = store::lost_reasons(&state.db).await?;
    let (consents, opt_outs) = store::consents(&state.db, id).await?;
    let call_block = store::call_block(&state.db, id, state.clock.now(), state.config.calling_hours()).await?;
    let timeline = store::timeline(&state.db, id).await?;
    let mut panels = Vec::new();
    for panel in &crate::leads::wiring::wired()?.lead_panels {
        panels.push(panel(state, user, id).await?);
    }
    let stage_pairs: Vec<(String, String)> =
        stage_defs.iter().filter(|s| s.key != lead.stage).map(|s| (s.key.clone(), s.label.clone())).collect();
    let chosen_stage = stage_form.map(|s| s.stage.as_str()).unwrap_or("");
    let chosen_reason = stage_form.map(|s| s.lost_reason.as_str()).unwrap_or("");
    let stage_label = stage_defs.iter().find(|s| s.key == lead.stage).map(|s| s.label.clone()).unwrap_or_default();
    let lost_reason = lead
        .lost_reason
        .as_ref()
        .map(|k| reasons.iter().find(|(key, _)| key == k).map(|(_, l)| l.clone()).unwrap_or_else(|| k.clone()))
        .unwrap_or_default();
    let lab = |list: &[(&str, &str)], v: &Option<String>| {
        v.as_deref().map(|k| model::label_of(list, k).to_string()).unwrap_or_default()
    };
    let source_label = store::source_name(&state.db, &lead.source).await?;
    let draft = lead.draft();
    Ok(ShowPage {
        ctx,
        name: lead.name(),
        stage_label,
        source_label,
        purpose: lab(&model::LOAN_PURPOSES, &lead.loan_purpose),
        band: lab(&model::CREDIT_BANDS, &lead.credit_band),
        occupancy: lab(&model::OCCUPANCIES, &lead.occupancy),
        property_type: lab(&model::PROPERTY_TYPES, &lead.property_type),
        loan_amount: money(&lead.loan_amount_cents),
        property_value: money(&lead.property_value_cents),
        ltv: lead.ltv_bps().map(|b| format!("{}.{:02}%", b / 100, b % 100)).unwrap_or_default(),
        rate: lead.rate_quoted_milli.map(|m| format!("{}%", model::format_rate(m))).unwrap_or_default(),
        lost_reason,
        consents,
        opt_outs,
        call_block,
        opt_out_channels: &store::OPT_OUT_CHANNELS,
        timeline,
        outcomes: opts(&model::CALL_OUTCOMES, &call.outcome, "Choose…"),
        stages: owned_opts(&stage_pairs, chosen_stage, "Choose…"),
        reasons: owned_opts(&reasons, chosen_reason, "—"),
        errors,
        call,
        panels,
        may_merge: user.is_manager_or_admin(),
        o: LeadFormOptions::load(&state.db, &draft).await?,
        draft,
        lead,
    })
}

pub(crate) async fn show(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<impl IntoResponse> {
    render_lead(&state, &user, ctx, id, FieldErrors::new(), CallForm::default(), None).await
}

pub(crate) async fn stage(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Form(form): Form<StageForm>,
) -> AppResult<Response> {
    let reason = Some(form.lost_reason.as_str()).filter(|r| !r.is_empty());
    match store::change_stage(&state, &user, id, form.version, &form.stage, reason).await {
        Ok(Saved::Ok(l)) => {
            Flash::push(&session, "success", format!("Moved to {}.", l.stage.replace('_', " "))).await;
            Ok(Redirect::to(&format!("/leads/{id}")).into_response())
        }
        Ok(Saved::Stale(current)) => {
            let attempted =
                vec![("stage".to_string(), form.stage.clone()), ("lost_reason".into(), form.lost_reason.clone())];
            Ok(conflict_page(ctx, &current, attempted).into_response())
        }
        Err(AppError::Validation(errors)) => {
            let page = render_lead(&state, &user, ctx, id, errors, CallForm::default(), Some(&form)).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e),
    }
}

pub(crate) async fn log_call(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Form(form): Form<CallForm>,
) -> AppResult<Response> {
    let mut errors = FieldErrors::new();
    let talk_seconds = model::parse_talk_time(&form.talk_time).unwrap_or_else(|m| {
        errors.add("talk_time", m);
        0
    });
    let callback_at = match form.callback_at.trim() {
        "" => None,
        // The form's datetime-local is the organisation's wall clock; an RFC 3339 time is taken as written.
        t => match chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M") {
            Ok(naive) => Some(crate::web::format::from_local(naive, crate::web::format::zone())),
            Err(_) => model::parse_time(t).map_err(|m| errors.add("callback_at", m)).ok(),
        },
    };
    let input = ActivityInput {
        kind: "call".into(),
        direction: Some("outbound".into()),
        outcome: Some(form.outcome.clone()).filter(|o| !o.is_empty()),
        talk_seconds,
        occurred_at: None,
        body: form.note.clone(),
        callback_at,
    };
    if let Err(more) = input.validate() {
        for (k, msgs) in more.0 {
            for m in msgs {
                errors.add(&k, m);
            }
        }
    }
    let result = if errors.is_empty() {
        store::log_activity(&state, &user, id, &input).await.map(|_| ())
    } else {
        Err(AppError::Validation(errors))
    };
    match result {
        Ok(()) => {
            Flash::push(&session, "success", format!("Call logged ({}).", model::format_talk_time(talk_seconds))).await;
            Ok(Redirect::to(&format!("/leads/{id}")).into_response())
        }
        Err(AppError::Validation(errors)) => {
            let page = render_lead(&state, &user, ctx, id, errors, form, None).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct NoteForm {
    pub body: String,
}

pub(crate) async fn add_note(
    user: CurrentUser,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Form(form): Form<NoteForm>,
) -> AppResult<Response> {
    let input = ActivityInput { kind: "note".into(), body: form.body, ..Default::default() };
    store::log_activity(&state, &user, id, &input).await?;
    Flash::push(&session, "success", "Note added.").await;
    Ok(Redirect::to(&format!("/leads/{id}")).into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "leads/edit.html")]
pub(crate) struct EditPage {
    ctx: PageCtx,
    id: Uuid,
    version: i32,
    draft: LeadDraft,
    errors: FieldErrors,
    o: LeadFormOptions,
}

pub(crate) async fn edit_form(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<impl IntoResponse> {
    let lead = store::lead(&state.db, &user, id).await?;
    let draft = lead.draft();
    Ok(EditPage {
        ctx,
        id,
        version: lead.version,
        o: LeadFormOptions::load(&state.db, &draft).await?,
        draft,
        errors: FieldErrors::new(),
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "leads/conflict.html")]
pub(crate) struct ConflictPage {
    ctx: PageCtx,
    id: Uuid,
    version: i32,
    rows: Vec<(String, String, String)>,
}

/// 409: what is saved now next to what the user tried to save.
pub(crate) fn conflict_page(
    ctx: PageCtx,
    current: &Lead,
    attempted: Vec<(String, String)>,
) -> (StatusCode, ConflictPage) {
    let now = serde_json::to_value(current.draft()).unwrap_or_default();
    let mut rows = Vec::new();
    for (field, tried) in attempted {
        let saved = match field.as_str() {
            "stage" => current.stage.clone(),
            "lost_reason" => current.lost_reason.clone().unwrap_or_default(),
            f => now.get(f).and_then(|v| v.as_str()).unwrap_or("").to_string(),
        };
        if field.starts_with("consent") && tried.is_empty() {
            continue;
        }
        rows.push((field.replace('_', " "), saved, tried));
    }
    (StatusCode::CONFLICT, ConflictPage { ctx, id: current.id, version: current.version, rows })
}

pub(crate) async fn edit(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let (draft, version) = draft_from_form(&pairs);
    let Some(version) = version else { return Err(AppError::BadRequest("The form is missing its version.".into())) };
    let fields = match draft.validate() {
        Ok(f) => f,
        Err(errors) => {
            store::lead(&state.db, &user, id).await?;
            let page = EditPage { ctx, id, version, o: LeadFormOptions::load(&state.db, &draft).await?, draft, errors };
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
    };
    match store::update_lead(&state, &user, id, version, &fields).await {
        Ok(Saved::Ok(_)) => {
            Flash::push(&session, "success", "Lead saved.").await;
            Ok(Redirect::to(&format!("/leads/{id}")).into_response())
        }
        Ok(Saved::Stale(current)) => {
            let attempted = pairs.into_iter().filter(|(k, _)| k != "version").collect();
            Ok(conflict_page(ctx, &current, attempted).into_response())
        }
        Err(e) => {
            let (status, errors) = form_errors(e)?;
            let page = EditPage { ctx, id, version, o: LeadFormOptions::load(&state.db, &draft).await?, draft, errors };
            Ok((status, page).into_response())
        }
    }
}

/// An error the lead form shows beside its fields (422 for a bad value, 409 for a loan number another lead
/// has), or the error itself for anything else.
pub(crate) fn form_errors(e: AppError) -> AppResult<(StatusCode, FieldErrors)> {
    match e {
        // A stale lead edit has its own page (`Saved::Stale`); any other conflict is the error itself.
        AppError::Conflict(_) => Err(e),
        e => crate::error::form_refusal(e),
    }
}
