//! The case page's forms: each validates, calls the store and ends through `finish` (PRG, 422, 409).

use super::*;

macro_rules! case_form {
    ($name:ident, |$state:ident, $user:ident, $case:ident, $m:ident, $e:ident, $today:ident| $body:block) => {
        pub(crate) async fn $name(
            $user: CurrentUser,
            ctx: PageCtx,
            session: Session,
            State($state): State<AppState>,
            Path(id): Path<Uuid>,
            Form($m): Form<Input>,
        ) -> AppResult<Response> {
            let $case = store::visible_case(&$state.db, &$user, id).await?;
            let $today = $state.today();
            let mut $e = FieldErrors::new();
            let result: AppResult<String> = async { $body }.await;
            finish(&$state, &$user, ctx, &session, $case, $m, result).await
        }
    };
}

case_form!(add_contact, |state, user, case, m, e, today| {
    let on = req_date(&m, "occurred_on", &mut e);
    let channel = ContactChannel::parse(val(&m, "channel"));
    if channel.is_none() {
        e.add("channel", "Choose how the borrower was contacted.");
    }
    let (Some(on), Some(channel)) = (on, channel) else { return Err(AppError::Validation(e)) };
    e.into_result()?;
    let live = val(&m, "live_contact") == "on";
    let c = store::NewContact { occurred_on: on, channel, live_contact: live, outcome: val(&m, "outcome").into() };
    store::record_contact(&state.db, &user, &case, c, today).await?;
    Ok(if live { "Live contact recorded.".into() } else { "Contact attempt recorded.".into() })
});

case_form!(add_notice, |state, user, case, m, e, today| {
    let on = req_date(&m, "sent_on", &mut e);
    let kind = NoticeKind::parse(val(&m, "kind"));
    if kind.is_none() {
        e.add("kind", "Choose the notice.");
    }
    let (Some(on), Some(kind)) = (on, kind) else { return Err(AppError::Validation(e)) };
    store::record_notice(&state.db, &user, &case, kind, on, val(&m, "note"), today).await?;
    Ok(format!("{} recorded as sent.", kind.label()))
});

case_form!(add_document, |state, user, case, m, e, today| {
    let on = req_date(&m, "document_received_on", &mut e);
    let doc = Document::parse(val(&m, "document"));
    if doc.is_none() {
        e.add("document", "Choose the document.");
    }
    let (Some(on), Some(doc)) = (on, doc) else { return Err(AppError::Validation(e)) };
    let complete = store::record_document(&state.db, &user, &case, doc, on, val(&m, "document_note"), today).await?;
    Ok(if complete {
        "Document received: the application is now complete.".into()
    } else {
        "Document received.".into()
    })
});

case_form!(add_application, |state, user, case, m, e, today| {
    let received = req_date(&m, "received_on", &mut e);
    let complete = opt_date(&m, "complete_on", &mut e);
    let Some(received) = received else { return Err(AppError::Validation(e)) };
    e.into_result()?;
    store::record_application(&state.db, &user, &case, received, complete, today, state.clock.now()).await?;
    Ok("Application recorded.".into())
});

case_form!(add_assessment, |state, user, case, m, e, today| {
    let _ = today;
    let a = Assessment {
        wages_cents: req_money(&m, "wages", &mut e),
        self_employment_cents: req_money(&m, "self_employment", &mut e),
        benefits_cents: req_money(&m, "benefits", &mut e),
        rental_cents: req_money(&m, "rental", &mut e),
        other_income_cents: req_money(&m, "other_income", &mut e),
        other_debts_cents: req_money(&m, "other_debts", &mut e),
        living_expenses_cents: req_money(&m, "living_expenses", &mut e),
        hardship_reason: val(&m, "hardship_reason").into(),
        hardship_duration: val(&m, "hardship_duration").into(),
        note: val(&m, "assessment_note").into(),
    };
    if Hardship::parse(&a.hardship_reason).is_none() {
        e.add("hardship_reason", "Choose the hardship.");
    }
    if !matches!(a.hardship_duration.as_str(), "temporary" | "permanent") {
        e.add("hardship_duration", "Is the hardship temporary or permanent?");
    }
    e.into_result()?;
    store::record_assessment(&state.db, &user, &case, &a).await?;
    Ok("Financial assessment recorded.".into())
});

/// The evaluation's decisions from a form or a JSON body: `outcome_<option>` (`approved`/`denied`) and
/// `reason_<option>` for every standard option, and optionally `program_name`, `program_outcome`,
/// `program_reason` for an investor program.
pub fn parse_evaluation(
    case: &CaseRow,
    assessment: Option<&Assessment>,
    m: &Input,
    e: &mut FieldErrors,
    today: NaiveDate,
) -> Vec<store::NewDecision> {
    let cards = workout::run(case, assessment, &Scenario::from_input(case, m), today);
    let mut out = Vec::new();
    for o in LossMitOption::STANDARD {
        let approved = match val(m, &format!("outcome_{}", o.as_str())) {
            "approved" => true,
            "denied" => false,
            _ => {
                e.add(&format!("outcome_{}", o.as_str()), "Approved or denied?");
                continue;
            }
        };
        let reason = val(m, &format!("reason_{}", o.as_str()));
        if !approved && reason.trim().is_empty() {
            e.add(&format!("reason_{}", o.as_str()), "A denial needs the specific reason (it goes into the letter).");
        }
        out.push(store::NewDecision {
            option: o,
            program: String::new(),
            approved,
            reason: reason.into(),
            terms: if approved { workout::terms_for(&cards, o) } else { serde_json::json!({}) },
        });
    }
    let program = val(m, "program_name").trim();
    let program_outcome = val(m, "program_outcome");
    if !program.is_empty() || !program_outcome.is_empty() {
        match program_outcome {
            "approved" | "denied" => out.push(store::NewDecision {
                option: LossMitOption::InvestorProgram,
                program: program.into(),
                approved: program_outcome == "approved",
                reason: val(m, "program_reason").into(),
                terms: serde_json::json!({}),
            }),
            _ => e.add("program_outcome", "Approved or denied?"),
        }
    }
    out
}

case_form!(add_decision, |state, user, case, m, e, today| {
    let on = req_date(&m, "decided_on", &mut e);
    let assessment = store::latest_assessment(&state.db, case.id).await?;
    let decisions = parse_evaluation(&case, assessment.as_ref(), &m, &mut e, today);
    let Some(on) = on.filter(|_| e.is_empty()) else { return Err(AppError::Validation(e)) };
    let approved: Vec<&str> = decisions.iter().filter(|d| d.approved).map(|d| d.option.label()).collect();
    store::record_evaluation(&state.db, &user, &case, on, decisions, today).await?;
    Ok(if approved.is_empty() {
        "Evaluation recorded: every option denied.".to_string()
    } else {
        format!("Evaluation recorded: {} approved.", approved.join(", "))
    })
});

case_form!(add_request, |state, user, case, m, e, today| {
    let on = req_date(&m, "request_received_on", &mut e);
    let Some(on) = on else { return Err(AppError::Validation(e)) };
    let r = requests::NewRequest {
        kind: val(&m, "request_kind").into(),
        category: val(&m, "request_category").into(),
        channel: val(&m, "request_channel").into(),
        received_on: on,
        summary: val(&m, "request_summary").into(),
    };
    requests::record(&state.db, &user, &case, &r, today).await?;
    Ok(format!("{} recorded.", requests::label_of(&requests::KINDS, &r.kind)))
});

case_form!(add_request_progress, |state, user, case, m, e, today| {
    let _ = today;
    let on = req_date(&m, "progress_on", &mut e);
    let id = val(&m, "request_id").parse::<i64>().ok();
    if id.is_none() {
        e.add("request_id", "Choose the request.");
    }
    let (Some(on), Some(request_id)) = (on, id) else { return Err(AppError::Validation(e)) };
    let p = requests::Progress {
        request_id,
        step: val(&m, "step").into(),
        on,
        outcome: val(&m, "outcome").into(),
        explanation: val(&m, "explanation").into(),
    };
    requests::record_progress(&state, &user, &case, &p).await?;
    Ok(match p.step.as_str() {
        "responded" => "Answer recorded and its letter filed.".to_string(),
        "extended" => "Extension recorded.".to_string(),
        _ => "Acknowledgment recorded.".to_string(),
    })
});

case_form!(add_reinstatement, |state, user, case, m, e, today| {
    let Some(on) = req_date(&m, "current_on", &mut e) else { return Err(AppError::Validation(e)) };
    store::record_reinstatement(&state.db, &user, &case, on, val(&m, "reinstatement_note"), today).await?;
    Ok("Recorded: the borrower was brought current.".into())
});

case_form!(add_appeal, |state, user, case, m, e, today| {
    let Some(on) = req_date(&m, "filed_on", &mut e) else { return Err(AppError::Validation(e)) };
    store::record_appeal(&state.db, &user, &case, on, today).await?;
    Ok("Appeal recorded.".into())
});

case_form!(add_appeal_decision, |state, user, case, m, e, today| {
    let Some(on) = req_date(&m, "appeal_decided_on", &mut e) else { return Err(AppError::Validation(e)) };
    let granted = val(&m, "appeal_outcome") == "granted";
    store::record_appeal_decision(&state.db, &user, &case, on, granted, val(&m, "appeal_reason"), today).await?;
    Ok("Appeal decision recorded.".into())
});

case_form!(add_foreclosure_step, |state, user, case, m, e, today| {
    let on = req_date(&m, "step_on", &mut e);
    let step = ForeclosureStep::parse(val(&m, "step"));
    if step.is_none() {
        e.add("step", "Choose the foreclosure step.");
    }
    let (Some(on), Some(step)) = (on, step) else { return Err(AppError::Validation(e)) };
    if on > today {
        return Err(AppError::invalid("step_on", "The date cannot be in the future."));
    }
    store::record_foreclosure_step(&state.db, &user, case.id, step, on).await?;
    Ok(format!("{} recorded.", step.label()))
});

case_form!(change_stage, |state, user, case, m, e, today| {
    let stage = Stage::parse(val(&m, "stage"));
    if stage.is_none() {
        e.add("stage", "Choose a stage.");
    }
    let resolution = Resolution::parse(val(&m, "resolution"));
    let version = val(&m, "version").parse::<i32>().unwrap_or(-1);
    let Some(stage) = stage else { return Err(AppError::Validation(e)) };
    store::change_stage(&state.db, &user, case.id, stage, resolution, version, today).await?;
    Ok(format!("Stage set to {}.", stage.label()))
});

case_form!(set_sale_date, |state, user, case, m, e, today| {
    let _ = today;
    let sale = opt_date(&m, "sale_date", &mut e);
    e.into_result()?;
    let version = val(&m, "version").parse::<i32>().unwrap_or(-1);
    store::set_sale_date(&state.db, &user, &case, sale, version).await?;
    Ok(match sale {
        Some(d) => format!("Foreclosure sale scheduled for {d}."),
        None => "Foreclosure sale date cleared.".into(),
    })
});
