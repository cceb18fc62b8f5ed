//! The wire report of a protected report, its policy summary and its
//! content-derived id.

use prikk_privacy::definition::Definition;
use prikk_privacy::policy::Policy;
use prikk_privacy::suppress::Protected;
use prikk_privacy::table::{Measure, TableShape};
use prikk_proto::pb;
use prost::Message;
use ring::digest::{SHA256, digest};

use super::{AGENT_VERSION, ReportError};

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
    if protected.tables.len() != def.tables.len() || protected.suppressed.len() != def.tables.len()
    {
        return Err(ReportError::Shape);
    }
    let mut tables = Vec::with_capacity(def.tables.len());
    for ((spec, table), suppressed) in def
        .tables
        .iter()
        .zip(&protected.tables)
        .zip(&protected.suppressed)
    {
        let shape = &table.shape;
        if shape.id != spec.shape.id
            || suppressed.len() != shape.len()
            || table.values.len() != shape.len()
            || table.contributors.len() != shape.len()
        {
            return Err(ReportError::Shape);
        }
        let is_sum = matches!(shape.measure, Measure::Sum(_));
        let mut cells = Vec::with_capacity(shape.len());
        let cells_of = suppressed
            .iter()
            .zip(table.values.iter().zip(&table.contributors));
        for (cell, (&hidden, (&v, &c))) in cells_of.enumerate() {
            if !hidden && policy.is_primary(v, c, is_sum) {
                return Err(ReportError::Unprotected {
                    table: shape.id.clone(),
                });
            }
            cells.push(wire_cell(shape, cell, hidden, v, c));
        }
        tables.push(pb::Table {
            id: shape.id.clone(),
            dimensions: shape.dimensions.iter().map(|d| d.id.clone()).collect(),
            cells,
            dp: None,
        });
    }
    let mut report = unsigned_report(def, project, period, policy_summary(policy), tables);
    report.report_id = report_id(&report);
    Ok(report)
}

/// One cell as it leaves: its key, and its value unless hidden (a hidden
/// cell says only that it is suppressed); contributors for a sum table.
pub(super) fn wire_cell(
    shape: &TableShape,
    cell: usize,
    hidden: bool,
    value: i64,
    contributors: i64,
) -> pb::Cell {
    let key = shape
        .key_codes(cell)
        .into_iter()
        .map(str::to_string)
        .collect();
    let is_sum = matches!(shape.measure, Measure::Sum(_));
    let (value, contributors) = if hidden {
        (pb::cell::Value::Suppressed(pb::Suppressed {}), None)
    } else {
        (
            pb::cell::Value::Count(value),
            is_sum.then_some(contributors),
        )
    };
    pb::Cell {
        key,
        value: Some(value),
        contributors,
    }
}

/// A report without id or creation time, as every protection mode builds it.
pub(super) fn unsigned_report(
    def: &Definition,
    project: &str,
    period: &str,
    policy: pb::PolicySummary,
    tables: Vec<pb::Table>,
) -> pb::Report {
    pb::Report {
        report_id: String::new(),
        project: project.to_string(),
        period: period.to_string(),
        definition_id: def.id.clone(),
        definition_version: def.version,
        created_unix: 0,
        agent_version: AGENT_VERSION.to_string(),
        shares: None,
        policy: Some(policy),
        tables,
    }
}

/// The content-derived id: hex of the first 16 bytes of SHA-256 over the
/// report serialized with an empty id, creation time 0 and no secret shares
/// (the shares are bound to the id, so they cannot be part of it).
pub fn report_id(report: &pb::Report) -> String {
    let mut r = report.clone();
    r.report_id.clear();
    r.created_unix = 0;
    r.shares = None;
    let mut id = hex::encode(digest(&SHA256, &r.encode_to_vec()));
    id.truncate(32); // the first 16 bytes
    id
}
