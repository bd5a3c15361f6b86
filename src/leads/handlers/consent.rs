//! Consent pages: recording a borrower's opt-out on the lead page, and the admin's do-not-call lists (the
//! lender's own numbers, and the national registry's download, imported whole).

use axum::extract::Multipart;

use super::*;
use crate::audit::Entry;

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct OptOutForm {
    pub channel: String,
}

/// `POST /leads/{id}/opt-outs`: whoever may work the lead records the borrower's request.
pub async fn record_opt_out(
    user: CurrentUser,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Form(f): Form<OptOutForm>,
) -> AppResult<Response> {
    let added = store::opt_out(&state, &user, id, &f.channel, "lead page").await?;
    let label = store::OPT_OUT_CHANNELS.iter().find(|(c, _)| *c == f.channel).map(|(_, l)| *l).unwrap_or("");
    let text = if added { format!("Opt-out recorded: {label}.") } else { format!("Already opted out: {label}.") };
    Flash::push(&session, "success", text).await;
    Ok(Redirect::to(&format!("/leads/{id}")).into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "leads/do_not_call.html")]
pub struct DoNotCallPage {
    ctx: PageCtx,
    internal: Vec<(String, String, DateTime<Utc>)>,
    national: i64,
    phone: String,
    reason: String,
    errors: FieldErrors,
    import_errors: Vec<(usize, String)>,
}

async fn dnc_page(
    state: &AppState,
    ctx: PageCtx,
    form: AddNumberForm,
    errors: FieldErrors,
    import_errors: Vec<(usize, String)>,
) -> AppResult<DoNotCallPage> {
    let (internal, national) = store::dnc_lists(&state.db).await?;
    Ok(DoNotCallPage { ctx, internal, national, phone: form.phone, reason: form.reason, errors, import_errors })
}

pub async fn do_not_call(user: CurrentUser, ctx: PageCtx, State(state): State<AppState>) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    Ok(dnc_page(&state, ctx, AddNumberForm::default(), FieldErrors::new(), Vec::new()).await?.into_response())
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct AddNumberForm {
    pub phone: String,
    pub reason: String,
}

/// `POST /admin/do-not-call`: a number on the lender's own list; calls to every lead with it stop at once.
pub async fn add_number(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Form(f): Form<AddNumberForm>,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    let Some(phone) = crate::leads::consent::dnc_number(&f.phone) else {
        let errors = {
            let mut e = FieldErrors::new();
            e.add("phone", "Enter a ten-digit US phone number.");
            e
        };
        let page = dnc_page(&state, ctx, f, errors, Vec::new()).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    };
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let added = store::add_internal_dnc(&mut tx, &phone, f.reason.trim(), user.id, now).await?;
    if added {
        Entry::new(Some(&user), "do_not_call.added", "do_not_call_number", &phone)
            .after(serde_json::json!({"list": "internal", "reason": f.reason.trim()}))
            .write(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Flash::push(&session, "success", format!("{phone} is on the do-not-call list; no one will be asked to call it."))
        .await;
    Ok(Redirect::to("/admin/do-not-call").into_response())
}

/// `POST /admin/do-not-call/import`: the national registry's download replaces the national list, all or
/// nothing (every bad line is reported by its number and nothing changes).
pub async fn import_national(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    mut multipart: Multipart,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    let data = crate::web::upload::file_field(&mut multipart, "file").await?.unwrap_or_default();
    let parsed = match store::parse_dnc_file(&String::from_utf8_lossy(&data)) {
        Ok(n) if n.is_empty() => Err(vec![(0, "The file has no numbers.".to_string())]),
        other => other,
    };
    let numbers = match parsed {
        Ok(n) => n,
        Err(bad) => {
            let page = dnc_page(&state, ctx, AddNumberForm::default(), FieldErrors::new(), bad).await?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
    };
    let mut tx = state.db.begin().await?;
    let listed = store::replace_national_dnc(&mut tx, &numbers).await?;
    Entry::new(Some(&user), "do_not_call.national_imported", "do_not_call_list", "national")
        .after(serde_json::json!({"numbers": listed}))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Flash::push(&session, "success", format!("National registry imported: {listed} numbers.")).await;
    Ok(Redirect::to("/admin/do-not-call").into_response())
}
