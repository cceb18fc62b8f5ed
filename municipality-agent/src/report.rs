//! From an export file to the report that would leave: ingest → aggregate →
//! protect → the wire `Report`.
//!
//! The payload marks a cell only as suppressed, never why: no primary or
//! secondary distinction ever reaches it. The report id is derived from the
//! content (SHA-256 over the report with an empty id and creation time 0), so
//! a retry of the same content carries the same id.
//!
//! # Protection modes
//!
//! - `suppression` (default): small cells are suppressed and the pattern is
//!   audited; the exact values of the other cells are published.
//! - `dp`: the exact tables get noise from a differentially private mechanism
//!   (`prikk_privacy::dp::noise_report`): inner cells are noised, margins are
//!   recomputed as sums of noisy inner cells (they add up and cost no budget),
//!   values are signed integers and nothing is clamped. Nothing is suppressed:
//!   the noise is what protects a small count. Each table carries its public
//!   mechanism and scale. Every preparation draws fresh noise, so the report
//!   id (derived from the content) differs each time, and each submission is
//!   a release that spends budget.
//! - `dp+suppression`: noise first, exactly as in `dp`, then every noisy
//!   value below `min_count` (zero and negative values included; for a sum,
//!   fewer than `min_count` noisy contributors) is shown as suppressed. The
//!   guarantee comes from the noise alone: suppression is post-processing of
//!   the noisy tables, costs no budget and cannot weaken it. It keeps small
//!   figures out of print for readers who would take them as exact. Because a
//!   noisy value is already protected, deriving a suppressed noisy cell from
//!   the published noisy margins reveals nothing the noise does not cover, so
//!   no secondary suppression or derivability audit is done (it would also
//!   have to treat noisy shared margins, which differ between tables, as
//!   inconsistent). Suppressing before noising would instead make the
//!   pattern depend on exact small counts, outside the guarantee.

use std::path::Path;

use prikk_privacy::audit::AuditReport;
use prikk_privacy::definition::Definition;
use prikk_privacy::dp::{
    BitSource, DpError, DpPolicy, OsRandom, PrivacyLoss, ProtectionMode, TableNoise, noise_report,
};
use prikk_privacy::policy::{Policy, ProtectError};
use prikk_privacy::suppress::{Protected, protect, protect_keeping};
use prikk_privacy::table::{Measure, Table};
use prikk_proto::pb;
use prost::Message;
use rand::TryRngCore;
use ring::digest::{SHA256, digest};

use crate::ingest::{IngestError, IngestOptions, IngestSummary, ingest_file};
use crate::period::{Period, PeriodError};
use crate::tabulate::{TabulateError, tabulate};

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
    Aggregate(#[from] TabulateError),
    /// Protection failed.
    #[error("protecting the tables failed: {0}")]
    Protect(#[from] ProtectError),
    /// The protected tables fail their own audit; nothing is produced.
    #[error("the protected tables fail the disclosure audit, so no report is produced: {}", .0.join("; "))]
    AuditFailed(Vec<String>),
    /// A published cell breaks the primary rule; nothing is produced.
    #[error(
        "table {table}: a published cell breaks the minimum-count rule, so no report is produced"
    )]
    Unprotected {
        /// Table id.
        table: String,
    },
    /// The protected tables do not match the definition.
    #[error("the protected tables do not match the report definition")]
    Shape,
    /// A dp mode without its privacy-loss settings.
    #[error("protection mode {0} needs a privacy loss per report (policy.epsilon or policy.rho)")]
    MissingDpPolicy(ProtectionMode),
    /// Noise could not be planned or drawn.
    #[error("adding differentially private noise failed: {0}")]
    Noise(#[from] DpError),
    /// Secret shares need a definition released at aggregate level.
    #[error(
        "secure aggregation is configured, but definition {0} releases its tables per project; \
         use a definition whose tables are released at aggregate level, or remove [secure_aggregation]"
    )]
    NotAggregate(String),
    /// Secret shares carry exact counts; noise per project would add nothing.
    #[error(
        "secure aggregation releases exact sums that the directorate protects at the national level; \
         it cannot be combined with protection mode {0} (use mode = \"suppression\")"
    )]
    SharesWithNoise(ProtectionMode),
}

/// The differential-privacy settings of a protection policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DpSettings {
    /// Loss per report (ε selects the discrete Laplace, ρ the discrete Gaussian).
    pub policy: DpPolicy,
    /// Annual budget per project, in the unit of the loss.
    pub annual_budget: PrivacyLoss,
}

/// Everything the data protection officer sets: the mode, the suppression
/// rules (used in `suppression` and `dp+suppression`), and the dp settings
/// (required in `dp` and `dp+suppression`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProtectionPolicy {
    /// Suppression, dp, or dp+suppression.
    pub mode: ProtectionMode,
    /// Suppression rules.
    pub suppression: Policy,
    /// Loss per report and annual budget.
    pub dp: Option<DpSettings>,
}

impl ProtectionPolicy {
    /// Suppression only, with these rules.
    pub fn suppression(policy: Policy) -> Self {
        Self {
            mode: ProtectionMode::Suppression,
            suppression: policy,
            dp: None,
        }
    }
}

/// What the noise of a dp-mode report costs and how it was made (public).
#[derive(Debug, Clone)]
pub struct DpRelease {
    /// The loss this release spends.
    pub loss: PrivacyLoss,
    /// The project's annual budget, in the loss's unit.
    pub annual_budget: PrivacyLoss,
    /// Per table: mechanism, scale and share of the loss.
    pub noise: Vec<TableNoise>,
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
    /// The protection mode.
    pub mode: ProtectionMode,
    /// In the dp modes: the noise and what it costs.
    pub dp: Option<DpRelease>,
    /// The tables leave only as secret shares (none is published): the
    /// definition releases them at aggregate level and a helper is configured.
    pub shared: bool,
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
/// (or names it when the file has no `project` column). Suppression mode.
pub fn prepare(
    def: &Definition,
    input: &Path,
    period: &str,
    project: Option<&str>,
    policy: &Policy,
) -> Result<Prepared, ReportError> {
    prepare_with(
        def,
        input,
        period,
        project,
        &ProtectionPolicy::suppression(policy.clone()),
    )
}

/// Like [`prepare`], under a full protection policy (any mode), with noise
/// from the operating system's generator.
pub fn prepare_with(
    def: &Definition,
    input: &Path,
    period: &str,
    project: Option<&str>,
    policy: &ProtectionPolicy,
) -> Result<Prepared, ReportError> {
    prepare_with_rng(def, input, period, project, policy, OsRandom::new())
}

/// Reads the export for the period and counts it into the definition's
/// exact tables.
fn read_tables(
    def: &Definition,
    input: &Path,
    period: &str,
    project: Option<&str>,
) -> Result<(Period, crate::ingest::Ingested, Vec<Table>), ReportError> {
    let period = Period::parse(period)?;
    let opts = IngestOptions {
        project: project.map(str::to_string),
        as_of: Some(period.last),
    };
    let data = ingest_file(input, def, &opts)?;
    let tables = tabulate(def, &data, period.last)?;
    Ok((period, data, tables))
}

/// Like [`prepare_with`], with a given random generator (seeded ones only in tests).
pub fn prepare_with_rng<R: TryRngCore>(
    def: &Definition,
    input: &Path,
    period: &str,
    project: Option<&str>,
    policy: &ProtectionPolicy,
    rng: R,
) -> Result<Prepared, ReportError> {
    let (period, data, tables) = read_tables(def, input, period, project)?;
    let supp = &policy.suppression;
    let (protected, dp, noise) = if policy.mode.adds_noise() {
        let settings = policy.dp.ok_or(ReportError::MissingDpPolicy(policy.mode))?;
        let mut bits = BitSource::new(rng);
        let noised = noise_report(&tables, &settings.policy, &mut bits)?;
        let protected = noisy_protected(
            tables,
            &noised.tables,
            policy.mode.suppresses().then_some(supp),
        );
        let release = DpRelease {
            loss: noised.loss,
            annual_budget: settings.annual_budget,
            noise: noised.noise,
        };
        (protected, Some(release), Some(noised.tables))
    } else {
        let protected = protect(&tables, supp)?;
        if !protected.audit.passed {
            let mut failures = protected.audit.failures.clone();
            if failures.is_empty() {
                failures.push("the audit did not pass".into());
            }
            return Err(ReportError::AuditFailed(failures));
        }
        (protected, None, None)
    };
    let report = match (&dp, &noise) {
        (Some(release), Some(noisy)) => report_from_noisy(
            def,
            &data.project,
            &period.text,
            policy,
            noisy,
            &protected.suppressed,
            release,
        )?,
        _ => report_from_protected(def, &data.project, &period.text, supp, &protected)?,
    };
    Ok(Prepared {
        project: data.project,
        period,
        policy: supp.clone(),
        summary: data.summary,
        protected,
        report,
        mode: policy.mode,
        dp,
        shared: false,
    })
}

/// Like [`prepare_with`], for an agent with a secure-aggregation helper and
/// a definition released at aggregate level: no table is published. The
/// exact tables stay in [`Prepared::protected`] (`tables`) for the secret
/// shares, every cell marked as not published. The report id binds the
/// exact tables through a digest keyed with the agent's signing key, so a
/// correction that changes any count gets a new id, while the gateway,
/// which never holds that key, cannot test guesses of the counts against it.
pub fn prepare_shared(
    def: &Definition,
    input: &Path,
    period: &str,
    project: Option<&str>,
    policy: &ProtectionPolicy,
    signer: &prikk_proto::Signer,
) -> Result<Prepared, ReportError> {
    if !def.aggregate_only() {
        return Err(ReportError::NotAggregate(format!(
            "{} v{}",
            def.id, def.version
        )));
    }
    if policy.mode.adds_noise() {
        return Err(ReportError::SharesWithNoise(policy.mode));
    }
    let (period, data, tables) = read_tables(def, input, period, project)?;
    let hidden: Vec<Vec<bool>> = tables.iter().map(|t| vec![true; t.shape.len()]).collect();
    let none: Vec<Vec<bool>> = tables.iter().map(|t| vec![false; t.shape.len()]).collect();
    let protected = Protected {
        tables,
        suppressed: hidden,
        primary: none,
        primary_count: 0,
        secondary_count: 0,
        audit: AuditReport {
            passed: true,
            ..AuditReport::default()
        },
        hidden_margins: Vec::new(),
    };
    let mut report = pb::Report {
        report_id: String::new(),
        project: data.project.clone(),
        period: period.text.clone(),
        definition_id: def.id.clone(),
        definition_version: def.version,
        created_unix: 0,
        agent_version: AGENT_VERSION.to_string(),
        shares: None,
        policy: Some(policy_summary(&policy.suppression)),
        tables: Vec::new(),
    };
    report.report_id = shared_report_id(&report, &protected.tables, signer);
    Ok(Prepared {
        project: data.project,
        period,
        policy: policy.suppression.clone(),
        summary: data.summary,
        protected,
        report,
        mode: policy.mode,
        dp: None,
        shared: true,
    })
}

/// The id of a report whose tables leave only as shares: the public
/// content's digest together with a keyed digest of the exact values.
fn shared_report_id(report: &pb::Report, exact: &[Table], signer: &prikk_proto::Signer) -> String {
    let mut r = report.clone();
    r.report_id.clear();
    r.created_unix = 0;
    r.shares = None;
    let mut bytes = Vec::new();
    for v in prikk_privacy::layout::flatten(exact) {
        bytes.extend_from_slice(&v.to_be_bytes());
    }
    let keyed = signer.keyed_digest("prikk.report-id.v1", &bytes);
    let mut message = r.encode_to_vec();
    message.extend_from_slice(&keyed);
    hex::encode(&digest(&SHA256, &message).as_ref()[..16])
}

/// The local view of a noised report: the exact tables (never leave), and in
/// `dp+suppression` the noisy cells below `min_count` marked suppressed.
fn noisy_protected(exact: Vec<Table>, noisy: &[Table], suppression: Option<&Policy>) -> Protected {
    let suppressed: Vec<Vec<bool>> = noisy
        .iter()
        .map(|t| {
            let is_sum = matches!(t.shape.measure, Measure::Sum(_));
            (0..t.shape.len())
                .map(|i| match suppression {
                    Some(p) => {
                        let n = if is_sum {
                            t.contributors[i]
                        } else {
                            t.values[i]
                        };
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
fn report_from_noisy(
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
        if shape.id != spec.shape.id || noise.table != shape.id || hidden.len() != shape.len() {
            return Err(ReportError::Shape);
        }
        let is_sum = matches!(shape.measure, Measure::Sum(_));
        let cells = (0..shape.len())
            .map(|cell| {
                let key = shape
                    .key_codes(cell)
                    .into_iter()
                    .map(str::to_string)
                    .collect();
                let (value, contributors) = if hidden[cell] {
                    (pb::cell::Value::Suppressed(pb::Suppressed {}), None)
                } else {
                    (
                        pb::cell::Value::Count(table.values[cell]),
                        is_sum.then_some(table.contributors[cell]),
                    )
                };
                pb::Cell {
                    key,
                    value: Some(value),
                    contributors,
                }
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
    let mut report = pb::Report {
        report_id: String::new(),
        project: project.to_string(),
        period: period.to_string(),
        definition_id: def.id.clone(),
        definition_version: def.version,
        created_unix: 0,
        agent_version: AGENT_VERSION.to_string(),
        shares: None,
        policy: Some(summary),
        tables,
    };
    report.report_id = report_id(&report);
    Ok(report)
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
        {
            return Err(ReportError::Shape);
        }
        let is_sum = matches!(shape.measure, Measure::Sum(_));
        let mut cells = Vec::with_capacity(shape.len());
        for (cell, &hidden) in suppressed.iter().enumerate() {
            let key = shape
                .key_codes(cell)
                .into_iter()
                .map(str::to_string)
                .collect();
            let (value, contributors) = if hidden {
                (pb::cell::Value::Suppressed(pb::Suppressed {}), None)
            } else {
                let (v, c) = (table.values[cell], table.contributors[cell]);
                if policy.is_primary(v, c, is_sum) {
                    return Err(ReportError::Unprotected {
                        table: shape.id.clone(),
                    });
                }
                (pb::cell::Value::Count(v), is_sum.then_some(c))
            };
            cells.push(pb::Cell {
                key,
                value: Some(value),
                contributors,
            });
        }
        tables.push(pb::Table {
            id: shape.id.clone(),
            dimensions: shape.dimensions.iter().map(|d| d.id.clone()).collect(),
            cells,
            dp: None,
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
        shares: None,
        policy: Some(policy_summary(policy)),
        tables,
    };
    report.report_id = report_id(&report);
    Ok(report)
}

/// Keeps an earlier revision's suppression for a correction: every cell the
/// earlier report suppressed stays suppressed (a correction may hide more,
/// never less), so the two revisions cannot be differenced. When the fresh
/// pattern does not already hide them, the tables are protected again with
/// those cells kept hidden and the report is rebuilt. A cell that is now 0
/// is published as zero when zeros are published (hiding it would read as
/// "at least 1"). Returns the number of cells hidden because of the earlier
/// revision. Suppression mode only; a dp-mode report is left as it is.
pub fn keep_earlier_suppression(
    def: &Definition,
    prepared: &mut Prepared,
    earlier: &pb::Report,
) -> Result<usize, ReportError> {
    if prepared.mode.adds_noise() || prepared.shared {
        return Ok(0);
    }
    let mut keep: Vec<Vec<bool>> = def
        .tables
        .iter()
        .map(|t| vec![false; t.shape.len()])
        .collect();
    let mut extra = 0;
    for (t, spec) in def.tables.iter().enumerate() {
        let Some(e) = earlier.tables.iter().find(|x| x.id == spec.shape.id) else {
            continue;
        };
        for cell in &e.cells {
            if !matches!(cell.value, Some(pb::cell::Value::Suppressed(_))) {
                continue;
            }
            let Some(c) = spec.shape.cell_by_codes(&cell.key) else {
                continue;
            };
            if !prepared.policy.protect_zeros && prepared.protected.tables[t].values[c] == 0 {
                // Now empty: a zero is published (zeros are never small
                // counts); the earlier value stays unknown.
                continue;
            }
            keep[t][c] = true;
            if !prepared.protected.suppressed[t][c] {
                extra += 1;
            }
        }
    }
    if extra == 0 {
        return Ok(0);
    }
    let protected = protect_keeping(&prepared.protected.tables, &prepared.policy, &keep)?;
    if !protected.audit.passed {
        let mut failures = vec![format!(
            "this correction cannot keep the earlier revision's suppressed cells hidden without revealing others"
        )];
        failures.extend(protected.audit.failures.iter().cloned());
        return Err(ReportError::AuditFailed(failures));
    }
    let kept_missing = keep
        .iter()
        .zip(&protected.suppressed)
        .any(|(k, s)| k.iter().zip(s).any(|(&k, &s)| k && !s));
    if kept_missing {
        return Err(ReportError::AuditFailed(vec![
            "this correction's protection did not keep the earlier revision's suppressed cells hidden"
                .into(),
        ]));
    }
    prepared.protected = protected;
    prepared.report = report_from_protected(
        def,
        &prepared.project,
        &prepared.period.text,
        &prepared.policy,
        &prepared.protected,
    )?;
    Ok(extra)
}

/// The content-derived id: hex of the first 16 bytes of SHA-256 over the
/// report serialized with an empty id, creation time 0 and no secret shares
/// (the shares are bound to the id, so they cannot be part of it).
pub fn report_id(report: &pb::Report) -> String {
    let mut r = report.clone();
    r.report_id.clear();
    r.created_unix = 0;
    r.shares = None;
    hex::encode(&digest(&SHA256, &r.encode_to_vec()).as_ref()[..16])
}

#[cfg(test)]
mod correction_tests {
    use super::*;
    use crate::synthetic::{self, SyntheticOptions};

    #[test]
    fn a_correction_keeps_what_the_earlier_revision_hid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("export.csv");
        synthetic::write_export(&path, "bergen", 140, 3, &SyntheticOptions::default()).unwrap();
        let def = Definition::embedded();
        let prepared = prepare(&def, &path, "2006", Some("bergen"), &Policy::default()).unwrap();

        // The same pattern: nothing changes.
        let mut same = prepared.clone();
        assert_eq!(
            keep_earlier_suppression(&def, &mut same, &prepared.report).unwrap(),
            0
        );
        assert_eq!(same.report, prepared.report);

        // An earlier revision that hid one more cell: the correction hides it
        // too when the audit allows, and is refused when it does not.
        let status = def.table("status").unwrap().shape.clone();
        let t = def
            .tables
            .iter()
            .position(|x| x.shape.id == "status")
            .unwrap();
        let mut kept = false;
        for c in 0..status.len() {
            if prepared.protected.suppressed[t][c] || kept {
                continue;
            }
            let mut earlier = prepared.report.clone();
            let cell = earlier.tables[t]
                .cells
                .iter_mut()
                .find(|x| status.cell_by_codes(&x.key) == Some(c))
                .unwrap();
            cell.value = Some(pb::cell::Value::Suppressed(pb::Suppressed {}));
            let mut correction = prepared.clone();
            let zero = prepared.protected.tables[t].values[c] == 0;
            match keep_earlier_suppression(&def, &mut correction, &earlier) {
                Ok(n) if zero => {
                    // An emptied cell shows its zero.
                    assert_eq!(n, 0);
                    assert!(!correction.protected.suppressed[t][c]);
                }
                Ok(n) => {
                    assert_eq!(n, 1);
                    assert!(correction.protected.suppressed[t][c]);
                    assert!(correction.protected.audit.passed);
                    assert_ne!(correction.report.report_id, prepared.report.report_id);
                    // Every cell hidden before is still hidden (or shows its zero).
                    let still = earlier.tables[t].cells.iter().all(|x| {
                        !matches!(x.value, Some(pb::cell::Value::Suppressed(_)))
                            || status.cell_by_codes(&x.key).is_some_and(|i| {
                                correction.protected.suppressed[t][i]
                                    || correction.protected.tables[t].values[i] == 0
                            })
                    });
                    assert!(still);
                    kept = true;
                }
                Err(ReportError::AuditFailed(f)) => {
                    assert!(f[0].contains("earlier revision"), "{f:?}");
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert!(kept, "keeping one more hidden cell must be possible");
    }
}
