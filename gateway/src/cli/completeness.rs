//! `completeness`: which registered projects reported for a period, when,
//! and which revision.

use std::path::PathBuf;

use clap::ValueEnum;

use super::{open_store, usage};
use crate::period::Period;

/// How a listing is printed.
// Doc comments on the values would become clap's per-value help and
// change `--help`; plain comments say what each is.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ListFormat {
    // Aligned text.
    Text,
    // Pretty-printed JSON.
    Json,
}

/// Arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// SQLite database file.
    #[arg(long, default_value = "gateway.db")]
    pub db: PathBuf,
    /// Period, e.g. 2006 or 2006-H2.
    #[arg(long)]
    pub period: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    pub format: ListFormat,
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<()> {
    let period = Period::parse(&args.period)
        .map_err(|e| usage(e.to_string()))?
        .to_string();
    let store = open_store(&args.db)?;
    let rows = store.completeness(&period)?;
    let stdout = std::io::stdout();
    match args.format {
        ListFormat::Text => crate::completeness::write_text(&period, &rows, stdout.lock())?,
        ListFormat::Json => {
            serde_json::to_writer_pretty(
                stdout.lock(),
                &crate::completeness::to_json(&period, &rows),
            )?;
            println!();
        }
    }
    Ok(())
}
