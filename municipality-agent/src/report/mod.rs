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

use prikk_privacy::definition::Definition;
use prikk_privacy::dp::{
    BitSource, DpError, DpPolicy, OsRandom, PrivacyLoss, ProtectionMode, TableNoise, noise_report,
};
use prikk_privacy::policy::{Policy, ProtectError};
use prikk_privacy::suppress::{Protected, protect};
use prikk_privacy::table::Table;
use prikk_proto::pb;
use prost::Message;
use rand::TryRngCore;

use crate::ingest::{IngestError, IngestOptions, IngestSummary, ingest_file};
use crate::period::{Period, PeriodError};
use crate::tabulate::{TabulateError, tabulate};

mod correction;
mod noisy;
mod shared;
mod wire;

pub use correction::keep_earlier_suppression;
use noisy::{noisy_protected, report_from_noisy};
pub use shared::prepare_shared;
use wire::unsigned_report;
pub use wire::{policy_summary, report_from_protected, report_id};

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
pub(super) fn read_tables(
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
