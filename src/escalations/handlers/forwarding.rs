//! Forwarding a request to a department (issue 26): the form on the request's page (managers, admins), and
//! what the page shows of it. Managers see every hop with its notes; the loan officer sees where the request
//! is and the department's answer, not the internal back-and-forth.

use super::*;
use crate::departments::{self, HopRow, ItemRow};

/// The forward form as typed.
#[derive(Debug, Default, Clone, Deserialize)]
pub(crate) struct ForwardForm {
    #[serde(default)]
    pub department_id: String,
    #[serde(default)]
    pub note: String,
    /// A complaint's regulatory clock, given on its first forward.
    #[serde(flatten)]
    pub clock: departments::complaints::ClockInput,
}

/// The departments section of a request's page.
pub struct DepartmentsPanel {
    /// Each forward of this request, newest first, with its hops (empty for the loan officer).
    pub items: Vec<(ItemRow, Vec<HopRow>)>,
    /// The departments to forward to, when the viewer may forward now: (id, name, preselected).
    pub targets: Vec<(Uuid, String, bool)>,
    pub note: String,
    pub internal: bool,
    /// A complaint without a regulatory clock yet: the forward form asks for it, with what was typed.
    pub ask_clock: bool,
    pub clock: departments::complaints::ClockInput,
}

impl DepartmentsPanel {
    pub fn complaint_types(&self) -> &'static [(&'static str, &'static str)] {
        &departments::complaint_clock::TYPES
    }
    pub fn complaint_categories(&self) -> &'static [(&'static str, &'static str)] {
        &departments::complaint_clock::CATEGORIES
    }
}

impl DepartmentsPanel {
    pub fn status_label(&self, i: &ItemRow) -> String {
        match i.status.as_str() {
            "open" => format!("Forwarded to {}, waiting for its answer", i.department_name),
            "answered" => format!(
                "Answered by {}: {}",
                i.department_name,
                departments::model::decision_label(&i.item_kind, i.decision.as_deref().unwrap_or(""))
            ),
            _ => format!("{} sent it back to the manager", i.department_name),
        }
    }
    pub fn hop_label(&self, h: &HopRow) -> String {
        match h.action.as_str() {
            "forward" => format!("Forwarded to {}", h.department_name),
            "answer" => "Answered".into(),
            "return" => "Sent back".into(),
            _ => "Past its response time".into(),
        }
    }
}

/// What the request's page shows of its forwards, and the form when the viewer may forward it.
pub(crate) async fn panel(
    state: &AppState,
    user: &CurrentUser,
    row: &EscalationRow,
    form: Option<&ForwardForm>,
) -> AppResult<DepartmentsPanel> {
    let internal = user.is_manager_or_admin();
    let items = departments::for_escalation(state, row.id, internal).await?;
    let open_request = Status::parse(&row.status).is_some_and(|s| s.is_open());
    let waiting = items.iter().any(|(i, _)| i.status == "open");
    let targets = if internal && open_request && !waiting {
        let default = departments::model::default_department(&row.kind);
        departments::store::departments(&state.db)
            .await?
            .into_iter()
            .map(|d| {
                let chosen = match form {
                    Some(f) => f.department_id == d.id.to_string(),
                    None => d.kind == default,
                };
                (d.id, d.name, chosen)
            })
            .collect()
    } else {
        vec![]
    };
    let ask_clock = !targets.is_empty()
        && row.kind == "complaint"
        && departments::complaints::clock_facts(state, row.id).await?.is_none();
    Ok(DepartmentsPanel {
        items,
        targets,
        note: form.map(|f| f.note.clone()).unwrap_or_default(),
        internal,
        ask_clock,
        clock: form.map(|f| f.clock.clone()).unwrap_or_default(),
    })
}

pub(crate) async fn forward_form(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    axum::Form(form): axum::Form<ForwardForm>,
) -> AppResult<Response> {
    // The request first: one outside the caller's scope is a 404 whatever the form says.
    crate::escalations::visible_request(&state, &user, id).await?;
    let subject = departments::Subject::Escalation(id);
    match departments::service::forward_with_clock(&state, &user, subject, &form.department_id, &form.note, &form.clock)
        .await
    {
        Ok(item) => {
            Flash::push(&session, "success", format!("Forwarded to {}.", item.department_name)).await;
            Ok(Redirect::to(&format!("/escalations/{id}")).into_response())
        }
        Err(AppError::Validation(errors)) => {
            let page = detail_page(&state, &user, ctx, id, errors, None, Some(&form)).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e),
    }
}
