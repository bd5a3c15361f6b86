//! Opening a case: the form and its validation.

use super::*;

// ---------------------------------------------------------------- new case

#[derive(Template, WebTemplate)]
#[template(path = "lossmit/new.html")]
pub(crate) struct NewCasePage {
    ctx: PageCtx,
    specialists: Vec<Specialist>,
    errors: FieldErrors,
    input: Input,
}

impl NewCasePage {
    fn v(&self, k: &str) -> String {
        val(&self.input, k).to_string()
    }
    fn investors(&self) -> Vec<(&'static str, &'static str)> {
        model::Investor::ALL.iter().map(|i| (i.as_str(), i.label())).collect()
    }
}

pub(crate) async fn new_case(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
) -> AppResult<impl IntoResponse> {
    user.require(&store::SUPERVISOR_ROLES)?;
    let specialists = store::specialists(&state.db).await?;
    Ok(NewCasePage { ctx, specialists, errors: FieldErrors::new(), input: Input::new() })
}

pub(crate) fn parse_new_case(m: &Input) -> (Option<model::NewCase>, FieldErrors) {
    let mut e = FieldErrors::new();
    let upb = req_money(m, "upb", &mut e);
    let pi = req_money(m, "monthly_pi", &mut e);
    let escrow = req_money(m, "monthly_escrow", &mut e);
    let rate = val(m, "note_rate").parse::<f64>().unwrap_or_else(|_| {
        e.add("note_rate", "Enter the note rate as a percent, e.g. 6.875.");
        0.0
    });
    let term = val(m, "remaining_term_months").parse::<i32>().unwrap_or_else(|_| {
        e.add("remaining_term_months", "Enter the remaining term in months.");
        0
    });
    let due = req_date(m, "first_unpaid_due_date", &mut e);
    let sale = opt_date(m, "sale_date", &mut e);
    let Some(due) = due else { return (None, e) };
    let mut c = model::NewCase {
        loan_number: val(m, "loan_number").into(),
        borrower_name: val(m, "borrower_name").into(),
        co_borrower_name: val(m, "co_borrower_name").into(),
        borrower_phone: val(m, "borrower_phone").into(),
        borrower_email: val(m, "borrower_email").into(),
        property_address: val(m, "property_address").into(),
        property_state: val(m, "property_state").into(),
        investor: val(m, "investor").into(),
        upb_cents: upb,
        note_rate: rate,
        remaining_term_months: term,
        monthly_pi_cents: pi,
        monthly_escrow_cents: escrow,
        first_unpaid_due_date: due,
        sale_date: sale,
        specialist_email: Some(val(m, "specialist_email").to_string()),
    };
    // The form's dollar fields are named differently from the API's cents fields.
    let more = c.normalise_and_validate();
    for (k, msgs) in more.0 {
        let k = match k.as_str() {
            "upb_cents" => "upb",
            "monthly_pi_cents" => "monthly_pi",
            "monthly_escrow_cents" => "monthly_escrow",
            other => other,
        }
        .to_string();
        if e.get(&k).is_none() {
            for msg in msgs {
                e.add(&k, msg);
            }
        }
    }
    (Some(c), e)
}

pub(crate) async fn create(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Form(m): Form<Input>,
) -> AppResult<Response> {
    user.require(&store::SUPERVISOR_ROLES)?;
    let (case, errors) = parse_new_case(&m);
    let result = match case {
        Some(c) if errors.is_empty() => {
            store::create_case(&state.db, &user, c, state.today(), next_digest(&state)).await
        }
        _ => Err(AppError::Validation(errors)),
    };
    match result {
        Ok(id) => {
            Flash::push(&session, "success", "Case opened.").await;
            Ok(Redirect::to(&format!("/lossmit/cases/{id}")).into_response())
        }
        Err(AppError::Validation(errors)) => {
            let specialists = store::specialists(&state.db).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, NewCasePage { ctx, specialists, errors, input: m }).into_response())
        }
        Err(e) => Err(e),
    }
}
