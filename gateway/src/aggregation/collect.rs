//! The leader's collection: `gateway collect --period P [--region R]`.
//!
//! It takes the latest revision of every project's report in scope, sends
//! the helper the sealed seeds and the agents' statements (never a table),
//! gets back the helper's signed aggregate share, adds its own shares and
//! obtains the exact aggregate in memory. It then checks the aggregate
//! against every cell that all projects published, protects it jointly with
//! the projects' published tables (`prikk_privacy::levels`), and stores only
//! the protected cells. The exact aggregate is never written anywhere.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use prikk_privacy::levels::{LevelError, PublishedProject, protect_aggregate};
use prikk_privacy::{Definition, Measure, Policy, Table, TableShape, layout};
use prikk_proto::pb::helper_aggregation_client::HelperAggregationClient;
use prikk_proto::share::{self, ShareContext};
use prikk_proto::{Signer, decode_exact, pb, sign_message, verify_message};
use ring::digest::{SHA256, digest};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

use crate::config::{Config, HelperEndpoint};
use crate::store::{Collection, NormalTable, Store, StoreError, StoredReport};

/// Why a collection stopped. Nothing is stored in any of these cases.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CollectError {
    /// The configuration names no helper.
    #[error(
        "no helper configured: add a [helper] section (url, signing_key, encryption_key) to the gateway's config"
    )]
    NoHelper,
    /// This period and scope were collected before.
    #[error("period {period} already has a collected {scope} aggregate (batch {batch})")]
    AlreadyCollected {
        /// Period.
        period: String,
        /// Scope.
        scope: String,
        /// Earlier batch.
        batch: String,
    },
    /// No reports in scope.
    #[error("no reports for period {0} in this scope")]
    NoReports(String),
    /// Some reports carry no shares for the configured helper.
    #[error(
        "these projects' latest reports carry no secret shares for helper {helper}: {projects}"
    )]
    WithoutShares {
        /// The configured helper's key id.
        helper: String,
        /// Projects, comma-separated.
        projects: String,
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
    /// The recombined aggregate disagrees with cells every project published.
    #[error(
        "table {table} cell [{key}]: the published cells of the {projects_count} projects in the batch sum to {published}, but their shares do not; one of these projects sent shares that do not match its report: {projects}"
    )]
    Mismatch {
        /// Table.
        table: String,
        /// Cell key.
        key: String,
        /// Sum of the published cells.
        published: i64,
        /// Number of projects.
        projects_count: usize,
        /// Projects, comma-separated.
        projects: String,
    },
    /// The recombined aggregate does not add up or is out of range.
    #[error("the recombined aggregate is inconsistent ({0}); a project's shares are wrong")]
    Inconsistent(String),
    /// Protection across levels failed.
    #[error("{0}")]
    Protection(#[from] LevelError),
    /// Storage.
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// What a collection did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectSummary {
    /// Batch id.
    pub batch_id: String,
    /// `national` or `region:<name>`.
    pub scope: String,
    /// Projects summed.
    pub projects: Vec<String>,
    /// Cells of the aggregate tables.
    pub cells: usize,
    /// Cells checked against the sum of published project cells.
    pub checked: usize,
    /// Aggregate cells suppressed by the policy's primary rule.
    pub primary: usize,
    /// Aggregate cells suppressed to protect project or aggregate cells.
    pub secondary: usize,
    /// Audit rounds.
    pub rounds: usize,
}

/// A batch ready to send: the request and the leader's own shares.
#[derive(Debug)]
pub struct Batch {
    /// Scope label.
    pub scope: String,
    /// The request (to be signed).
    pub request: pb::CollectRequest,
    /// The reports in the batch.
    pub reports: Vec<StoredReport>,
    /// Sum of the leader's shares.
    pub leader_sum: Vec<u64>,
}

/// The scope label of a region (or the nation when `None`).
pub fn scope_label(region: Option<&str>) -> String {
    region.map_or_else(|| "national".to_string(), |r| format!("region:{r}"))
}

fn shapes(def: &Definition) -> Vec<Arc<TableShape>> {
    def.tables.iter().map(|t| t.shape.clone()).collect()
}

/// Builds the batch from the latest revisions in scope.
pub fn prepare_batch(
    store: &Store,
    def: &Definition,
    helper: &HelperEndpoint,
    period: &str,
    region: Option<&str>,
    now_unix: i64,
) -> Result<Batch, CollectError> {
    let scope = scope_label(region);
    for c in store.collections(period)? {
        if c.scope == scope || c.scope == "national" || scope == "national" {
            return Err(CollectError::AlreadyCollected {
                period: period.into(),
                scope: c.scope,
                batch: c.batch_id,
            });
        }
    }
    let helper_key_id = prikk_proto::key_id_of(
        &share::parse_public_key(&helper.encryption_key)
            .map_err(|e| CollectError::Answer(e.to_string()))?,
    );
    let reports: Vec<StoredReport> = store
        .latest_reports(period)?
        .into_iter()
        .filter(|r| region.is_none_or(|g| r.region == g))
        .filter(|r| r.definition_id == def.id && r.definition_version == def.version)
        .collect();
    if reports.is_empty() {
        return Err(CollectError::NoReports(period.into()));
    }
    let cells = layout::layout_len(&shapes(def));
    let mut leader_sum = vec![0u64; cells];
    let mut items = Vec::with_capacity(reports.len());
    let mut missing = Vec::new();
    for r in &reports {
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
        let Some(s) = report.shares.filter(|s| s.helper_key_id == helper_key_id) else {
            missing.push(r.project.clone());
            continue;
        };
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
        let ctx = ShareContext {
            report_id: &report.report_id,
            project: &report.project,
            period: &report.period,
            definition_id: &report.definition_id,
            definition_version: report.definition_version,
            cells: s.cells,
            helper_key_id: &s.helper_key_id,
        };
        share::verify_statement(
            &key.public_key,
            &ctx,
            &s.sealed_seed,
            &s.statement_signature,
        )
        .map_err(|e| bad(e.to_string()))?;
        share::add_share(&mut leader_sum, &s.leader_share);
        items.push(pb::ShareItem {
            report_id: report.report_id.clone(),
            project: report.project.clone(),
            period: report.period.clone(),
            definition_id: report.definition_id.clone(),
            definition_version: report.definition_version,
            cells: s.cells,
            helper_key_id: s.helper_key_id.clone(),
            sealed_seed: s.sealed_seed,
            statement_signature: s.statement_signature,
            agent_key_id: env.key_id.clone(),
        });
    }
    if !missing.is_empty() {
        return Err(CollectError::WithoutShares {
            helper: helper_key_id,
            projects: missing.join(", "),
        });
    }
    let mut ids: Vec<&str> = reports.iter().map(|r| r.report_id.as_str()).collect();
    ids.sort_unstable();
    let seed = format!("{period}\n{scope}\n{}", ids.join("\n"));
    let batch_id = hex::encode(&digest(&SHA256, seed.as_bytes()).as_ref()[..16]);
    Ok(Batch {
        request: pb::CollectRequest {
            batch_id,
            period: period.into(),
            scope: scope.clone(),
            items,
            created_unix: now_unix,
        },
        scope,
        reports,
        leader_sum,
    })
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

/// Runs a whole collection: batch, helper, recombination, checks,
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
    let batch = prepare_batch(store, def, helper, period, region, now_unix)?;
    let env = sign_message(signer, share::COLLECT_DOMAIN, &batch.request);
    let mut client = connect(helper).await?;
    let answer = client
        .aggregate(env)
        .await
        .map_err(|s| CollectError::Refused {
            code: s.code(),
            message: s.message().to_string(),
        })?
        .into_inner();
    finish(store, def, config, batch, &answer, now_unix)
}

/// Checks the helper's answer, recombines, verifies against the published
/// cells, protects and stores.
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

/// The exact aggregate, in memory only, with what it was checked against.
#[derive(Debug)]
pub struct Recombined {
    /// The exact aggregate tables (never stored or logged).
    pub exact: Vec<Table>,
    /// The helper's verified answer.
    pub answer: pb::AggregateShare,
    /// The projects' published tables.
    pub projects: Vec<PublishedProject>,
    /// Cells checked against the sum of published project cells.
    pub checked: usize,
}

/// Verifies the helper's answer, adds the shares, and checks the exact
/// aggregate against every cell all projects published.
pub fn recombine(
    def: &Definition,
    config: &Config,
    batch: &Batch,
    answer: &pb::SignedMessage,
) -> Result<Recombined, CollectError> {
    let helper = config.helper.as_ref().ok_or(CollectError::NoHelper)?;
    let helper_key = share::parse_public_key(&helper.signing_key)
        .map_err(|e| CollectError::Answer(e.to_string()))?;
    let agg: pb::AggregateShare = verify_message(
        &helper_key,
        share::AGGREGATE_DOMAIN,
        answer,
        "aggregate share",
    )
    .map_err(|e| CollectError::Answer(e.to_string()))?;
    let mut sent: Vec<&str> = batch
        .request
        .items
        .iter()
        .map(|i| i.report_id.as_str())
        .collect();
    sent.sort_unstable();
    if agg.batch_id != batch.request.batch_id
        || agg.period != batch.request.period
        || agg.scope != batch.request.scope
    {
        return Err(CollectError::Answer("it answers another batch".into()));
    }
    if agg.report_ids != sent {
        return Err(CollectError::Answer(
            "it summed other reports than the ones sent".into(),
        ));
    }
    if agg.share.len() != batch.leader_sum.len() || agg.cells as usize != agg.share.len() {
        return Err(CollectError::Answer(
            "its share has the wrong length".into(),
        ));
    }
    let shapes = shapes(def);
    let exact = share::recombine(&batch.leader_sum, &agg.share)
        .and_then(|v| layout::unflatten(&shapes, &v))
        .ok_or_else(|| CollectError::Inconsistent("a value is out of range".into()))?;
    for t in &exact {
        if !t.margins_add_up() || t.values.iter().any(|&v| v < 0) {
            return Err(CollectError::Inconsistent(format!(
                "table {} does not add up",
                t.shape.id
            )));
        }
    }
    // Per project, its published tables in definition order.
    let projects: Vec<PublishedProject> = batch
        .reports
        .iter()
        .map(|r| PublishedProject {
            project: r.project.clone(),
            cells: def
                .tables
                .iter()
                .map(|spec| {
                    r.tables
                        .iter()
                        .find(|t| t.id == spec.shape.id)
                        .map_or_else(|| vec![None; spec.shape.len()], |t| t.values.clone())
                })
                .collect(),
        })
        .collect();
    let names: BTreeSet<&str> = projects.iter().map(|p| p.project.as_str()).collect();
    let mut checked = 0usize;
    for (t, table) in exact.iter().enumerate() {
        for c in 0..table.values.len() {
            let mut sum = 0i64;
            let mut all = true;
            for p in &projects {
                match p.cells[t][c] {
                    Some(v) => sum += v,
                    None => {
                        all = false;
                        break;
                    }
                }
            }
            if !all {
                continue;
            }
            checked += 1;
            if sum != table.values[c] {
                return Err(CollectError::Mismatch {
                    table: table.shape.id.clone(),
                    key: table.shape.key_codes(c).join(", "),
                    published: sum,
                    projects_count: names.len(),
                    projects: names.iter().copied().collect::<Vec<_>>().join(", "),
                });
            }
        }
    }
    Ok(Recombined {
        exact,
        answer: agg,
        projects,
        checked,
    })
}

/// Protects the aggregate jointly with the projects' published tables and
/// stores only the protected cells.
pub fn protect_and_store(
    store: &Store,
    def: &Definition,
    config: &Config,
    batch: Batch,
    answer: &pb::SignedMessage,
    rec: Recombined,
    now_unix: i64,
) -> Result<CollectSummary, CollectError> {
    let Recombined {
        exact,
        answer: agg,
        projects,
        checked,
    } = rec;
    let shapes = shapes(def);
    let names: BTreeSet<&str> = projects.iter().map(|p| p.project.as_str()).collect();
    let policy = aggregate_policy(config);
    let protection = protect_aggregate(&shapes, &projects, &exact, &policy)?;
    let mut suppressed_cells = 0u32;
    let tables: Vec<NormalTable> = exact
        .iter()
        .zip(&protection.suppressed)
        .map(|(t, hidden)| {
            let values: Vec<Option<i64>> = t
                .values
                .iter()
                .zip(hidden)
                .map(|(&v, &h)| (!h).then_some(v))
                .collect();
            suppressed_cells += hidden.iter().filter(|&&h| h).count() as u32;
            let contributors = matches!(t.shape.measure, Measure::Sum(_)).then(|| {
                t.contributors
                    .iter()
                    .zip(hidden)
                    .map(|(&v, &h)| (!h).then_some(v))
                    .collect()
            });
            NormalTable {
                id: t.shape.id.clone(),
                values,
                contributors,
            }
        })
        .collect();
    let cells = tables.iter().map(|t| t.values.len()).sum();
    store.store_collection(&Collection {
        batch_id: batch.request.batch_id.clone(),
        period: batch.request.period.clone(),
        scope: batch.scope.clone(),
        report_ids: agg.report_ids.clone(),
        projects: agg.projects,
        collected_unix: now_unix,
        helper_key_id: answer.key_id.clone(),
        helper_signature: answer.signature.clone(),
        suppressed_cells,
        tables,
    })?;
    tracing::info!(batch = %batch.request.batch_id, scope = %batch.scope, projects = names.len(),
        primary = protection.primary, secondary = protection.secondary, "aggregate collected and stored");
    Ok(CollectSummary {
        batch_id: batch.request.batch_id,
        scope: batch.scope,
        projects: names.iter().map(|s| s.to_string()).collect(),
        cells,
        checked,
        primary: protection.primary,
        secondary: protection.secondary,
        rounds: protection.rounds,
    })
}
