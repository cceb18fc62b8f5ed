//! The `gateway` command line: one module per subcommand group, each with
//! its arguments and its `run`. Serving subcommands share one startup
//! sequence ([`startup`]); raw flags become a validated configuration in
//! [`serve::Args::config`] only.
//!
//! Exit codes: 0 success, 1 a problem with input or the environment, 2 usage.

pub mod collect;
pub mod completeness;
pub mod export;
pub mod registry;
pub mod serve;
pub mod startup;

use std::path::Path;

use anyhow::Context;

use crate::Store;

/// Success.
pub const OK: u8 = 0;
/// A problem with the input or the environment.
pub const FAILURE: u8 = 1;
/// A usage error: the user's to fix.
pub const USAGE: u8 = 2;

/// An error that is the user's to fix (exit 2) rather than the input's (exit 1).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Usage(pub String);

/// A usage error with this message.
pub fn usage(m: impl Into<String>) -> anyhow::Error {
    Usage(m.into()).into()
}

/// The exit code for an error a subcommand returned.
pub fn code_for(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<Usage>().is_some() {
        USAGE
    } else {
        FAILURE
    }
}

/// Opens (and migrates) the database a subcommand names.
pub(crate) fn open_store(db: &Path) -> anyhow::Result<Store> {
    Store::open(db).with_context(|| format!("opening {}", db.display()))
}

/// A Tokio runtime for a subcommand that talks to the network.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new().context("starting the runtime")
}
