//! `export`: project, regional or national tables for a period, as text,
//! CSV, JSON or XLSX.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::ValueEnum;

use super::{open_store, usage};
use crate::Config;
use crate::export;
use crate::merge::{self, Scope};
use crate::period::Period;

/// Which level of tables to export.
// Doc comments on the values would become clap's per-value help and
// change `--help`; plain comments say what each is.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Level {
    // One project's latest report as published.
    Project,
    // One region's merged tables.
    Region,
    // The national tables.
    National,
}

/// Output format.
// Doc comments on the values would become clap's per-value help and
// change `--help`; plain comments say what each is.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    // One row per cell (or, with `--table`, the table laid out wide).
    Csv,
    // Tables with the export's metadata.
    Json,
    // A workbook (needs `--out`).
    Xlsx,
    // Aligned text with a heading.
    Text,
}

/// Arguments, as given.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// SQLite database file.
    #[arg(long, default_value = "gateway.db")]
    pub db: PathBuf,
    /// Period.
    #[arg(long)]
    pub period: String,
    /// Level.
    #[arg(long, value_enum)]
    pub level: Level,
    /// Project id (with --level project).
    #[arg(long)]
    pub project: Option<String>,
    /// Region (with --level region).
    #[arg(long)]
    pub region: Option<String>,
    /// Only this table, laid out wide (e.g. `status`: table 3).
    #[arg(long)]
    pub table: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Output file (required for xlsx; stdout otherwise).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Configuration file, for `min_count` and `definition`.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<()> {
    let Args {
        db,
        period,
        level,
        project,
        region,
        table,
        format,
        out,
        config,
    } = args;
    let period = Period::parse(&period)
        .map_err(|e| usage(e.to_string()))?
        .to_string();
    let scope = match (level, project, region) {
        (Level::Project, Some(p), None) => Scope::Project(p),
        (Level::Region, None, Some(r)) => Scope::Region(r),
        (Level::National, None, None) => Scope::National,
        (Level::Project, _, _) => {
            return Err(usage(
                "--level project needs --project ID (and no --region)",
            ));
        }
        (Level::Region, _, _) => {
            return Err(usage("--level region needs --region R (and no --project)"));
        }
        (Level::National, _, _) => {
            return Err(usage(
                "--level national takes neither --project nor --region",
            ));
        }
    };
    if format == Format::Xlsx && out.is_none() {
        return Err(usage("--format xlsx needs --out FILE"));
    }
    let c = match &config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    let definition = crate::load_definition(&c)?;
    if let Some(t) = &table
        && definition.table(t).is_none()
    {
        let ids: Vec<&str> = definition
            .tables
            .iter()
            .map(|t| t.shape.id.as_str())
            .collect();
        return Err(usage(format!(
            "unknown table `{t}`; tables are: {}",
            ids.join(", ")
        )));
    }
    let store = open_store(&db)?;
    let Some(view) = merge::view(&store, &definition, &period, &scope, c.min_count)? else {
        bail!("no report for this project and period");
    };
    let merge::View {
        mut tables,
        reports: included,
        source,
    } = view;
    if let Some(t) = &table {
        tables.retain(|x| &x.shape.id == t);
    }
    let (level_name, scope_name) = match &scope {
        Scope::Project(p) => ("project", p.clone()),
        Scope::Region(r) => ("region", r.clone()),
        Scope::National => ("national", "Norway".to_string()),
    };
    let heading = merge::heading(&source, included, &scope_name, &period);
    let mut sink: Box<dyn std::io::Write> = match &out {
        Some(p) if format != Format::Xlsx => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        _ => Box::new(std::io::stdout().lock()),
    };
    match format {
        Format::Csv if table.is_some() => {
            let first = tables
                .first()
                .context("the table is not among the merged tables")?;
            export::write_grid_csv(first, &mut sink)?;
        }
        Format::Csv => export::write_csv(&tables, &mut sink)?,
        Format::Text => export::write_text(&tables, &heading, &mut sink)?,
        Format::Json => {
            let mut meta = serde_json::Map::new();
            meta.insert("level".into(), level_name.into());
            meta.insert("scope".into(), scope_name.into());
            meta.insert("period".into(), period.clone().into());
            meta.insert("reports".into(), included.into());
            meta.insert("source".into(), serde_json::to_value(&source)?);
            serde_json::to_writer_pretty(&mut sink, &export::to_json(&tables, meta))?;
            writeln!(sink)?;
        }
        Format::Xlsx => {
            let bytes = export::to_xlsx(&tables, &heading)?;
            let p = out
                .as_ref()
                .ok_or_else(|| usage("--format xlsx needs --out FILE"))?;
            std::fs::write(p, bytes).with_context(|| format!("writing {}", p.display()))?;
        }
    }
    sink.flush()?;
    Ok(())
}
