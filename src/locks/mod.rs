//! Rate locks and the lock desk (issue 20). So far the pricing rules a lock desk applies (`model`): lock periods
//! and expiry in the organisation's time zone, extensions from an investor's schedule, worst-case relocks and
//! float-downs, and their cost in dollars. The records, pages, API, LOS import and webhooks build on them.

pub mod desk;
pub mod model;
