//! `prikk-e2e`: the harness that puts a whole prikk deployment on one
//! machine — a local certificate authority, a gateway over real TLS with its
//! SQLite file, and one agent per project with its own key, outbox and
//! export — for the end-to-end tests and the `prikk-demo` binary.
//!
//! Everything binds `127.0.0.1:0` and lives in folders the caller names, so
//! several worlds can run side by side. The gateway runs either in-process
//! ([`gateway::InProcessGateway`]) or as the real `gateway serve` binary
//! ([`gateway::GatewayProcess`]), which a test can kill with SIGKILL.
#![forbid(unsafe_code)]

pub mod agent;
pub mod bins;
pub mod error;
pub mod gateway;
pub mod pki;
pub mod scan;
pub mod truth;

pub use agent::{AgentState, GatewayAccess, Submission};
pub use error::HarnessError;
pub use gateway::{GatewayProcess, InProcessGateway};
pub use pki::LocalCa;

/// Seconds since the Unix epoch, from the system clock.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
