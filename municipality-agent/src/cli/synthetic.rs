//! `synthetic-export` (once `sample-export`): write synthetic participant exports, one file per project.

use std::path::PathBuf;

use anyhow::Context;

use crate::exit::{self, CodedError};
use crate::synthetic::{PROJECTS, SyntheticOptions, project_size, write_export};

/// Arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory to write `<project>.csv` files into (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Write the first N of the 21 projects of 2005-2006 (default: all 21).
    #[arg(long, conflicts_with = "project")]
    pub projects: Option<usize>,
    /// Write one project with this id (any ASCII slug; need not be one of the 21).
    #[arg(long)]
    pub project: Option<String>,
    /// Seed: the same seed writes the same files.
    #[arg(long, default_value_t = 2006)]
    pub seed: u64,
    /// Rows per project (default: a size between 10 and 170 drawn per project).
    #[arg(long)]
    pub rows: Option<usize>,
    /// Write `;`-delimited Windows-1252 with Norwegian codes and DD.MM.YYYY dates,
    /// as a Norwegian spreadsheet tool would.
    #[arg(long)]
    pub spreadsheet: bool,
    /// Leave out the columns that must never leave (name, national_id, health_notes, ...).
    #[arg(long)]
    pub no_forbidden_columns: bool,
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<u8> {
    let ids: Vec<String> = match (&args.project, args.projects) {
        (Some(p), _) => {
            let ok = !p.is_empty()
                && p.len() <= 64
                && p.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                });
            if !ok {
                return Err(CodedError {
                    code: exit::USAGE,
                    message: format!("--project {p:?}: expected 1-64 of a-z, 0-9, `-`, `_`"),
                }
                .into());
            }
            vec![p.clone()]
        }
        (None, Some(n)) if n == 0 || n > PROJECTS.len() => {
            return Err(CodedError {
                code: exit::USAGE,
                message: format!("--projects must be 1 to {}", PROJECTS.len()),
            }
            .into());
        }
        (None, n) => PROJECTS
            .iter()
            .take(n.unwrap_or(PROJECTS.len()))
            .map(|p| p.id.to_string())
            .collect(),
    };
    let mut opts = if args.spreadsheet {
        SyntheticOptions::spreadsheet()
    } else {
        SyntheticOptions::default()
    };
    opts.forbidden_columns = !args.no_forbidden_columns;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut total = 0;
    for id in &ids {
        let rows = args.rows.unwrap_or_else(|| project_size(id, args.seed));
        let path = args.out.join(format!("{id}.csv"));
        let stats = write_export(&path, id, rows, args.seed, &opts)
            .with_context(|| format!("cannot write {}", path.display()))?;
        total += stats.rows;
        println!("{}\t{} rows", path.display(), stats.rows);
    }
    eprintln!(
        "wrote {} file(s), {total} rows, seed {}",
        ids.len(),
        args.seed
    );
    Ok(exit::OK)
}
