//! Developer tools of the top layer: the seed generator (`loanfloor seed`, 1M leads and 10M activities in
//! minutes, and the demo's leads) and `loanfloor bench` (the dashboard, lead list and intake measured against a
//! baseline in the same run). They may use every capability; nothing imports them but the CLI and the demo.

pub mod bench;
pub mod seed;
