//! The lock desk's demo (issue 20): two investors with their extension schedules, and live rate locks on loans
//! at late stages — two expiring within the week, one already extended — made with the lock service, as the
//! admin and the LOs would make them.

use anyhow::Context;
use chrono::Duration;
use uuid::Uuid;

use crate::locks::investors::{InvestorInput, create_investor};
use crate::locks::{NewLock, ScheduleOption};
use crate::state::AppState;

fn schedule(options: &[(i32, i32)]) -> Option<Vec<ScheduleOption>> {
    Some(options.iter().map(|&(days, cost_bps)| ScheduleOption { days, cost_bps }).collect())
}

/// The demo's investors and locks, entered as `admin`.
pub async fn rate_locks(state: &AppState, admin: &crate::auth::CurrentUser) -> anyhow::Result<()> {
    let mut tx = state.db.begin().await?;
    let mut investors = Vec::new();
    for (name, options, cap) in [
        ("Keystone Capital", &[(7, 5), (15, 12), (30, 25)][..], Some(30)),
        ("Harbor Mortgage Trust", &[(15, 15), (30, 30)][..], None),
    ] {
        let input = InvestorInput {
            name: name.into(),
            relock_fee_bps: 12,
            float_down_fee_bps: 25,
            float_down_min_milli: 250,
            max_extension_days: cap,
            active: true,
            schedule: schedule(options),
            version: None,
        };
        let row = create_investor(&mut tx, admin, &input).await.map_err(|e| anyhow::anyhow!("demo investor: {e:?}"))?;
        investors.push(row.id);
    }
    tx.commit().await?;
    // Loans far enough along to be locked, furthest first (an application is locked too: on some days the
    // generated month leaves fewer than five loans past it once the quickest have funded).
    let loans: Vec<(Uuid, Uuid, i64)> = sqlx::query_as(
        "SELECT id, assigned_lo_id, loan_amount_cents FROM leads
         WHERE assigned_lo_id IS NOT NULL AND loan_amount_cents > 0
           AND stage IN ('application', 'processing', 'underwriting', 'clear_to_close')
         ORDER BY array_position(ARRAY['clear_to_close', 'underwriting', 'processing', 'application'], stage), id
         LIMIT 5",
    )
    .fetch_all(&state.db)
    .await?;
    let today = state.today();
    // (days ago locked, period, price bps): two lapse within the week; the last gets extended.
    let terms = [(25, 30, 25), (12, 15, 0), (10, 45, -30), (5, 30, 50), (28, 30, 12)];
    for (i, ((lead, lo, amount), (ago, period, price))) in loans.into_iter().zip(terms).enumerate() {
        let lo = crate::auth::store::find_user(&state.db, lo).await?.context("the loan's LO")?.into_current(false);
        let input = NewLock {
            lead_id: lead,
            investor_id: investors[i % 2],
            product: if i % 2 == 0 { "Conventional 30".into() } else { "FHA 30".into() },
            rate_milli: 6_625 + 125 * i as i32,
            price_bps: price,
            loan_amount_cents: amount,
            locked_on: today - Duration::days(ago),
            period_days: period,
            closing_on: Some(today + Duration::days(ago / 2 + 3)),
            los_lock_id: None,
        };
        let mut tx = state.db.begin().await?;
        let lock =
            crate::locks::lock(state, &mut tx, &lo, input).await.map_err(|e| anyhow::anyhow!("demo lock: {e:?}"))?;
        if i == 4 {
            crate::locks::extend(state, &mut tx, admin, lock.id, 7, None, "Appraisal came in late.")
                .await
                .map_err(|e| anyhow::anyhow!("demo extension: {e:?}"))?;
        }
        tx.commit().await?;
    }
    Ok(())
}
