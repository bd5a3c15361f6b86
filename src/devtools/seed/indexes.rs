//! The plain secondary indexes of the tables the seed bulk-loads, set aside for a large load and built again
//! after it.
//!
//! COPY keeping some 25 indexes up to date row by row (random UUID keys, indexes larger than shared_buffers at
//! 1M leads) cost more than the COPY itself: 200,000 leads went into a copy of `leads` in 11.9 s with its
//! indexes and in 0.6 s without, and its 16 indexes were then built in 2.4 s. Only plain indexes are set
//! aside; primary keys, unique indexes and constraint indexes stay, so every constraint holds throughout and
//! the load checks them as before. A load that is small beside what the tables hold keeps the indexes (one
//! build over all rows would cost more than the inserts).

use anyhow::Context;
use sqlx::{PgConnection, PgPool};

/// The tables the seed loads with COPY, largest first (so the longest builds start first).
const TABLES: [&str; 6] = ["activities", "leads", "stage_changes", "assignments", "lead_consents", "tasks"];

/// The `settings` row listing indexes set aside by a load run as separate transactions, until they are built
/// again: a seed that dies in between leaves it, and the next seed builds them first.
const PENDING_KEY: &str = "seed.indexes_set_aside";

/// Statements building the set-aside indexes again (`CREATE INDEX IF NOT EXISTS …`), and their names.
#[derive(Debug, Clone, Default)]
pub struct SetAside {
    names: Vec<String>,
    builds: Vec<String>,
}

impl SetAside {
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// The plain indexes of the loaded tables that the current role may drop, when a load of `adding` leads is
/// at least as large as what `leads` holds already (else none).
pub async fn worth_setting_aside(conn: &mut PgConnection, adding: u64) -> anyhow::Result<SetAside> {
    let adding = i64::try_from(adding).unwrap_or(i64::MAX);
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM (SELECT 1 FROM leads LIMIT $1) l")
        .bind(adding)
        .fetch_one(&mut *conn)
        .await?;
    if before >= adding {
        return Ok(SetAside::default());
    }
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
         FROM unnest($1::text[]) WITH ORDINALITY AS t(name, pos)
         JOIN pg_class c ON c.oid = to_regclass(t.name)
         JOIN pg_index i ON i.indrelid = c.oid
         WHERE NOT i.indisunique AND NOT i.indisprimary AND NOT i.indisexclusion AND i.indisvalid
           AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
           AND pg_has_role(c.relowner, 'USAGE')
         ORDER BY t.pos, pg_relation_size(i.indexrelid) DESC, 1",
    )
    .bind(TABLES.as_slice())
    .fetch_all(&mut *conn)
    .await?;
    let mut set = SetAside::default();
    for (name, def) in rows {
        let Some(rest) = def.strip_prefix("CREATE INDEX ") else { continue };
        set.names.push(name);
        set.builds.push(format!("CREATE INDEX IF NOT EXISTS {rest}"));
    }
    Ok(set)
}

/// Drops the indexes in `conn`'s transaction (the caller's load and [`build_in`] follow in the same one).
pub async fn drop_in(conn: &mut PgConnection, set: &SetAside) -> anyhow::Result<()> {
    for name in &set.names {
        sqlx::query(&format!("DROP INDEX {name}")).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Builds the indexes in `conn`'s transaction, one after the other.
pub async fn build_in(conn: &mut PgConnection, set: &SetAside) -> anyhow::Result<()> {
    sqlx::query("SET LOCAL maintenance_work_mem = '512MB'").execute(&mut *conn).await?;
    for build in &set.builds {
        sqlx::query(build).execute(&mut *conn).await.with_context(|| build.clone())?;
    }
    Ok(())
}

/// Drops the indexes in a transaction of their own, recording them as set aside, so that several writer
/// transactions can load the tables; [`build_apart`] builds them again and clears the record.
pub async fn drop_apart(conn: &mut PgConnection, set: &SetAside) -> anyhow::Result<()> {
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    sqlx::query(
        "INSERT INTO settings (key, value) VALUES ($1, to_jsonb($2::text[]))
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = now()",
    )
    .bind(PENDING_KEY)
    .bind(&set.builds)
    .execute(&mut *tx)
    .await?;
    drop_in(&mut tx, set).await?;
    tx.commit().await?;
    Ok(())
}

/// Builds the indexes again on `connections` connections side by side (each takes the next index; CREATE
/// INDEX on one table from several sessions at once is allowed), then clears the record.
pub async fn build_apart(db: &PgPool, set: &SetAside, connections: usize) -> anyhow::Result<()> {
    let queue = std::sync::Mutex::new(set.builds.iter());
    let builder = || async {
        let mut conn = db.acquire().await?;
        loop {
            let next = queue.lock().map_err(|_| anyhow::anyhow!("index queue poisoned"))?.next();
            let Some(build) = next else { break };
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            sqlx::query("SET LOCAL statement_timeout = 0").execute(&mut *tx).await?;
            sqlx::query("SET LOCAL maintenance_work_mem = '512MB'").execute(&mut *tx).await?;
            // The sessions side by side already use the cores.
            sqlx::query("SET LOCAL max_parallel_maintenance_workers = 0").execute(&mut *tx).await?;
            sqlx::query(build).execute(&mut *tx).await.with_context(|| build.clone())?;
            tx.commit().await?;
        }
        anyhow::Ok(())
    };
    let results = futures_util::future::join_all((0..connections.max(1)).map(|_| builder())).await;
    results.into_iter().collect::<anyhow::Result<Vec<()>>>()?;
    sqlx::query("DELETE FROM settings WHERE key = $1").bind(PENDING_KEY).execute(db).await?;
    Ok(())
}

/// Builds indexes an earlier seed set aside and did not build again (it died in between), if any.
pub async fn build_left_over(db: &PgPool, connections: usize) -> anyhow::Result<()> {
    let builds: Option<Vec<String>> =
        sqlx::query_scalar("SELECT ARRAY(SELECT jsonb_array_elements_text(value)) FROM settings WHERE key = $1")
            .bind(PENDING_KEY)
            .fetch_optional(db)
            .await?;
    let Some(builds) = builds else { return Ok(()) };
    tracing::warn!(indexes = builds.len(), "building the indexes an interrupted seed set aside");
    build_apart(db, &SetAside { names: Vec::new(), builds }, connections).await
}
