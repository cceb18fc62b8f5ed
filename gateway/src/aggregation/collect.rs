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

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use prikk_privacy::geography::{GeographyError, RegionGroup, protect_geography};
use prikk_privacy::layout::{self, RelationRow};
use prikk_privacy::{Definition, Measure, Policy, Table, TableShape};
use prikk_proto::pb::helper_aggregation_client::HelperAggregationClient;
use prikk_proto::share::{self, ShareContext};
use prikk_proto::{Signer, decode_exact, pb, sign_message, verify_message};
use ring::digest::{SHA256, digest};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

use crate::config::{Config, HelperEndpoint};
use crate::store::{Collection, NormalTable, Store, StoreError, StoredReport};

pub use super::groups::{Group, plan_groups};

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

/// The fewest projects a group may have: the larger of the leader's
/// minimum and every report's signed floor.
fn required(config_min: u32, items: &[&pb::ShareItem]) -> u32 {
    items
        .iter()
        .map(|i| i.min_projects)
        .fold(config_min, u32::max)
}

/// Builds the batch from the latest revisions that carry shares for the
/// configured helper. `region` must be `None`: a collection is national.
pub fn prepare_batch(
    store: &Store,
    def: &Definition,
    helper: &HelperEndpoint,
    config_min_projects: u32,
    period: &str,
    region: Option<&str>,
    now_unix: i64,
) -> Result<Batch, CollectError> {
    if region.is_some() {
        return Err(CollectError::Regional);
    }
    let scope = scope_label(None);
    if let Some(c) = store.collections(period)?.into_iter().next() {
        return Err(CollectError::AlreadyCollected {
            period: period.into(),
            scope: c.scope,
            batch: c.batch_id,
        });
    }
    let helper_key_id = prikk_proto::key_id_of(
        &share::parse_public_key(&helper.encryption_key)
            .map_err(|e| CollectError::Answer(e.to_string()))?,
    );
    let cells = layout::layout_len(&shapes(def));
    let mut reports = Vec::new();
    let mut items = Vec::new();
    let mut shares = Vec::new();
    let mut without_shares = Vec::new();
    for r in store
        .latest_reports(period)?
        .into_iter()
        .filter(|r| r.definition_id == def.id && r.definition_version == def.version)
    {
        let bad = |problem: String| CollectError::BadShare {
            report_id: r.report_id.clone(),
            project: r.project.clone(),
            problem,
        };
        let env_bytes = store
            .envelope(&r.report_id)?
            .ok_or_else(|| bad("stored envelope is missing".into()))?;
        let env: pb::SignedReport =
            decode_exact(&env_bytes, "envelope").map_err(|e| bad(e.to_string()))?;
        let report: pb::Report =
            decode_exact(&env.report, "report").map_err(|e| bad(e.to_string()))?;
        let Some(s) = report
            .shares
            .as_ref()
            .filter(|s| s.helper_key_id == helper_key_id)
        else {
            without_shares.push(r.project.clone());
            continue;
        };
        // The leader must hold nothing per project it could subtract from
        // an exact sum.
        if !report.tables.is_empty() || !r.tables.is_empty() {
            return Err(bad(
                "it carries secret shares and published tables; it cannot be summed".into(),
            ));
        }
        if s.cells as usize != cells || s.leader_share.len() != cells {
            return Err(bad(format!(
                "the share layout has {} cells ({} shared), the definition {cells}",
                s.cells,
                s.leader_share.len()
            )));
        }
        let key = store
            .key(&env.key_id)?
            .ok_or_else(|| bad(format!("signing key {} is not registered", env.key_id)))?;
        share::verify_statement(
            &key.public_key,
            &ShareContext::of_report(&report, s),
            &s.sealed_seed,
            &s.statement_signature,
        )
        .map_err(|e| bad(e.to_string()))?;
        shares.push(s.leader_share.clone());
        items.push(pb::ShareItem {
            report_id: report.report_id.clone(),
            project: report.project.clone(),
            period: report.period.clone(),
            definition_id: report.definition_id.clone(),
            definition_version: report.definition_version,
            cells: s.cells,
            helper_key_id: s.helper_key_id.clone(),
            sealed_seed: s.sealed_seed.clone(),
            statement_signature: s.statement_signature.clone(),
            agent_key_id: env.key_id.clone(),
            min_projects: s.min_projects,
            group: String::new(),
        });
        reports.push(r);
    }
    if items.is_empty() {
        return Err(CollectError::NoReports {
            period: period.into(),
            helper: helper_key_id,
        });
    }
    let mut batch = Batch {
        scope,
        request: pb::CollectRequest {
            batch_id: String::new(),
            period: period.into(),
            scope: scope_label(None),
            items,
            created_unix: now_unix,
        },
        reports,
        shares,
        groups: Vec::new(),
        without_shares,
        dropped: Vec::new(),
    };
    regroup(&mut batch, config_min_projects)?;
    Ok(batch)
}

/// (Re)forms the groups and the batch id after the items changed.
fn regroup(batch: &mut Batch, config_min_projects: u32) -> Result<(), CollectError> {
    let min = required(
        config_min_projects,
        &batch.request.items.iter().collect::<Vec<_>>(),
    );
    let mut per_region: BTreeMap<String, usize> = BTreeMap::new();
    for r in &batch.reports {
        *per_region.entry(r.region.clone()).or_default() += 1;
    }
    let groups =
        plan_groups(&per_region, min as usize).ok_or_else(|| CollectError::TooFewProjects {
            period: batch.request.period.clone(),
            found: batch.reports.len(),
            required: min,
        })?;
    let group_of: BTreeMap<&str, &str> = groups
        .iter()
        .flat_map(|g| g.regions.iter().map(move |r| (r.as_str(), g.code.as_str())))
        .collect();
    for (item, r) in batch.request.items.iter_mut().zip(&batch.reports) {
        item.group = group_of
            .get(r.region.as_str())
            .copied()
            .unwrap_or_default()
            .to_string();
    }
    let mut lines: Vec<String> = batch
        .request
        .items
        .iter()
        .map(|i| format!("{}\t{}", i.group, i.report_id))
        .collect();
    lines.sort_unstable();
    let seed = format!(
        "{}\n{}\n{}",
        batch.request.period,
        batch.scope,
        lines.join("\n")
    );
    batch.request.batch_id = hex::encode(&digest(&SHA256, seed.as_bytes()).as_ref()[..16]);
    batch.groups = groups;
    Ok(())
}

/// Connects to the helper.
pub async fn connect(
    helper: &HelperEndpoint,
) -> Result<HelperAggregationClient<tonic::transport::Channel>, CollectError> {
    let fail = |problem: String| CollectError::Transport {
        url: helper.url.clone(),
        problem,
    };
    let mut endpoint = Endpoint::from_shared(helper.url.clone())
        .map_err(|e| fail(e.to_string()))?
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(600));
    let uri = endpoint.uri().clone();
    let host = uri
        .host()
        .unwrap_or_default()
        .trim_matches(['[', ']'])
        .to_string();
    match uri.scheme_str() {
        Some("https") => {
            let ca_path = helper
                .ca_certificate
                .as_ref()
                .ok_or_else(|| fail("https needs helper.ca_certificate".into()))?;
            let pem = std::fs::read(ca_path)
                .map_err(|e| fail(format!("reading {}: {e}", ca_path.display())))?;
            let tls = ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(pem))
                .domain_name(helper.tls_server_name.clone().unwrap_or(host));
            endpoint = endpoint.tls_config(tls).map_err(|e| fail(e.to_string()))?;
        }
        Some("http") => {
            let loopback = host == "localhost"
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|a| a.is_loopback());
            if !helper.insecure_plaintext || !loopback {
                return Err(fail(
                    "plaintext only to a loopback helper with helper.insecure_plaintext = true"
                        .into(),
                ));
            }
        }
        _ => {
            return Err(fail(
                "the URL must start with https:// (or http:// on loopback)".into(),
            ));
        }
    }
    let channel = endpoint.connect().await.map_err(|e| fail(e.to_string()))?;
    Ok(HelperAggregationClient::new(channel)
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20))
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

/// Reads the helper's signed residual shares and returns the reports whose
/// residuals (the helper's plus the leader's) are not all zero, or whose
/// seal the helper could not open.
pub fn offenders(
    def: &Definition,
    config: &Config,
    batch: &Batch,
    answer: &pb::SignedMessage,
) -> Result<Vec<Dropped>, CollectError> {
    let checked: pb::ShareCheck = verify_message(
        &helper_key(config)?,
        share::CHECKED_DOMAIN,
        answer,
        "residual shares",
    )
    .map_err(|e| CollectError::Answer(e.to_string()))?;
    if checked.batch_id != batch.request.batch_id
        || checked.items.len() != batch.request.items.len()
    {
        return Err(CollectError::Answer("it answers another check".into()));
    }
    let rows: Vec<RelationRow> = layout::relation_rows(&shapes(def));
    let mut out = Vec::new();
    for ((item, mine), theirs) in batch
        .request
        .items
        .iter()
        .zip(&batch.shares)
        .zip(&checked.items)
    {
        if theirs.report_id != item.report_id {
            return Err(CollectError::Answer(
                "its residuals are out of order".into(),
            ));
        }
        let reason = if !theirs.problem.is_empty() {
            Some(format!(
                "the helper cannot use its share: {}",
                theirs.problem
            ))
        } else if theirs.residual.len() != rows.len() {
            return Err(CollectError::Answer(
                "a residual list has the wrong length".into(),
            ));
        } else {
            let consistent = layout::residuals(&rows, mine)
                .iter()
                .zip(&theirs.residual)
                .all(|(a, b)| a.wrapping_add(*b) == 0);
            (!consistent).then(|| "its shares do not add up to tables whose margins hold".into())
        };
        if let Some(reason) = reason {
            out.push(Dropped {
                project: item.project.clone(),
                report_id: item.report_id.clone(),
                reason,
            });
        }
    }
    Ok(out)
}

/// Removes the dropped reports from the batch and forms its groups again.
pub fn drop_reports(
    batch: &mut Batch,
    dropped: Vec<Dropped>,
    config_min_projects: u32,
) -> Result<(), CollectError> {
    let ids: BTreeSet<&str> = dropped.iter().map(|d| d.report_id.as_str()).collect();
    let keep: Vec<bool> = batch
        .request
        .items
        .iter()
        .map(|i| !ids.contains(i.report_id.as_str()))
        .collect();
    let mut k = keep.iter();
    batch
        .request
        .items
        .retain(|_| k.next().copied().unwrap_or(false));
    let mut k = keep.iter();
    batch.reports.retain(|_| k.next().copied().unwrap_or(false));
    let mut k = keep.iter();
    batch.shares.retain(|_| k.next().copied().unwrap_or(false));
    for d in &dropped {
        tracing::warn!(project = %d.project, report = %d.report_id, reason = %d.reason,
            "report dropped from the batch");
    }
    batch.dropped.extend(dropped);
    regroup(batch, config_min_projects)
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

/// The exact group sums, in memory only.
#[derive(Debug)]
pub struct Recombined {
    /// Per group, its exact tables (never stored or logged).
    pub groups: Vec<RegionGroup>,
    /// The helper's verified answer.
    pub answer: pb::AggregateShare,
}

/// The largest plausible value of a table's cells for `projects` projects.
fn plausible_max(shape: &TableShape, projects: usize) -> i64 {
    let per_person = match &shape.measure {
        Measure::Count => 1,
        Measure::Sum(col) => prikk_privacy::definition::integer_range(col).map_or(1, |(_, hi)| hi),
    };
    PLAUSIBLE_PEOPLE_PER_PROJECT
        .saturating_mul(per_person)
        .saturating_mul(i64::try_from(projects).unwrap_or(i64::MAX))
}

/// Verifies the helper's answer, adds the shares per group and checks that
/// every group's tables are whole, in range and add up.
pub fn recombine(
    def: &Definition,
    config: &Config,
    batch: &Batch,
    answer: &pb::SignedMessage,
) -> Result<Recombined, CollectError> {
    let agg: pb::AggregateShare = verify_message(
        &helper_key(config)?,
        share::AGGREGATE_DOMAIN,
        answer,
        "aggregate share",
    )
    .map_err(|e| CollectError::Answer(e.to_string()))?;
    if agg.batch_id != batch.request.batch_id
        || agg.period != batch.request.period
        || agg.scope != batch.request.scope
    {
        return Err(CollectError::Answer("it answers another batch".into()));
    }
    let shapes = shapes(def);
    let cells = layout::layout_len(&shapes);
    let mut sent: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, item) in batch.request.items.iter().enumerate() {
        sent.entry(item.group.as_str()).or_default().push(i);
    }
    if agg.groups.len() != sent.len() {
        return Err(CollectError::Answer(
            "it summed other groups than the ones sent".into(),
        ));
    }
    let mut groups = Vec::with_capacity(agg.groups.len());
    for (g, (code, members)) in agg.groups.iter().zip(&sent) {
        let mut ids: Vec<&str> = members
            .iter()
            .filter_map(|&i| batch.request.items.get(i))
            .map(|it| it.report_id.as_str())
            .collect();
        ids.sort_unstable();
        if g.group != *code || g.report_ids != ids {
            return Err(CollectError::Answer(format!(
                "it summed other reports than the ones sent in group {code}"
            )));
        }
        if g.share.len() != cells {
            return Err(CollectError::Answer("a share has the wrong length".into()));
        }
        let mut leader = vec![0u64; cells];
        for &i in members {
            if let Some(s) = batch.shares.get(i) {
                share::add_share(&mut leader, s);
            }
        }
        let inconsistent = |problem: &str| CollectError::Inconsistent {
            group: code.to_string(),
            problem: problem.to_string(),
        };
        let exact = share::recombine(&leader, &g.share)
            .and_then(|v| layout::unflatten(&shapes, &v))
            .ok_or_else(|| inconsistent("a value is out of range"))?;
        for t in &exact {
            let max = plausible_max(&t.shape, members.len());
            let in_range = |v: &i64| (0..=max).contains(v);
            if !t.values.iter().all(in_range) || !t.contributors.iter().all(in_range) {
                return Err(inconsistent(&format!(
                    "table {} has a negative or implausibly large cell",
                    t.shape.id
                )));
            }
            if !t.margins_add_up() {
                return Err(inconsistent(&format!(
                    "table {} does not add up",
                    t.shape.id
                )));
            }
        }
        groups.push(RegionGroup {
            code: code.to_string(),
            tables: exact,
        });
    }
    Ok(Recombined {
        groups,
        answer: agg,
    })
}

fn protected_tables(exact: &[Table], hidden: &[Vec<bool>]) -> (Vec<NormalTable>, u32) {
    let mut suppressed = 0u32;
    let tables = exact
        .iter()
        .zip(hidden)
        .map(|(t, hidden)| {
            let show = |v: &[i64]| -> Vec<Option<i64>> {
                v.iter()
                    .zip(hidden)
                    .map(|(&v, &h)| (!h).then_some(v))
                    .collect()
            };
            suppressed += hidden.iter().filter(|&&h| h).count() as u32;
            NormalTable {
                id: t.shape.id.clone(),
                values: show(&t.values),
                contributors: matches!(t.shape.measure, Measure::Sum(_))
                    .then(|| show(&t.contributors)),
            }
        })
        .collect();
    (tables, suppressed)
}

/// Protects the regional and national tables together and stores only the
/// protected cells: the nation under scope `national`, each group under
/// `region:<group>` (with more than one group).
pub fn protect_and_store(
    store: &Store,
    def: &Definition,
    config: &Config,
    batch: Batch,
    answer: &pb::SignedMessage,
    rec: Recombined,
    now_unix: i64,
) -> Result<CollectSummary, CollectError> {
    let shapes = shapes(def);
    let policy = aggregate_policy(config);
    let p = protect_geography(&shapes, &rec.groups, &policy)?;
    let (tables, suppressed_cells) = protected_tables(&p.nation, &p.nation_suppressed);
    let cells = tables.iter().map(|t| t.values.len()).sum();
    let national = Collection {
        batch_id: batch.request.batch_id.clone(),
        period: batch.request.period.clone(),
        scope: batch.scope.clone(),
        report_ids: rec.answer.report_ids.clone(),
        projects: rec.answer.projects,
        collected_unix: now_unix,
        helper_key_id: answer.key_id.clone(),
        helper_signature: answer.signature.clone(),
        suppressed_cells,
        tables,
    };
    let national_suppressed = suppressed_cells as usize;
    let mut collections = vec![national];
    let (mut regional_cells, mut regional_suppressed) = (0usize, 0usize);
    if rec.groups.len() > 1 {
        for ((g, hidden), share) in rec
            .groups
            .iter()
            .zip(&p.groups_suppressed)
            .zip(&rec.answer.groups)
        {
            let (tables, suppressed_cells) = protected_tables(&g.tables, hidden);
            regional_cells += tables.iter().map(|t| t.values.len()).sum::<usize>();
            regional_suppressed += suppressed_cells as usize;
            collections.push(Collection {
                batch_id: format!("{}/{}", batch.request.batch_id, g.code),
                period: batch.request.period.clone(),
                scope: group_scope(&g.code),
                report_ids: share.report_ids.clone(),
                projects: share.projects,
                collected_unix: now_unix,
                helper_key_id: answer.key_id.clone(),
                helper_signature: answer.signature.clone(),
                suppressed_cells,
                tables,
            });
        }
    }
    store.store_collections(&collections)?;
    let projects: BTreeSet<&str> = batch.reports.iter().map(|r| r.project.as_str()).collect();
    let national_loss =
        prikk_privacy::suppress::loss::Loss::of_hidden(&p.nation, &p.nation_suppressed);
    tracing::info!(batch = %batch.request.batch_id, groups = batch.groups.len(), projects = projects.len(),
        national_suppressed, regional_suppressed, regions_withheld = p.regions_withheld,
        grand_totals_hidden = national_loss.grand_totals_hidden,
        one_way_margins_hidden = national_loss.one_way_hidden,
        "aggregate collected and stored");
    if p.audit.interval_skipped > 0 {
        tracing::info!(batch = %batch.request.batch_id, cells = p.audit.interval_skipped,
            largest_block = p.audit.interval_largest_block,
            "audit used bound propagation for blocks too large for integer programming");
    }
    Ok(CollectSummary {
        batch_id: batch.request.batch_id,
        scope: batch.scope,
        projects: projects.iter().map(|s| s.to_string()).collect(),
        groups: batch.groups,
        without_shares: batch.without_shares,
        dropped: batch.dropped,
        cells,
        checked: batch.reports.len(),
        national_suppressed,
        national_alone: p.national_alone,
        regional_cells,
        regional_suppressed,
        regions_withheld: p.regions_withheld,
        national_loss,
        engine_note: p.audit.engine_note(),
    })
}

/// What `gateway collect` prints: the batch, its groups, who was left out
/// and why, and how much the protection hid. Never a value.
pub fn describe(period: &str, s: &CollectSummary) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "collected the {} aggregate for {period}: batch {}, {} projects in {} region groups",
        s.scope,
        s.batch_id,
        s.projects.len(),
        s.groups.len()
    );
    for g in &s.groups {
        let merged = if g.regions.len() > 1 {
            " (regions merged: each has fewer projects than the minimum)"
        } else {
            ""
        };
        let _ = writeln!(out, "  group {}: {} projects{merged}", g.code, g.projects);
    }
    for d in &s.dropped {
        let _ = writeln!(
            out,
            "dropped {} (report {}): {}",
            d.project, d.report_id, d.reason
        );
    }
    if !s.without_shares.is_empty() {
        let _ = writeln!(
            out,
            "not in the batch (no secret shares; their published tables count as lower bounds): {}",
            s.without_shares.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "{} reports' shares checked; {} of {} national cells suppressed (alone the nation needs {} for the policy and {} complementary)",
        s.checked,
        s.national_suppressed,
        s.cells,
        s.national_alone.primary,
        s.national_alone.secondary,
    );
    let _ = writeln!(
        out,
        "national tables: {} grand totals and {} of {} one-way margins hidden",
        s.national_loss.grand_totals_hidden,
        s.national_loss.one_way_hidden,
        s.national_loss.one_way_cells
    );
    for l in s.national_loss.hidden_levels() {
        let _ = writeln!(out, "  {l}");
    }
    if let Some(note) = &s.engine_note {
        let _ = writeln!(out, "audit method: {note}");
    }
    if s.regions_withheld {
        let _ = writeln!(
            out,
            "regional tables withheld: protecting them would have hidden national cells"
        );
    } else if s.regional_cells > 0 {
        let _ = writeln!(
            out,
            "{} of {} regional cells suppressed",
            s.regional_suppressed, s.regional_cells
        );
    }
    out
}
