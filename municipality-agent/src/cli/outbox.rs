//! `outbox`: list queued, delivered and rejected reports; requeue a rejected one.

use std::path::{Path, PathBuf};

use crate::config::AgentConfig;
use crate::exit;
use crate::outbox::{Outbox, State};

/// Arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Agent configuration file.
    #[arg(long, value_name = "FILE", env = "PRIKK_AGENT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Outbox database (overrides the config file).
    #[arg(long, value_name = "PATH")]
    pub outbox: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Put a rejected report back in the queue (after fixing what the gateway refused).
    #[arg(long, value_name = "REPORT_ID")]
    pub requeue: Option<String>,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table for people.
    Text,
    /// A JSON array.
    Json,
}

/// The outbox file used when neither the config nor `--outbox` names one.
pub const DEFAULT_OUTBOX: &str = "prikk-outbox.sqlite";

/// The configuration file (or an empty one) and its path.
pub(crate) fn load_config(path: Option<&Path>) -> anyhow::Result<AgentConfig> {
    match path {
        Some(p) => Ok(AgentConfig::load(p)?),
        None => Ok(AgentConfig::default()),
    }
}

/// The outbox path: the flag, else the config, else the default file.
pub(crate) fn outbox_path(config: Option<&Path>, flag: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(p) = flag {
        return Ok(p);
    }
    let cfg = load_config(config)?;
    Ok(cfg.outbox.unwrap_or_else(|| PathBuf::from(DEFAULT_OUTBOX)))
}

pub(crate) fn fmt_time(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<u8> {
    let path = outbox_path(args.config.as_deref(), args.outbox)?;
    if !path.exists() {
        anyhow::bail!(
            "no outbox at {} (nothing was ever queued there)",
            path.display()
        );
    }
    let outbox = Outbox::open(&path)?;
    if let Some(id) = args.requeue {
        outbox.requeue(&id)?;
        println!(
            "report {id} is queued again; `municipality-agent run` or `submit` will deliver it"
        );
        return Ok(exit::OK);
    }
    let rows = outbox.list()?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        Format::Text => {
            if rows.is_empty() {
                println!("the outbox at {} is empty", path.display());
            }
            for r in &rows {
                let detail = match r.state {
                    State::Delivered => format!(
                        "revision {} accepted {}",
                        r.revision.map_or("?".into(), |v| v.to_string()),
                        r.accepted_unix.map_or("?".into(), fmt_time)
                    ),
                    State::Queued => format!(
                        "{} failed attempt(s), next {}{}",
                        r.attempts,
                        fmt_time(r.next_attempt_unix),
                        r.last_error
                            .as_deref()
                            .map(|e| format!(", last error: {e}"))
                            .unwrap_or_default()
                    ),
                    State::Rejected => {
                        format!("reason: {}", r.last_error.as_deref().unwrap_or("?"))
                    }
                };
                println!(
                    "{:<9} {} {} {} queued {} sha256 {} {}",
                    r.state.as_str(),
                    r.report_id,
                    r.project,
                    r.period,
                    fmt_time(r.created_unix),
                    r.payload_sha256,
                    detail
                );
            }
        }
    }
    Ok(exit::OK)
}
