//! Pure privacy logic shared by the municipality agent and the gateway:
//! the report definition, tables with margins, primary and secondary cell
//! suppression, the disclosure audit that proves no suppressed cell can be
//! worked out, and noise samplers. Nothing here does I/O.
//!
//! The agent protects tables with this code; the gateway re-checks every
//! incoming report and protects merged tables with the same code.
#![forbid(unsafe_code)]

pub mod audit;
mod bounds;
pub mod definition;
mod gauss;
pub mod geography;
mod interval;
pub mod layout;
pub mod levels;
pub mod protect;
pub mod table;
mod witness;

pub use audit::{
    AuditReport, CellInterval, PublishedTable, audit, audit_verdict, unprotected_small_cells,
};
pub mod dp;
pub use definition::{Definition, DefinitionError};
pub use geography::{
    Counts, GeographyError, GeographyProtection, LeaderKnowledge, RegionGroup,
    leader_knowledge_audit, protect_geography,
};
pub use protect::{Policy, ProtectError, Protected, protect};
pub use table::{Category, Dimension, Measure, Relation, Table, TableShape};
