//! The leader's collection: `gateway collect --period P`.
//!
//! It takes the latest revision of every project's report that carries
//! secret shares, forms region groups of at least `min_projects` projects
//! (a smaller region is merged with the other small ones, and into the
//! smallest full group when that is still too few), and asks the helper in
//! two rounds, sending sealed seeds and the agents' statements, never a
//! table:
//!
//! 1. **check**: the helper's share of every report's relation residuals.
//!    Added to the leader's own, an honest report's residuals are 0; a
//!    report whose shares do not add up (a broken or dishonest agent) is
//!    dropped from the batch and named, before anything is recorded, so one
//!    bad agent cannot block a period.
//! 2. **aggregate**: the helper records the batch (each project once per
//!    as-of date) and answers with its share of every group's sum.
//!
//! The leader adds its own shares and obtains the exact group sums in
//! memory; the nation is their sum. It checks them (whole, in range, adding
//! up), protects the regional and national tables as one table with a
//! geography dimension (`prikk_privacy::geography`) under the national
//! policy, and stores only the protected cells. The exact sums are never
//! written anywhere.
//!
//! What the leader learns per project is nothing but that it reported: a
//! report with shares publishes no table (the gateway refuses one that
//! does, and the definition releases every table at one level), so the only
//! exact figures it holds are sums over groups of at least `min_projects`
//! projects, in which any person can move between two projects without
//! changing a figure.

use std::sync::Arc;

use prikk_privacy::geography::GeographyError;
use prikk_privacy::{Definition, Policy, TableShape};
use prikk_proto::share;
use prikk_proto::{Signer, pb, sign_message};

use crate::config::Config;
use crate::store::{Store, StoreError, StoredReport};

pub use super::groups::{Group, plan_groups};

mod batch;
mod check;
mod connect;
mod describe;
mod recombine;
mod store;

pub use batch::prepare_batch;
use batch::regroup;
pub use check::{drop_reports, offenders};
pub use connect::connect;
pub use describe::describe;
pub use recombine::{Recombined, recombine};
pub use store::protect_and_store;

/// The most people a project can plausibly count; an aggregate cell above
/// this many per project in its group is refused as the work of a lying
/// agent (a count near 2^63 could otherwise wrap a later sum).
pub const PLAUSIBLE_PEOPLE_PER_PROJECT: i64 = 100_000;

/// Why a collection stopped. Nothing is stored in any of these cases.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CollectError {
    /// The configuration names no helper.
    #[error(
        "no helper configured: add a [helper] section (url, signing_key, encryption_key) to the gateway's config"
    )]
    NoHelper,
    /// Collections are national: one gives every region group and the nation.
    #[error(
        "a collection sums the nation by region groups in one batch; run it without --region \
         (the export shows each region's group)"
    )]
    Regional,
    /// This period was collected before.
    #[error("period {period} already has a collected {scope} aggregate (batch {batch})")]
    AlreadyCollected {
        /// Period.
        period: String,
        /// Scope.
        scope: String,
        /// Earlier batch.
        batch: String,
    },
    /// No reports with shares in scope.
    #[error("no reports with secret shares for helper {helper} in period {period}")]
    NoReports {
        /// Period.
        period: String,
        /// The configured helper's key id.
        helper: String,
    },
    /// Too few projects for even one group.
    #[error(
        "{found} projects reported with secret shares for {period}; a group needs at least {required}"
    )]
    TooFewProjects {
        /// Period.
        period: String,
        /// Projects with shares.
        found: usize,
        /// The minimum.
        required: u32,
    },
    /// A stored report's shares do not check out.
    #[error("report {report_id} of project {project}: {problem}")]
    BadShare {
        /// Report id.
        report_id: String,
        /// Project.
        project: String,
        /// What is wrong.
        problem: String,
    },
    /// The helper could not be reached.
    #[error("helper at {url}: {problem}")]
    Transport {
        /// URL.
        url: String,
        /// What failed.
        problem: String,
    },
    /// The helper refused the batch.
    #[error("the helper refused the batch ({code:?}): {message}")]
    Refused {
        /// gRPC code.
        code: tonic::Code,
        /// Its message.
        message: String,
    },
    /// The helper's answer does not check out.
    #[error("the helper's answer: {0}")]
    Answer(String),
    /// The recombined aggregate does not add up or is out of range.
    #[error(
        "the recombined aggregate of group {group} is inconsistent ({problem}); a project's shares are wrong"
    )]
    Inconsistent {
        /// The group.
        group: String,
        /// What is wrong (never a value).
        problem: String,
    },
    /// Protection of the regional and national tables failed.
    #[error("protecting the aggregate: {0}")]
    Protection(#[from] GeographyError),
    /// Storage.
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// A project left out of the batch, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// Project.
    pub project: String,
    /// Its report.
    pub report_id: String,
    /// Why (never a value).
    pub reason: String,
}

/// What a collection did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectSummary {
    /// Batch id.
    pub batch_id: String,
    /// `national`.
    pub scope: String,
    /// Projects summed.
    pub projects: Vec<String>,
    /// The region groups, each of at least the minimum of projects.
    pub groups: Vec<Group>,
    /// Projects whose latest report carries no shares for this helper
    /// (their published tables count as lower bounds, as before).
    pub without_shares: Vec<String>,
    /// Projects dropped because their shares do not add up.
    pub dropped: Vec<Dropped>,
    /// Cells of the national tables.
    pub cells: usize,
    /// Reports whose residuals were checked with the helper.
    pub checked: usize,
    /// National cells hidden as stored (`:` in the national export).
    pub national_suppressed: usize,
    /// The nation protected on its own, in cells: the primary and
    /// complementary suppressions that `national_suppressed` must equal.
    pub national_alone: prikk_privacy::Counts,
    /// Cells of the region groups' tables (0 with one group).
    pub regional_cells: usize,
    /// Of those, hidden (all of them when the regions are withheld).
    pub regional_suppressed: usize,
    /// Whether the regional rows were withheld (their protection would
    /// have cost national cells).
    pub regions_withheld: bool,
    /// Which margins of the national tables are hidden, level by level.
    /// Cell counts only: the people in hidden cells, and which hidden cells
    /// are complementary, would tell the leader about hidden cells.
    pub national_loss: prikk_privacy::suppress::loss::Loss,
    /// Where the audit of the pattern used bound propagation instead of
    /// integer programming, in words (block sizes, never values).
    pub engine_note: Option<String>,
}

/// A batch ready to send: the request and the leader's own shares.
#[derive(Debug)]
pub struct Batch {
    /// Scope label.
    pub scope: String,
    /// The request (to be signed), every item with its group.
    pub request: pb::CollectRequest,
    /// The reports in the batch, in item order.
    pub reports: Vec<StoredReport>,
    /// The leader's share of each item, in item order.
    pub shares: Vec<Vec<u64>>,
    /// The groups.
    pub groups: Vec<Group>,
    /// Projects left out for lack of shares.
    pub without_shares: Vec<String>,
    /// Projects dropped so far.
    pub dropped: Vec<Dropped>,
}

/// The scope label of a region (or the nation when `None`).
pub fn scope_label(region: Option<&str>) -> String {
    region.map_or_else(|| "national".to_string(), |r| format!("region:{r}"))
}

/// The scope label under which a group's protected tables are stored.
pub fn group_scope(code: &str) -> String {
    format!("region:{code}")
}

fn shapes(def: &Definition) -> Vec<Arc<TableShape>> {
    def.tables.iter().map(|t| t.shape.clone()).collect()
}

/// The national policy the aggregate is protected with.
pub fn aggregate_policy(config: &Config) -> Policy {
    Policy {
        min_count: config.min_count,
        ..Policy::default()
    }
}

fn helper_key(config: &Config) -> Result<[u8; 32], CollectError> {
    let helper = config.helper.as_ref().ok_or(CollectError::NoHelper)?;
    share::parse_public_key(&helper.signing_key).map_err(|e| CollectError::Answer(e.to_string()))
}

/// Runs a whole collection: batch, check, helper, recombination, checks,
/// protection, storage.
pub async fn collect(
    store: &Store,
    def: &Definition,
    config: &Config,
    signer: &Signer,
    period: &str,
    region: Option<&str>,
    now_unix: i64,
) -> Result<CollectSummary, CollectError> {
    let helper = config.helper.as_ref().ok_or(CollectError::NoHelper)?;
    let mut batch = prepare_batch(
        store,
        def,
        helper,
        config.min_projects,
        period,
        region,
        now_unix,
    )?;
    let mut client = connect(helper).await?;
    let refused = |s: tonic::Status| CollectError::Refused {
        code: s.code(),
        message: s.message().to_string(),
    };
    let env = sign_message(signer, share::CHECK_DOMAIN, &batch.request);
    let checked = client.check(env).await.map_err(refused)?.into_inner();
    let bad = offenders(def, config, &batch, &checked)?;
    if !bad.is_empty() {
        drop_reports(&mut batch, bad, config.min_projects)?;
    }
    let env = sign_message(signer, share::COLLECT_DOMAIN, &batch.request);
    let answer = client.aggregate(env).await.map_err(refused)?.into_inner();
    finish(store, def, config, batch, &answer, now_unix)
}

/// Checks the helper's answer, recombines, protects and stores.
pub fn finish(
    store: &Store,
    def: &Definition,
    config: &Config,
    batch: Batch,
    answer: &pb::SignedMessage,
    now_unix: i64,
) -> Result<CollectSummary, CollectError> {
    let rec = recombine(def, config, &batch, answer)?;
    protect_and_store(store, def, config, batch, answer, rec, now_unix)
}
