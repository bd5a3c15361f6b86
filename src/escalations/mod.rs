//! Escalations and pricing exceptions: the manager's approval queue.
//!
//! One path through the rules for pages and API: [`file_request`], [`decide`], [`comment`], [`start_review`],
//! [`close`]. Each change is one transaction with its immutable event, its audit entry and the notifications.

pub mod consistency;
pub mod handlers;
pub mod model;
pub mod store;
pub mod wiring;

use askama::Template;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::audit::Entry;
use crate::auth::CurrentUser;
use crate::error::{AppError, AppResult, FieldErrors};
use crate::state::AppState;
use crate::web::Routes;
use model::{Authority, Decision, Kind, Level, RequestFacts, Status};
use store::{EscalationRow, NewEscalation, NewEvent};

pub fn router() -> Routes {
    handlers::router()
}

/// The caller's approval authority, from the configured limits.
pub async fn authority(state: &AppState, user: &CurrentUser) -> AppResult<Option<Authority>> {
    Ok(store::authority_table(&state.db).await?.authority_of(user))
}

fn facts(row: &EscalationRow, user: &CurrentUser) -> RequestFacts {
    RequestFacts {
        requester_id: row.requester_id,
        team_id: row.lead_team_id,
        concession_bps: row.concession_bps,
        status: Status::parse(&row.status).unwrap_or(Status::Requested),
        level: Level::parse(&row.current_level).unwrap_or(Level::Admin),
        lead_visible: user.scope().allows_lead(row.lead_lo_id, row.lead_team_id),
    }
}

/// A request the user may see, with their authority; 404 otherwise (no existence leak).
pub async fn visible_request(
    state: &AppState,
    user: &CurrentUser,
    id: Uuid,
) -> AppResult<(EscalationRow, Option<Authority>)> {
    let row = store::find(&state.db, id).await?.ok_or(AppError::NotFound)?;
    let auth = authority(state, user).await?;
    if !model::may_see(user, auth.as_ref(), &facts(&row, user)) {
        crate::audit::record_event(&state.db, Some(user.id), "access_refused", &format!("escalation {id}")).await;
        return Err(AppError::NotFound);
    }
    Ok((row, auth))
}

/// Whether the user may decide this request now (for showing the decide form).
pub fn can_decide(user: &CurrentUser, auth: Option<&Authority>, row: &EscalationRow) -> bool {
    let f = facts(row, user);
    f.status.is_open() && model::may_decide(user, auth, &f).is_ok()
}

/// What an LO (or a manager) asks for. Text fields as typed, so a form can be shown again with them.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct RequestInput {
    #[serde(default)]
    pub lead_id: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub standard_rate: String,
    #[serde(default)]
    pub requested_rate: String,
    #[serde(default)]
    pub standard_price: String,
    #[serde(default)]
    pub requested_price: String,
    #[serde(default)]
    pub concession_bps: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub competitor_name: String,
    #[serde(default)]
    pub competitor_offer: String,
    #[serde(default)]
    pub note: String,
    /// The rate lock a lock extension extends (a pricing exception takes the loan's live lock by itself).
    #[serde(default)]
    pub lock_id: String,
    /// A lock extension's length in days: one of the investor's options.
    #[serde(default)]
    pub extension_days: String,
    /// A complaint's regulatory clock (type, received date…), when the person raising it knows it; otherwise
    /// it is given when the complaint is forwarded.
    #[serde(flatten)]
    pub clock: crate::departments::complaints::ClockInput,
}

/// An uploaded file.
#[derive(Debug, Clone)]
pub struct Upload {
    pub file_name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

fn opt_thousandths(errors: &mut FieldErrors, field: &str, s: &str, what: &str) -> Option<i32> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    match model::parse_thousandths(s) {
        Some(v) if v <= 99_999 => Some(v),
        _ => {
            errors.add(field, format!("Enter the {what} as a number with up to three decimals, e.g. 6.875."));
            None
        }
    }
}

fn opt_text(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// Files a request on a lead the user may see. Returns its id.
/// A request as filed, checked: the kind, the rates and prices in thousandths, the concession in bps, the
/// reason and the note.
struct CheckedRequest {
    kind: Kind,
    standard_rate: Option<i32>,
    requested_rate: Option<i32>,
    standard_price: Option<i32>,
    requested_price: Option<i32>,
    bps: i32,
    reason: String,
    note: String,
}

/// Checks a request against its lead: every problem, each on its field (422), or the checked request.
fn check_request(
    input: &RequestInput,
    lead: &crate::leads::store::LeadSummary,
    upload: Option<&Upload>,
) -> AppResult<CheckedRequest> {
    let mut errors = FieldErrors::new();
    let kind = Kind::parse(input.kind.trim());
    if kind.is_none() {
        errors.add("kind", "Choose what kind of request this is.");
    }
    let standard_rate = opt_thousandths(&mut errors, "standard_rate", &input.standard_rate, "standard rate");
    let requested_rate = opt_thousandths(&mut errors, "requested_rate", &input.requested_rate, "requested rate");
    let standard_price = opt_thousandths(&mut errors, "standard_price", &input.standard_price, "standard price");
    let requested_price = opt_thousandths(&mut errors, "requested_price", &input.requested_price, "requested price");
    let given_bps = match input.concession_bps.trim() {
        "" => None,
        s => match s.parse::<i32>() {
            Ok(v) if (1..=500).contains(&v) => Some(v),
            _ => {
                errors.add("concession_bps", "Enter the concession in whole basis points, 1 to 500.");
                None
            }
        },
    };
    let reason = match input.reason.trim() {
        "" => "other",
        r if model::REASONS.iter().any(|(k, _)| *k == r) => r,
        _ => {
            errors.add("reason", "Choose a reason.");
            "other"
        }
    };
    let note = input.note.trim().to_string();
    if note.len() > 4000 {
        errors.add("note", "Keep the note under 4,000 characters.");
    }
    if input.competitor_name.len() > 200 || input.competitor_offer.len() > 500 {
        errors.add("competitor_name", "Keep the competitor's name and offer short.");
    }
    let mut bps = 0;
    if kind == Some(Kind::PricingException) {
        let from_rates = match (standard_rate, requested_rate) {
            (Some(s), Some(r)) if r >= s => {
                errors.add("requested_rate", "The requested rate must be below the standard rate.");
                None
            }
            (Some(s), Some(r)) if (s - r) % 10 != 0 => {
                errors.add("requested_rate", "The rates must differ by whole basis points.");
                None
            }
            (Some(s), Some(r)) => Some((s - r) / 10),
            _ => None,
        };
        match (given_bps, from_rates) {
            (Some(g), Some(f)) if g != f => {
                errors.add("concession_bps", format!("The rates differ by {f} bps, but the concession says {g} bps."))
            }
            (Some(g), _) => bps = g,
            (None, Some(f)) if f > 500 => errors.add("concession_bps", "A concession cannot exceed 500 bps."),
            (None, Some(f)) => bps = f,
            (None, None) if errors.get("concession_bps").is_none() => errors
                .add("concession_bps", "Enter the concession in basis points, or the standard and requested rates."),
            _ => {}
        }
        if input.reason.trim().is_empty() {
            errors.add("reason", "Choose a reason for the exception.");
        }
        if lead.loan_amount_cents.is_none_or(|a| a <= 0) {
            errors.add("lead_id", "The lead needs a loan amount before a pricing exception can be priced.");
        }
    } else if kind.is_some() {
        if given_bps.is_some() {
            errors.add("concession_bps", "Only pricing exceptions carry a concession.");
        }
        if note.is_empty() {
            errors.add("note", "Describe what you need decided.");
        }
    }
    if let Some(u) = &upload {
        if u.bytes.len() > model::MAX_ATTACHMENT_BYTES {
            errors.add("attachment", "The attachment must be 5 MB or smaller.");
        } else if !model::ATTACHMENT_TYPES.contains(&u.content_type.as_str()) {
            errors.add("attachment", "Attach a PDF, PNG, JPEG, text or CSV file.");
        }
    }
    errors.into_result()?;
    let kind = kind.ok_or_else(|| AppError::invalid("kind", "Choose what kind of request this is."))?;
    Ok(CheckedRequest {
        kind,
        standard_rate,
        requested_rate,
        standard_price,
        requested_price,
        bps,
        reason: reason.to_string(),
        note,
    })
}

/// The rate lock a request prices: for a lock extension, the live lock named (in the user's scope, on the
/// request's lead) with the days asked for and their cost under the investor's schedule (bps, cents); for a
/// pricing exception, the loan's live lock if it has one (so the concession shows against it).
struct PricedLock {
    lock: crate::locks::store::LockRow,
    extension: Option<(i32, i32, i64)>,
}

async fn priced_lock(
    state: &AppState,
    user: &CurrentUser,
    kind: Kind,
    lead: &crate::leads::store::LeadSummary,
    input: &RequestInput,
) -> AppResult<Option<PricedLock>> {
    let now = state.clock.now();
    match kind {
        Kind::LockExtension => {
            let lock_id = Uuid::parse_str(input.lock_id.trim()).map_err(|_| {
                AppError::invalid("lock_id", "Choose the lock to extend (open it from the lead's lock).")
            })?;
            let lock = crate::locks::service::visible_lock(&state.db, user, lock_id).await?;
            if lock.lead_id != lead.id {
                return Err(AppError::invalid("lock_id", "That lock is on another loan."));
            }
            if lock.status != "locked" || lock.expires_at <= now {
                return Err(AppError::conflict(format!(
                    "This lock is {}: only a live lock can be extended; relock the loan instead.",
                    if lock.status == "locked" { "past its last day" } else { lock.status.as_str() }
                )));
            }
            let days = input
                .extension_days
                .trim()
                .parse::<i32>()
                .map_err(|_| AppError::invalid("extension_days", "Choose how many days to extend by."))?;
            let (bps, cents) =
                crate::locks::service::extension_quote(&state.db, &lock, days).await.map_err(|e| match e {
                    AppError::Validation(f) => AppError::invalid(
                        "extension_days",
                        f.get("days").unwrap_or("The investor does not offer this extension.").to_string(),
                    ),
                    other => other,
                })?;
            Ok(Some(PricedLock { lock, extension: Some((days, bps, cents)) }))
        }
        Kind::PricingException => {
            let live = crate::locks::service::locks_for_lead(&state.db, lead.id)
                .await?
                .into_iter()
                .find(|l| l.status == "locked" && l.expires_at > now);
            Ok(live.map(|lock| PricedLock { lock, extension: None }))
        }
        _ => Ok(None),
    }
}

/// A complaint's regulatory clock given when it is raised, checked (422 by field); refused for other kinds.
fn complaint_clock(
    state: &AppState,
    kind: Kind,
    input: &RequestInput,
) -> AppResult<Option<crate::departments::complaint_clock::ClockFacts>> {
    if input.clock.is_empty() {
        return Ok(None);
    }
    if kind != Kind::Complaint {
        return Err(AppError::invalid("complaint_type", "Only a complaint has a regulatory clock."));
    }
    let mut errors = FieldErrors::new();
    let facts = crate::departments::complaints::check_input(&input.clock, state.today(), &mut errors);
    errors.into_result()?;
    Ok(facts)
}

pub async fn file_request(
    state: &AppState,
    user: &CurrentUser,
    input: &RequestInput,
    upload: Option<Upload>,
) -> AppResult<Uuid> {
    let lead_id = Uuid::parse_str(input.lead_id.trim()).map_err(|_| AppError::invalid("lead_id", "Choose a lead."))?;
    let lead = crate::leads::store::visible_lead(&state.db, user, lead_id).await?;
    let CheckedRequest { kind, standard_rate, requested_rate, standard_price, requested_price, mut bps, reason, note } =
        check_request(input, &lead, upload.as_ref())?;
    let priced = priced_lock(state, user, kind, &lead, input).await?;
    let clock = complaint_clock(state, kind, input)?;
    if let Some(p) = &priced {
        if let Some((_, ext_bps, _)) = p.extension {
            bps = ext_bps;
        }
    }
    let table = store::authority_table(&state.db).await?;
    let settings = store::kind_settings(&state.db).await?;
    let setting = settings.iter().find(|s| s.kind == kind.as_str());
    let sla_hours = setting.map(|s| s.sla_hours).unwrap_or(24);
    let priority = setting.map(|s| s.priority.clone()).unwrap_or_else(|| "normal".into());
    let now = state.clock.now();
    let level = table.required_level(bps);
    let loan_amount = lead.loan_amount_cents;
    let new = NewEscalation {
        lead_id,
        team_id: lead.team_id,
        kind: kind.as_str().into(),
        priority,
        standard_rate,
        requested_rate,
        standard_price,
        requested_price,
        concession_bps: bps,
        concession_cents: match priced.as_ref().and_then(|p| p.extension) {
            // An extension costs what the investor charges on the locked amount.
            Some((_, _, cents)) => cents,
            None => model::concession_cents(loan_amount.unwrap_or(0), bps),
        },
        loan_amount_cents: priced.as_ref().map(|p| p.lock.loan_amount_cents).or(loan_amount),
        reason: reason.clone(),
        competitor_name: opt_text(&input.competitor_name),
        competitor_offer: opt_text(&input.competitor_offer),
        note: note.clone(),
        required_level: level,
        due_at: now + chrono::Duration::hours(i64::from(sla_hours)),
        lock_id: priced.as_ref().map(|p| p.lock.id),
        extension_days: priced.as_ref().and_then(|p| p.extension).map(|(days, _, _)| days),
    };
    let id = Uuid::new_v4();
    let mut tx = state.db.begin().await?;
    store::insert(&mut tx, id, user.id, &new, now).await?;
    store::add_event(
        &mut tx,
        id,
        Some(user.id),
        &NewEvent { kind: "created", to_status: Some("requested"), note: &note, ..Default::default() },
        now,
    )
    .await?;
    if let Some(f) = &clock {
        crate::departments::complaints::record_clock(&mut tx, user, id, f, now).await?;
    }
    let mut attachment = None;
    if let Some(u) = &upload {
        let name = model::safe_file_name(&u.file_name);
        let aid = store::add_attachment(&mut tx, id, &name, &u.content_type, &u.bytes, user.id).await?;
        attachment = Some(serde_json::json!({"id": aid, "file_name": name, "size_bytes": u.bytes.len()}));
    }
    Entry::new(Some(user), "escalation.create", "escalation", id)
        .after(serde_json::json!({
            "lead_id": lead_id, "kind": kind.as_str(), "concession_bps": bps,
            "concession_cents": new.concession_cents, "reason": reason, "required_level": level.as_str(),
            "due_at": new.due_at, "attachment": attachment,
        }))
        .write(&mut *tx)
        .await?;
    let title = if let Some((days, _, cents)) = priced.as_ref().and_then(|p| p.extension) {
        format!(
            "{} asks to extend the lock on {} {} by {} days ({})",
            user.name,
            lead.first_name,
            lead.last_name,
            days,
            model::format_dollars(cents)
        )
    } else if kind == Kind::PricingException {
        format!(
            "{} asks for a {} bps pricing exception ({}) on {} {}",
            user.name,
            bps,
            model::format_dollars(new.concession_cents),
            lead.first_name,
            lead.last_name
        )
    } else {
        format!("{} filed a {} on {} {}", user.name, kind.label().to_lowercase(), lead.first_name, lead.last_name)
    };
    let link = format!("/escalations/{id}");
    for approver in store::approvers_for(&mut tx, level, lead.team_id, bps, user.id).await? {
        crate::events::notify(&mut tx, approver, "escalation.requested", &title, &link).await?;
    }
    crate::jobs::enqueue(
        &mut tx,
        "escalations.sla_breach",
        serde_json::json!({ "id": id }),
        new.due_at,
        Some(&format!("escalations.sla_breach:{id}")),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Records an approver's decision. 403 for the requester or beyond authority, 409 when already decided.
pub async fn decide(
    state: &AppState,
    user: &CurrentUser,
    id: Uuid,
    decision: &str,
    counter_bps: Option<i32>,
    note: &str,
) -> AppResult<EscalationRow> {
    let (row, auth) = visible_request(state, user, id).await?;
    let Some(decision) = Decision::parse(decision.trim()) else {
        return Err(AppError::invalid("decision", "Choose approve, deny or counter."));
    };
    let note = note.trim();
    if note.len() > 4000 {
        return Err(AppError::invalid("note", "Keep the note under 4,000 characters."));
    }
    if let Err(e) = model::may_decide(user, auth.as_ref(), &facts(&row, user)) {
        crate::audit::record_event(&state.db, Some(user.id), "decision_refused", &format!("escalation {id}")).await;
        return Err(e);
    }
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let (status, version, requester, bps) = store::lock(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    let from = Status::parse(&status).unwrap_or(Status::Closed);
    model::check_decision(from, decision, counter_bps, bps)?;
    let extension = (row.kind == Kind::LockExtension.as_str()).then_some((row.lock_id, row.extension_days));
    if extension.is_some() && decision == Decision::Counter {
        return Err(AppError::invalid(
            "decision",
            "An extension is approved or denied: its cost is the investor's, not a counter offer.",
        ));
    }
    if decision != Decision::Approve && decision != Decision::Counter && note.is_empty() {
        return Err(AppError::invalid("note", "Say why the request is denied."));
    }
    if from == Status::Requested {
        store::add_event(
            &mut tx,
            id,
            Some(user.id),
            &NewEvent {
                kind: "status",
                from_status: Some("requested"),
                to_status: Some("in_review"),
                ..Default::default()
            },
            now,
        )
        .await?;
    }
    let to = decision.outcome();
    let counter = if decision == Decision::Counter { counter_bps } else { None };
    let granted = model::granted_bps(decision, bps, counter);
    store::record_decision(&mut tx, id, to.as_str(), decision.as_str(), granted, user.id, now).await?;
    if let (Some((lock, days)), Decision::Approve) = (extension, decision) {
        // The approval is the extension: the lock moves in the same transaction, or neither happens.
        let (Some(lock), Some(days)) = (lock, days) else {
            return Err(AppError::conflict("This extension request names no lock; deny it and file it from the lock."));
        };
        crate::locks::service::extend_approved(state, &mut tx, user, lock, days, id, note).await?;
    }
    store::add_event(
        &mut tx,
        id,
        Some(user.id),
        &NewEvent {
            kind: "decision",
            from_status: Some(from.as_str()),
            to_status: Some(to.as_str()),
            decision: Some(decision.as_str()),
            counter_bps: counter,
            note,
        },
        now,
    )
    .await?;
    Entry::new(Some(user), "escalation.decide", "escalation", id)
        .before(serde_json::json!({"status": from.as_str(), "version": version}))
        .after(serde_json::json!({
            "status": to.as_str(), "decision": decision.as_str(), "counter_bps": counter,
            "granted_bps": granted, "note": note,
        }))
        .write(&mut *tx)
        .await?;
    let what = match decision {
        Decision::Approve => "approved".to_string(),
        Decision::Deny => "denied".to_string(),
        Decision::Counter => format!("countered at {} bps", counter.unwrap_or(0)),
    };
    let title = format!(
        "{} {} your {} request for {}",
        user.name,
        what,
        model::Kind::parse(&row.kind).map(|k| k.label()).unwrap_or("escalation").to_lowercase(),
        row.borrower
    );
    crate::events::notify(&mut tx, requester, "escalation.decided", &title, &format!("/escalations/{id}")).await?;
    let payload = serde_json::json!({
        "escalation_id": id, "lead_id": row.lead_id, "kind": row.kind, "decision": decision.as_str(),
        "status": to.as_str(), "granted_bps": granted, "decided_by": user.id,
    });
    crate::events::emit(&mut tx, crate::events::Event::EscalationDecided { payload: &payload }).await?;
    tx.commit().await?;
    store::find(&state.db, id).await?.ok_or(AppError::NotFound)
}

/// Marks a request as being reviewed (approvers only).
pub async fn start_review(state: &AppState, user: &CurrentUser, id: Uuid) -> AppResult<()> {
    let (row, auth) = visible_request(state, user, id).await?;
    model::may_decide(user, auth.as_ref(), &facts(&row, user))?;
    change_status(state, user, id, Status::InReview, "").await
}

/// Closes a request (the requester or an approver), e.g. once the loan is priced or the complaint resolved.
pub async fn close(state: &AppState, user: &CurrentUser, id: Uuid, note: &str) -> AppResult<()> {
    let (row, auth) = visible_request(state, user, id).await?;
    if row.requester_id != user.id {
        model::may_decide(user, auth.as_ref(), &facts(&row, user))?;
    }
    change_status(state, user, id, Status::Closed, note.trim()).await
}

async fn change_status(state: &AppState, user: &CurrentUser, id: Uuid, to: Status, note: &str) -> AppResult<()> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let (status, version, _, _) = store::lock(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    let from = Status::parse(&status).unwrap_or(Status::Closed);
    if !model::may_transition(from, to) {
        return Err(AppError::conflict(format!(
            "This request is {}; it cannot move to {}.",
            from.label().to_lowercase(),
            to.label().to_lowercase()
        )));
    }
    store::set_status(&mut tx, id, to.as_str(), now).await?;
    store::add_event(
        &mut tx,
        id,
        Some(user.id),
        &NewEvent {
            kind: "status",
            from_status: Some(from.as_str()),
            to_status: Some(to.as_str()),
            note,
            ..Default::default()
        },
        now,
    )
    .await?;
    let action = if to == Status::Closed { "escalation.close" } else { "escalation.review" };
    Entry::new(Some(user), action, "escalation", id)
        .before(serde_json::json!({"status": from.as_str(), "version": version}))
        .after(serde_json::json!({"status": to.as_str(), "note": note}))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Adds a comment (anyone who may see the request).
pub async fn comment(state: &AppState, user: &CurrentUser, id: Uuid, note: &str) -> AppResult<()> {
    let (row, _) = visible_request(state, user, id).await?;
    let note = note.trim();
    if note.is_empty() || note.len() > 4000 {
        return Err(AppError::invalid("comment", "Write a comment (up to 4,000 characters)."));
    }
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let event =
        store::add_event(&mut tx, id, Some(user.id), &NewEvent { kind: "comment", note, ..Default::default() }, now)
            .await?;
    Entry::new(Some(user), "escalation.comment", "escalation", id)
        .after(serde_json::json!({"event_id": event, "note": note}))
        .write(&mut *tx)
        .await?;
    if row.requester_id != user.id {
        crate::events::notify(
            &mut tx,
            row.requester_id,
            "escalation.comment",
            &format!("{} commented on your request for {}", user.name, row.borrower),
            &format!("/escalations/{id}"),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

#[derive(Template)]
#[template(path = "escalations/lead_panel.html")]
struct LeadPanel {
    lead_id: Uuid,
    rows: Vec<EscalationRow>,
    now: DateTime<Utc>,
}

impl LeadPanel {
    fn kind_label(&self, k: &str) -> &'static str {
        Kind::parse(k).map(|k| k.label()).unwrap_or("Request")
    }
    fn status_label(&self, s: &str) -> &'static str {
        Status::parse(s).map(|s| s.label()).unwrap_or("Unknown")
    }
    fn dollars(&self, c: &i64) -> String {
        model::format_dollars(*c)
    }
    fn clock(&self, r: &EscalationRow) -> String {
        if Status::parse(&r.status).is_some_and(|s| s.is_open()) {
            model::sla_clock(r.due_at, self.now).0
        } else {
            String::new()
        }
    }
}

/// HTML for the lead page: this lead's requests and a link to ask for a pricing exception.
pub async fn lead_panel(state: &AppState, user: &CurrentUser, lead_id: Uuid) -> AppResult<String> {
    crate::leads::store::visible_lead(&state.db, user, lead_id).await?;
    let auth = authority(state, user).await?;
    let filter = store::ListFilter { lead_id: Some(lead_id), limit: 50, ..Default::default() };
    let rows = store::list(&state.db, user, auth.as_ref(), &filter).await?;
    LeadPanel { lead_id, rows, now: state.clock.now() }.render().map_err(|e| AppError::Internal(e.into()))
}

/// Requests waiting on this user (for the manager's home page and the nav badge).
pub async fn waiting_count(state: &AppState, user: &CurrentUser) -> AppResult<i64> {
    match authority(state, user).await? {
        Some(a) => Ok(store::waiting_count(&state.db, user, &a).await?),
        None => Ok(0),
    }
}

/// Runs a job of kind `escalations.*`: `escalations.sla_breach` tells the approvers and the requester once a
/// request is still open past its SLA.
pub async fn run_job(state: &AppState, job: &crate::jobs::Job, now: DateTime<Utc>) -> anyhow::Result<()> {
    match job.kind.as_str() {
        "escalations.sla_breach" => {
            let id: Uuid = job
                .payload
                .get("id")
                .and_then(|v| v.as_str())
                .and_then(|s| Uuid::parse_str(s).ok())
                .ok_or_else(|| anyhow::anyhow!("sla_breach job without an id"))?;
            let mut tx = state.db.begin().await?;
            let Some((level, team, bps, requester, status)) = store::lock_breached(&mut tx, id, now).await? else {
                return Ok(());
            };
            store::mark_breach_notified(&mut tx, id, now).await?;
            store::add_event(
                &mut tx,
                id,
                None,
                &NewEvent {
                    kind: "sla_breach",
                    from_status: Some(&status),
                    to_status: Some(&status),
                    ..Default::default()
                },
                now,
            )
            .await?;
            Entry::new(None, "escalation.sla_breach", "escalation", id)
                .after(serde_json::json!({"status": status, "level": level}))
                .write(&mut *tx)
                .await?;
            let level = Level::parse(&level).unwrap_or(Level::Admin);
            let link = format!("/escalations/{id}");
            let mut people = store::approvers_for(&mut tx, level, team, bps, requester).await?;
            people.push(requester);
            for p in people {
                crate::events::notify(&mut tx, p, "escalation.sla_breach", "An escalation is past its SLA", &link)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        }
        other => anyhow::bail!("unknown job kind {other}"),
    }
}
