//! The demo organisation's departments (issue 26): underwriting, closing, compliance, legal and the executives,
//! with business hours in Chicago and response times, so a manager can forward a request from the first start.
//! The admin is the executive team's member (the weekly digest has a reader); the demo underwriter (a department
//! member only) is underwriting's.

use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::departments::store::{self, DepartmentFields};

/// Response minutes per item kind.
type Slas = &'static [(&'static str, i32)];

/// (kind, name, response times)
const DEPARTMENTS: [(&str, &str, Slas); 5] = [
    (
        "underwriting",
        "Underwriting",
        &[
            ("underwriting_scenario", 240),
            ("condition_dispute", 480),
            ("guideline_exception", 480),
            ("appraisal_issue", 480),
        ],
    ),
    ("closing", "Closing", &[("closing_delay", 120)]),
    ("compliance", "Compliance", &[("complaint", 240), ("compliance", 240)]),
    ("legal", "Legal", &[("case_question", 960)]),
    ("executive", "Executive team", &[("executive", 480)]),
];

pub async fn create(tx: &mut Transaction<'_, Postgres>, admin: Uuid, underwriter: Uuid) -> anyhow::Result<()> {
    for (kind, name, slas) in DEPARTMENTS {
        let id = Uuid::new_v4();
        let fields = DepartmentFields {
            kind,
            name,
            lead_user_id: (kind == "executive").then_some(admin),
            time_zone: "America/Chicago",
            opens_minute: 8 * 60,
            closes_minute: 18 * 60,
            work_days: &[1, 2, 3, 4, 5],
        };
        store::insert_department(tx, id, &fields).await?;
        let (kinds, minutes): (Vec<String>, Vec<i32>) = slas.iter().map(|(k, m)| (k.to_string(), *m)).unzip();
        store::set_slas(tx, id, &kinds, &minutes).await?;
        match kind {
            "executive" => store::set_members(tx, id, &[admin]).await?,
            "underwriting" => store::set_members(tx, id, &[underwriter]).await?,
            _ => {}
        }
    }
    Ok(())
}
