//! The municipality agent: reads the case system's participant export, keeps
//! only allowlisted fields, aggregates them into the directorate's tables,
//! protects small cells, shows the data protection officer what would leave,
//! signs the report and delivers it through a durable outbox.
#![forbid(unsafe_code)]

pub mod aggregate;
pub mod auditlog;
pub mod cli;
pub mod config;
pub mod deliver;
pub mod exit;
pub mod ingest;
pub mod keys;
pub mod logging;
pub mod outbox;
pub mod period;
pub mod preview;
pub mod report;
pub mod sample;
pub mod share;
pub mod tls;
