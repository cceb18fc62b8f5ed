//! `collect`: the leader's collection of an exact aggregate through the
//! helper: the nation by region groups, in one batch.

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
    /// Refused: a collection is national and gives every region group.
    #[arg(long, hide = true)]
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
    print!(
        "{}",
        crate::aggregation::collect::describe(&period, &summary)
    );
    Ok(())
}
