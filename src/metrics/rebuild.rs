//! Rebuilding every rollup from the base tables (after bulk loads and on the `metrics.rebuild` job), on every
//! core: contributions by chunks of lead ids, then the grains' sums, each step on the next free connection,
//! swapped in by one transaction.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// Rebuilds every rollup from the base tables, on every core (see [`rebuild_with`]).
pub async fn rebuild(db: &PgPool) -> anyhow::Result<()> {
    // The coordinator holds a connection of its own besides the workers'.
    rebuild_with(db, crate::db::bulk_connections(db, 1)).await
}

/// How many chunks of lead ids a parallel rebuild splits the work into (more than workers, so a worker that
/// draws a slow chunk does not hold up the others).
const REBUILD_CHUNKS: u128 = 8;

/// A step of a parallel rebuild: the contributions of the leads with ids in [lo, hi) (no upper bound: None),
/// or the sums of one grain (0-4, with its months) from all of them.
enum RebuildStep {
    Chunk(Uuid, Option<Uuid>),
    Grain(i32),
}

/// Rebuilds every rollup from the base tables with `workers` connections side by side (one backend computing
/// a million leads' contributions, then one summing them into every grain, were the slow parts of seeding).
/// The coordinating transaction first takes the rebuild lock and locks `metrics_lead_contrib` against writes,
/// so no fact can commit while the workers read (a fact's trigger writes there at commit); the workers then
/// compute chunks of lead ids into a staging table, then sum the grains from it into another (migration
/// 0063), and the coordinator swaps the rollups in one transaction, copying the staged rows and building the
/// indexes. With one worker it is the single statement `metrics_rebuild()`.
pub async fn rebuild_with(db: &PgPool, workers: usize) -> anyhow::Result<()> {
    // Every connection is taken before anything is locked: requests that write facts wait on the lock below
    // while holding pool connections, so a worker that had to get one later could wait for a free one in vain.
    // The coordinator needs a connection of its own besides the workers' (for callers naming a count).
    let workers = workers.min(db.options().get_max_connections().saturating_sub(1) as usize);
    let mut conns = Vec::with_capacity(workers);
    if workers > 1 {
        for _ in 0..workers {
            conns.push(db.acquire().await?);
        }
    }
    let mut tx = db.begin().await?;
    sqlx::query("SET LOCAL statement_timeout = 0").execute(&mut *tx).await?;
    sqlx::query("SET LOCAL work_mem = '256MB'").execute(&mut *tx).await?;
    if conns.is_empty() {
        sqlx::query("SELECT metrics_rebuild()").execute(&mut *tx).await?;
    } else {
        sqlx::query("SELECT pg_advisory_xact_lock(727008, 0)").execute(&mut *tx).await?;
        sqlx::query("LOCK TABLE metrics_lead_contrib IN EXCLUSIVE MODE").execute(&mut *tx).await?;
        let run = Uuid::new_v4();
        let step = u128::MAX / REBUILD_CHUNKS + 1;
        let bounds: Vec<(Uuid, Option<Uuid>)> = (0..REBUILD_CHUNKS)
            .map(|i| {
                let hi = (i + 1 < REBUILD_CHUNKS).then(|| Uuid::from_u128((i + 1) * step));
                (Uuid::from_u128(i * step), hi)
            })
            .collect();
        // First every chunk's contributions, then (once all are staged) every grain's sums, grain 0 (the
        // largest) first; each phase on every worker.
        let chunks = bounds.into_iter().map(|(lo, hi)| RebuildStep::Chunk(lo, hi)).collect();
        let grains = (0..=4).map(RebuildStep::Grain).collect();
        let mut failed = None;
        for phase in [chunks, grains] {
            let queue = std::sync::Mutex::new(Vec::into_iter(phase));
            let results =
                futures_util::future::join_all(conns.iter_mut().map(|conn| run_steps(conn, run, &queue))).await;
            failed = results.into_iter().find_map(Result::err);
            if failed.is_some() {
                break;
            }
        }
        drop(conns);
        if let Some(err) = failed {
            drop(tx);
            sqlx::query("DELETE FROM metrics_rebuild_stage WHERE run = $1").bind(run).execute(db).await?;
            sqlx::query("DELETE FROM metrics_rebuild_daily_stage WHERE run = $1").bind(run).execute(db).await?;
            return Err(err.context("rebuilding the metric rollups"));
        }
        sqlx::query("SELECT metrics_rebuild_swap_grains($1)").bind(run).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    sqlx::query("SELECT metrics_analyze()").execute(db).await?;
    Ok(())
}

/// One worker of a parallel rebuild: takes the next step until none is left.
async fn run_steps(
    conn: &mut PgConnection,
    run: Uuid,
    queue: &std::sync::Mutex<std::vec::IntoIter<RebuildStep>>,
) -> anyhow::Result<()> {
    sqlx::query("SET statement_timeout = 0").execute(&mut *conn).await?;
    loop {
        let next = queue.lock().map_err(|_| anyhow::anyhow!("rebuild queue poisoned"))?.next();
        let step = match next {
            Some(RebuildStep::Chunk(lo, hi)) => {
                sqlx::query("SELECT metrics_rebuild_chunk($1, $2, $3)").bind(run).bind(lo).bind(hi)
            }
            Some(RebuildStep::Grain(grain)) => {
                sqlx::query("SELECT metrics_rebuild_grain($1, $2)").bind(run).bind(grain)
            }
            None => break,
        };
        step.execute(&mut *conn).await?;
    }
    sqlx::query("RESET statement_timeout").execute(&mut *conn).await?;
    Ok(())
}
