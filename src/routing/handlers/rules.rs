//! Routing rules and the speed-to-lead settings (admin pages).

use super::*;

pub struct Choice {
    pub id: Uuid,
    pub label: String,
}

pub(crate) async fn teams_and_officers(db: &sqlx::PgPool) -> AppResult<(Vec<Choice>, Vec<Choice>)> {
    let teams = sqlx::query!("SELECT id, name FROM teams ORDER BY name").fetch_all(db).await?;
    let officers = sqlx::query!("SELECT id, name, email FROM users WHERE originator AND active ORDER BY name")
        .fetch_all(db)
        .await?;
    Ok((
        teams.into_iter().map(|t| Choice { id: t.id, label: t.name }).collect(),
        officers.into_iter().map(|l| Choice { id: l.id, label: format!("{} ({})", l.name, l.email) }).collect(),
    ))
}

pub struct RuleView {
    pub rule: RuleRow,
    pub target: String,
    pub filters: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "routing/rules.html")]
pub(crate) struct RulesPage {
    ctx: PageCtx,
    rules: Vec<RuleView>,
    s: SettingsForm,
    errors: FieldErrors,
}

/// The speed-to-lead and cadence settings as typed.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    pub default_sla_minutes: String,
    #[serde(default)]
    pub attempts: String,
    #[serde(default)]
    pub max_voicemails: String,
}

pub(crate) async fn current_settings(db: &sqlx::PgPool) -> AppResult<SettingsForm> {
    let cadence = crate::routing::model::Cadence::from_setting(rstore::setting(db, "routing.cadence").await?.as_ref());
    let sla = rstore::setting(db, "routing.default_sla_minutes").await?.and_then(|v| v.as_i64()).unwrap_or(5);
    Ok(SettingsForm {
        default_sla_minutes: sla.to_string(),
        attempts: crate::routing::model::format_windows(&cadence.attempts),
        max_voicemails: cadence.max_voicemails.to_string(),
    })
}

pub(crate) async fn render_rules(
    state: &AppState,
    ctx: PageCtx,
    s: Option<SettingsForm>,
    errors: FieldErrors,
) -> AppResult<Response> {
    let (teams, officers) = teams_and_officers(&state.db).await?;
    let rules = rstore::list_rules(&state.db)
        .await?
        .into_iter()
        .map(|rule| {
            let mut names: Vec<String> =
                teams.iter().filter(|t| rule.team_ids.contains(&t.id)).map(|t| format!("team {}", t.label)).collect();
            names.extend(officers.iter().filter(|l| rule.lo_ids.contains(&l.id)).map(|l| l.label.clone()));
            let target = if names.is_empty() { "every LO".to_string() } else { names.join(", ") };
            let filters = describe_filters(&rule);
            RuleView { rule, target, filters }
        })
        .collect();
    let s = match s {
        Some(s) => s,
        None => current_settings(&state.db).await?,
    };
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok((status, RulesPage { ctx, rules, s, errors }).into_response())
}

pub(crate) async fn settings_update(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Form(f): Form<SettingsForm>,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    let mut errors = FieldErrors::new();
    let sla = match f.default_sla_minutes.trim().parse::<i64>() {
        Ok(m) if (1..=10_080).contains(&m) => m,
        _ => {
            errors.add("default_sla_minutes", "Speed-to-lead limit is 1 to 10,080 minutes.");
            5
        }
    };
    let voicemails = f.max_voicemails.trim().parse::<i32>().unwrap_or(-1);
    let cadence = match crate::routing::model::parse_windows(&f.attempts) {
        Ok(attempts) => {
            let c = crate::routing::model::Cadence { attempts, max_voicemails: voicemails };
            if let Err(m) = c.validate() {
                errors.add(if voicemails < 0 { "max_voicemails" } else { "attempts" }, m);
            }
            c
        }
        Err(m) => {
            errors.add("attempts", m);
            crate::routing::model::Cadence::default()
        }
    };
    if voicemails < 0 && errors.get("max_voicemails").is_none() {
        errors.add("max_voicemails", "Enter 0 or more.");
    }
    if !errors.is_empty() {
        return render_rules(&state, ctx, Some(f), errors).await;
    }
    let before = current_settings(&state.db).await?;
    let mut tx = state.db.begin().await?;
    let value = serde_json::to_value(&cadence).map_err(anyhow::Error::from)?;
    sqlx::query!(
        "INSERT INTO settings (key, value) VALUES ('routing.cadence', $1), ('routing.default_sla_minutes', $2)
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
        value,
        json!(sla)
    )
    .execute(&mut *tx)
    .await?;
    Entry::new(Some(&user), "routing.settings", "settings", "routing")
        .before(json!({"attempts": before.attempts, "max_voicemails": before.max_voicemails, "default_sla_minutes": before.default_sla_minutes}))
        .after(json!({"cadence": value, "default_sla_minutes": sla}))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Flash::push(&session, "success", "Speed-to-lead and cadence settings saved.").await;
    Ok(Redirect::to("/routing/rules").into_response())
}

pub(crate) fn describe_filters(r: &RuleRow) -> String {
    let mut parts = Vec::new();
    let mut push = |label: &str, v: &[String]| {
        if !v.is_empty() {
            parts.push(format!("{label}: {}", v.join(", ")));
        }
    };
    push("source", &r.sources);
    push("campaign", &r.campaigns);
    push("state", &r.states);
    push("purpose", &r.purposes);
    push("credit", &r.credit_bands);
    push("ZIP", &r.zip_prefixes);
    if r.min_amount_cents.is_some() || r.max_amount_cents.is_some() {
        parts.push(format!(
            "amount: {} – {}",
            r.min_amount_cents.map(|c| format!("${}", c / 100)).unwrap_or_else(|| "any".into()),
            r.max_amount_cents.map(|c| format!("${}", c / 100)).unwrap_or_else(|| "any".into())
        ));
    }
    if parts.is_empty() { "every lead".into() } else { parts.join("; ") }
}

pub(crate) async fn rules_page(user: CurrentUser, ctx: PageCtx, State(state): State<AppState>) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    render_rules(&state, ctx, None, FieldErrors::new()).await
}

/// The rule form's values as typed, for re-rendering.
#[derive(Debug, Clone, Default)]
pub struct RuleForm {
    pub name: String,
    pub position: String,
    pub sources: String,
    pub campaigns: String,
    pub states: String,
    pub purposes: String,
    pub min_amount: String,
    pub max_amount: String,
    pub credit_bands: String,
    pub zip_prefixes: String,
    pub team_ids: Vec<String>,
    pub lo_ids: Vec<String>,
    pub method: String,
    pub claim_minutes: String,
    pub fallback_method: String,
    pub require_working_hours: bool,
    pub sla_minutes: String,
    pub sla_action: String,
    pub version: String,
}

impl RuleForm {
    fn from_pairs(p: &[(String, String)]) -> Self {
        RuleForm {
            name: pairs_get(p, "name").into(),
            position: pairs_get(p, "position").into(),
            sources: pairs_get(p, "sources").into(),
            campaigns: pairs_get(p, "campaigns").into(),
            states: pairs_get(p, "states").into(),
            purposes: pairs_get(p, "purposes").into(),
            min_amount: pairs_get(p, "min_amount").into(),
            max_amount: pairs_get(p, "max_amount").into(),
            credit_bands: pairs_get(p, "credit_bands").into(),
            zip_prefixes: pairs_get(p, "zip_prefixes").into(),
            team_ids: pairs_all(p, "team_ids"),
            lo_ids: pairs_all(p, "lo_ids"),
            method: pairs_get(p, "method").into(),
            claim_minutes: pairs_get(p, "claim_minutes").into(),
            fallback_method: pairs_get(p, "fallback_method").into(),
            require_working_hours: pairs_get(p, "require_working_hours") == "on",
            sla_minutes: pairs_get(p, "sla_minutes").into(),
            sla_action: pairs_get(p, "sla_action").into(),
            version: pairs_get(p, "version").into(),
        }
    }
    fn from_rule(r: &RuleRow) -> Self {
        RuleForm {
            name: r.name.clone(),
            position: r.position.to_string(),
            sources: r.sources.join(", "),
            campaigns: r.campaigns.join(", "),
            states: r.states.join(", "),
            purposes: r.purposes.join(", "),
            min_amount: r.min_amount_cents.map(|c| (c / 100).to_string()).unwrap_or_default(),
            max_amount: r.max_amount_cents.map(|c| (c / 100).to_string()).unwrap_or_default(),
            credit_bands: r.credit_bands.join(", "),
            zip_prefixes: r.zip_prefixes.join(", "),
            team_ids: r.team_ids.iter().map(Uuid::to_string).collect(),
            lo_ids: r.lo_ids.iter().map(Uuid::to_string).collect(),
            method: r.method.clone(),
            claim_minutes: r.claim_minutes.to_string(),
            fallback_method: r.fallback_method.clone(),
            require_working_hours: r.require_working_hours,
            sla_minutes: r.sla_minutes.to_string(),
            sla_action: r.sla_action.clone(),
            version: r.version.to_string(),
        }
    }
    fn blank() -> Self {
        RuleForm {
            method: "round_robin".into(),
            fallback_method: "round_robin".into(),
            claim_minutes: "10".into(),
            sla_minutes: "5".into(),
            sla_action: "reassign".into(),
            require_working_hours: true,
            ..Default::default()
        }
    }
    pub fn has_team(&self, id: &Uuid) -> bool {
        self.team_ids.contains(&id.to_string())
    }
    pub fn has_lo(&self, id: &Uuid) -> bool {
        self.lo_ids.contains(&id.to_string())
    }
}

pub(crate) fn parse_dollars(s: &str, field: &str, errors: &mut FieldErrors) -> Option<i64> {
    let t = s.trim().replace([',', '$'], "");
    if t.is_empty() {
        return None;
    }
    match t.parse::<i64>() {
        Ok(v) if (0..=1_000_000_000).contains(&v) => Some(v * 100),
        _ => {
            errors.add(field, "Enter a whole dollar amount.");
            None
        }
    }
}

pub(crate) fn validate_rule(f: &RuleForm) -> Result<RuleInput, FieldErrors> {
    let mut e = FieldErrors::new();
    let name = f.name.trim().to_string();
    if name.is_empty() || name.len() > 120 {
        e.add("name", "Give the rule a name (up to 120 characters).");
    }
    let position = if f.position.trim().is_empty() {
        None
    } else {
        match f.position.trim().parse::<i32>() {
            Ok(p) if (1..=10_000).contains(&p) => Some(p),
            _ => {
                e.add("position", "Position is a number from 1.");
                None
            }
        }
    };
    let states = parse_list(&f.states, true);
    for s in &states {
        if !crate::leads::model::is_us_state(s) {
            e.add("states", format!("{s} is not a US state code."));
        }
    }
    let min = parse_dollars(&f.min_amount, "min_amount", &mut e);
    let max = parse_dollars(&f.max_amount, "max_amount", &mut e);
    if let (Some(a), Some(b)) = (min, max) {
        if a > b {
            e.add("max_amount", "The maximum must be at least the minimum.");
        }
    }
    let mut ids = |v: &[String], field: &str| -> Vec<Uuid> {
        let mut out = Vec::new();
        for s in v {
            match Uuid::parse_str(s.trim()) {
                Ok(u) => out.push(u),
                Err(_) => e.add(field, "Choose from the list."),
            }
        }
        out
    };
    let team_ids = ids(&f.team_ids, "team_ids");
    let lo_ids = ids(&f.lo_ids, "lo_ids");
    let method = Method::parse(&f.method);
    if method.is_none() {
        e.add("method", "Choose a method.");
    }
    let fallback = Method::parse(&f.fallback_method).filter(|m| *m != Method::Claim);
    if fallback.is_none() {
        e.add("fallback_method", "Choose a fallback method (not claim).");
    }
    let claim_minutes = match f.claim_minutes.trim().parse::<i32>() {
        Ok(m) if (1..=1440).contains(&m) => m,
        _ => {
            e.add("claim_minutes", "Claim window is 1 to 1,440 minutes.");
            10
        }
    };
    let sla_minutes = match f.sla_minutes.trim().parse::<i32>() {
        Ok(m) if (1..=10_080).contains(&m) => m,
        _ => {
            e.add("sla_minutes", "Speed-to-lead limit is 1 to 10,080 minutes.");
            5
        }
    };
    if !matches!(f.sla_action.as_str(), "reassign" | "escalate") {
        e.add("sla_action", "Choose reassign or escalate.");
    }
    if !e.is_empty() {
        return Err(e);
    }
    Ok(RuleInput {
        name,
        position,
        sources: parse_list(&f.sources, false),
        campaigns: parse_list(&f.campaigns, false),
        states,
        purposes: parse_list(&f.purposes, false),
        min_amount_cents: min,
        max_amount_cents: max,
        credit_bands: parse_list(&f.credit_bands, false),
        zip_prefixes: parse_list(&f.zip_prefixes, false),
        team_ids,
        lo_ids,
        method: method.map(Method::as_str).unwrap_or("round_robin").into(),
        claim_minutes,
        fallback_method: fallback.map(Method::as_str).unwrap_or("round_robin").into(),
        require_working_hours: f.require_working_hours,
        sla_minutes,
        sla_action: f.sla_action.clone(),
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "routing/rule_form.html")]
pub(crate) struct RuleFormPage {
    ctx: PageCtx,
    rule_id: Option<Uuid>,
    f: RuleForm,
    errors: FieldErrors,
    teams: Vec<Choice>,
    officers: Vec<Choice>,
    methods: Vec<(&'static str, &'static str)>,
}

pub(crate) async fn render_rule_form(
    state: &AppState,
    ctx: PageCtx,
    rule_id: Option<Uuid>,
    f: RuleForm,
    errors: FieldErrors,
) -> AppResult<Response> {
    let (teams, officers) = teams_and_officers(&state.db).await?;
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let methods = Method::ALL.iter().map(|m| (m.as_str(), m.label())).collect();
    Ok((status, RuleFormPage { ctx, rule_id, f, errors, teams, officers, methods }).into_response())
}

pub(crate) async fn rule_new(user: CurrentUser, ctx: PageCtx, State(state): State<AppState>) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    render_rule_form(&state, ctx, None, RuleForm::blank(), FieldErrors::new()).await
}

pub(crate) async fn rule_edit(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    let rule = rstore::find_rule(&state.db, id).await?.ok_or(AppError::NotFound)?;
    render_rule_form(&state, ctx, Some(id), RuleForm::from_rule(&rule), FieldErrors::new()).await
}

pub(crate) async fn rule_create(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    let f = RuleForm::from_pairs(&pairs);
    let input = match validate_rule(&f) {
        Ok(i) => i,
        Err(errors) => return render_rule_form(&state, ctx, None, f, errors).await,
    };
    let id = Uuid::new_v4();
    let mut tx = state.db.begin().await?;
    rstore::insert_rule(&mut tx, id, &input).await?;
    let after = rstore::find_rule(&mut *tx, id).await?;
    Entry::new(Some(&user), "routing_rule.create", "routing_rule", id).after(&after).write(&mut *tx).await?;
    tx.commit().await?;
    Flash::push(&session, "success", format!("Rule \"{}\" created.", input.name)).await;
    Ok(Redirect::to("/routing/rules").into_response())
}

pub(crate) async fn rule_update(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    let f = RuleForm::from_pairs(&pairs);
    let input = match validate_rule(&f) {
        Ok(i) => i,
        Err(errors) => return render_rule_form(&state, ctx, Some(id), f, errors).await,
    };
    let version: i32 = f.version.trim().parse().map_err(|_| AppError::BadRequest("missing version".into()))?;
    let mut tx = state.db.begin().await?;
    let before = rstore::find_rule(&mut *tx, id).await?.ok_or(AppError::NotFound)?;
    let updated = rstore::update_rule(&mut tx, id, version, &input).await?;
    if !updated {
        return Err(AppError::conflict("Someone changed this rule since you opened it. Reload and try again."));
    }
    let after = rstore::find_rule(&mut *tx, id).await?;
    Entry::new(Some(&user), "routing_rule.update", "routing_rule", id)
        .before(&before)
        .after(&after)
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Flash::push(&session, "success", format!("Rule \"{}\" saved.", input.name)).await;
    Ok(Redirect::to("/routing/rules").into_response())
}

#[derive(Deserialize)]
pub(crate) struct MoveForm {
    direction: String,
}

pub(crate) async fn rule_move(
    user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Form(f): Form<MoveForm>,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    let mut tx = state.db.begin().await?;
    // Renumber active rules 1..n in their current order, then swap with the neighbour.
    let ids: Vec<Uuid> =
        sqlx::query_scalar!("SELECT id FROM routing_rules ORDER BY active DESC, position, created_at FOR UPDATE")
            .fetch_all(&mut *tx)
            .await?;
    let Some(i) = ids.iter().position(|x| *x == id) else { return Err(AppError::NotFound) };
    let j = match f.direction.as_str() {
        "up" if i > 0 => i - 1,
        "down" if i + 1 < ids.len() => i + 1,
        _ => i,
    };
    let mut order = ids.clone();
    order.swap(i, j);
    let positions: Vec<i32> = (1..=order.len() as i32).collect();
    sqlx::query!(
        "UPDATE routing_rules r SET position = t.pos, updated_at = now() FROM unnest($1::uuid[], $2::int[]) AS t(id, pos) WHERE r.id = t.id",
        &order,
        &positions
    )
    .execute(&mut *tx)
    .await?;
    Entry::new(Some(&user), "routing_rule.reorder", "routing_rule", id)
        .after(json!({"order": order}))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Redirect::to("/routing/rules").into_response())
}

pub(crate) async fn rule_toggle(
    user: CurrentUser,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    let mut tx = state.db.begin().await?;
    let active = sqlx::query_scalar!(
        "UPDATE routing_rules SET active = NOT active, version = version + 1, updated_at = now() WHERE id = $1 RETURNING active",
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    Entry::new(
        Some(&user),
        if active { "routing_rule.activate" } else { "routing_rule.deactivate" },
        "routing_rule",
        id,
    )
    .after(json!({"active": active}))
    .write(&mut *tx)
    .await?;
    tx.commit().await?;
    Flash::push(&session, "success", if active { "Rule activated." } else { "Rule deactivated." }).await;
    Ok(Redirect::to("/routing/rules").into_response())
}

// ---- Routing log -------------------------------------------------------------------------------------------
