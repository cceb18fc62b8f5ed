//! `submit`: build and protect a report, sign it, queue it durably, deliver it.
//!
//! Order matters: the signed report is committed to the outbox before any
//! network I/O, so a crash or a network failure can delay a report but never
//! lose it. Exit codes: 0 delivered (receipt verified and stored), 3 queued
//! but not delivered, 1 bad input or rejected by the gateway.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use prikk_privacy::{Definition, Policy};
use prikk_proto::{Signer, pb};

use crate::cli::outbox::DEFAULT_OUTBOX;
use crate::cli::outbox::load_config;
use crate::config::AgentConfig;
use crate::deliver::{Gateway, Outcome, deliver_one};
use crate::exit::{self, CodedError};
use crate::outbox::{
    Backoff, Charge, Enqueued, Outbox, OutboxError, QueuedReport, State, SystemClock,
};
use crate::report::{Prepared, ProtectionPolicy};
use crate::tls::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT, Transport};

/// Options shared by `submit` and `run`; each overrides the config file.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Common {
    /// Agent configuration file (TOML; see agent.example.toml).
    #[arg(long, value_name = "FILE", env = "PRIKK_AGENT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Gateway URL, e.g. https://gateway.example.no:7443.
    #[arg(long, value_name = "URL")]
    pub gateway: Option<String>,
    /// The municipality's signing key (from `keygen`).
    #[arg(long, value_name = "PATH")]
    pub key: Option<PathBuf>,
    /// The gateway's receipt-signing public key (hex file).
    #[arg(long, value_name = "FILE")]
    pub gateway_key: Option<PathBuf>,
    /// Outbox database.
    #[arg(long, value_name = "PATH")]
    pub outbox: Option<PathBuf>,
    /// CA certificate (PEM) that signs the gateway's TLS certificate.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Allow plaintext gRPC to a gateway on this machine (development only).
    #[arg(long)]
    pub insecure_plaintext: bool,
    /// The protection flags `preview` takes too: what the officer previews
    /// with them is what is sent with them.
    #[command(flatten)]
    pub policy: crate::cli::policy::PolicyFlags,
}

/// Arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    common: Common,
    /// The case system's participant export (CSV).
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
    /// Reporting period: YYYY, YYYY-H1, YYYY-Q3 or YYYY-MM.
    #[arg(long, value_name = "P")]
    pub period: String,
    /// Project code (default: the only project in the config, or the export's project column).
    #[arg(long, value_name = "ID")]
    pub project: Option<String>,
}

/// Everything `submit` and `run` need, with flags applied over the config file.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) config: AgentConfig,
    pub(crate) transport: Transport,
    pub(crate) receipt_key: [u8; 32],
    pub(crate) key_path: Option<PathBuf>,
    pub(crate) outbox_path: PathBuf,
    pub(crate) definition: Definition,
    pub(crate) policy: Policy,
    pub(crate) protection: ProtectionPolicy,
    pub(crate) backoff: Backoff,
    pub(crate) helper_key: Option<crate::share::HelperKey>,
    /// The floor on projects per group signed into every share statement.
    pub(crate) min_projects: u32,
}

impl Settings {
    /// Merges flags over the config file and checks everything a delivery
    /// needs, before any report is built.
    pub(crate) fn resolve(c: &Common) -> anyhow::Result<Self> {
        let config = load_config(c.config.as_deref())?;
        let g = &config.gateway;
        let url = c.gateway.clone().or_else(|| g.url.clone()).ok_or_else(|| {
            anyhow::anyhow!(
                "no gateway URL: set gateway.url in the config file or pass --gateway URL"
            )
        })?;
        let transport = Transport {
            url,
            ca_certificate: c.ca.clone().or_else(|| g.ca_certificate.clone()),
            server_name: g.tls_server_name.clone(),
            insecure_plaintext: c.insecure_plaintext || g.insecure_plaintext,
            connect_timeout: g
                .connect_timeout_secs
                .map_or(DEFAULT_CONNECT_TIMEOUT, Duration::from_secs),
            request_timeout: g
                .request_timeout_secs
                .map_or(DEFAULT_REQUEST_TIMEOUT, Duration::from_secs),
        };
        transport.endpoint()?;
        let receipt_key_path = c.gateway_key.clone().or_else(|| g.receipt_key.clone()).ok_or_else(|| {
            anyhow::anyhow!(
                "no gateway receipt key: set gateway.receipt_key in the config file or pass --gateway-key FILE \
                 (the directorate publishes it; `gateway public-key` prints it)"
            )
        })?;
        let receipt_key = crate::keys::load_public_key(&receipt_key_path)?;
        let definition = c.policy.definition(&config)?;
        let protection = c.policy.protection(&config)?;
        let run = &config.run;
        let backoff = Backoff {
            base: Duration::from_secs(run.retry_base_secs.unwrap_or(30)),
            cap: Duration::from_secs(
                run.retry_cap_secs
                    .unwrap_or(3600)
                    .max(run.retry_base_secs.unwrap_or(1)),
            ),
        };
        let helper_key = config
            .secure_aggregation
            .helper_key
            .as_deref()
            .map(crate::share::HelperKey::load)
            .transpose()?;
        Ok(Self {
            helper_key,
            min_projects: config.secure_aggregation.min_projects(),
            key_path: c.key.clone().or_else(|| config.key.clone()),
            outbox_path: c
                .outbox
                .clone()
                .or_else(|| config.outbox.clone())
                .unwrap_or_else(|| DEFAULT_OUTBOX.into()),
            policy: protection.suppression.clone(),
            protection,
            transport,
            receipt_key,
            definition,
            backoff,
            config,
        })
    }

    pub(crate) fn signer(&self) -> anyhow::Result<Signer> {
        let p = self.key_path.as_deref().ok_or_else(|| {
            anyhow::anyhow!("no signing key: set key in the config file or pass --key PATH (create one with `keygen`)")
        })?;
        Ok(crate::keys::load_signer(p)?)
    }

    pub(crate) fn open_outbox(&self) -> anyhow::Result<Arc<Outbox>> {
        Ok(Arc::new(Outbox::open_with(
            &self.outbox_path,
            Arc::new(SystemClock),
            self.backoff,
        )?))
    }

    pub(crate) fn gateway(&self) -> anyhow::Result<Gateway> {
        Ok(Gateway::new(self.transport.endpoint()?, self.receipt_key))
    }

    /// The project to report for: the flag, else the config's only project.
    pub(crate) fn project<'a>(&'a self, flag: Option<&'a str>) -> anyhow::Result<Option<&'a str>> {
        if let Some(p) = flag {
            if !self.config.projects.is_empty() && !self.config.projects.iter().any(|x| x.id == p) {
                return Err(CodedError {
                    code: exit::INPUT,
                    message: format!(
                        "project {p:?} is not one of this agent's [[projects]] in the config file"
                    ),
                }
                .into());
            }
            return Ok(Some(p));
        }
        Ok(self.config.single_project())
    }
}

/// Builds and protects the report (exactly what `preview` shows; in the dp
/// modes with fresh noise) and stamps its creation time.
fn build_report(
    s: &Settings,
    signer: &Signer,
    input: &Path,
    period: &str,
    project: Option<&str>,
    now_unix: i64,
) -> anyhow::Result<(pb::Report, Prepared)> {
    let mut protection = s.protection.clone();
    protection.suppression = s.policy.clone();
    let prepared = if s.helper_key.is_some() {
        crate::report::prepare_shared(&s.definition, input, period, project, &protection, signer)
    } else {
        crate::report::prepare_with(&s.definition, input, period, project, &protection)
    }
    .with_context(|| format!("building the report from {}", input.display()))?;
    let mut report = prepared.report.clone();
    report.created_unix = now_unix;
    Ok((report, prepared))
}

/// The refusal of a release over budget: exit 1, nothing queued.
fn budget_refusal(e: OutboxError) -> anyhow::Error {
    match e {
        OutboxError::Budget(l) => CodedError {
            code: exit::INPUT,
            message: format!("{l}. Nothing was queued or sent."),
        }
        .into(),
        other => other.into(),
    }
}

/// Builds, signs and queues a report durably. A report whose id is already
/// in the outbox is not signed again: the stored signed bytes are kept. In
/// the dp modes the release is charged to the project's annual budget in the
/// same transaction, and a release that would exceed it is refused (exit 1)
/// before anything is signed or queued.
pub(crate) fn queue_report(
    s: &Settings,
    signer: &Signer,
    outbox: &Outbox,
    input: &Path,
    period: &str,
    project: Option<&str>,
) -> anyhow::Result<Enqueued> {
    let (mut report, mut prepared) =
        build_report(s, signer, input, period, project, outbox.now_unix())?;
    if let Some(earlier) = earlier_report(outbox, &prepared.project, &prepared.period.text)?
        && earlier.report_id != report.report_id
    {
        let hidden =
            crate::report::keep_earlier_suppression(&s.definition, &mut prepared, &earlier)
                .with_context(|| {
                    format!(
                        "correcting report {} for {} {}",
                        earlier.report_id, prepared.project, prepared.period.text
                    )
                })?;
        if hidden > 0 {
            tracing::info!(
                earlier = %earlier.report_id,
                hidden,
                "correction keeps the earlier revision's suppressed cells hidden"
            );
            report = prepared.report_at(outbox.now_unix());
        }
    }
    if let Some(existing) = outbox.get(&report.report_id)? {
        return Ok(Enqueued::Existing(existing));
    }
    refuse_mode_switch(outbox, &prepared)?;
    if let Some(helper) = &s.helper_key {
        crate::share::attach_shares(
            &mut report,
            &prepared.protected.tables,
            helper,
            signer,
            s.min_projects,
        )
        .context("splitting the exact tables into secret shares")?;
    }
    let charge = prepared.dp.as_ref().map(|d| Charge {
        year: prepared.period.first.year(),
        loss: d.loss,
        annual_budget: d.annual_budget,
    });
    if let Some(c) = &charge {
        outbox
            .check_budget(&report.project, c)
            .map_err(budget_refusal)?;
    }
    let envelope = prikk_proto::sign_report(signer, &report);
    outbox
        .enqueue_charged(&envelope, charge.as_ref())
        .map_err(budget_refusal)
}

/// Refuses a report that would release one snapshot (the same project and
/// as-of date) both ways: as protected tables and as secret shares. The
/// directorate's exact sums over a group minus this project's published
/// cells of the same people would otherwise give away its hidden cells.
fn refuse_mode_switch(outbox: &Outbox, prepared: &Prepared) -> anyhow::Result<()> {
    for listed in outbox.list()? {
        if listed.project != prepared.project || listed.state == crate::outbox::State::Rejected {
            continue;
        }
        let Ok(period) = crate::period::Period::parse(&listed.period) else {
            continue;
        };
        if period.last != prepared.period.last {
            continue;
        }
        let Some(queued) = outbox.get(&listed.report_id)? else {
            continue;
        };
        let earlier = prikk_proto::decode_exact::<pb::Report>(&queued.envelope.report, "report")
            .with_context(|| format!("reading the earlier report {}", listed.report_id))?;
        let earlier_shared = earlier.shares.is_some() && earlier.tables.is_empty();
        if earlier_shared != prepared.shared {
            let (was, now) = if earlier_shared {
                ("as secret shares", "as protected tables")
            } else {
                ("as protected tables", "as secret shares")
            };
            return Err(CodedError {
                code: exit::INPUT,
                message: format!(
                    "report {} released {} {} as of {} {was}; this report would release the same \
                     people {now}, and the two together could expose hidden cells. Keep \
                     [secure_aggregation] as it was for this period. Nothing was queued or sent.",
                    listed.report_id, prepared.project, listed.period, prepared.period.last
                ),
            }
            .into());
        }
    }
    Ok(())
}

/// The latest report this agent queued or delivered for a project and
/// period (rejected ones never reached the directorate's tables).
fn earlier_report(
    outbox: &Outbox,
    project: &str,
    period: &str,
) -> anyhow::Result<Option<pb::Report>> {
    let latest = outbox
        .list()?
        .into_iter()
        .filter(|r| r.project == project && r.period == period)
        .filter(|r| r.state != crate::outbox::State::Rejected)
        .max_by_key(|r| r.created_unix);
    let Some(listed) = latest else {
        return Ok(None);
    };
    let Some(queued) = outbox.get(&listed.report_id)? else {
        return Ok(None);
    };
    let report = prikk_proto::decode_exact::<pb::Report>(&queued.envelope.report, "report")
        .with_context(|| format!("reading the earlier report {}", listed.report_id))?;
    Ok(Some(report))
}

fn print_delivered(outbox: &Outbox, r: &QueuedReport) -> anyhow::Result<()> {
    let receipt = outbox.receipt(&r.report_id)?;
    println!(
        "delivered: report {} ({} {})",
        r.report_id, r.project, r.period
    );
    if let Some(rc) = receipt {
        println!("revision: {}", rc.revision);
        println!(
            "accepted: {}",
            crate::cli::outbox::fmt_time(rc.accepted_unix)
        );
    }
    println!("payload sha256: {}", hex::encode(r.payload_sha256));
    Ok(())
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<u8> {
    let s = Settings::resolve(&args.common)?;
    let signer = s.signer()?;
    let project = s.project(args.project.as_deref())?;
    let outbox = s.open_outbox()?;
    let enq = queue_report(&s, &signer, &outbox, &args.input, &args.period, project)?;
    let report = enq.report().clone();
    match (&enq, report.state) {
        (Enqueued::New(_), _) => {
            eprintln!(
                "queued report {} in {}",
                report.report_id,
                outbox.path().display()
            );
        }
        (Enqueued::Existing(_), State::Delivered) => {
            eprintln!("this report was delivered before; nothing new to send");
            print_delivered(&outbox, &report)?;
            return Ok(exit::OK);
        }
        (Enqueued::Existing(_), State::Rejected) => {
            return Err(CodedError {
                code: exit::INPUT,
                message: format!(
                    "report {} was rejected by the gateway earlier: {}. Fix the cause, then \
                     `municipality-agent outbox --requeue {}`",
                    report.report_id,
                    report.last_error.as_deref().unwrap_or("no reason given"),
                    report.report_id
                ),
            }
            .into());
        }
        (Enqueued::Existing(_), State::Queued) => {
            eprintln!(
                "report {} was already queued; sending the stored signed copy",
                report.report_id
            );
        }
    }

    let mut gateway = s.gateway()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let outcome = rt.block_on(deliver_one(&outbox, &mut gateway, report.clone()))?;
    match outcome {
        Outcome::Delivered { .. } => {
            print_delivered(&outbox, &report)?;
            Ok(exit::OK)
        }
        Outcome::Queued {
            error,
            next_attempt_unix,
            ..
        } => {
            eprintln!(
                "NOT DELIVERED: report {} is safely queued in {} ({error}). \
                 It will be retried by `municipality-agent run` (next attempt after {}), or submit again.",
                report.report_id,
                outbox.path().display(),
                crate::cli::outbox::fmt_time(next_attempt_unix)
            );
            println!("queued: report {}", report.report_id);
            println!("payload sha256: {}", hex::encode(report.payload_sha256));
            Ok(exit::QUEUED)
        }
        Outcome::Rejected { reason, .. } => Err(CodedError {
            code: exit::INPUT,
            message: format!("the gateway rejected report {}: {reason}", report.report_id),
        }
        .into()),
    }
}
