//! The helper role: `gateway serve --role helper`, run by an independent
//! party. It holds the X25519 key agents seal their seeds to, its own
//! registry of project keys and of the leader it serves, and its own
//! database. It never receives a table: only sealed seeds with the agents'
//! signed statements. It reveals its share only as a sum over a batch of at
//! least `min_projects` distinct projects, each counted in at most one batch
//! per period, and records the batch durably before answering.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use prikk_proto::pb;
use prikk_proto::pb::helper_aggregation_server::HelperAggregation;
use prikk_proto::share::{self, HelperSecret, ShareContext};
use prikk_proto::{Signer, sign_message, verify_message};
use ring::digest::{SHA256, digest};
use tonic::{Code, Request, Response, Status};

use crate::clock::Clock;
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
    /// Fewer distinct projects than the helper's minimum.
    #[error("the batch has {found} distinct projects; this helper sums at least {required}")]
    TooFewProjects {
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
        Ok(text) => read_helper_key_text(&text).ok_or_else(|| {
            std::io::Error::other(format!(
                "{}: not a helper key (64 hex digits expected)",
                path.display()
            ))
        }),
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
}

impl HelperState {
    /// A helper over its own store and keys.
    pub fn new(
        store: Arc<Store>,
        secret: HelperSecret,
        signer: Arc<Signer>,
        min_projects: u32,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            secret,
            signer,
            min_projects,
            clock,
        }
    }

    /// The helper's X25519 public key.
    pub fn encryption_key(&self) -> [u8; 32] {
        self.secret.public_key()
    }

    /// Checks a signed collect request, records the batch, and answers with
    /// the signed aggregate share.
    pub fn aggregate(&self, env: &pb::SignedMessage) -> Result<pb::SignedMessage, HelperRefusal> {
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
        let req: pb::CollectRequest = verify_message(
            &leader.public_key,
            share::COLLECT_DOMAIN,
            env,
            "collect request",
        )
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
        let own_key_id = self.secret.key_id();
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
        if projects.len() < self.min_projects as usize {
            return Err(HelperRefusal::TooFewProjects {
                found: projects.len(),
                required: self.min_projects,
            });
        }
        // Every share: the project's own key (in this helper's registry)
        // signed the statement, and the seed opens in its context.
        let mut seeds = Vec::with_capacity(req.items.len());
        for it in &req.items {
            let refuse = |problem: String| HelperRefusal::Share {
                report_id: it.report_id.clone(),
                project: it.project.clone(),
                problem,
            };
            if it.helper_key_id != own_key_id {
                return Err(refuse(format!(
                    "sealed to helper key {}, this helper is {own_key_id}",
                    it.helper_key_id
                )));
            }
            let key = self.store.key(&it.agent_key_id)?.ok_or_else(|| {
                refuse(format!(
                    "agent key {} is not registered here",
                    it.agent_key_id
                ))
            })?;
            if key.project != it.project {
                return Err(refuse(format!(
                    "agent key {} belongs to another project",
                    it.agent_key_id
                )));
            }
            if key.revoked_unix.is_some() {
                return Err(refuse(format!("agent key {} is revoked", it.agent_key_id)));
            }
            let ctx = ShareContext {
                report_id: &it.report_id,
                project: &it.project,
                period: &it.period,
                definition_id: &it.definition_id,
                definition_version: it.definition_version,
                cells: it.cells,
                helper_key_id: &it.helper_key_id,
            };
            share::verify_statement(
                &key.public_key,
                &ctx,
                &it.sealed_seed,
                &it.statement_signature,
            )
            .map_err(|e| refuse(e.to_string()))?;
            seeds.push(
                share::open_seed(&self.secret, &it.sealed_seed, &ctx)
                    .map_err(|e| refuse(e.to_string()))?,
            );
        }
        let sorted: Vec<String> = reports.iter().map(|s| s.to_string()).collect();
        let batch = HelperBatch {
            batch_id: req.batch_id.clone(),
            period: req.period.clone(),
            scope: req.scope.clone(),
            leader_key_id: leader.key_id.clone(),
            report_ids_sha256: digest(&SHA256, sorted.join("\n").as_bytes())
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
                    projects = projects.len(), "batch recorded; revealing its aggregate share");
            }
            BatchOutcome::Retry => {
                tracing::info!(batch = %req.batch_id, "batch retried; same aggregate share again");
            }
            BatchOutcome::Overlap(why) => return Err(HelperRefusal::Overlap(why)),
        }
        let mut sum = vec![0u64; cells as usize];
        for seed in &seeds {
            share::add_expanded(&mut sum, seed);
        }
        let answer = pb::AggregateShare {
            batch_id: req.batch_id,
            period: req.period,
            scope: req.scope,
            report_ids: sorted,
            projects: projects.len() as u32,
            share: sum,
            cells,
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
        let result = tokio::task::spawn_blocking(move || state.aggregate(&env))
            .await
            .map_err(|_| Status::internal("internal"))?;
        match result {
            Ok(answer) => Ok(Response::new(answer)),
            Err(refusal) => {
                tracing::warn!(%refusal, "aggregate request refused");
                Err(refusal.status())
            }
        }
    }
}
