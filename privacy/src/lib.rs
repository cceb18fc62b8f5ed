//! Pure privacy logic shared by the municipality agent and the gateway:
//! the report definition, tables with margins, primary and secondary cell
//! suppression, the disclosure audit that proves no suppressed cell can be
//! worked out, and noise samplers. Nothing here does I/O.
//!
//! The agent protects tables with this code; the gateway re-checks every
//! incoming report and protects merged tables with the same code.
//!
//! # Reading order
//!
//! The modules form layers; each one uses only the layers above it in this
//! list, never one below, so the crate reads from top to bottom:
//!
//! 1. [`table`], [`definition`], [`layout`]: tables with margins, the report
//!    definition that shapes them, and their flat layout for secret shares.
//! 2. [`policy`]: the protection rules ([`Policy`]) and why protection
//!    fails ([`ProtectError`]).
//! 3. `system`: the linear system of a report. Its cells as sparse vectors
//!    over the inner cells, quantities shared between tables, relations,
//!    links, and exact elimination.
//! 4. [`audit`]: what an attacker can derive from published tables, by the
//!    rank test on the system, singletons, and integer intervals (witnesses,
//!    bound propagation and the integer programme per block); the gateway's
//!    faster verdict.
//! 5. [`suppress`]: choosing what to suppress. The publishing pass guarded
//!    by the rank test and whole-number bounds, repair rounds driven by the
//!    audit, protection across aggregation levels ([`levels`]), and the
//!    regional and national tables of a secure-aggregation collection with
//!    the leader-knowledge attack ([`geography`]).
//!
//! [`dp`] (noise and the privacy-loss ledger) stands apart, on the tables.
#![forbid(unsafe_code)]
// Library code does not panic on data: a missing value is an error, and an
// index is either checked or in a loop whose bounds are proven (each such
// exception says why). Tests may unwrap.
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod audit;
#[allow(
    clippy::indexing_slicing,
    reason = "category and edge positions of dimensions it has just built"
)]
pub mod definition;
pub mod dp;
pub mod layout;
pub mod policy;
pub mod suppress;
mod system;
pub mod table;

pub use audit::{
    AuditReport, CellInterval, PublishedTable, audit, audit_verdict, unprotected_small_cells,
};
pub use definition::{Definition, DefinitionError};
pub use policy::{Policy, ProtectError};
pub use suppress::geography::{
    Counts, GeographyError, GeographyProtection, LeaderKnowledge, RegionGroup,
    leader_knowledge_audit, protect_geography,
};
pub use suppress::{Protected, geography, levels, protect};
pub use table::{Category, Dimension, Measure, Relation, Table, TableShape};
