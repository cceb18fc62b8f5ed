//! The helper role: `gateway serve --role helper`, run by an independent
//! party. It holds the X25519 key agents seal their seeds to, its own
//! registry of project keys and of the leader it serves, and its own
//! database. It never receives a table: only sealed seeds with the agents'
//! signed statements. It reveals its share only as sums over the region
//! groups of a batch, each of at least `min_projects` distinct projects,
//! each project counted in at most one batch per as-of date, and records the
//! batch durably before answering. Before that, it answers a check of every
//! report's relation residuals, which shows a report whose shares do not add
//! up without revealing anything about an honest one.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use prikk_privacy::Definition;
use prikk_privacy::layout::{self, RelationRow};
use prikk_proto::pb;
use prikk_proto::pb::helper_aggregation_server::HelperAggregation;
use prikk_proto::share::{self, HelperSecret, ShareContext};
use prikk_proto::{Signer, sign_message, verify_message};
use ring::digest::{SHA256, digest};
use tonic::{Code, Request, Response, Status};

use crate::clock::Clock;
use crate::period::Period;
use crate::store::{BatchOutcome, HelperBatch, Store, StoreError};

/// Longest accepted batch id, period or scope.
const MAX_ID_LEN: usize = 128;
/// Most items in one batch.
const MAX_ITEMS: usize = 100_000;
/// Largest share layout.
const MAX_CELLS: u32 = 1 << 20;

/// Why the helper refused a request; each maps to its own gRPC status.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum HelperRefusal {
    /// The request is not signed by a registered, active leader.
    #[error("not signed by a registered leader: {0}")]
    Leader(String),
    /// The request is malformed.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// A group with fewer distinct projects than the minimum.
    #[error("group {group} has {found} distinct projects; it needs at least {required}")]
    TooFewProjects {
        /// The group.
        group: String,
        /// Distinct projects found.
        found: usize,
        /// The helper's minimum.
        required: u32,
    },
    /// A report or project is already counted in another batch of the period.
    #[error("overlapping batch: {0}")]
    Overlap(String),
    /// A share does not check out (statement signature, key, seal).
    #[error("report {report_id} of project {project}: {problem}")]
    Share {
        /// Report id.
        report_id: String,
        /// Project.
        project: String,
        /// What is wrong.
        problem: String,
    },
    /// The helper's own storage failed.
    #[error("internal")]
    Internal,
}

impl HelperRefusal {
    fn status(&self) -> Status {
        let code = match self {
            Self::Leader(_) => Code::Unauthenticated,
            Self::Malformed(_) => Code::InvalidArgument,
            Self::TooFewProjects { .. } => Code::FailedPrecondition,
            Self::Overlap(_) => Code::AlreadyExists,
            Self::Share { .. } => Code::PermissionDenied,
            Self::Internal => Code::Internal,
        };
        Status::new(code, self.to_string())
    }
}

impl From<StoreError> for HelperRefusal {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "helper storage failed");
        Self::Internal
    }
}

/// Loads the helper's X25519 key, creating it (owner-only permissions) if
/// the file does not exist yet. The file holds 64 hex digits.
pub fn load_or_create_helper_key(path: &Path) -> std::io::Result<HelperSecret> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            owner_only(path)?;
            read_helper_key_text(&text).ok_or_else(|| {
                std::io::Error::other(format!(
                    "{}: not a helper key (64 hex digits expected)",
                    path.display()
                ))
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = HelperSecret::generate().map_err(std::io::Error::other)?;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(path)?;
            f.write_all(hex::encode(key.to_bytes()).as_bytes())?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            tracing::info!(path = %path.display(), key_id = %key.key_id(), "created helper key");
            Ok(key)
        }
        Err(e) => Err(e),
    }
}

/// Loads an existing helper key without creating one; it must be owner-only.
pub fn read_helper_key(path: &Path) -> std::io::Result<HelperSecret> {
    let text = std::fs::read_to_string(path)?;
    owner_only(path)?;
    read_helper_key_text(&text).ok_or_else(|| {
        std::io::Error::other(format!(
            "{}: not a helper key (64 hex digits expected)",
            path.display()
        ))
    })
}

/// The helper key file must be owner-only, as the agent's own key is.
fn owner_only(path: &Path) -> std::io::Result<()> {
    crate::registry::check_owner_only(path).map_err(|e| std::io::Error::other(e.to_string()))
}

fn read_helper_key_text(text: &str) -> Option<HelperSecret> {
    let bytes: [u8; 32] = hex::decode(text.trim()).ok()?.try_into().ok()?;
    Some(HelperSecret::from_bytes(bytes))
}

/// Everything the helper needs to answer.
#[derive(Debug)]
pub struct HelperState {
    store: Arc<Store>,
    secret: HelperSecret,
    signer: Arc<Signer>,
    min_projects: u32,
    clock: Arc<dyn Clock>,
    definition: Arc<Definition>,
    /// The definition's relation rows over the share layout.
    rows: Vec<RelationRow>,
}

/// A request whose signature, shape and every share checked out.
struct Checked {
    leader_key_id: String,
    request: pb::CollectRequest,
    /// Per item, the opened seed, or why its share cannot be used.
    seeds: Vec<Result<[u8; 32], String>>,
    cells: u32,
}

impl HelperState {
    /// A helper over its own store and keys, for reports of `definition`.
    pub fn new(
        store: Arc<Store>,
        secret: HelperSecret,
        signer: Arc<Signer>,
        min_projects: u32,
        clock: Arc<dyn Clock>,
        definition: Arc<Definition>,
    ) -> Self {
        let rows = layout::relation_rows(&definition.shapes());
        Self {
            store,
            secret,
            signer,
            min_projects,
            clock,
            definition,
            rows,
        }
    }

    /// The helper's X25519 public key.
    pub fn encryption_key(&self) -> [u8; 32] {
        self.secret.public_key()
    }

    /// Checks the leader's signature, the request's shape, and every item's
    /// statement and seal. Records nothing.
    fn open(&self, env: &pb::SignedMessage, domain: &[u8]) -> Result<Checked, HelperRefusal> {
        let leader = self
            .store
            .leader(&env.key_id)?
            .ok_or_else(|| HelperRefusal::Leader(format!("unknown key {}", env.key_id)))?;
        if leader.revoked_unix.is_some() {
            return Err(HelperRefusal::Leader(format!(
                "key {} is revoked",
                env.key_id
            )));
        }
        let req: pb::CollectRequest =
            verify_message(&leader.public_key, domain, env, "collect request")
                .map_err(|e| HelperRefusal::Leader(e.to_string()))?;
        let bad = |m: &str| Err(HelperRefusal::Malformed(m.to_string()));
        for (what, v) in [
            ("batch id", &req.batch_id),
            ("period", &req.period),
            ("scope", &req.scope),
        ] {
            if v.is_empty() || v.len() > MAX_ID_LEN {
                return Err(HelperRefusal::Malformed(format!(
                    "{what} must be 1 to {MAX_ID_LEN} characters"
                )));
            }
        }
        if Period::parse(&req.period).is_err() {
            return bad("the batch's period is not a period");
        }
        let Some(first) = req.items.first() else {
            return bad("the batch is empty");
        };
        if req.items.len() > MAX_ITEMS {
            return bad("too many reports in one batch");
        }
        let cells = first.cells;
        if cells == 0 || cells > MAX_CELLS {
            return bad("share layout size out of range");
        }
        if first.definition_id != self.definition.id
            || first.definition_version != self.definition.version
            || cells as usize != layout::layout_len(&self.definition.shapes())
        {
            return bad("the reports are not of this helper's report definition");
        }
        let mut projects = BTreeSet::new();
        let mut reports = BTreeSet::new();
        for it in &req.items {
            if it.period != req.period {
                return bad("a report belongs to another period than the batch");
            }
            if it.cells != cells
                || it.definition_id != first.definition_id
                || it.definition_version != first.definition_version
            {
                return bad("the reports do not share one definition and layout");
            }
            if it.group.is_empty() || it.group.len() > MAX_ID_LEN {
                return Err(HelperRefusal::Malformed(format!(
                    "a group name must be 1 to {MAX_ID_LEN} characters"
                )));
            }
            if !projects.insert(it.project.as_str()) {
                return Err(HelperRefusal::Overlap(format!(
                    "project {} appears twice in the batch",
                    it.project
                )));
            }
            if !reports.insert(it.report_id.as_str()) {
                return Err(HelperRefusal::Overlap(format!(
                    "report {} appears twice in the batch",
                    it.report_id
                )));
            }
        }
        // Every share: the project's own key (in this helper's registry)
        // signed the statement, and the seed opens in its context.
        let seeds = req
            .items
            .iter()
            .map(|it| self.open_item(it))
            .collect::<Result<_, _>>()?;
        Ok(Checked {
            leader_key_id: leader.key_id,
            request: req,
            seeds,
            cells,
        })
    }

    /// One item's seed: its statement verifies with the project's key in
    /// this helper's registry and its seal opens in its own context. `Err`
    /// says why not; only storage failures are refusals of the request.
    fn open_item(&self, it: &pb::ShareItem) -> Result<Result<[u8; 32], String>, HelperRefusal> {
        let own_key_id = self.secret.key_id();
        if it.helper_key_id != own_key_id {
            return Ok(Err(format!(
                "sealed to helper key {}, this helper is {own_key_id}",
                it.helper_key_id
            )));
        }
        let Some(key) = self.store.key(&it.agent_key_id)? else {
            return Ok(Err(format!(
                "agent key {} is not registered here",
                it.agent_key_id
            )));
        };
        if key.project != it.project {
            return Ok(Err(format!(
                "agent key {} belongs to another project",
                it.agent_key_id
            )));
        }
        if key.revoked_unix.is_some() {
            return Ok(Err(format!("agent key {} is revoked", it.agent_key_id)));
        }
        let ctx = ShareContext::of_item(it);
        if let Err(e) = share::verify_statement(
            &key.public_key,
            &ctx,
            &it.sealed_seed,
            &it.statement_signature,
        ) {
            return Ok(Err(e.to_string()));
        }
        Ok(share::open_seed(&self.secret, &it.sealed_seed, &ctx).map_err(|e| e.to_string()))
    }

    /// Answers a signed check request with the helper's share of every
    /// report's relation residuals. An honest report's residuals are 0, so
    /// the share is minus the leader's own and tells the leader nothing; a
    /// report whose shares do not add up is found before any batch is
    /// recorded. Nothing is recorded.
    pub fn check(&self, env: &pb::SignedMessage) -> Result<pb::SignedMessage, HelperRefusal> {
        let c = self.open(env, share::CHECK_DOMAIN)?;
        let items = c
            .request
            .items
            .iter()
            .zip(&c.seeds)
            .map(|(it, seed)| match seed {
                Ok(seed) => pb::ItemResidual {
                    report_id: it.report_id.clone(),
                    residual: layout::residuals(
                        &self.rows,
                        &share::expand_seed(seed, c.cells as usize),
                    ),
                    problem: String::new(),
                },
                Err(problem) => pb::ItemResidual {
                    report_id: it.report_id.clone(),
                    residual: Vec::new(),
                    problem: problem.clone(),
                },
            })
            .collect();
        tracing::info!(batch = %c.request.batch_id, reports = c.request.items.len(),
            "check answered; nothing recorded");
        let answer = pb::ShareCheck {
            batch_id: c.request.batch_id,
            items,
        };
        Ok(sign_message(&self.signer, share::CHECKED_DOMAIN, &answer))
    }

    /// Checks a signed collect request, records the batch, and answers with
    /// the signed aggregate share of every region group.
    ///
    /// Every group needs at least as many distinct projects as the larger
    /// of this helper's minimum and every one of its reports' own floor. A
    /// project is counted at most once per as-of date (so 2006 and 2006-12,
    /// the same snapshot, cannot be summed in two batches and differenced),
    /// and a batch id is answered for exactly one grouping of exactly one
    /// set of reports: a retry gets the same answer, anything else is an
    /// overlap.
    pub fn aggregate(&self, env: &pb::SignedMessage) -> Result<pb::SignedMessage, HelperRefusal> {
        let c = self.open(env, share::COLLECT_DOMAIN)?;
        let req = &c.request;
        let mut seeds = Vec::with_capacity(c.seeds.len());
        for (it, seed) in req.items.iter().zip(&c.seeds) {
            match seed {
                Ok(s) => seeds.push(*s),
                Err(problem) => {
                    return Err(HelperRefusal::Share {
                        report_id: it.report_id.clone(),
                        project: it.project.clone(),
                        problem: problem.clone(),
                    });
                }
            }
        }
        let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, it) in req.items.iter().enumerate() {
            groups.entry(it.group.as_str()).or_default().push(i);
        }
        for (name, members) in &groups {
            let required = members
                .iter()
                .filter_map(|&i| req.items.get(i))
                .map(|it| it.min_projects)
                .fold(self.min_projects, u32::max);
            if members.len() < required as usize {
                return Err(HelperRefusal::TooFewProjects {
                    group: (*name).to_string(),
                    found: members.len(),
                    required,
                });
            }
        }
        let as_of = Period::parse(&req.period)
            .map_err(|e| HelperRefusal::Malformed(e.to_string()))?
            .as_of();
        let mut lines: Vec<String> = req
            .items
            .iter()
            .map(|it| format!("{}\t{}", it.group, it.report_id))
            .collect();
        lines.sort_unstable();
        let batch = HelperBatch {
            batch_id: req.batch_id.clone(),
            period: req.period.clone(),
            as_of,
            scope: req.scope.clone(),
            leader_key_id: c.leader_key_id.clone(),
            report_ids_sha256: digest(&SHA256, lines.join("\n").as_bytes())
                .as_ref()
                .to_vec(),
            reports: req
                .items
                .iter()
                .map(|it| (it.project.clone(), it.report_id.clone()))
                .collect(),
            collected_unix: self.clock.now_unix(),
        };
        match self.store.record_helper_batch(&batch)? {
            BatchOutcome::Recorded => {
                tracing::info!(batch = %req.batch_id, period = %req.period, scope = %req.scope,
                    projects = req.items.len(), groups = groups.len(),
                    "batch recorded; revealing its aggregate shares");
            }
            BatchOutcome::Retry => {
                tracing::info!(batch = %req.batch_id, "batch retried; same aggregate shares again");
            }
            BatchOutcome::Overlap(why) => return Err(HelperRefusal::Overlap(why)),
        }
        let mut out = Vec::with_capacity(groups.len());
        for (name, members) in &groups {
            let mut sum = vec![0u64; c.cells as usize];
            let mut ids = Vec::with_capacity(members.len());
            for &i in members {
                if let (Some(seed), Some(it)) = (seeds.get(i), req.items.get(i)) {
                    share::add_expanded(&mut sum, seed);
                    ids.push(it.report_id.clone());
                }
            }
            ids.sort_unstable();
            out.push(pb::GroupShare {
                group: (*name).to_string(),
                projects: ids.len() as u32,
                report_ids: ids,
                share: sum,
            });
        }
        let mut all: Vec<String> = req.items.iter().map(|it| it.report_id.clone()).collect();
        all.sort_unstable();
        let answer = pb::AggregateShare {
            batch_id: req.batch_id.clone(),
            period: req.period.clone(),
            scope: req.scope.clone(),
            projects: all.len() as u32,
            report_ids: all,
            cells: c.cells,
            groups: out,
        };
        Ok(sign_message(&self.signer, share::AGGREGATE_DOMAIN, &answer))
    }
}

/// The gRPC service.
#[derive(Debug, Clone)]
pub struct HelperService {
    state: Arc<HelperState>,
}

impl HelperService {
    /// Serves `state`.
    pub fn new(state: Arc<HelperState>) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl HelperAggregation for HelperService {
    async fn aggregate(
        &self,
        request: Request<pb::SignedMessage>,
    ) -> Result<Response<pb::SignedMessage>, Status> {
        let state = self.state.clone();
        let env = request.into_inner();
        answer(move || state.aggregate(&env), "aggregate").await
    }

    async fn check(
        &self,
        request: Request<pb::SignedMessage>,
    ) -> Result<Response<pb::SignedMessage>, Status> {
        let state = self.state.clone();
        let env = request.into_inner();
        answer(move || state.check(&env), "check").await
    }
}

/// Runs one request's work off the async runtime and maps its refusal.
async fn answer(
    work: impl FnOnce() -> Result<pb::SignedMessage, HelperRefusal> + Send + 'static,
    what: &'static str,
) -> Result<Response<pb::SignedMessage>, Status> {
    let result = tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| Status::internal("internal"))?;
    match result {
        Ok(answer) => Ok(Response::new(answer)),
        Err(refusal) => {
            tracing::warn!(%refusal, request = what, "helper request refused");
            Err(refusal.status())
        }
    }
}
