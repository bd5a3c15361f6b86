//! The demo organisation created on the first start of an empty database: two branches, a manager for each,
//! LOs licensed in different states, loss-mitigation staff, an intake integration, a year of leads with
//! history (about 2,500), and the living branch of `living.rs`.

mod departments;
mod living;
mod locks;

use crate::accounts::store::{NewUser, create_user};
use crate::auth::Role;
use crate::state::AppState;

pub const DEMO_PASSWORD: &str = "loanfloor-demo-2026";

/// (email, name, role, team, licensed states)
pub type DemoUser = (&'static str, &'static str, Role, Option<&'static str>, &'static [&'static str]);

pub const DEMO_USERS: &[DemoUser] = &[
    ("admin@demo.loanfloor.test", "Alex Admin", Role::Admin, None, &[]),
    ("manager@demo.loanfloor.test", "Morgan Reyes", Role::Manager, Some("Dallas Branch"), &[]),
    ("manager.west@demo.loanfloor.test", "Priya Shah", Role::Manager, Some("West Coast Branch"), &[]),
    ("lo@demo.loanfloor.test", "Maria Lopez", Role::Lo, Some("Dallas Branch"), &["TX", "OK", "LA"]),
    ("lo2@demo.loanfloor.test", "James Carter", Role::Lo, Some("Dallas Branch"), &["TX", "AR"]),
    ("lo3@demo.loanfloor.test", "Dana Kim", Role::Lo, Some("Dallas Branch"), &["TX", "NM"]),
    ("lo4@demo.loanfloor.test", "Sam Patel", Role::Lo, Some("West Coast Branch"), &["CA", "NV", "AZ"]),
    ("lo5@demo.loanfloor.test", "Chris Nguyen", Role::Lo, Some("West Coast Branch"), &["CA", "OR", "WA"]),
    ("lossmit@demo.loanfloor.test", "Jordan Ellis", Role::Lossmit, None, &[]),
    ("lossmit.lead@demo.loanfloor.test", "Taylor Brooks", Role::LossmitSupervisor, None, &[]),
    ("intake@demo.loanfloor.test", "Lead vendor feed", Role::Intake, None, &[]),
    ("marketing@demo.loanfloor.test", "Riley Chen", Role::Marketing, None, &[]),
    ("compliance@demo.loanfloor.test", "Avery Brooks", Role::Compliance, None, &[]),
    ("underwriter@demo.loanfloor.test", "Avery Stone", Role::Department, None, &[]),
];

/// Creates the demo organisation when the database has no users. Returns the logins to print, or None when
/// the database already had data. Safe with several instances starting at once (advisory lock).
pub async fn ensure(state: &AppState) -> anyhow::Result<Option<String>> {
    let mut tx = state.db.begin().await?;
    sqlx::query!("SELECT pg_advisory_xact_lock(727001)").execute(&mut *tx).await?;
    let users: i64 = sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM users"#).fetch_one(&mut *tx).await?;
    if users > 0 {
        return Ok(None);
    }
    let (mut admin, mut underwriter) = (None, None);
    for (email, name, role, team, states) in DEMO_USERS {
        let u = NewUser {
            email: email.to_string(),
            name: name.to_string(),
            role: *role,
            password: DEMO_PASSWORD.to_string(),
            team: team.map(str::to_string),
            states: states.iter().map(|s| s.to_string()).collect(),
            capacity: 50,
            nmls_id: (*role == Role::Lo).then(|| format!("{}", 100_000 + email.len() * 7919)),
        };
        let id = create_user(&mut tx, &u).await.map_err(|e| anyhow::anyhow!("demo user {email}: {e:?}"))?;
        match role {
            Role::Admin => admin = Some(id),
            Role::Department => underwriter = Some(id),
            _ => {}
        }
    }
    if let (Some(admin), Some(underwriter)) = (admin, underwriter) {
        departments::create(&mut tx, admin, underwriter).await?;
    }
    crate::auth::store::mark_organisation(&mut tx, true).await?;
    // CAN-SPAM: borrower emails carry the lender's postal address; without one they are held back.
    crate::messages::store::save_setting_text(
        &mut tx,
        crate::messages::store::POSTAL_ADDRESS,
        "Demo Lending, 100 Congress Avenue, Austin, TX 78701",
    )
    .await?;
    tx.commit().await?;
    crate::devtools::seed::demo_leads(state, 2_500, 365).await?;
    // The generator writes with COPY, so its funded leads become past clients here, as a stage change would.
    let mut tx = state.db.begin().await?;
    let funded: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT id FROM leads WHERE stage = 'funded'").fetch_all(&mut *tx).await?;
    for id in funded {
        crate::portfolio::on_lead_funded(&mut tx, id).await.map_err(|e| anyhow::anyhow!("demo portfolio: {e:?}"))?;
    }
    tx.commit().await?;
    living::populate(state).await?;
    // The living demo's loans funded today reach the portfolio (and any webhook) before the server opens.
    crate::events::dispatch_pending(state, state.clock.now()).await?;
    let mut out = String::from("Demo organisation created. Sign in with password ");
    out.push_str(DEMO_PASSWORD);
    out.push_str(" as:\n");
    for (email, _, role, _, _) in DEMO_USERS {
        out.push_str(&format!("  {:<36} {}\n", email, role.label()));
    }
    Ok(Some(out))
}
