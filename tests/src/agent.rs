//! One agent per project: its own key pair, outbox database and generated
//! export in its own folder, and a submission driven through the agent
//! library exactly as `municipality-agent submit` does it: prepare (ingest,
//! aggregate, protect, audit) → sign → durable enqueue → deliver → verified
//! receipt.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use municipality_agent::deliver::{self, Outcome, Selection};
use municipality_agent::outbox::{Enqueued, Outbox, QueuedReport, StoredReceipt};
use municipality_agent::report::{self, Prepared};
use municipality_agent::synthetic::{self, SyntheticOptions};
use municipality_agent::tls::Transport;
use prikk_privacy::{Definition, Policy};
use prikk_proto::Signer;

use crate::error::HarnessError;

/// What an agent needs to reach a gateway: its URL, the CA that signed its
/// TLS certificate, and its receipt-signing public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayAccess {
    /// `https://127.0.0.1:PORT`.
    pub url: String,
    /// The CA certificate (PEM).
    pub ca_cert: PathBuf,
    /// The gateway's receipt public key.
    pub receipt_key: [u8; 32],
}

impl GatewayAccess {
    /// The agent's TLS transport settings (short timeouts: loopback).
    pub fn transport(&self) -> Transport {
        Transport {
            url: self.url.clone(),
            ca_certificate: Some(self.ca_cert.clone()),
            server_name: None,
            insecure_plaintext: false,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
        }
    }

    /// A fresh gateway client (connects on first use).
    pub fn client(&self) -> Result<deliver::Gateway, HarnessError> {
        Ok(deliver::Gateway::new(
            self.transport().endpoint()?,
            self.receipt_key,
        ))
    }
}

/// One project's agent and everything it keeps on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentState {
    /// Project id.
    pub project: String,
    /// Human name of the municipality or district.
    pub name: String,
    /// Region.
    pub region: String,
    /// The agent's folder.
    pub dir: PathBuf,
    /// Signing key (PKCS#8, mode 0600); its public key is `<key>.pub`.
    pub key_path: PathBuf,
    /// Raw Ed25519 public key, as the directorate registers it.
    pub public_key: [u8; 32],
    /// The generated participant export.
    pub export: PathBuf,
    /// The outbox database.
    pub outbox_path: PathBuf,
    /// Rows in the export.
    pub rows: usize,
    /// Secure aggregation: the helper's key, when the agent shares its exact tables.
    pub helper_key: Option<municipality_agent::share::HelperKey>,
}

impl AgentState {
    /// Creates `root/<project>/` with a new key pair, and a generated export
    /// of the project's usual size for `seed` (with the forbidden columns
    /// full of canary values).
    pub fn create(
        root: &Path,
        project: &synthetic::Project,
        seed: u64,
    ) -> Result<Self, HarnessError> {
        let rows = synthetic::project_size(project.id, seed);
        Self::create_with(
            root,
            project.id,
            project.name,
            project.region,
            rows,
            seed,
            &SyntheticOptions::default(),
        )
    }

    /// Like [`AgentState::create`] with every choice explicit.
    pub fn create_with(
        root: &Path,
        project: &str,
        name: &str,
        region: &str,
        rows: usize,
        seed: u64,
        opts: &SyntheticOptions,
    ) -> Result<Self, HarnessError> {
        let dir = root.join(project);
        std::fs::create_dir_all(&dir).map_err(HarnessError::io(&dir))?;
        let key_path = dir.join("agent.key");
        let new = municipality_agent::keys::generate(&key_path)?;
        let public_key = municipality_agent::keys::load_public_key(&new.public_path)?;
        let export = dir.join(format!("{project}-export.csv"));
        synthetic::write_export(&export, project, rows, seed, opts)
            .map_err(HarnessError::io(&export))?;
        Ok(Self {
            project: project.to_string(),
            name: name.to_string(),
            region: region.to_string(),
            outbox_path: dir.join("outbox.sqlite"),
            dir,
            key_path,
            public_key,
            export,
            rows,
            helper_key: None,
        })
    }

    /// The signing key (refused if group or others can read it).
    pub fn signer(&self) -> Result<Signer, HarnessError> {
        Ok(municipality_agent::keys::load_signer(&self.key_path)?)
    }

    /// Opens the outbox with the system clock and short back-off (loopback).
    pub fn open_outbox(&self) -> Result<Arc<Outbox>, HarnessError> {
        let backoff = municipality_agent::outbox::Backoff {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(5),
        };
        Ok(Arc::new(Outbox::open_with(
            &self.outbox_path,
            Arc::new(municipality_agent::outbox::SystemClock),
            backoff,
        )?))
    }

    /// Builds and protects the report for a period (what `preview` shows).
    pub fn prepare(
        &self,
        def: &Definition,
        period: &str,
        policy: &Policy,
    ) -> Result<Prepared, HarnessError> {
        Ok(report::prepare(
            def,
            &self.export,
            period,
            Some(&self.project),
            policy,
        )?)
    }

    /// Prepares, signs and durably queues the report. A report whose
    /// content is already in the outbox is not signed again.
    pub fn queue(
        &self,
        outbox: &Outbox,
        def: &Definition,
        period: &str,
        policy: &Policy,
    ) -> Result<(Prepared, QueuedReport), HarnessError> {
        let signer = self.signer()?;
        let prepared = match &self.helper_key {
            Some(_) => report::prepare_shared(
                def,
                &self.export,
                period,
                Some(&self.project),
                &report::ProtectionPolicy::suppression(policy.clone()),
                &signer,
            )?,
            None => self.prepare(def, period, policy)?,
        };
        if let Some(existing) = outbox.get(&prepared.report.report_id)? {
            return Ok((prepared, existing));
        }
        let mut report = prepared.report_at(outbox.now_unix());
        if let Some(helper) = &self.helper_key {
            municipality_agent::share::attach_shares(
                &mut report,
                &prepared.protected.tables,
                helper,
                &signer,
                municipality_agent::config::DEFAULT_MIN_PROJECTS,
            )
            .map_err(|e| HarnessError::Process(format!("sharing {}: {e}", self.project)))?;
        }
        let envelope = prikk_proto::sign_report(&signer, &report);
        let queued = match outbox.enqueue(&envelope)? {
            Enqueued::New(r) | Enqueued::Existing(r) => r,
        };
        Ok((prepared, queued))
    }
}

/// A report that arrived: the receipt verified against the gateway's key
/// and is stored in the agent's outbox.
#[derive(Debug, Clone)]
pub struct Submission {
    /// Project.
    pub project: String,
    /// The prepared report (exact and protected tables, local only).
    pub prepared: Prepared,
    /// The signed report exactly as it was sent.
    pub sent: QueuedReport,
    /// The stored receipt.
    pub receipt: StoredReceipt,
    /// Delivery attempts it took.
    pub attempts: u32,
    /// Wall time from reading the export to the stored receipt.
    pub elapsed: Duration,
}

/// Attempts per submission before giving up (the gateway is on loopback:
/// a failure that survives this many quick retries is real).
const ATTEMPTS: u32 = 5;

/// One full submission through the agent library: prepare → sign → durable
/// enqueue (on a blocking thread) → deliver → verified, stored receipt.
/// Transient failures are retried a bounded number of times; a rejection
/// or a receipt that does not verify is an error.
pub async fn submit(
    agent: &AgentState,
    def: Arc<Definition>,
    period: &str,
    policy: &Policy,
    access: &GatewayAccess,
) -> Result<Submission, HarnessError> {
    let started = Instant::now();
    let (outbox, prepared, queued) = {
        let (a, period, policy) = (agent.clone(), period.to_string(), policy.clone());
        tokio::task::spawn_blocking(move || -> Result<_, HarnessError> {
            let outbox = a.open_outbox()?;
            let (prepared, queued) = a.queue(&outbox, &def, &period, &policy)?;
            Ok((outbox, prepared, queued))
        })
        .await
        .map_err(|e| HarnessError::Process(format!("preparing {}: {e}", agent.project)))??
    };
    let fail = |message: String| HarnessError::Delivery {
        project: agent.project.clone(),
        message,
    };
    let mut client = access.client()?;
    let mut attempts = 0;
    loop {
        attempts += 1;
        match deliver::deliver_one(&outbox, &mut client, queued.clone()).await? {
            Outcome::Delivered { .. } => break,
            Outcome::Rejected { reason, .. } => return Err(fail(format!("rejected: {reason}"))),
            Outcome::Queued { error, .. } if attempts >= ATTEMPTS => {
                return Err(fail(format!(
                    "still queued after {attempts} attempts: {error}"
                )));
            }
            Outcome::Queued { .. } => {
                tokio::time::sleep(Duration::from_millis(100 << attempts)).await
            }
        }
    }
    let receipt = outbox
        .receipt(&queued.report_id)?
        .ok_or_else(|| fail("delivered, but no receipt in the outbox".into()))?;
    Ok(Submission {
        project: agent.project.clone(),
        prepared,
        sent: queued,
        receipt,
        attempts,
        elapsed: started.elapsed(),
    })
}

/// Delivers everything queued in an outbox, retrying with a pause between
/// passes, at most `passes` times. Returns the reports still queued.
pub async fn drain(
    outbox: &Arc<Outbox>,
    access: &GatewayAccess,
    passes: u32,
    pause: Duration,
) -> Result<Vec<QueuedReport>, HarnessError> {
    let mut client = access.client()?;
    for pass in 0..passes {
        let outcomes = deliver::deliver_pass(outbox, &mut client, Selection::AllQueued).await?;
        if outcomes
            .iter()
            .all(|o| !matches!(o, Outcome::Queued { .. }))
        {
            break;
        }
        if pass + 1 < passes {
            tokio::time::sleep(pause).await;
        }
    }
    Ok(outbox.queued()?)
}
