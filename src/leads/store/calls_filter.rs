//! The lead list's call filters (`contact`, `called`, `speed`): the leads behind the contact rate, "called",
//! "never called twice" and speed to lead, counted as migration 0007's `metrics_contributions` counts calls —
//! any caller's in the created cohort, the LO's own while the assignment lasted in the assigned cohort.

use sqlx::{Postgres, QueryBuilder};

use crate::error::FieldErrors;

/// A call on the lead that reached the borrower (the created cohort's "contacted").
const CREATED_CONTACT: &str =
    "EXISTS (SELECT 1 FROM activities c WHERE c.lead_id = l.id AND c.kind = 'call' AND c.outcome = 'contacted')";

/// The calls of the assignment `a`'s LO on the lead while the assignment lasted (until the lead's next one).
const ASSIGNED_CALLS: &str = "SELECT 1 FROM activities c WHERE c.lead_id = l.id AND c.kind = 'call'
       AND c.actor_id = a.assigned_lo_id AND c.occurred_at >= a.created_at
       AND NOT EXISTS (SELECT 1 FROM assignments a2 WHERE a2.lead_id = l.id
                         AND (a2.created_at, a2.id) > (a.created_at, a.id) AND a2.created_at <= c.occurred_at)";

/// The checked call filters.
#[derive(Debug, Clone, Default)]
pub(crate) struct CallFilter {
    /// Reached (true) or not (false) by a call with outcome contacted.
    contact: Option<bool>,
    /// Calls at least / fewer than: (`>=`, n) or (`<`, n).
    called: Option<(&'static str, i64)>,
    /// The LO's first call within 5 minutes of the assignment (cohort `assigned`).
    within_5_min: bool,
}

impl CallFilter {
    /// Reads `contact` (1, 0), `called` (1, 2, 0, lt2) and `speed` (5m); each error names its parameter.
    pub(crate) fn check(
        e: &mut FieldErrors,
        lost: bool,
        assigned: bool,
        contact: &str,
        called: &str,
        speed: &str,
    ) -> CallFilter {
        let contact = match contact {
            "" => None,
            _ if lost => {
                e.add("contact", "goes with cohort created or assigned");
                None
            }
            "1" => Some(true),
            "0" => Some(false),
            _ => {
                e.add("contact", "must be 1 (reached) or 0 (not reached)");
                None
            }
        };
        let called = match called {
            "" => None,
            _ if lost => {
                e.add("called", "goes with cohort created or assigned");
                None
            }
            "1" => Some((">=", 1)),
            "2" => Some((">=", 2)),
            "0" => Some(("<", 1)),
            "lt2" => Some(("<", 2)),
            _ => {
                e.add("called", "must be 1, 2, 0 or lt2");
                None
            }
        };
        let within_5_min = match speed {
            "" => false,
            "5m" if assigned => true,
            "5m" => {
                e.add("speed", "goes with cohort=assigned");
                false
            }
            _ => {
                e.add("speed", "must be 5m");
                false
            }
        };
        CallFilter { contact, called, within_5_min }
    }

    /// The created cohort's predicates over `l`: any caller's calls.
    pub(crate) fn push_created(&self, qb: &mut QueryBuilder<'_, Postgres>) {
        match self.contact {
            Some(true) => {
                qb.push(" AND ").push(CREATED_CONTACT);
            }
            Some(false) => {
                qb.push(" AND NOT ").push(CREATED_CONTACT);
            }
            None => {}
        }
        if let Some((op, n)) = self.called {
            qb.push(" AND (SELECT count(*) FROM activities c WHERE c.lead_id = l.id AND c.kind = 'call') ")
                .push(op)
                .push(" ")
                .push_bind(n);
        }
    }

    /// The assigned cohort's predicates over the assignment `a` and its lead `l`: the LO's own calls while the
    /// assignment lasted.
    pub(crate) fn push_assigned(&self, qb: &mut QueryBuilder<'_, Postgres>) {
        match self.contact {
            Some(true) => {
                qb.push(" AND EXISTS (").push(ASSIGNED_CALLS).push(" AND c.outcome = 'contacted')");
            }
            Some(false) => {
                qb.push(" AND NOT EXISTS (").push(ASSIGNED_CALLS).push(" AND c.outcome = 'contacted')");
            }
            None => {}
        }
        if let Some((op, n)) = self.called {
            qb.push(" AND (SELECT count(*) FROM (").push(ASSIGNED_CALLS).push(") k) ").push(op).push(" ").push_bind(n);
        }
        if self.within_5_min {
            qb.push(" AND EXISTS (")
                .push(ASSIGNED_CALLS)
                .push(" AND c.occurred_at <= a.created_at + interval '300 seconds')");
        }
    }
}
