//! From an export file to the report that would leave: ingest → aggregate →
//! protect → the wire `Report`.
//!
//! The payload marks a cell only as suppressed, never why: no primary or
//! secondary distinction ever reaches it. The report id is derived from the
//! content (SHA-256 over the report with an empty id and creation time 0), so
//! a retry of the same content carries the same id.

use std::path::Path;

use prikk_privacy::definition::Definition;
use prikk_privacy::protect::{Policy, ProtectError, Protected, protect};
use prikk_privacy::table::Measure;
use prikk_proto::pb;
use prost::Message;
use ring::digest::{SHA256, digest};

use crate::aggregate::{AggregateError, aggregate};
use crate::ingest::{IngestError, IngestOptions, IngestSummary, ingest_file};
use crate::period::{Period, PeriodError};

/// The agent's version, carried in every report.
pub const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Why no report could be prepared.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// The period is not valid.
    #[error(transparent)]
    Period(#[from] PeriodError),
    /// The file is not a readable participant export.
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// The data does not fit the definition.
    #[error(transparent)]
    Aggregate(#[from] AggregateError),
    /// Protection failed.
    #[error("protecting the tables failed: {0}")]
    Protect(#[from] ProtectError),
    /// The protected tables fail their own audit; nothing is produced.
    #[error("the protected tables fail the disclosure audit, so no report is produced: {}", .0.join("; "))]
    AuditFailed(Vec<String>),
    /// A published cell breaks the primary rule; nothing is produced.
    #[error("table {table}: a published cell breaks the minimum-count rule, so no report is produced")]
    Unprotected {
        /// Table id.
        table: String,
    },
    /// The protected tables do not match the definition.
    #[error("the protected tables do not match the report definition")]
    Shape,
}

/// A report ready to be signed, with everything the preview shows.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Project.
    pub project: String,
    /// Period.
    pub period: Period,
    /// The policy in force.
    pub policy: Policy,
    /// What reading the export did.
    pub summary: IngestSummary,
    /// Exact and protected tables (local only).
    pub protected: Protected,
    /// The report, with its content-derived id and `created_unix = 0`.
    pub report: pb::Report,
}

impl Prepared {
    /// The report stamped with a creation time.
    pub fn report_at(&self, created_unix: i64) -> pb::Report {
        let mut r = self.report.clone();
        r.created_unix = created_unix;
        r
    }

    /// The serialized payload that would be signed, for a creation time.
    pub fn payload(&self, created_unix: i64) -> Vec<u8> {
        self.report_at(created_unix).encode_to_vec()
    }

    /// SHA-256 of that payload.
    pub fn payload_sha256(&self, created_unix: i64) -> [u8; 32] {
        prikk_proto::payload_sha256(&self.payload(created_unix))
    }
}

/// Reads the export, aggregates it for the period, protects the tables and
/// builds the report. `project` selects the project in a multi-project file
/// (or names it when the file has no `project` column).
pub fn prepare(
    def: &Definition,
    input: &Path,
    period: &str,
    project: Option<&str>,
    policy: &Policy,
) -> Result<Prepared, ReportError> {
    let period = Period::parse(period)?;
    let opts = IngestOptions { project: project.map(str::to_string), as_of: Some(period.last) };
    let data = ingest_file(input, def, &opts)?;
    let tables = aggregate(def, &data, period.last)?;
    let protected = protect(&tables, policy)?;
    if !protected.audit.passed {
        let mut failures = protected.audit.failures.clone();
        if failures.is_empty() {
            failures.push("the audit did not pass".into());
        }
        return Err(ReportError::AuditFailed(failures));
    }
    let report = report_from_protected(def, &data.project, &period.text, policy, &protected)?;
    Ok(Prepared { project: data.project, period, policy: policy.clone(), summary: data.summary, protected, report })
}

/// The public summary of a policy.
pub fn policy_summary(policy: &Policy) -> pb::PolicySummary {
    pb::PolicySummary {
        min_count: policy.min_count,
        protect_zeros: policy.protect_zeros,
        method: "suppression".into(),
        min_interval_width: policy.min_interval_width,
    }
}

/// Builds the wire report from protected tables, with its content-derived
/// id and `created_unix = 0`. Refuses tables in which a published cell
/// breaks the policy's primary rule.
pub fn report_from_protected(
    def: &Definition,
    project: &str,
    period: &str,
    policy: &Policy,
    protected: &Protected,
) -> Result<pb::Report, ReportError> {
    if protected.tables.len() != def.tables.len() || protected.suppressed.len() != def.tables.len() {
        return Err(ReportError::Shape);
    }
    let mut tables = Vec::with_capacity(def.tables.len());
    for ((spec, table), suppressed) in def.tables.iter().zip(&protected.tables).zip(&protected.suppressed) {
        let shape = &table.shape;
        if shape.id != spec.shape.id || suppressed.len() != shape.len() || table.values.len() != shape.len() {
            return Err(ReportError::Shape);
        }
        let is_sum = matches!(shape.measure, Measure::Sum(_));
        let mut cells = Vec::with_capacity(shape.len());
        for (cell, &hidden) in suppressed.iter().enumerate() {
            let key = shape.key_codes(cell).into_iter().map(str::to_string).collect();
            let (value, contributors) = if hidden {
                (pb::cell::Value::Suppressed(pb::Suppressed {}), None)
            } else {
                let (v, c) = (table.values[cell], table.contributors[cell]);
                if policy.is_primary(v, c, is_sum) {
                    return Err(ReportError::Unprotected { table: shape.id.clone() });
                }
                (pb::cell::Value::Count(v), is_sum.then_some(c))
            };
            cells.push(pb::Cell { key, value: Some(value), contributors });
        }
        tables.push(pb::Table {
            id: shape.id.clone(),
            dimensions: shape.dimensions.iter().map(|d| d.id.clone()).collect(),
            cells,
        });
    }
    let mut report = pb::Report {
        report_id: String::new(),
        project: project.to_string(),
        period: period.to_string(),
        definition_id: def.id.clone(),
        definition_version: def.version,
        created_unix: 0,
        agent_version: AGENT_VERSION.to_string(),
        policy: Some(policy_summary(policy)),
        tables,
    };
    report.report_id = report_id(&report);
    Ok(report)
}

/// The content-derived id: hex of the first 16 bytes of SHA-256 over the
/// report serialized with an empty id and creation time 0.
pub fn report_id(report: &pb::Report) -> String {
    let mut r = report.clone();
    r.report_id.clear();
    r.created_unix = 0;
    hex::encode(&digest(&SHA256, &r.encode_to_vec()).as_ref()[..16])
}
