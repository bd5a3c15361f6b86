//! One function per change (save a department, forward, answer, send back, report a breach), each in one
//! transaction with its hop, its audit entry and its notifications; and who may see what.
//!
//! The scope rule: a department member sees the items forwarded to their department, and through an item only
//! the facts its question needs (`store::EscalationFacts`, `store::CaseFacts`); their lead scope does not grow.
//! The manager who forwarded an item sees it too; admins see every item. Anyone else gets 404.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use uuid::Uuid;

use super::complaint_clock::ClockFacts;
use super::complaints::{self, ClockInput};
use super::model::{self, Hours};
use super::store::{self, DepartmentFields, DepartmentRow, HopRow, ItemFilter, ItemRow, NewItem};
use crate::audit::Entry;
use crate::auth::{CurrentUser, Role};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::state::AppState;

pub const BREACH_JOB: &str = "departments.sla_breach";
const MAX_NOTE: usize = 4000;

/// How the user stands to an item: a member of its department (may answer), or only its forwarder or an admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemAccess {
    pub member: bool,
}

impl ItemAccess {
    pub fn may_answer(&self, item: &ItemRow) -> bool {
        self.member && item.status == "open"
    }
}

/// An item the user may see, or 404 (no existence leak).
pub async fn visible_item(state: &AppState, user: &CurrentUser, id: Uuid) -> AppResult<(ItemRow, ItemAccess)> {
    let item = store::item(&state.db, id).await?.ok_or(AppError::NotFound)?;
    let member = store::memberships(&state.db, user.id).await?.contains(&item.department_id);
    if !(member || user.is_admin() || item.forwarded_by == user.id) {
        crate::audit::record_event(&state.db, Some(user.id), "access_refused", &format!("department item {id}")).await;
        return Err(AppError::NotFound);
    }
    Ok((item, ItemAccess { member: member || user.is_admin() }))
}

/// A department's queue: every item, for its members and admins; 404 for everyone else (a manager reads the
/// items they forwarded through [`forwarded_filter`]).
pub async fn queue_filter(state: &AppState, user: &CurrentUser, department_id: Uuid) -> AppResult<ItemFilter> {
    store::department(&state.db, department_id).await?.ok_or(AppError::NotFound)?;
    let member = store::memberships(&state.db, user.id).await?.contains(&department_id);
    if !(member || user.is_admin()) {
        crate::audit::record_event(&state.db, Some(user.id), "access_refused", &format!("department {department_id}"))
            .await;
        return Err(AppError::NotFound);
    }
    Ok(ItemFilter {
        departments: Some(vec![department_id]),
        forwarded_by: None,
        escalation_id: None,
        case_id: None,
        status: None,
        due_by: None,
        forwarded_since: None,
        forwarded_before: None,
        team: None,
        limit: 200,
    })
}

/// The items the user forwarded (admins: every item), to one department or all: the list behind a manager's
/// figures.
pub fn forwarded_filter(user: &CurrentUser, department_id: Option<Uuid>) -> ItemFilter {
    ItemFilter {
        departments: department_id.map(|d| vec![d]),
        forwarded_by: (!user.is_admin()).then_some(user.id),
        escalation_id: None,
        case_id: None,
        status: None,
        due_by: None,
        forwarded_since: None,
        forwarded_before: None,
        team: None,
        limit: 200,
    }
}

/// Items for the API: the user's departments' items and the ones they forwarded (admins: all).
pub async fn items_for(state: &AppState, user: &CurrentUser, status: Option<String>) -> AppResult<Vec<ItemRow>> {
    let base = ItemFilter {
        departments: None,
        forwarded_by: None,
        escalation_id: None,
        case_id: None,
        status: status.clone(),
        due_by: None,
        forwarded_since: None,
        forwarded_before: None,
        team: None,
        limit: 500,
    };
    if user.is_admin() {
        return Ok(store::items(&state.db, &base).await?);
    }
    let mine = store::memberships(&state.db, user.id).await?;
    let mut rows = store::items(&state.db, &ItemFilter { departments: Some(mine), ..base }).await?;
    let forwarded = store::items(
        &state.db,
        &ItemFilter {
            departments: None,
            forwarded_by: Some(user.id),
            escalation_id: None,
            case_id: None,
            status,
            due_by: None,
            forwarded_since: None,
            forwarded_before: None,
            team: None,
            limit: 500,
        },
    )
    .await?;
    for f in forwarded {
        if !rows.iter().any(|r| r.id == f.id) {
            rows.push(f);
        }
    }
    Ok(rows)
}

/// The items an escalation was forwarded as, each with its hops when `internal` (managers, admins); the loan
/// officer gets the status and the department's answer only.
pub async fn for_escalation(
    state: &AppState,
    escalation_id: Uuid,
    internal: bool,
) -> AppResult<Vec<(ItemRow, Vec<HopRow>)>> {
    subject_items(state, Some(escalation_id), None, internal).await
}

/// The same for a loss-mitigation case (its supervisors and specialists work inside loss mitigation).
pub async fn for_case(state: &AppState, case_id: Uuid) -> AppResult<Vec<(ItemRow, Vec<HopRow>)>> {
    subject_items(state, None, Some(case_id), true).await
}

async fn subject_items(
    state: &AppState,
    escalation_id: Option<Uuid>,
    case_id: Option<Uuid>,
    internal: bool,
) -> AppResult<Vec<(ItemRow, Vec<HopRow>)>> {
    let rows = store::items(
        &state.db,
        &ItemFilter {
            departments: None,
            forwarded_by: None,
            escalation_id,
            case_id,
            status: None,
            due_by: None,
            forwarded_since: None,
            forwarded_before: None,
            team: None,
            limit: 50,
        },
    )
    .await?;
    let mut hops =
        if internal { store::hops(&state.db, &rows.iter().map(|r| r.id).collect::<Vec<_>>()).await? } else { vec![] };
    Ok(rows
        .into_iter()
        .map(|mut r| {
            if !internal && r.status != "answered" {
                r.answer.clear();
            }
            let mine = hops.iter().filter(|(i, _)| *i == r.id).map(|(_, h)| h.clone()).collect();
            hops.retain(|(i, _)| *i != r.id);
            (r, mine)
        })
        .collect())
}

/// What is forwarded: an escalation (by a manager or an admin) or a loss-mitigation case question (by a
/// supervisor or an admin).
#[derive(Debug, Clone, Copy)]
pub enum Subject {
    Escalation(Uuid),
    Case(Uuid),
}

fn check_note(field: &str, note: &str, what: &str) -> AppResult<String> {
    let note = note.trim();
    if note.is_empty() {
        return Err(AppError::invalid(field, what.to_string()));
    }
    if note.len() > MAX_NOTE {
        return Err(AppError::invalid(field, "Keep it under 4,000 characters."));
    }
    Ok(note.to_string())
}

/// The escalation or case being forwarded, if the user may forward it: 404 outside their scope, 403 for a
/// role that does not forward.
async fn check_subject(
    state: &AppState,
    user: &CurrentUser,
    subject: Subject,
) -> AppResult<(Option<Uuid>, Option<Uuid>)> {
    Ok(match subject {
        Subject::Escalation(id) => {
            let lead = store::escalation_lead(&state.db, id).await?.ok_or(AppError::NotFound)?;
            crate::leads::store::visible_lead(&state.db, user, lead).await?;
            user.require(&[Role::Manager, Role::Admin])?;
            (Some(id), None)
        }
        Subject::Case(id) => {
            if !matches!(user.role, Role::LossmitSupervisor | Role::Admin) {
                return Err(AppError::NotFound);
            }
            store::case_facts(&state.db, id).await?.ok_or(AppError::NotFound)?;
            (None, Some(id))
        }
    })
}

/// Tells the department's members and lead of a new item, and the loan officer that their request moved.
async fn notify_forward(
    state: &AppState,
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    user: &CurrentUser,
    dept: &DepartmentRow,
    item: (Uuid, &str),
    lo: Option<(Uuid, Uuid)>,
) -> AppResult<()> {
    let (id, item_kind) = item;
    let link = format!("/departments/items/{id}");
    let title =
        format!("{} forwarded a {} to {}", user.name, model::item_kind_label(item_kind).to_lowercase(), dept.name);
    let mut people: Vec<Uuid> = store::members(&state.db, dept.id).await?.into_iter().map(|m| m.user_id).collect();
    people.extend(dept.lead_user_id);
    people.sort();
    people.dedup();
    for p in people.into_iter().filter(|p| *p != user.id) {
        crate::events::notify(tx, p, "department.forwarded", &title, &link).await?;
    }
    if let Some((lo, esc)) = lo.filter(|(lo, _)| *lo != user.id) {
        let t = format!("Your request was forwarded to {}", dept.name);
        crate::events::notify(tx, lo, "department.forwarded", &t, &format!("/escalations/{esc}")).await?;
    }
    Ok(())
}

/// Forwards a subject to a department with a note; returns the new item. 404 for a subject outside the
/// user's scope, 403 for a role that does not forward, 409 while it already waits on a department.
pub async fn forward(
    state: &AppState,
    user: &CurrentUser,
    subject: Subject,
    department: &str,
    note: &str,
) -> AppResult<ItemRow> {
    forward_with_clock(state, user, subject, department, note, &ClockInput::default()).await
}

/// [`forward`], with a complaint's regulatory clock: a complaint forwarded for the first time needs its type
/// and the day it was received (422 without them); a clock already recorded cannot be given again (409).
pub async fn forward_with_clock(
    state: &AppState,
    user: &CurrentUser,
    subject: Subject,
    department: &str,
    note: &str,
    clock: &ClockInput,
) -> AppResult<ItemRow> {
    // The subject first: one outside the caller's scope is a 404 whatever the rest says.
    let (escalation_id, case_id) = check_subject(state, user, subject).await?;
    let mut errors = FieldErrors::new();
    let facts = if clock.is_empty() { None } else { complaints::check_input(clock, state.today(), &mut errors) };
    let department_id = Uuid::parse_str(department.trim()).ok();
    let dept = match department_id {
        Some(d) => store::department(&state.db, d).await?,
        None => None,
    };
    if dept.is_none() {
        errors.add("department_id", "Choose the department to forward to.");
    }
    let note = match check_note("note", note, "Say what the department should answer.") {
        Ok(n) => n,
        Err(AppError::Validation(f)) => {
            errors.add("note", f.get("note").unwrap_or_default().to_string());
            String::new()
        }
        Err(e) => return Err(e),
    };
    errors.into_result()?;
    let dept = dept.ok_or(AppError::NotFound)?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let (item_kind, notify_lo) = match escalation_id {
        Some(id) => {
            let (kind, requester, _, status) =
                store::escalation_subject(&mut tx, id).await?.ok_or(AppError::NotFound)?;
            if !matches!(status.as_str(), "requested" | "in_review") {
                return Err(AppError::conflict(
                    "This request is decided or closed; only an open request is forwarded.",
                ));
            }
            (kind, Some(requester))
        }
        None => (model::CASE_QUESTION.to_string(), None),
    };
    if store::open_item_for(&mut tx, escalation_id, case_id).await?.is_some() {
        return Err(AppError::conflict(
            "This already waits on a department; it can be forwarded again once answered or sent back.",
        ));
    }
    let complaint = clock_for_forward(state, &mut tx, user, escalation_id, &item_kind, facts, clock, now).await?;
    let (tz, opens, closes, days, minutes) =
        store::sla_for(&mut tx, dept.id, &item_kind).await?.ok_or(AppError::NotFound)?;
    let hours = Hours {
        tz: tz.parse().unwrap_or(chrono_tz::America::Chicago),
        opens_minute: opens,
        closes_minute: closes,
        work_days: days,
        calendar: crate::calendar::organisation(&state.db).await?,
    };
    let due_at = hours.add_business_minutes(now, minutes.unwrap_or(model::DEFAULT_RESPONSE_MINUTES));
    let id = Uuid::new_v4();
    store::insert_item(
        &mut tx,
        &NewItem {
            id,
            department_id: dept.id,
            escalation_id,
            case_id,
            item_kind: &item_kind,
            forwarded_by: user.id,
            at: now,
            due_at,
        },
    )
    .await?;
    store::add_hop(&mut tx, id, "forward", Some(user.id), dept.id, None, &note, now).await?;
    if let (Some(e), Some(f)) = (escalation_id, &complaint) {
        complaints::refresh(state, &mut tx, e, f).await?;
    }
    Entry::new(Some(user), "department.forward", "department_item", id)
        .after(serde_json::json!({
            "department_id": dept.id, "escalation_id": escalation_id, "case_id": case_id, "item_kind": item_kind,
            "due_at": due_at, "note": note,
        }))
        .write(&mut *tx)
        .await?;
    notify_forward(state, &mut tx, user, &dept, (id, &item_kind), notify_lo.zip(escalation_id)).await?;
    crate::jobs::enqueue(
        &mut tx,
        BREACH_JOB,
        serde_json::json!({ "id": id }),
        due_at,
        Some(&format!("{BREACH_JOB}:{id}")),
    )
    .await?;
    tx.commit().await?;
    store::item(&state.db, id).await?.ok_or(AppError::NotFound)
}

/// A complaint's clock on forward: recorded now when given (the first forward of a complaint must give it), or
/// the one recorded before. The facts with the steps recorded so far; None for other kinds.
#[allow(clippy::too_many_arguments)]
async fn clock_for_forward(
    state: &AppState,
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    user: &CurrentUser,
    escalation_id: Option<Uuid>,
    item_kind: &str,
    facts: Option<ClockFacts>,
    input: &ClockInput,
    now: DateTime<Utc>,
) -> AppResult<Option<ClockFacts>> {
    let Some(e) = escalation_id.filter(|_| item_kind == "complaint") else {
        if !input.is_empty() {
            return Err(AppError::invalid("complaint_type", "Only a complaint has a regulatory clock."));
        }
        return Ok(None);
    };
    if complaints::has_clock(tx, e).await? {
        if !input.is_empty() {
            return Err(AppError::conflict("This complaint's clock was already recorded; it cannot be changed."));
        }
        return complaints::clock_facts(state, e).await;
    }
    let facts = facts.ok_or_else(|| {
        AppError::invalid(
            "complaint_type",
            "Choose what kind of complaint this is and when it was received (informal: no regulatory clock).",
        )
    })?;
    complaints::record_clock(tx, user, e, &facts, now).await?;
    Ok(Some(facts))
}

/// A department member answers an open item with one of its kind's decisions (or sends it back with
/// `decision` None). 403 for someone who only sees it, 409 when it is no longer open or `version` is stale.
pub async fn respond(
    state: &AppState,
    user: &CurrentUser,
    id: Uuid,
    decision: Option<&str>,
    text: &str,
    version: Option<i32>,
) -> AppResult<ItemRow> {
    let (item, access) = visible_item(state, user, id).await?;
    if !access.member {
        return Err(AppError::forbidden("Only the department's members answer what is forwarded to it."));
    }
    let mut errors = FieldErrors::new();
    let decision = match decision.map(str::trim) {
        Some(d) if model::decision_options(&item.item_kind).iter().any(|(k, _)| *k == d) => Some(d),
        Some(_) => {
            errors.add("decision", "Choose one of the decisions.");
            None
        }
        None => None,
    };
    let text = text.trim();
    if text.is_empty() {
        errors.add(
            "answer",
            if decision.is_some() || errors.get("decision").is_some() {
                "Write the answer the loan officer will read."
            } else {
                "Say why it goes back."
            },
        );
    } else if text.len() > MAX_NOTE {
        errors.add("answer", "Keep it under 4,000 characters.");
    }
    errors.into_result()?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let (status, current, department_id, forwarded_by, escalation_id, _, _) =
        store::lock_item(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    if status != "open" {
        return Err(AppError::conflict(format!("This item was already {status}.")));
    }
    if version.is_some_and(|v| v != current) {
        return Err(AppError::conflict("Someone changed this item since you opened it; reload and try again."));
    }
    let (to, action) = if decision.is_some() { ("answered", "answer") } else { ("returned", "return") };
    let public_answer = if decision.is_some() { text } else { "" };
    store::close_item(&mut tx, id, to, user.id, decision, public_answer, now).await?;
    store::add_hop(&mut tx, id, action, Some(user.id), department_id, decision, text, now).await?;
    Entry::new(Some(user), &format!("department.{action}"), "department_item", id)
        .before(serde_json::json!({"status": status, "version": current}))
        .after(serde_json::json!({"status": to, "decision": decision, "note": text}))
        .write(&mut *tx)
        .await?;
    let what = match decision {
        Some(d) => format!("{} answered: {}", item.department_name, model::decision_label(&item.item_kind, d)),
        None => format!(
            "{} sent back the {} for {}",
            item.department_name,
            model::item_kind_label(&item.item_kind).to_lowercase(),
            item.borrower
        ),
    };
    let mut told = vec![];
    let link = match escalation_id {
        Some(e) => format!("/escalations/{e}"),
        None => format!("/departments/items/{id}"),
    };
    if forwarded_by != user.id {
        crate::events::notify(&mut tx, forwarded_by, &format!("department.{action}"), &what, &link).await?;
        told.push(forwarded_by);
    }
    if let (Some(e), true) = (escalation_id, decision.is_some()) {
        if let Some((_, requester, _, _)) = store::escalation_subject(&mut tx, e).await? {
            if !told.contains(&requester) && requester != user.id {
                crate::events::notify(&mut tx, requester, "department.answer", &what, &link).await?;
            }
        }
    }
    tx.commit().await?;
    store::item(&state.db, id).await?.ok_or(AppError::NotFound)
}

/// The hops of one item (for whoever may see it).
pub async fn hops(state: &AppState, id: Uuid) -> AppResult<Vec<HopRow>> {
    Ok(store::hops(&state.db, &[id]).await?.into_iter().map(|(_, h)| h).collect())
}

/// A department as an admin typed it, checked.
pub struct DepartmentInput {
    pub kind: String,
    pub name: String,
    pub lead_user_id: Option<Uuid>,
    pub time_zone: String,
    pub opens_minute: i32,
    pub closes_minute: i32,
    pub work_days: Vec<i32>,
    pub members: Vec<Uuid>,
    /// (item kind, response minutes).
    pub slas: Vec<(String, i32)>,
    pub version: Option<i32>,
}

/// Adds (`id` None) or changes a department, its members and SLAs, in one audited transaction. 409 when the
/// kind is taken or the version is stale.
pub async fn save_department(
    state: &AppState,
    user: &CurrentUser,
    id: Option<Uuid>,
    input: &DepartmentInput,
) -> AppResult<DepartmentRow> {
    user.require(&[Role::Admin])?;
    let fields = DepartmentFields {
        kind: &input.kind,
        name: &input.name,
        lead_user_id: input.lead_user_id,
        time_zone: &input.time_zone,
        opens_minute: input.opens_minute,
        closes_minute: input.closes_minute,
        work_days: &input.work_days,
    };
    let mut tx = state.db.begin().await?;
    let (id, before) = match id {
        None => {
            let id = Uuid::new_v4();
            store::insert_department(&mut tx, id, &fields).await.map_err(|e| match &e {
                sqlx::Error::Database(d) if d.is_unique_violation() => {
                    AppError::invalid("kind", "That department already exists; change it below.")
                }
                _ => e.into(),
            })?;
            (id, None)
        }
        Some(id) => {
            let before = store::department(&state.db, id).await?.ok_or(AppError::NotFound)?;
            let version = input.version.unwrap_or(before.version);
            if !store::update_department(&mut tx, id, version, &fields).await? {
                return Err(AppError::conflict(
                    "Someone saved this department since you opened it; reload to see their change.",
                ));
            }
            (id, Some(before))
        }
    };
    store::set_members(&mut tx, id, &input.members).await?;
    let (kinds, minutes): (Vec<String>, Vec<i32>) = input.slas.iter().cloned().unzip();
    store::set_slas(&mut tx, id, &kinds, &minutes).await?;
    Entry::new(Some(user), "department.save", "department", id)
        .before(serde_json::json!(before))
        .after(serde_json::json!({
            "kind": input.kind, "name": input.name, "lead_user_id": input.lead_user_id, "time_zone": input.time_zone,
            "opens_minute": input.opens_minute, "closes_minute": input.closes_minute, "work_days": input.work_days,
            "members": input.members, "slas": input.slas,
        }))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    store::department(&state.db, id).await?.ok_or(AppError::NotFound)
}

/// Per department, for the manager's figures: open items, breached, and the median response time.
pub struct Figure {
    pub department_id: Uuid,
    pub name: String,
    pub open: i64,
    pub breached: i64,
    pub median_minutes: Option<i64>,
    pub answered: usize,
    /// The filters the figure was computed with, for its list's link, ready for an HTML attribute
    /// (`&amp;from=…&amp;to=…&amp;team=…`, or empty). Made of dates and a team id only, so it needs no escaping.
    pub list_query_html: String,
}

/// Which forwards the figures count: those forwarded in [from, to) (days in the organisation's time zone) and
/// of one team's escalations — the dashboard's date range and team filter. Default: everything.
#[derive(Debug, Clone, Default)]
pub struct FigureScope {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub team: Option<Uuid>,
}

impl FigureScope {
    /// The query string of a list showing the same items.
    pub fn query(&self) -> String {
        let mut q = String::new();
        if let Some(f) = self.from {
            q.push_str(&format!("&from={f}"));
        }
        if let Some(t) = self.to {
            q.push_str(&format!("&to={t}"));
        }
        if let Some(t) = self.team {
            q.push_str(&format!("&team={t}"));
        }
        q
    }

    /// [from, to) as instants: midnight at the start of each day in `tz`.
    pub fn instants(&self, tz: chrono_tz::Tz) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        let at = |d: NaiveDate| {
            let naive = d.and_time(chrono::NaiveTime::MIN);
            tz.from_local_datetime(&naive)
                .earliest()
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_else(|| Utc.from_utc_datetime(&naive))
        };
        (self.from.map(at), self.to.map(at))
    }
}

/// The figures over what this user forwarded (admins: everything), within `scope`.
pub async fn figures(state: &AppState, user: &CurrentUser, scope: &FigureScope) -> AppResult<Vec<Figure>> {
    let by = (!user.is_admin()).then_some(user.id);
    let list_query_html = scope.query().replace('&', "&amp;");
    Ok(store::figures(&state.db, by, state.clock.now(), scope.instants(state.config.timezone), scope.team)
        .await?
        .into_iter()
        .map(|mut f| Figure {
            department_id: f.department_id,
            name: f.name,
            open: f.open,
            breached: f.breached,
            answered: f.response_minutes.len(),
            median_minutes: model::median_minutes(&mut f.response_minutes),
            list_query_html: list_query_html.clone(),
        })
        .collect())
}

/// The `departments.sla_breach` job: an item still open at its due time tells the department's lead and the
/// forwarding manager, once (a hop and an audit entry record it).
pub async fn run_breach(state: &AppState, job: &crate::jobs::Job, now: DateTime<Utc>) -> anyhow::Result<()> {
    let id: Uuid = job
        .payload
        .get("id")
        .and_then(|v| v.as_str())
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| anyhow::anyhow!("sla_breach job without an id"))?;
    let mut tx = state.db.begin().await?;
    let Some((department_id, forwarded_by, lead)) = store::lock_breached(&mut tx, id, now).await? else {
        return Ok(());
    };
    store::mark_breached(&mut tx, id, now).await?;
    store::add_hop(&mut tx, id, "sla_breach", None, department_id, None, "", now).await?;
    Entry::new(None, "department.sla_breach", "department_item", id)
        .after(serde_json::json!({"department_id": department_id}))
        .write(&mut *tx)
        .await?;
    let link = format!("/departments/items/{id}");
    let mut people = vec![forwarded_by];
    people.extend(lead.filter(|l| *l != forwarded_by));
    for p in people {
        crate::events::notify(&mut tx, p, "department.sla_breach", "A forwarded item is past its SLA", &link).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// What the weekly executive digest says: the open items of the executive department (soonest due first) and
/// the SLA breaches of the week per department.
pub struct ExecutiveDigest {
    pub readers: Vec<Uuid>,
    pub open: Vec<ItemRow>,
    pub breaches: Vec<(String, i64)>,
}

pub async fn executive_digest(state: &AppState, now: DateTime<Utc>) -> AppResult<ExecutiveDigest> {
    let readers = store::executive_readers(&state.db).await?;
    let executive: Vec<Uuid> =
        store::departments(&state.db).await?.into_iter().filter(|d| d.kind == "executive").map(|d| d.id).collect();
    let open = if executive.is_empty() {
        vec![]
    } else {
        store::items(
            &state.db,
            &ItemFilter {
                departments: Some(executive),
                forwarded_by: None,
                escalation_id: None,
                case_id: None,
                status: Some("open".into()),
                due_by: None,
                forwarded_since: None,
                forwarded_before: None,
                team: None,
                limit: 200,
            },
        )
        .await?
    };
    let breaches = store::breaches_between(&state.db, now - chrono::Duration::days(7), now).await?;
    Ok(ExecutiveDigest { readers, open, breaches })
}
