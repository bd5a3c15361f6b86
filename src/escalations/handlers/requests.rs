//! Escalation requests: the queue, the new-request form (with an attachment), the thread, decisions,
//! comments, reviews and closing.

use super::*;

/// A request as a page row: the raw row plus what the viewer sees about it.
pub struct QueueItem {
    pub row: EscalationRow,
    pub kind_label: &'static str,
    pub status_label: &'static str,
    pub dollars: String,
    pub sla: String,
    pub breached: bool,
    pub can_decide: bool,
    pub waiting_on: &'static str,
}

pub(crate) fn item(
    row: EscalationRow,
    user: &CurrentUser,
    auth: Option<&model::Authority>,
    now: DateTime<Utc>,
) -> QueueItem {
    let status = Status::parse(&row.status).unwrap_or(Status::Closed);
    let (sla, breached) = if status.is_open() { model::sla_clock(row.due_at, now) } else { (String::new(), false) };
    QueueItem {
        kind_label: Kind::parse(&row.kind).map(|k| k.label()).unwrap_or("Request"),
        status_label: status.label(),
        dollars: model::format_dollars(row.concession_cents),
        sla,
        breached,
        can_decide: crate::escalations::can_decide(user, auth, &row),
        waiting_on: model::Level::parse(&row.current_level).map(|l| l.label()).unwrap_or(""),
        row,
    }
}

/// The approvals list's filters as the user gave them (the page shows them back): status, kind, LO, team,
/// the filing range in the organisation's days (`to` inclusive, as the concession reports') and the report's
/// outcome (decided, granted, funded). The page and the API read the same parameters; any other is a 422.
#[derive(Debug, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct QueueQuery {
    /// `open` (requested or in review), `all`, or one status: `requested`, `in_review`, `approved`,
    /// `countered`, `denied`, `closed`.
    #[param(required = false)]
    status: String,
    /// A kind of request: `pricing_exception`, `lock_extension`, `underwriting_scenario`, `complaint`, `compliance`.
    #[param(required = false)]
    kind: String,
    /// A loan officer's id: their requests.
    #[param(required = false)]
    lo: String,
    /// A team's id, or `none`.
    #[param(required = false)]
    team: String,
    /// Filed on or after this day (`YYYY-MM-DD`, the organisation's time zone).
    #[param(required = false)]
    from: String,
    /// Filed on or before this day (`YYYY-MM-DD`).
    #[param(required = false)]
    to: String,
    /// `decided`, `granted` or `funded`: the concession report's figures.
    #[param(required = false)]
    outcome: String,
}

const QUEUE_PARAMS: [&str; 7] = ["status", "kind", "lo", "team", "from", "to", "outcome"];

impl QueueQuery {
    /// Reads and checks every parameter; `mine_only` is for those who decide nothing (an LO's own requests).
    pub(crate) fn parse(
        pairs: &[(String, String)],
        tz: chrono_tz::Tz,
        mine_only: bool,
    ) -> AppResult<(QueueQuery, store::ListFilter)> {
        let mut q = QueueQuery::default();
        let mut errors = FieldErrors::new();
        for (k, v) in pairs {
            let v = v.trim().to_string();
            match k.as_str() {
                "status" => q.status = v,
                "kind" => q.kind = v,
                "lo" => q.lo = v,
                "team" => q.team = v,
                "from" => q.from = v,
                "to" => q.to = v,
                "outcome" => q.outcome = v,
                other => {
                    errors.add(other, format!("is not a filter of the requests (known: {})", QUEUE_PARAMS.join(", ")))
                }
            }
        }
        let mut f = store::ListFilter { mine_only, limit: 500, ..Default::default() };
        match q.status.as_str() {
            "" | "all" => {}
            "open" => f.status = "open".into(),
            s if Status::parse(s).is_some() => f.status = s.into(),
            _ => errors
                .add("status", "not a status (open, all, requested, in_review, approved, countered, denied, closed)"),
        }
        match q.kind.as_str() {
            "" => {}
            k if Kind::parse(k).is_some() => f.kind = k.into(),
            _ => errors.add("kind", "not a kind of request"),
        }
        match q.lo.as_str() {
            "" => {}
            s => f.lo_id = Uuid::parse_str(s).map_err(|_| errors.add("lo", "not a loan officer id")).ok(),
        }
        f.team = match q.team.as_str() {
            "" => None,
            "none" => Some(store::TeamFilter::None),
            s => Uuid::parse_str(s).map(store::TeamFilter::Team).map_err(|_| errors.add("team", "not a team id")).ok(),
        };
        let mut date = |field: &str, v: &str| match v {
            "" => None,
            s => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map_err(|_| errors.add(field, "use a date like 2026-01-31"))
                .ok(),
        };
        let (from, to) = (date("from", &q.from), date("to", &q.to));
        if let (Some(a), Some(b)) = (from, to) {
            if a > b {
                errors.add("from", "must be on or before to");
            }
        }
        f.filed_from = from.map(|d| crate::state::day_start(tz, d));
        f.filed_before = to.and_then(|d| d.succ_opt()).map(|d| crate::state::day_start(tz, d));
        match q.outcome.as_str() {
            "" => {}
            o => {
                f.outcome = model::ReportOutcome::parse(o).or_else(|| {
                    errors.add("outcome", "must be decided, granted or funded");
                    None
                })
            }
        }
        errors.into_result()?;
        Ok((q, f))
    }

    /// Whether the list is narrowed past the queue's own status and kind (a report's figure, a filter).
    fn narrowed(&self) -> bool {
        !(self.lo.is_empty()
            && self.team.is_empty()
            && self.from.is_empty()
            && self.to.is_empty()
            && self.outcome.is_empty())
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "escalations/queue.html")]
pub(crate) struct QueuePage {
    ctx: PageCtx,
    approver: bool,
    items: Vec<QueueItem>,
    /// Every request the filters match (the list shows the oldest 500).
    total: i64,
    waiting: i64,
    q: QueueQuery,
    teams: Vec<(Uuid, String)>,
    officers: Vec<(Uuid, String)>,
    kinds: [Kind; 10],
    statuses: [Status; 6],
    outcomes: [model::ReportOutcome; 3],
}

impl QueuePage {
    fn selected(&self, a: &str, b: &Uuid) -> bool {
        a == b.to_string()
    }
}

pub(crate) async fn queue(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> AppResult<impl IntoResponse> {
    user.require(&[Role::Lo, Role::Manager, Role::Admin])?;
    let auth = crate::escalations::authority(&state, &user).await?;
    let approver = auth.is_some();
    let (mut q, mut filter) = QueueQuery::parse(&pairs, state.config.timezone, !approver)?;
    // Approvers land on what waits; a report's figure or "all" asks for every status.
    if approver && q.status.is_empty() && !q.narrowed() {
        q.status = "open".into();
        filter.status = "open".into();
    }
    if q.status == "all" {
        q.status.clear();
    }
    let rows = store::list(&state.db, &user, auth.as_ref(), &filter).await?;
    let total = store::count(&state.db, &user, auth.as_ref(), &filter).await?;
    let now = state.clock.now();
    let items = rows.into_iter().map(|r| item(r, &user, auth.as_ref(), now)).collect();
    let (teams, officers) = if approver { store::filter_choices(&state.db, &user).await? } else { (vec![], vec![]) };
    let waiting = crate::escalations::waiting_count(&state, &user).await?;
    Ok(QueuePage {
        ctx,
        approver,
        items,
        total,
        waiting,
        q,
        teams,
        officers,
        kinds: Kind::ALL,
        statuses: Status::ALL,
        outcomes: model::ReportOutcome::ALL,
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "escalations/new.html")]
pub(crate) struct NewPage {
    ctx: PageCtx,
    lead: LeadSummary,
    /// The lead's stage, source, purpose and credit band by name.
    names: crate::leads::store::LeadNames,
    input: RequestInput,
    errors: FieldErrors,
    kinds: [Kind; 10],
    reasons: [(&'static str, &'static str); 4],
    loan_amount: String,
    /// The loan's live rate lock, and the extensions its investor offers: (days, bps, dollars on this loan).
    lock: Option<crate::locks::store::LockRow>,
    offers: Vec<(i32, i32, String)>,
}

impl NewPage {
    fn complaint_types(&self) -> &'static [(&'static str, &'static str)] {
        &crate::departments::complaint_clock::TYPES
    }
    fn complaint_categories(&self) -> &'static [(&'static str, &'static str)] {
        &crate::departments::complaint_clock::CATEGORIES
    }
    async fn build(
        state: &AppState,
        ctx: PageCtx,
        lead: LeadSummary,
        input: RequestInput,
        errors: FieldErrors,
    ) -> AppResult<Self> {
        let loan_amount = lead.loan_amount_cents.map(model::format_dollars).unwrap_or_else(|| "not set".into());
        let names = crate::leads::store::lead_names(state, &lead).await?;
        let now = state.clock.now();
        let lock = crate::locks::service::locks_for_lead(&state.db, lead.id)
            .await?
            .into_iter()
            .find(|l| l.status == "locked" && l.expires_at > now);
        let mut offers = vec![];
        if let Some(l) = &lock {
            for i in
                crate::locks::service::investors(&state.db, false).await?.into_iter().filter(|i| i.id == l.investor_id)
            {
                for o in i.options() {
                    if i.max_extension_days.is_none_or(|cap| l.extended_days + o.days <= cap) {
                        let cents = crate::locks::model::bps_of(l.loan_amount_cents, o.cost_bps);
                        offers.push((o.days, o.cost_bps, model::format_dollars(cents)));
                    }
                }
            }
        }
        Ok(NewPage {
            ctx,
            lead,
            names,
            input,
            errors,
            kinds: Kind::ALL,
            reasons: model::REASONS,
            loan_amount,
            lock,
            offers,
        })
    }
    fn err(&self, f: &str) -> &str {
        self.errors.get(f).unwrap_or("")
    }
}

#[derive(Deserialize)]
pub(crate) struct NewQuery {
    #[serde(default)]
    lead_id: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    lock_id: String,
}

pub(crate) async fn new_form(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Query(q): Query<NewQuery>,
) -> AppResult<impl IntoResponse> {
    let lead_id = Uuid::parse_str(q.lead_id.trim()).map_err(|_| AppError::NotFound)?;
    let lead = crate::leads::store::visible_lead(&state.db, &user, lead_id).await?;
    let input = RequestInput {
        lead_id: lead_id.to_string(),
        kind: if q.kind.is_empty() { "pricing_exception".into() } else { q.kind },
        lock_id: q.lock_id,
        ..Default::default()
    };
    NewPage::build(&state, ctx, lead, input, FieldErrors::new()).await
}

/// Reads the request form, urlencoded or multipart (with the competitor's quote attached).
pub(crate) async fn read_request_form(req: Request, state: &AppState) -> AppResult<(RequestInput, Option<Upload>)> {
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if !is_multipart {
        let axum::Form(input) = axum::Form::<RequestInput>::from_request(req, state)
            .await
            .map_err(|e| AppError::BadRequest(e.body_text()))?;
        return Ok((input, None));
    }
    let mut mp = Multipart::from_request(req, state).await.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let mut input = RequestInput::default();
    let mut upload = None;
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(AppError::invalid("attachment", "The attachment must be 5 MB or smaller."));
            }
            Err(e) => return Err(AppError::BadRequest(e.body_text())),
        };
        let name = field.name().unwrap_or("").to_string();
        if name == "attachment" {
            let file_name = field.file_name().unwrap_or("").to_string();
            let content_type = field.content_type().unwrap_or("application/octet-stream").to_string();
            let bytes = field
                .bytes()
                .await
                .map_err(|_| AppError::invalid("attachment", "The attachment must be 5 MB or smaller."))?;
            if !bytes.is_empty() {
                upload = Some(Upload { file_name, content_type, bytes: bytes.to_vec() });
            }
            continue;
        }
        let bytes = field.bytes().await.map_err(|e| AppError::BadRequest(e.body_text()))?;
        let text = crate::web::input::text_field(&name, &bytes)?;
        match name.as_str() {
            "lead_id" => input.lead_id = text,
            "kind" => input.kind = text,
            "standard_rate" => input.standard_rate = text,
            "requested_rate" => input.requested_rate = text,
            "standard_price" => input.standard_price = text,
            "requested_price" => input.requested_price = text,
            "concession_bps" => input.concession_bps = text,
            "reason" => input.reason = text,
            "competitor_name" => input.competitor_name = text,
            "competitor_offer" => input.competitor_offer = text,
            "lock_id" => input.lock_id = text,
            "extension_days" => input.extension_days = text,
            "note" => input.note = text,
            "complaint_type" => input.clock.complaint_type = text,
            "category" => input.clock.category = text,
            "received_on" => input.clock.received_on = text,
            "foreclosure_sale_on" => input.clock.foreclosure_sale_on = text,
            "regulator_due_on" => input.clock.regulator_due_on = text,
            _ => {}
        }
    }
    Ok((input, upload))
}

pub(crate) async fn create(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    req: Request,
) -> AppResult<Response> {
    let (input, upload) = read_request_form(req, &state).await?;
    match crate::escalations::file_request(&state, &user, &input, upload).await {
        Ok(id) => {
            Flash::push(&session, "success", "Request filed. Your approver has been notified.").await;
            Ok(Redirect::to(&format!("/escalations/{id}")).into_response())
        }
        Err(AppError::Validation(errors)) => {
            let lead_id = Uuid::parse_str(input.lead_id.trim()).map_err(|_| AppError::NotFound)?;
            let lead = crate::leads::store::visible_lead(&state.db, &user, lead_id).await?;
            let page = NewPage::build(&state, ctx, lead, input, errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "escalations/detail.html")]
pub(crate) struct DetailPage {
    ctx: PageCtx,
    it: QueueItem,
    events: Vec<EventRow>,
    attachments: Vec<store::Attachment>,
    is_requester: bool,
    errors: FieldErrors,
    decision: String,
    counter_bps: String,
    note: String,
    reason: &'static str,
    required_level: &'static str,
    /// Similar loans' granted concessions (pricing exceptions; no protected-class information).
    consistency: Option<crate::escalations::consistency::Consistency>,
    departments: super::forwarding::DepartmentsPanel,
    /// The forward form's errors (kept apart from the decision form's).
    forward_errors: FieldErrors,
}

impl DetailPage {
    fn err(&self, f: &str) -> &str {
        self.errors.get(f).unwrap_or("")
    }
    fn forward_err(&self, f: &str) -> &str {
        self.forward_errors.get(f).unwrap_or("")
    }
    fn rate(&self, v: &Option<i32>) -> String {
        v.map(model::format_thousandths).unwrap_or_else(|| "—".into())
    }
    fn dollars(&self, v: &Option<i64>) -> String {
        v.map(model::format_dollars).unwrap_or_else(|| "—".into())
    }
    fn can_close(&self) -> bool {
        let s = Status::parse(&self.it.row.status).unwrap_or(Status::Closed);
        s != Status::Closed
            && (self.is_requester
                || self.it.can_decide
                || (!s.is_open() && self.ctx.user.as_ref().is_some_and(|u| u.is_manager_or_admin())))
    }
    fn event_label(&self, e: &EventRow) -> String {
        match e.kind.as_str() {
            "created" => "Requested".into(),
            "comment" => "Comment".into(),
            "decision" => match (e.decision.as_deref(), e.counter_bps) {
                (Some("counter"), Some(b)) => format!("Decision: countered at {b} bps"),
                (Some(d), _) => format!("Decision: {d}"),
                _ => "Decision".into(),
            },
            "sla_breach" => "SLA breached".into(),
            _ => format!(
                "Status: {} → {}",
                e.from_status.as_deref().and_then(Status::parse).map(|s| s.label()).unwrap_or(""),
                e.to_status.as_deref().and_then(Status::parse).map(|s| s.label()).unwrap_or("")
            ),
        }
    }
}

pub(crate) async fn detail_page(
    state: &AppState,
    user: &CurrentUser,
    ctx: PageCtx,
    id: Uuid,
    errors: FieldErrors,
    form: Option<&DecisionForm>,
    forward: Option<&super::forwarding::ForwardForm>,
) -> AppResult<DetailPage> {
    let (row, auth) = crate::escalations::visible_request(state, user, id).await?;
    let departments = super::forwarding::panel(state, user, &row, forward).await?;
    let (errors, forward_errors) =
        if forward.is_some() { (FieldErrors::new(), errors) } else { (errors, FieldErrors::new()) };
    let events = store::events(&state.db, id).await?;
    let attachments = store::attachments(&state.db, id).await?;
    let reason = model::reason_label(&row.reason);
    let required_level = model::Level::parse(&row.required_level).map(|l| l.label()).unwrap_or("");
    let is_requester = row.requester_id == user.id;
    let it = item(row, user, auth.as_ref(), state.clock.now());
    let consistency = crate::escalations::consistency::check(&state.db, id, state.clock.now()).await?;
    Ok(DetailPage {
        ctx,
        it,
        events,
        attachments,
        is_requester,
        errors,
        decision: form.map(|f| f.decision.clone()).unwrap_or_default(),
        counter_bps: form.map(|f| f.counter_bps.clone()).unwrap_or_default(),
        note: form.map(|f| f.note.clone()).unwrap_or_default(),
        reason,
        required_level,
        consistency,
        departments,
        forward_errors,
    })
}

pub(crate) async fn detail(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<impl IntoResponse> {
    detail_page(&state, &user, ctx, id, FieldErrors::new(), None, None).await
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct DecisionForm {
    #[serde(default)]
    decision: String,
    #[serde(default)]
    counter_bps: String,
    #[serde(default)]
    note: String,
}

pub(crate) fn parse_counter(s: &str) -> AppResult<Option<i32>> {
    match s.trim() {
        "" => Ok(None),
        v => v.parse::<i32>().map(Some).map_err(|_| AppError::invalid("counter_bps", "Enter whole basis points.")),
    }
}

pub(crate) async fn decide_form(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    axum::Form(form): axum::Form<DecisionForm>,
) -> AppResult<Response> {
    let result = match parse_counter(&form.counter_bps) {
        Ok(counter) => crate::escalations::decide(&state, &user, id, &form.decision, counter, &form.note).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(row) => {
            let status = Status::parse(&row.status).map(|s| s.label()).unwrap_or("");
            Flash::push(&session, "success", format!("Decision recorded: {}.", status.to_lowercase())).await;
            Ok(Redirect::to(&format!("/escalations/{id}")).into_response())
        }
        Err(AppError::Validation(errors)) => {
            let page = detail_page(&state, &user, ctx, id, errors, Some(&form), None).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e),
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct NoteForm {
    #[serde(default)]
    note: String,
}

pub(crate) async fn comment_form(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    axum::Form(form): axum::Form<NoteForm>,
) -> AppResult<Response> {
    match crate::escalations::comment(&state, &user, id, &form.note).await {
        Ok(()) => {
            Flash::push(&session, "success", "Comment added.").await;
            Ok(Redirect::to(&format!("/escalations/{id}")).into_response())
        }
        Err(AppError::Validation(errors)) => {
            let page = detail_page(&state, &user, ctx, id, errors, None, None).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e),
    }
}

pub(crate) async fn review_form(
    user: CurrentUser,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Response> {
    crate::escalations::start_review(&state, &user, id).await?;
    Flash::push(&session, "success", "Marked as in review.").await;
    Ok(Redirect::to(&format!("/escalations/{id}")).into_response())
}

pub(crate) async fn close_form(
    user: CurrentUser,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    axum::Form(form): axum::Form<NoteForm>,
) -> AppResult<Response> {
    crate::escalations::close(&state, &user, id, &form.note).await?;
    Flash::push(&session, "success", "Request closed.").await;
    Ok(Redirect::to(&format!("/escalations/{id}")).into_response())
}

/// Serves an attachment only to people who may see its request, always as a download.
pub(crate) async fn attachment(
    user: CurrentUser,
    State(state): State<AppState>,
    Path((id, attachment_id)): Path<(Uuid, Uuid)>,
) -> AppResult<Response> {
    crate::escalations::visible_request(&state, &user, id).await?;
    let (name, content_type, bytes) =
        store::attachment_bytes(&state.db, id, attachment_id).await?.ok_or(AppError::NotFound)?;
    let content_type = if model::ATTACHMENT_TYPES.contains(&content_type.as_str()) {
        content_type
    } else {
        "application/octet-stream".into()
    };
    Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}\"", model::safe_file_name(&name)))
        .header(header::CACHE_CONTROL, "private, no-store")
        .body(Body::from(bytes))
        .map_err(|e| AppError::Internal(e.into()))
}
