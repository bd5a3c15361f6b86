//! Forwarding a case question to a department (issue 26): legal, collections, compliance. Supervisors
//! forward; everyone on the case sees where it is, the hops and the answer.

use super::*;
use crate::departments::{self, HopRow, ItemRow};

/// The case page's departments section.
pub struct CaseDepartments {
    pub items: Vec<(ItemRow, Vec<HopRow>)>,
    /// The departments to forward to when the viewer may forward now: (id, name, preselected).
    pub targets: Vec<(Uuid, String, bool)>,
}

impl CaseDepartments {
    pub fn status_label(&self, i: &ItemRow) -> String {
        match i.status.as_str() {
            "open" => format!("Waiting on {}", i.department_name),
            "answered" => format!(
                "Answered by {}: {}",
                i.department_name,
                departments::model::decision_label(&i.item_kind, i.decision.as_deref().unwrap_or(""))
            ),
            _ => format!("Sent back by {}", i.department_name),
        }
    }
}

pub(crate) async fn case_departments(
    state: &AppState,
    user: &CurrentUser,
    case: &CaseRow,
    input: &Input,
) -> AppResult<CaseDepartments> {
    let items = departments::for_case(state, case.id).await?;
    let waiting = items.iter().any(|(i, _)| i.status == "open");
    let targets = if store::SUPERVISOR_ROLES.contains(&user.role) && !waiting {
        let default = departments::model::default_department(departments::model::CASE_QUESTION);
        departments::store::departments(&state.db)
            .await?
            .into_iter()
            .map(|d| {
                let chosen = match input.get("forward_department") {
                    Some(v) => *v == d.id.to_string(),
                    None => d.kind == default,
                };
                (d.id, d.name, chosen)
            })
            .collect()
    } else {
        vec![]
    };
    Ok(CaseDepartments { items, targets })
}

pub(crate) async fn forward_case(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Form(m): Form<Input>,
) -> AppResult<Response> {
    let case = store::visible_case(&state.db, &user, id).await?;
    user.require(&store::SUPERVISOR_ROLES)?;
    let result = departments::forward(
        &state,
        &user,
        departments::Subject::Case(case.id),
        val(&m, "forward_department"),
        val(&m, "forward_note"),
    )
    .await
    .map(|item| format!("Forwarded to {}.", item.department_name))
    .map_err(|e| match e {
        // The case page holds many forms: this one's fields carry their own names.
        AppError::Validation(f) => {
            let mut out = FieldErrors::new();
            for (field, name) in [("department_id", "forward_department"), ("note", "forward_note")] {
                if let Some(msg) = f.get(field) {
                    out.add(name, msg.to_string());
                }
            }
            AppError::Validation(out)
        }
        other => other,
    });
    finish(&state, &user, ctx, &session, case, m, result).await
}
