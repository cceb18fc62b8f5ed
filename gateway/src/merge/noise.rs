//! The noise of merged cells: each merged cell with contributions from
//! differentially private reports gets a standard deviation from the public
//! noise parameters those reports carry. The noise of different reports and
//! cells is independent, so the variance is the sum of the contributions'
//! variances, and a margin (the sum of `n` noisy inner cells of one report)
//! contributes `n` times its mechanism's variance.

use std::collections::HashMap;

use prikk_privacy::dp::DpMechanism;
use prikk_proto::pb;

use super::{MergedCell, MergedTable, Scope};
use crate::store::{Store, StoreError, StoredReport};

/// The public noise parameters of one report: per table, the mechanism of
/// its values. Empty for a report made by suppression only.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportNoise {
    /// Table id → mechanism of its values.
    pub tables: HashMap<String, DpMechanism>,
}

impl ReportNoise {
    /// Reads the parameters from a decoded report (verified at intake).
    pub fn of(report: &pb::Report) -> Result<Self, String> {
        let mut tables = HashMap::new();
        let method = report.policy.as_ref().map_or("", |p| p.method.as_str());
        if method == "suppression" {
            return Ok(Self { tables });
        }
        for t in &report.tables {
            if let Some(dp) = &t.dp {
                let m = DpMechanism::parse(&dp.mechanism, &dp.scale)
                    .map_err(|e| format!("table {}: {e}", t.id))?;
                tables.insert(t.id.clone(), m);
            }
        }
        Ok(Self { tables })
    }
}

/// Sets each merged cell's standard deviation from the noise of the reports
/// that contributed a published value to it. `reports` pairs each merged
/// report with its noise; reports without noise add nothing. Suppressed
/// merged cells get none.
pub fn add_sd(tables: &mut [MergedTable], reports: &[(&StoredReport, &ReportNoise)]) {
    for t in tables {
        let n = t.cells.len();
        let mut var = vec![0f64; n];
        let mut noisy = vec![false; n];
        for (r, noise) in reports {
            let Some(m) = noise.tables.get(&t.shape.id) else {
                continue;
            };
            let Some(rt) = r.tables.iter().find(|x| x.id == t.shape.id) else {
                continue;
            };
            if rt.values.len() != n {
                continue;
            }
            let v = m.variance();
            let per_cell = var.iter_mut().zip(noisy.iter_mut());
            for (i, (value, (var, noisy))) in rt.values.iter().zip(per_cell).enumerate() {
                if value.is_some() {
                    let inner = if t.shape.is_inner(i) {
                        1
                    } else {
                        t.shape.inner_cells_under(i).len()
                    };
                    *var += v * inner as f64;
                    *noisy = true;
                }
            }
        }
        if noisy.iter().any(|&b| b) {
            t.sd = Some(
                t.cells
                    .iter()
                    .zip(noisy.iter().zip(&var))
                    .map(|(cell, (&noisy, var))| {
                        (noisy && !matches!(cell, MergedCell::Suppressed)).then(|| var.sqrt())
                    })
                    .collect(),
            );
        }
    }
}

/// Reads the public noise parameters of the scope's reports from their
/// stored envelopes and sets the merged cells' standard deviations.
pub fn attach_noise(
    store: &Store,
    reports: &[StoredReport],
    scope: &Scope,
    tables: &mut [MergedTable],
) -> Result<(), StoreError> {
    let in_scope = reports.iter().filter(|r| match scope {
        Scope::Project(p) => &r.project == p,
        Scope::Region(g) => &r.region == g,
        Scope::National => true,
    });
    let mut noises = Vec::new();
    for r in in_scope {
        let Some(bytes) = store.envelope(&r.report_id)? else {
            continue;
        };
        let corrupt = |e: String| StoreError::Corrupt(format!("report {}: {e}", r.report_id));
        let env: pb::SignedReport =
            prikk_proto::decode_exact(&bytes, "envelope").map_err(|e| corrupt(e.to_string()))?;
        let report: pb::Report =
            prikk_proto::decode_exact(&env.report, "report").map_err(|e| corrupt(e.to_string()))?;
        let noise = ReportNoise::of(&report).map_err(corrupt)?;
        if !noise.tables.is_empty() {
            noises.push((r, noise));
        }
    }
    let pairs: Vec<(&StoredReport, &ReportNoise)> = noises.iter().map(|(r, n)| (*r, n)).collect();
    add_sd(tables, &pairs);
    Ok(())
}
