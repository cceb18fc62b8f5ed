//! The dp modes: the local view of a noised report and its wire form.

use prikk_privacy::audit::AuditReport;
use prikk_privacy::definition::Definition;
use prikk_privacy::policy::Policy;
use prikk_privacy::suppress::Protected;
use prikk_privacy::table::{Measure, Table};
use prikk_proto::pb;

use super::wire::wire_cell;
use super::{DpRelease, ProtectionPolicy, ReportError, policy_summary, report_id, unsigned_report};

/// The local view of a noised report: the exact tables (never leave), and in
/// `dp+suppression` the noisy cells below `min_count` marked suppressed.
pub(super) fn noisy_protected(
    exact: Vec<Table>,
    noisy: &[Table],
    suppression: Option<&Policy>,
) -> Protected {
    let suppressed: Vec<Vec<bool>> = noisy
        .iter()
        .map(|t| {
            let is_sum = matches!(t.shape.measure, Measure::Sum(_));
            // A table's values and contributors both have one entry per
            // cell of its shape; a shorter list is refused as
            // `ReportError::Shape` when the report is built.
            t.values
                .iter()
                .zip(&t.contributors)
                .map(|(&value, &contributors)| match suppression {
                    Some(p) => {
                        let n = if is_sum { contributors } else { value };
                        n < i64::from(p.min_count)
                    }
                    None => false,
                })
                .collect()
        })
        .collect();
    let count = suppressed.iter().flatten().filter(|&&b| b).count();
    Protected {
        tables: exact,
        primary: suppressed.clone(),
        suppressed,
        primary_count: count,
        secondary_count: 0,
        audit: AuditReport {
            passed: true,
            ..AuditReport::default()
        },
        hidden_margins: Vec::new(),
    }
}

/// Builds the wire report of a noised report: noisy values (signed), the
/// suppression pattern of `dp+suppression`, and each table's public noise
/// parameters.
pub(super) fn report_from_noisy(
    def: &Definition,
    project: &str,
    period: &str,
    policy: &ProtectionPolicy,
    noisy: &[Table],
    suppressed: &[Vec<bool>],
    release: &DpRelease,
) -> Result<pb::Report, ReportError> {
    if noisy.len() != def.tables.len() || release.noise.len() != def.tables.len() {
        return Err(ReportError::Shape);
    }
    let mut tables = Vec::with_capacity(def.tables.len());
    for (((spec, table), hidden), noise) in def
        .tables
        .iter()
        .zip(noisy)
        .zip(suppressed)
        .zip(&release.noise)
    {
        let shape = &table.shape;
        if shape.id != spec.shape.id
            || noise.table != shape.id
            || hidden.len() != shape.len()
            || table.values.len() != shape.len()
            || table.contributors.len() != shape.len()
        {
            return Err(ReportError::Shape);
        }
        let cells = hidden
            .iter()
            .zip(table.values.iter().zip(&table.contributors))
            .enumerate()
            .map(|(cell, (&hidden, (&value, &contributors)))| {
                wire_cell(shape, cell, hidden, value, contributors)
            })
            .collect();
        tables.push(pb::Table {
            id: shape.id.clone(),
            dimensions: shape.dimensions.iter().map(|d| d.id.clone()).collect(),
            cells,
            dp: Some(pb::DpParameters {
                mechanism: noise.values.name().to_string(),
                scale: noise.values.parameter().to_string(),
                contributors_scale: noise
                    .contributors
                    .map(|m| m.parameter().to_string())
                    .unwrap_or_default(),
            }),
        });
    }
    let mut summary = policy_summary(&policy.suppression);
    summary.method = policy.mode.to_string();
    let mut report = unsigned_report(def, project, period, summary, tables);
    report.report_id = report_id(&report);
    Ok(report)
}
