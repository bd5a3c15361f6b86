//! The synthetic data generator: `loanfloor seed --leads N --officers K [--seed S]` writes teams, managers, LOs and
//! mortgage leads with full histories (routing and reassignments, call attempts, stage changes with drop-off,
//! lost reasons, callbacks) using COPY; the demo organisation gets a few hundred leads from the same simulator.
//!
//! Rows are generated on a blocking thread and streamed, one batch of COPY buffers at a time, through bounded
//! channels to writer connections: one per core when connected as a superuser (each its own transaction,
//! committed only once every writer has finished without error), otherwise one connection and a single
//! transaction. Row identities are fresh random UUIDs, so seeding twice appends; everything else is
//! deterministic for a seed and a point in time.

mod catalog;
mod copy_text;
mod history;
mod indexes;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use rand::distributions::{Distribution, WeightedIndex};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::config::SeedArgs;
use crate::state::AppState;
use catalog::{BRANCH_CITIES, SOURCES, STATES};
use copy_text::CopyBuf;
pub use history::STAGES;
use history::{Batch, LoanOfficer, Plan, Roster};

/// The password of every seeded user (managers and LOs), documented in the README.
pub const SEED_PASSWORD: &str = "loanfloor-seed-2026";
/// Seeded staff get addresses at this reserved domain.
pub const SEED_EMAIL_DOMAIN: &str = "seed.loanfloor.test";
/// Leads arrive over the last ~13 months.
const HISTORY_DAYS: i64 = 395;

/// What a seed run wrote, and how long it took.
#[derive(Debug, Clone, Default)]
pub struct SeedSummary {
    pub teams: u64,
    pub officers: u64,
    pub leads: u64,
    pub activities: u64,
    pub stage_changes: u64,
    pub assignments: u64,
    pub tasks: u64,
    pub consents: u64,
    /// Leads per final stage, in [`STAGES`] order.
    pub by_stage: [u64; 10],
    pub generate: Duration,
    pub write: Duration,
    /// Building the indexes set aside for the load again (see `indexes`).
    pub indexes: Duration,
    pub analyze: Duration,
    pub rollups: Duration,
    pub total: Duration,
}

impl SeedSummary {
    /// Adds another part's row counts (not its timings).
    fn add_rows(&mut self, o: &SeedSummary) {
        self.leads += o.leads;
        self.activities += o.activities;
        self.stage_changes += o.stage_changes;
        self.assignments += o.assignments;
        self.tasks += o.tasks;
        self.consents += o.consents;
        for (total, n) in self.by_stage.iter_mut().zip(o.by_stage) {
            *total += n;
        }
    }
}

impl std::fmt::Display for SeedSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "Seeded {} leads for {} LOs in {} teams: {} activities, {} stage changes, {} assignments, {} tasks, {} consents.",
            self.leads,
            self.officers,
            self.teams,
            self.activities,
            self.stage_changes,
            self.assignments,
            self.tasks,
            self.consents
        )?;
        let stages: Vec<String> = STAGES.iter().zip(self.by_stage).map(|(s, n)| format!("{s} {n}")).collect();
        writeln!(f, "Final stages: {}.", stages.join(", "))?;
        let secs = self.total.as_secs_f64().max(0.001);
        write!(
            f,
            "Took {:.1} s ({:.0} leads/s): generating {:.1} s (on its own thread), writing {:.1} s, building indexes {:.1} s, analyze {:.1} s, metric rollups {:.1} s.",
            secs,
            self.leads as f64 / secs,
            self.generate.as_secs_f64(),
            self.write.as_secs_f64(),
            self.indexes.as_secs_f64(),
            self.analyze.as_secs_f64(),
            self.rollups.as_secs_f64()
        )
    }
}

/// `loanfloor seed`: prints the summary; returns the number of leads written.
pub async fn run(state: &AppState, args: &SeedArgs) -> anyhow::Result<u64> {
    let summary = seed_at(state, args, state.clock.now(), true).await?;
    println!("{summary}");
    println!("Seeded staff sign in with password {SEED_PASSWORD} (addresses @{SEED_EMAIL_DOMAIN}).");
    Ok(summary.leads)
}

/// Seeds as if the time were `now` (the same seed and `now` give the same data, ids aside).
pub async fn seed_at(
    state: &AppState,
    args: &SeedArgs,
    now: DateTime<Utc>,
    progress: bool,
) -> anyhow::Result<SeedSummary> {
    if args.officers == 0 {
        anyhow::bail!("--officers must be at least 1: leads need loan officers");
    }
    let started = Instant::now();
    let mut ids = ChaCha8Rng::from_entropy();
    let mut conn = state.db.acquire().await?;
    ensure_sources(&mut conn).await?;
    let pipeline_id = default_pipeline(&mut conn).await?;
    let taken_emails: HashSet<String> = sqlx::query_scalar!(r#"SELECT lower(email) AS "email!" FROM users"#)
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .collect();
    let taken_teams: HashSet<String> = sqlx::query_scalar!(r#"SELECT lower(name) AS "name!" FROM teams"#)
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .collect();
    let password_hash = tokio::task::spawn_blocking(|| crate::auth::password::hash(SEED_PASSWORD)).await??;
    let staff = Staff::generate(args.seed, args.officers, now.timestamp(), &taken_emails, &taken_teams, &mut ids);

    // Plain indexes are set aside for a load into (nearly) empty tables and built once after it. Writers in
    // separate transactions need them dropped beforehand, in a transaction of its own (recorded, so that a
    // seed dying before the build leaves it to the next one); a single writer drops and builds them inside its
    // one transaction.
    let writers = crate::db::bulk_connections(&state.db, 0);
    // Index builders: one per core, beside the connection this function holds.
    let builders = crate::db::bulk_connections(&state.db, 1);
    indexes::build_left_over(&state.db, builders).await?;
    let set_aside = indexes::worth_setting_aside(&mut conn, args.leads).await?;
    let apart = skips_triggers(&mut conn).await? && writers > 1 && !set_aside.is_empty();
    if apart {
        indexes::drop_apart(&mut conn, &set_aside).await?;
    }
    let plan = Plan {
        seed: args.seed,
        leads: args.leads,
        now: now.timestamp(),
        history_days: HISTORY_DAYS,
        pipeline_id,
        fresh_per_lo: 0,
        callbacks_per_lo: 0,
        unassigned: 0,
    };
    let roster = Roster::new(staff.officers.clone(), args.seed);
    let loaded =
        load(state, &mut conn, &staff, &password_hash, plan, roster, ids, (!apart).then_some(&set_aside), progress)
            .await;
    let mut summary = if apart {
        if loaded.is_err() {
            // A failed load left its first writer's rollback queued on this connection: sent now, so that its
            // locks do not hold up the builds.
            let _ = sqlx::Connection::ping(&mut *conn).await;
        }
        let t = Instant::now();
        let built = indexes::build_apart(&state.db, &set_aside, builders).await;
        let mut summary = loaded?;
        built?;
        summary.indexes = t.elapsed();
        summary
    } else {
        loaded?
    };
    let analyzed = Instant::now();
    sqlx::query("ANALYZE leads, activities, stage_changes, assignments, tasks, lead_consents")
        .execute(&mut *conn)
        .await?;
    drop(conn);
    summary.analyze = analyzed.elapsed();
    let rebuilt = Instant::now();
    crate::metrics::rebuild_rollups(&state.db).await?;
    crate::routing::store::rebuild_open_counts(&state.db).await?;
    summary.rollups = rebuilt.elapsed();
    summary.teams = staff.teams.len() as u64;
    summary.officers = staff.officers.len() as u64;
    summary.total = started.elapsed();
    Ok(summary)
}

/// Writes the staff and the plan's leads, committing only once every writer has finished without error.
/// `in_tx`: indexes to drop and build again inside the first writer's transaction.
#[allow(clippy::too_many_arguments)]
async fn load(
    state: &AppState,
    conn: &mut PgConnection,
    staff: &Staff,
    password_hash: &str,
    plan: Plan,
    roster: Roster,
    ids: ChaCha8Rng,
    in_tx: Option<&indexes::SetAside>,
    progress: bool,
) -> anyhow::Result<SeedSummary> {
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    let superuser = bulk_load_settings(&mut tx).await?;
    let in_tx = in_tx.filter(|set| !set.is_empty());
    if let Some(set) = in_tx {
        indexes::drop_in(&mut tx, set).await?;
    }
    staff.write(&mut tx, password_hash).await?;
    // The single PostgreSQL backend doing COPY is the bottleneck, so as a superuser (no per-row foreign-key
    // checks, see bulk_load_settings) batches go to one writer connection per core, each in its own
    // transaction. Without that, one writer keeps every reference checkable inside one transaction.
    let mut extra = Vec::new();
    if superuser && in_tx.is_none() {
        // The first writer's connection is one of the pool's, so it counts among the writers.
        for _ in 1..crate::db::bulk_connections(&state.db, 0) {
            let mut writer = state.db.begin().await?;
            bulk_load_settings(&mut writer).await?;
            extra.push(writer);
        }
    }
    let bar = progress.then(|| {
        let bar = indicatif::ProgressBar::new(plan.leads);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {bar:40} {human_pos}/{human_len} leads ({per_sec}, {eta} left)",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let mut writers: Vec<&mut PgConnection> = vec![&mut *tx];
    writers.extend(extra.iter_mut().map(|w| &mut **w));
    let mut summary = write_leads(writers, plan, roster, ids, bar.as_ref()).await?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if let Some(set) = in_tx {
        let t = Instant::now();
        indexes::build_in(&mut tx, set).await?;
        summary.indexes = t.elapsed();
    }
    // Every writer has finished without error before the first commit; the staff (in the first) go first.
    tx.commit().await?;
    for writer in extra {
        writer.commit().await?;
    }
    Ok(summary)
}

/// Adds `n` leads with history for the demo organisation's existing LOs (users with role `lo`), in their
/// licensed states: most with a past, plus work for today — new leads nobody has called yet, callbacks due,
/// and a few leads waiting in the unassigned queue.
pub async fn demo_leads(state: &AppState, n: u64, history_days: i64) -> anyhow::Result<()> {
    let mut conn = state.db.acquire().await?;
    ensure_sources(&mut conn).await?;
    let pipeline_id = default_pipeline(&mut conn).await?;
    let rows = sqlx::query!(
        "SELECT u.id, u.team_id, p.licensed_states, p.routing_weight
         FROM users u JOIN lo_profiles p ON p.user_id = u.id
         WHERE u.role = 'lo' AND u.active ORDER BY u.email"
    )
    .fetch_all(&mut *conn)
    .await?;
    let officers: Vec<LoanOfficer> = rows
        .into_iter()
        .map(|r| LoanOfficer {
            id: r.id,
            team_id: r.team_id,
            states: r.licensed_states.iter().filter_map(|s| catalog::state_index(s)).collect(),
            routing_weight: r.routing_weight.max(0) as u32,
        })
        .collect();
    if officers.is_empty() || n == 0 {
        return Ok(());
    }
    let k = officers.len() as u64;
    let unassigned = (n / 40).clamp(1, 8).min(n);
    let fresh_per_lo = if n >= unassigned + 6 * k { 3 } else { 0 };
    let callbacks_per_lo = if n >= unassigned + 6 * k { 2 } else { 0 };
    let plan = Plan {
        seed: 2026,
        leads: n,
        now: state.clock.now().timestamp(),
        history_days,
        pipeline_id,
        fresh_per_lo,
        callbacks_per_lo,
        unassigned,
    };
    let roster = Roster::new(officers, plan.seed);
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    sqlx::query("SET LOCAL loanfloor.metrics_triggers = 'off'").execute(&mut *tx).await?;
    write_leads(vec![&mut *tx], plan, roster, ChaCha8Rng::from_entropy(), None).await?;
    tx.commit().await?;
    drop(conn);
    crate::metrics::rebuild_rollups(&state.db).await?;
    crate::routing::store::rebuild_open_counts(&state.db).await?;
    Ok(())
}

/// Settings of a bulk-load transaction; returns whether the connection is a superuser's (then the per-row
/// foreign-key triggers are skipped).
async fn bulk_load_settings(conn: &mut PgConnection) -> anyhow::Result<bool> {
    sqlx::query!("SET LOCAL synchronous_commit = off").execute(&mut *conn).await?;
    // Rollups are rebuilt once after the load instead of per row (see metrics::rebuild_rollups).
    sqlx::query("SET LOCAL loanfloor.metrics_triggers = 'off'").execute(&mut *conn).await?;
    let superuser = skips_triggers(&mut *conn).await?;
    if superuser {
        sqlx::query!("SET LOCAL session_replication_role = replica").execute(&mut *conn).await?;
    }
    Ok(superuser)
}

/// Whether the connection may skip the per-row foreign-key triggers (a superuser, or granted the setting).
async fn skips_triggers(conn: &mut PgConnection) -> anyhow::Result<bool> {
    // The generator builds every reference itself (tests check them with anti-joins), so as a superuser it
    // skips the per-row foreign-key triggers, as pg_restore --disable-triggers does: they would triple the time.
    // The schema's owner may be granted this setting alone (PostgreSQL 15+: GRANT SET ON PARAMETER).
    let superuser: bool =
        sqlx::query_scalar!(r#"SELECT current_setting('is_superuser') = 'on' AS "su!""#).fetch_one(&mut *conn).await?;
    let version: i32 =
        sqlx::query_scalar("SELECT current_setting('server_version_num')::int").fetch_one(&mut *conn).await?;
    let granted = !superuser
        && version >= 150_000
        && sqlx::query_scalar::<_, bool>("SELECT has_parameter_privilege('session_replication_role', 'SET')")
            .fetch_one(&mut *conn)
            .await?;
    Ok(superuser || granted)
}

/// Generates the plan's batches on a blocking thread and COPYs them as they arrive, batch i to writer
/// i mod writers. A batch holds whole leads with all their history, so each writer's rows are complete.
async fn write_leads(
    writers: Vec<&mut PgConnection>,
    plan: Plan,
    roster: Roster,
    mut ids: ChaCha8Rng,
    bar: Option<&indicatif::ProgressBar>,
) -> anyhow::Result<SeedSummary> {
    let (senders, receivers): (Vec<_>, Vec<_>) =
        (0..writers.len()).map(|_| tokio::sync::mpsc::channel::<Batch>(2)).unzip();
    let generator = tokio::task::spawn_blocking(move || {
        let mut busy = Duration::ZERO;
        for index in 0..plan.batches() {
            let t = Instant::now();
            let batch = history::generate_batch(&plan, &roster, index, &mut ids);
            busy += t.elapsed();
            if senders[(index as usize) % senders.len()].blocking_send(batch).is_err() {
                break; // a writer failed; its error is reported
            }
        }
        busy
    });
    let results = futures_util::future::join_all(
        writers.into_iter().zip(receivers).map(|(conn, rx)| write_received(conn, rx, bar)),
    )
    .await;
    let generate = generator.await.context("the generator thread failed")?;
    let mut summary = SeedSummary { generate, ..SeedSummary::default() };
    for part in results {
        let part = part?;
        summary.add_rows(&part);
        // Writers run side by side: the slowest one is the time spent writing.
        summary.write = summary.write.max(part.write);
    }
    Ok(summary)
}

/// One writer: COPYs the batches it receives until the generator is done or a write fails (then it stops
/// receiving, which stops the generator and so the other writers).
async fn write_received(
    conn: &mut PgConnection,
    mut rx: tokio::sync::mpsc::Receiver<Batch>,
    bar: Option<&indicatif::ProgressBar>,
) -> anyhow::Result<SeedSummary> {
    let mut summary = SeedSummary::default();
    let started = Instant::now();
    while let Some(batch) = rx.recv().await {
        write_batch(conn, &batch).await?;
        summary.add_rows(&SeedSummary {
            leads: batch.leads.rows,
            activities: batch.activities.rows,
            stage_changes: batch.stage_changes.rows,
            assignments: batch.assignments.rows,
            tasks: batch.tasks.rows,
            consents: batch.consents.rows,
            by_stage: batch.by_stage,
            ..SeedSummary::default()
        });
        if let Some(bar) = bar {
            bar.inc(batch.leads.rows);
        }
    }
    summary.write = started.elapsed();
    Ok(summary)
}

async fn write_batch(conn: &mut PgConnection, batch: &Batch) -> anyhow::Result<()> {
    for (statement, rows) in batch.tables() {
        copy(conn, statement, rows).await?;
    }
    Ok(())
}

async fn copy(conn: &mut PgConnection, statement: &str, rows: &CopyBuf) -> anyhow::Result<()> {
    if rows.rows == 0 {
        return Ok(());
    }

    let mut copy = conn.copy_in_raw(statement).await?;
    copy.send(rows.bytes.as_slice()).await?;
    copy.finish().await.with_context(|| format!("{} failed", statement.split(" FROM").next().unwrap_or(statement)))?;
    Ok(())
}

/// The lead sources the generator uses, with their cost per lead; existing rows are left as configured.
async fn ensure_sources(conn: &mut PgConnection) -> anyhow::Result<()> {
    for s in SOURCES {
        sqlx::query!(
            "INSERT INTO lead_sources (key, label, cost_per_lead_cents) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING",
            s.key,
            s.label,
            s.cost_per_lead_cents
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

async fn default_pipeline(conn: &mut PgConnection) -> anyhow::Result<Uuid> {
    sqlx::query_scalar!("SELECT id FROM pipelines WHERE is_default")
        .fetch_optional(&mut *conn)
        .await?
        .context("no default pipeline (migrations not applied?)")
}

/// Seeded teams (one per about eight LOs), each with a manager, and the LOs.
struct Staff {
    /// (id, name, manager id, manager name, manager email)
    teams: Vec<(Uuid, String, Uuid, String, String)>,
    officers: Vec<LoanOfficer>,
    /// Per LO: (name, email, nmls, capacity, monthly cost cents, time zone)
    lo_details: Vec<(String, String, String, i32, i64, &'static str)>,
    created: i64,
}

impl Staff {
    fn generate(
        seed: u64,
        k: u32,
        now: i64,
        taken_emails: &HashSet<String>,
        taken_teams: &HashSet<String>,
        ids: &mut ChaCha8Rng,
    ) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut emails: HashSet<String> = taken_emails.clone();
        let mut team_names: HashSet<String> = taken_teams.clone();
        let mut person = |rng: &mut ChaCha8Rng| {
            let first = catalog::FIRST_NAMES[rng.gen_range(0..catalog::FIRST_NAMES.len())];
            let last = catalog::LAST_NAMES[rng.gen_range(0..catalog::LAST_NAMES.len())];
            let base = format!("{}.{}", first.to_lowercase(), last.to_lowercase());
            let mut email = format!("{base}@{SEED_EMAIL_DOMAIN}");
            let mut n = 2;
            while emails.contains(&email) {
                email = format!("{base}{n}@{SEED_EMAIL_DOMAIN}");
                n += 1;
            }
            emails.insert(email.clone());
            (format!("{first} {last}"), email)
        };
        let uuid = |ids: &mut ChaCha8Rng| {
            let mut b = [0u8; 16];
            ids.fill_bytes(&mut b);
            uuid::Builder::from_random_bytes(b).into_uuid()
        };
        let n_teams = (k as usize).div_ceil(8).max(1);
        let mut teams = Vec::with_capacity(n_teams);
        let mut team_states = Vec::with_capacity(n_teams);
        for t in 0..n_teams {
            let (city, state) = BRANCH_CITIES[t % BRANCH_CITIES.len()];
            let mut name = format!("{city} Branch");
            let mut n = 2;
            while team_names.contains(&name.to_lowercase()) {
                name = format!("{city} Branch {n}");
                n += 1;
            }
            team_names.insert(name.to_lowercase());
            let (mgr_name, mgr_email) = person(&mut rng);
            teams.push((uuid(ids), name, uuid(ids), mgr_name, mgr_email));
            team_states.push(catalog::state_index(state).unwrap_or(0));
        }
        let population = WeightedIndex::new(STATES.iter().map(|s| s.population)).expect("populations are positive");
        let mut officers = Vec::with_capacity(k as usize);
        let mut lo_details = Vec::with_capacity(k as usize);
        for i in 0..k as usize {
            let team = i % n_teams;
            let home = if rng.gen_bool(0.7) { team_states[team] } else { population.sample(&mut rng) };
            let mut states = vec![home];
            let extra = rng.gen_range(1..=6);
            for _ in 0..extra * 3 {
                if states.len() > extra {
                    break;
                }
                let s = population.sample(&mut rng);
                if !states.contains(&s) {
                    states.push(s);
                }
            }
            let weight = match rng.gen_range(0..20) {
                0..10 => 1,
                10..16 => 2,
                16..19 => 3,
                _ => 5,
            };
            let (name, email) = person(&mut rng);
            let nmls = format!("{}", rng.gen_range(100_000..2_600_000));
            let capacity = rng.gen_range(8..31) * 5;
            let monthly_cost = rng.gen_range(400..950) * 1000;
            officers.push(LoanOfficer { id: uuid(ids), team_id: Some(teams[team].0), states, routing_weight: weight });
            lo_details.push((name, email, nmls, capacity, monthly_cost, STATES[home].time_zone));
        }
        Staff { teams, officers, lo_details, created: now - (HISTORY_DAYS + 60) * 86_400 }
    }

    async fn write(&self, conn: &mut PgConnection, password_hash: &str) -> anyhow::Result<()> {
        let mut teams = CopyBuf::with_capacity(4096);
        let mut users = CopyBuf::with_capacity(65_536);
        let mut managers = CopyBuf::with_capacity(4096);
        let mut profiles = CopyBuf::with_capacity(65_536);
        for (id, name, mgr, mgr_name, mgr_email) in &self.teams {
            teams.uuid(*id);
            teams.text(name);
            teams.ts(self.created);
            teams.end_row();
            users.uuid(*mgr);
            users.text(mgr_email);
            users.text(mgr_name);
            users.text("manager");
            users.text(password_hash);
            users.null();
            users.ts(self.created);
            users.end_row();
            managers.uuid(*id);
            managers.uuid(*mgr);
            managers.ts(self.created);
            managers.end_row();
        }
        for (lo, (name, email, nmls, capacity, cost, tz)) in self.officers.iter().zip(&self.lo_details) {
            users.uuid(lo.id);
            users.text(email);
            users.text(name);
            users.text("lo");
            users.text(password_hash);
            users.opt_uuid(lo.team_id);
            users.ts(self.created);
            users.end_row();
            let states: Vec<&str> = lo.states.iter().map(|&s| STATES[s].code).collect();
            profiles.uuid(lo.id);
            profiles.text(nmls);
            profiles.text_array(&states);
            profiles.int(i64::from(*capacity));
            profiles.int(i64::from(lo.routing_weight));
            profiles.int(*cost);
            profiles.text(tz);
            profiles.ts(self.created);
            profiles.end_row();
        }
        copy(conn, "COPY teams (id, name, created_at) FROM STDIN", &teams).await?;
        copy(conn, "COPY users (id, email, name, role, password_hash, team_id, created_at) FROM STDIN", &users).await?;
        copy(conn, "COPY team_managers (team_id, user_id, created_at) FROM STDIN", &managers).await?;
        copy(
            conn,
            "COPY lo_profiles (user_id, nmls_id, licensed_states, capacity, routing_weight, monthly_cost_cents, \
             timezone, created_at) FROM STDIN",
            &profiles,
        )
        .await?;
        Ok(())
    }
}
