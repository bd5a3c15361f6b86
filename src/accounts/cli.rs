//! `loanfloor user add` and `loanfloor token add`.

use std::io::{BufRead, Write};

use crate::audit::Entry;
use crate::auth::Role;
use crate::config::UserAddArgs;
use crate::error::AppError;
use crate::state::AppState;

use super::store::{NewUser, create_user};

fn read_password() -> anyhow::Result<String> {
    if let Ok(p) = std::env::var("LOANFLOOR_PASSWORD") {
        return Ok(p);
    }
    eprint!("Password (at least 12 characters): ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

pub async fn user_add(state: &AppState, args: &UserAddArgs) -> anyhow::Result<()> {
    let role = Role::parse(&args.role).ok_or_else(|| {
        let known: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
        anyhow::anyhow!("unknown role {:?}; use one of {}", args.role, known.join(", "))
    })?;
    let new = NewUser {
        email: args.email.clone(),
        name: args.name.clone(),
        role,
        password: read_password()?,
        team: args.team.clone(),
        states: args.states.iter().filter(|s| !s.trim().is_empty()).map(|s| s.trim().to_uppercase()).collect(),
        capacity: args.capacity,
        nmls_id: args.nmls.clone(),
    };
    let mut tx = state.db.begin().await?;
    let id = match create_user(&mut tx, &new).await {
        Ok(id) => id,
        Err(AppError::Validation(errors)) => {
            let msgs: Vec<String> =
                errors.0.iter().flat_map(|(f, m)| m.iter().map(move |m| format!("{f}: {m}"))).collect();
            anyhow::bail!("{}", msgs.join("; "));
        }
        Err(e) => return Err(anyhow::anyhow!(e)),
    };
    Entry::new(None, "user_created", "user", id)
        .after(serde_json::json!({ "email": new.email, "role": role.as_str(), "team": new.team, "via": "cli" }))
        .write(&mut *tx)
        .await?;
    // A person added by an operator makes this a real organisation: a second factor for everyone.
    crate::auth::store::mark_organisation(&mut tx, false).await?;
    tx.commit().await?;
    println!("created {} ({}) {id}", new.email, role.as_str());
    Ok(())
}

pub async fn token_add(state: &AppState, email: &str, label: &str, scopes: &[String], days: i64) -> anyhow::Result<()> {
    let (scopes, days) = crate::accounts::model::token_request(scopes, &days.to_string()).map_err(|errors| {
        let msgs: Vec<String> = errors.0.iter().flat_map(|(f, m)| m.iter().map(move |m| format!("{f}: {m}"))).collect();
        anyhow::anyhow!("{}", msgs.join("; "))
    })?;
    let user = crate::auth::store::find_user_by_email(&state.db, email)
        .await?
        .filter(|u| u.active)
        .ok_or_else(|| anyhow::anyhow!("no active user with email {email}"))?;
    let expires_at = state.clock.now() + chrono::Duration::days(days);
    let mut tx = state.db.begin().await?;
    let new =
        crate::auth::store::NewToken { user_id: user.id, label, scopes: scopes.clone(), expires_at, issued_by: None };
    let (id, secret) = crate::auth::store::create_token(&mut tx, &new).await?;
    Entry::new(None, "token_created", "api_token", id)
        .after(serde_json::json!({ "user": email, "label": label, "scopes": scopes, "expires_at": expires_at, "via": "cli" }))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    eprintln!(
        "API token for {email}, scopes {}, expires {} (shown once; store it safely):",
        scopes.join(", "),
        expires_at.format("%Y-%m-%d")
    );
    println!("{secret}");
    Ok(())
}
