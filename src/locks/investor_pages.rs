//! The admin page for the investors a branch locks with (issue 20): their relock and float-down terms and the
//! extension schedule the lock desk prices extensions from. Writes go through `investors`, which audits them.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;
use tower_sessions::Session;
use uuid::Uuid;

use super::investors::{self, InvestorInput};
use super::service;
use super::store::{InvestorRow, ScheduleOption};
use crate::auth::{CurrentUser, PageCtx, Role};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::state::AppState;
use crate::web::{Flash, Routes};

pub fn router() -> Routes {
    Routes::new().route("/admin/lock-investors", &["GET", "POST"], get(page).post(save))
}

/// The investor form as typed; `investor_id` empty adds one.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct InvestorForm {
    #[serde(default)]
    pub investor_id: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub relock_fee_bps: String,
    #[serde(default)]
    pub float_down_fee_bps: String,
    #[serde(default)]
    pub float_down_min: String,
    #[serde(default)]
    pub max_extension_days: String,
    #[serde(default)]
    pub active: Option<String>,
    /// The schedule as "days:bps" pairs, e.g. "7:5, 15:12, 30:25".
    #[serde(default)]
    pub schedule: String,
}

/// "7:5, 15:12.5"-style text to options, or the message for the field.
pub fn parse_schedule(raw: &str) -> Result<Vec<ScheduleOption>, String> {
    raw.split([',', ';', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (d, c) =
                pair.split_once(':').ok_or_else(|| format!("\u{201c}{pair}\u{201d}: write days:bps, e.g. 15:12."))?;
            let days = d.trim().trim_end_matches('d').trim().parse::<i32>();
            let cost = c.trim().trim_end_matches("bps").trim().parse::<i32>();
            match (days, cost) {
                (Ok(days), Ok(cost_bps)) => Ok(ScheduleOption { days, cost_bps }),
                _ => Err(format!("\u{201c}{pair}\u{201d}: write whole days and whole bps, e.g. 15:12.")),
            }
        })
        .collect()
}

fn schedule_text(s: &[ScheduleOption]) -> String {
    s.iter().map(|o| format!("{}:{}", o.days, o.cost_bps)).collect::<Vec<_>>().join(", ")
}

impl InvestorForm {
    fn of(i: &InvestorRow) -> Self {
        InvestorForm {
            investor_id: i.id.to_string(),
            version: i.version.to_string(),
            name: i.name.clone(),
            relock_fee_bps: i.relock_fee_bps.to_string(),
            float_down_fee_bps: i.float_down_fee_bps.to_string(),
            float_down_min: crate::locks::model::rate_label(i.float_down_min_milli).trim_end_matches('%').to_string(),
            max_extension_days: i.max_extension_days.map(|d| d.to_string()).unwrap_or_default(),
            active: i.active.then(|| "on".into()),
            schedule: schedule_text(&i.schedule),
        }
    }

    fn input(&self) -> AppResult<InvestorInput> {
        let mut e = FieldErrors::new();
        let mut int = |field: &str, raw: &str, default: i32| match raw.trim() {
            "" => default,
            s => s.parse::<i32>().unwrap_or_else(|_| {
                e.add(field, "Enter a whole number.");
                default
            }),
        };
        let relock_fee_bps = int("relock_fee_bps", &self.relock_fee_bps, 25);
        let float_down_fee_bps = int("float_down_fee_bps", &self.float_down_fee_bps, 25);
        let max_extension_days = match self.max_extension_days.trim() {
            "" => None,
            s => Some(s.parse::<i32>().unwrap_or_else(|_| {
                e.add("max_extension_days", "Enter whole days, or leave empty for no cap.");
                0
            })),
        };
        let float_down_min_milli = match self.float_down_min.trim() {
            "" => 250,
            s => crate::locks::model::parse_percent(s).filter(|m| *m <= 5000).unwrap_or_else(|| {
                e.add("float_down_min", "Enter the improvement in percent, e.g. 0.250.");
                0
            }),
        };
        let schedule = parse_schedule(&self.schedule).unwrap_or_else(|m| {
            e.add("schedule", m);
            vec![]
        });
        let version = match self.version.trim() {
            "" => None,
            s => s.parse::<i32>().ok(),
        };
        e.into_result()?;
        Ok(InvestorInput {
            name: self.name.clone(),
            relock_fee_bps,
            float_down_fee_bps,
            float_down_min_milli,
            max_extension_days,
            active: self.active.is_some() || self.investor_id.trim().is_empty(),
            schedule: Some(schedule),
            version,
        })
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "locks/investors.html")]
pub struct InvestorsPage {
    ctx: PageCtx,
    /// Every investor's form (the one that failed holds what was typed).
    forms: Vec<InvestorForm>,
    new: InvestorForm,
    /// Which form the errors belong to ("" for the new one).
    errors_for: String,
    errors: FieldErrors,
}

impl InvestorsPage {
    fn err(&self, form: &InvestorForm, field: &str) -> &str {
        if form.investor_id == self.errors_for { self.errors.get(field).unwrap_or("") } else { "" }
    }
}

async fn build(
    state: &AppState,
    user: &CurrentUser,
    ctx: PageCtx,
    failed: Option<InvestorForm>,
    errors: FieldErrors,
) -> AppResult<InvestorsPage> {
    user.require(&[Role::Admin])?;
    let rows = service::investors(&state.db, false).await?;
    let errors_for = failed.as_ref().map(|f| f.investor_id.clone()).unwrap_or_else(|| "-".into());
    let mut new = InvestorForm::default();
    let forms = rows
        .iter()
        .map(|i| match &failed {
            Some(f) if f.investor_id == i.id.to_string() => f.clone(),
            _ => InvestorForm::of(i),
        })
        .collect();
    if let Some(f) = failed.filter(|f| f.investor_id.is_empty()) {
        new = f;
    }
    Ok(InvestorsPage { ctx, forms, new, errors_for, errors })
}

async fn page(user: CurrentUser, ctx: PageCtx, State(state): State<AppState>) -> AppResult<impl IntoResponse> {
    build(&state, &user, ctx, None, FieldErrors::new()).await
}

async fn save(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    axum::Form(form): axum::Form<InvestorForm>,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    let result = async {
        let input = form.input()?;
        let mut tx = state.db.begin().await?;
        let row = match form.investor_id.trim() {
            "" => investors::create_investor(&mut tx, &user, &input).await?,
            id => {
                let id = Uuid::parse_str(id).map_err(|_| AppError::NotFound)?;
                investors::update_investor(&mut tx, &user, id, &input).await?
            }
        };
        tx.commit().await?;
        Ok::<_, AppError>(row)
    }
    .await;
    match result {
        Ok(row) => {
            Flash::push(&session, "success", format!("Saved {}.", row.name)).await;
            Ok(Redirect::to("/admin/lock-investors").into_response())
        }
        Err(AppError::Validation(errors)) => {
            let page = build(&state, &user, ctx, Some(form), errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(AppError::Taken { field, message, .. }) => {
            let mut errors = FieldErrors::new();
            errors.add(field, message);
            let page = build(&state, &user, ctx, Some(form), errors).await?;
            Ok((StatusCode::CONFLICT, page).into_response())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_schedule;

    #[test]
    fn schedules_read_as_days_and_bps() {
        let s = parse_schedule("7:5, 15:12; 30d:25bps").unwrap();
        assert_eq!(s.iter().map(|o| (o.days, o.cost_bps)).collect::<Vec<_>>(), vec![(7, 5), (15, 12), (30, 25)]);
        assert!(parse_schedule("").unwrap().is_empty());
        assert!(parse_schedule("15").unwrap_err().contains("days:bps"));
        assert!(parse_schedule("15:x").unwrap_err().contains("whole"));
    }
}
