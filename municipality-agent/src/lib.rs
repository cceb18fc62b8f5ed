//! The municipality agent: reads the case system's participant export, keeps
//! only allowlisted fields, tabulates them into the directorate's tables,
//! protects small cells, shows the data protection officer what would leave,
//! signs the report and delivers it through a durable outbox.
#![forbid(unsafe_code)]
// Library code does not panic on data: a missing value is an error, and an
// index is either checked or in a loop whose bounds are proven (each such
// exception says why). Tests may unwrap.
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod cli;
pub mod config;
pub mod deliver;
pub mod exit;
pub mod ingest;
pub mod journal;
pub mod keys;
pub mod logging;
pub mod outbox;
pub mod period;
pub mod preview;
pub mod report;
pub mod share;
// Test and demo data, not part of the agent that runs in a municipality.
#[cfg(feature = "synthetic")]
pub mod synthetic;
pub mod tabulate;
pub mod tls;
