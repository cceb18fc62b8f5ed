//! `collect`: the leader's collection of an exact aggregate through the
//! helper, national or for one region.

use std::path::PathBuf;

use anyhow::Context;

use super::open_store;
use crate::{Clock, Config, SystemClock, registry};

/// Arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// SQLite database file.
    #[arg(long, default_value = "gateway.db")]
    pub db: PathBuf,
    /// Configuration file with the [helper] section.
    #[arg(long)]
    pub config: PathBuf,
    /// Period.
    #[arg(long)]
    pub period: String,
    /// Collect this region only.
    #[arg(long)]
    pub region: Option<String>,
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<()> {
    let Args {
        db,
        config,
        period,
        region,
    } = args;
    let mut c = Config::load(&config)?;
    c.db = db.clone();
    let definition = crate::load_definition(&c)?;
    let store = open_store(&db)?;
    let signer = registry::read_receipt_key(&c.receipt_key_path())
        .with_context(|| "the leader's key is created by the first `gateway serve`".to_string())?;
    let rt = super::runtime()?;
    let summary = rt.block_on(crate::aggregation::collect::collect(
        &store,
        &definition,
        &c,
        &signer,
        &period,
        region.as_deref(),
        SystemClock.now_unix(),
    ))?;
    println!(
        "collected {} aggregate for {period}: batch {}, {} projects ({})",
        summary.scope,
        summary.batch_id,
        summary.projects.len(),
        summary.projects.join(", ")
    );
    println!(
        "{} cells; {} checked against the published project cells; {} suppressed by the policy, {} to protect project cells ({} audit rounds)",
        summary.cells, summary.checked, summary.primary, summary.secondary, summary.rounds
    );
    Ok(())
}
