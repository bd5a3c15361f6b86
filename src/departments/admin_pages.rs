//! `/admin/departments` (admins): the departments, their lead, members, business hours and the response time
//! per kind of item. A form with a mistake comes back with what was typed (422); a stale save is a 409.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use tower_sessions::Session;
use uuid::Uuid;

use super::model;
use super::service::{self, DepartmentInput};
use super::store::{self, DepartmentRow};
use crate::auth::{CurrentUser, PageCtx, Role};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::state::AppState;
use crate::web::{Flash, Routes};

pub fn router() -> Routes {
    Routes::new().route("/admin/departments", &["GET", "POST"], get(list).post(create)).route(
        "/admin/departments/{id}",
        &["GET", "POST"],
        get(edit).post(update),
    )
}

pub const WEEKDAYS: [(i32, &str); 7] =
    [(1, "Mon"), (2, "Tue"), (3, "Wed"), (4, "Thu"), (5, "Fri"), (6, "Sat"), (7, "Sun")];

/// The department form as typed (repeated `day`, `member` and `sla_<kind>` fields).
#[derive(Debug, Clone, Default)]
pub struct DepartmentForm {
    pub kind: String,
    pub name: String,
    pub lead_user_id: String,
    pub time_zone: String,
    pub opens: String,
    pub closes: String,
    pub days: Vec<String>,
    pub members: Vec<String>,
    /// (item kind, minutes as typed), one per item kind.
    pub slas: Vec<(String, String)>,
    pub version: String,
}

impl DepartmentForm {
    fn blank() -> Self {
        DepartmentForm {
            time_zone: "America/Chicago".into(),
            opens: "09:00".into(),
            closes: "17:00".into(),
            days: (1..=5).map(|d| d.to_string()).collect(),
            slas: model::ITEM_KINDS.iter().map(|(k, _)| (k.to_string(), String::new())).collect(),
            ..Default::default()
        }
    }

    fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        let mut f = DepartmentForm { slas: vec![], ..Default::default() };
        for (k, v) in pairs {
            match k.as_str() {
                "kind" => f.kind = v,
                "name" => f.name = v,
                "lead_user_id" => f.lead_user_id = v,
                "time_zone" => f.time_zone = v,
                "opens" => f.opens = v,
                "closes" => f.closes = v,
                "day" => f.days.push(v),
                "member" => f.members.push(v),
                "version" => f.version = v,
                other => {
                    if let Some(kind) = other.strip_prefix("sla_") {
                        f.slas.push((kind.to_string(), v));
                    }
                }
            }
        }
        f
    }

    fn of(d: &DepartmentRow, members: &[store::MemberRow], slas: &[store::SlaRow]) -> Self {
        DepartmentForm {
            kind: d.kind.clone(),
            name: d.name.clone(),
            lead_user_id: d.lead_user_id.map(|u| u.to_string()).unwrap_or_default(),
            time_zone: d.time_zone.clone(),
            opens: model::format_clock(d.opens_minute),
            closes: model::format_clock(d.closes_minute),
            days: d.work_days.iter().map(|d| d.to_string()).collect(),
            members: members.iter().map(|m| m.user_id.to_string()).collect(),
            slas: model::ITEM_KINDS
                .iter()
                .map(|(k, _)| {
                    let v = slas.iter().find(|s| s.item_kind == *k).map(|s| s.response_minutes.to_string());
                    (k.to_string(), v.unwrap_or_default())
                })
                .collect(),
            version: d.version.to_string(),
        }
    }

    fn input(&self) -> AppResult<DepartmentInput> {
        let mut e = FieldErrors::new();
        if !model::KINDS.iter().any(|(k, _)| *k == self.kind) {
            e.add("kind", "Choose which department this is.");
        }
        let name = self.name.trim().to_string();
        if name.is_empty() || name.len() > 120 {
            e.add("name", "Name the department (up to 120 characters).");
        }
        let lead_user_id = match self.lead_user_id.trim() {
            "" => None,
            s => Uuid::parse_str(s).ok().or_else(|| {
                e.add("lead_user_id", "Choose the department's lead.");
                None
            }),
        };
        let time_zone = self.time_zone.trim().to_string();
        if time_zone.parse::<chrono_tz::Tz>().is_err() {
            e.add("time_zone", "Enter a time zone such as America/Chicago.");
        }
        let opens = model::parse_clock(&self.opens);
        let closes = model::parse_clock(&self.closes);
        match (opens, closes) {
            (Some(o), Some(c)) if o < c => {}
            (Some(_), Some(_)) => e.add("closes", "The department closes after it opens."),
            _ => e.add("opens", "Enter the hours as 09:00 and 17:00."),
        }
        let mut work_days: Vec<i32> =
            self.days.iter().filter_map(|d| d.parse().ok()).filter(|d| (1..=7).contains(d)).collect();
        work_days.sort();
        work_days.dedup();
        if work_days.is_empty() {
            e.add("days", "Choose at least one working day.");
        }
        let members = self.members.iter().filter_map(|m| Uuid::parse_str(m.trim()).ok()).collect();
        let mut slas = vec![];
        for (kind, raw) in &self.slas {
            if !model::ITEM_KINDS.iter().any(|(k, _)| k == kind) || raw.trim().is_empty() {
                continue;
            }
            match raw.trim().parse::<i32>() {
                Ok(m) if (15..=43_200).contains(&m) => slas.push((kind.clone(), m)),
                _ => e.add(&format!("sla_{kind}"), "Enter business minutes, 15 to 43,200 (empty: 480)."),
            }
        }
        e.into_result()?;
        Ok(DepartmentInput {
            kind: self.kind.clone(),
            name,
            lead_user_id,
            time_zone,
            opens_minute: opens.unwrap_or(540),
            closes_minute: closes.unwrap_or(1020),
            work_days,
            members,
            slas,
            version: self.version.trim().parse().ok(),
        })
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "departments/admin.html")]
pub struct AdminPage {
    ctx: PageCtx,
    departments: Vec<DepartmentRow>,
    /// The form shown: a new department (`editing` None) or one being changed.
    editing: Option<DepartmentRow>,
    form: DepartmentForm,
    errors: FieldErrors,
    people: Vec<(Uuid, String, String)>,
}

impl AdminPage {
    fn err(&self, f: &str) -> &str {
        self.errors.get(f).unwrap_or("")
    }
    fn sla_err(&self, kind: &str) -> &str {
        self.errors.get(&format!("sla_{kind}")).unwrap_or("")
    }
    fn kind_label(&self, k: &str) -> &'static str {
        model::kind_label(k)
    }
    fn item_label(&self, k: &str) -> &'static str {
        model::item_kind_label(k)
    }
    fn has_day(&self, d: &i32) -> bool {
        self.form.days.iter().any(|x| *x == d.to_string())
    }
    fn is_member(&self, u: &Uuid) -> bool {
        self.form.members.iter().any(|x| *x == u.to_string())
    }
    fn is_lead(&self, u: &Uuid) -> bool {
        self.form.lead_user_id == u.to_string()
    }
    fn hours(&self, d: &DepartmentRow) -> String {
        let days: Vec<&str> = WEEKDAYS.iter().filter(|(n, _)| d.work_days.contains(n)).map(|(_, l)| *l).collect();
        format!(
            "{} {}–{} ({})",
            days.join(" "),
            model::format_clock(d.opens_minute),
            model::format_clock(d.closes_minute),
            d.time_zone
        )
    }
    fn weekdays(&self) -> [(i32, &'static str); 7] {
        WEEKDAYS
    }
    fn kinds(&self) -> [(&'static str, &'static str); 9] {
        model::KINDS
    }
}

async fn build(
    state: &AppState,
    user: &CurrentUser,
    ctx: PageCtx,
    editing: Option<Uuid>,
    form: Option<DepartmentForm>,
    errors: FieldErrors,
) -> AppResult<AdminPage> {
    user.require(&[Role::Admin])?;
    let departments = store::departments(&state.db).await?;
    let editing = match editing {
        Some(id) => Some(departments.iter().find(|d| d.id == id).cloned().ok_or(AppError::NotFound)?),
        None => None,
    };
    let form = match (form, &editing) {
        (Some(f), _) => f,
        (None, Some(d)) => {
            let members = store::members(&state.db, d.id).await?;
            let slas = store::slas(&state.db, d.id).await?;
            DepartmentForm::of(d, &members, &slas)
        }
        (None, None) => DepartmentForm::blank(),
    };
    let people = store::candidates(&state.db).await?;
    Ok(AdminPage { ctx, departments, editing, form, errors, people })
}

async fn list(user: CurrentUser, ctx: PageCtx, State(state): State<AppState>) -> AppResult<impl IntoResponse> {
    build(&state, &user, ctx, None, None, FieldErrors::new()).await
}

async fn edit(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<impl IntoResponse> {
    build(&state, &user, ctx, Some(id), None, FieldErrors::new()).await
}

async fn save(
    state: &AppState,
    user: &CurrentUser,
    ctx: PageCtx,
    session: &Session,
    id: Option<Uuid>,
    form: DepartmentForm,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    if let Some(id) = id {
        store::department(&state.db, id).await?.ok_or(AppError::NotFound)?;
    }
    let result = async {
        let mut input = form.input()?;
        if let Some(id) = id {
            // The kind is what the department is; it does not change on an edit.
            input.kind = store::department(&state.db, id).await?.map(|d| d.kind).unwrap_or(input.kind);
        }
        service::save_department(state, user, id, &input).await
    }
    .await;
    match result {
        Ok(d) => {
            Flash::push(session, "success", format!("Saved {}.", d.name)).await;
            Ok(Redirect::to(&format!("/admin/departments/{}", d.id)).into_response())
        }
        Err(AppError::Validation(errors)) => {
            let page = build(state, user, ctx, id, Some(form), errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(AppError::Conflict(m)) => {
            let mut errors = FieldErrors::new();
            errors.add("version", m);
            let page = build(state, user, ctx, id, Some(form), errors).await?;
            Ok((StatusCode::CONFLICT, page).into_response())
        }
        Err(e) => Err(e),
    }
}

async fn create(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    axum::Form(pairs): axum::Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    save(&state, &user, ctx, &session, None, DepartmentForm::from_pairs(pairs)).await
}

async fn update(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    axum::Form(pairs): axum::Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    save(&state, &user, ctx, &session, Some(id), DepartmentForm::from_pairs(pairs)).await
}
