//! `journal` (once `audit`): list, or verify, the hash-chained log of everything that left.

use std::path::PathBuf;

use crate::cli::outbox::{Format, fmt_time, outbox_path};
use crate::exit;
use crate::outbox::Outbox;

/// Arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Agent configuration file.
    #[arg(long, value_name = "FILE", env = "PRIKK_AGENT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Outbox database (overrides the config file).
    #[arg(long, value_name = "PATH")]
    pub outbox: Option<PathBuf>,
    /// Recompute the hash chain and report the first edited, deleted or reordered entry (exit 1).
    #[arg(long)]
    pub verify: bool,
    /// Output format for the listing.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<u8> {
    let path = outbox_path(args.config.as_deref(), args.outbox)?;
    if !path.exists() {
        anyhow::bail!("no outbox at {}", path.display());
    }
    let outbox = Outbox::open(&path)?;
    if args.verify {
        let v = outbox.verify_journal()?;
        return Ok(match v.problem {
            None => {
                println!(
                    "journal intact: {} entries, hash chain and outbox agree",
                    v.entries
                );
                exit::OK
            }
            Some(p) => {
                eprintln!(
                    "journal of {} FAILED verification: {}",
                    path.display(),
                    p.message
                );
                exit::INPUT
            }
        });
    }
    let entries = outbox.journal_entries()?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&entries)?),
        Format::Text => {
            for e in &entries {
                println!(
                    "{:>5} {} {:<9} {} {} {} sha256 {}{}{}",
                    e.seq,
                    fmt_time(e.time_unix),
                    e.kind,
                    e.project,
                    e.period,
                    e.report_id,
                    hex::encode(&e.payload_sha256),
                    e.revision
                        .map(|r| format!(" revision {r}"))
                        .unwrap_or_default(),
                    if e.detail.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", e.detail)
                    }
                );
            }
        }
    }
    Ok(exit::OK)
}
