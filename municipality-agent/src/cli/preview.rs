//! `preview`: show the data protection officer exactly what would leave.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;

use crate::exit::{self, CodedError};
use crate::outbox::Outbox;
use crate::period::Period;
use crate::preview;
use crate::report::{ReportError, prepare_with};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned grids, one per table.
    Text,
    /// One JSON object with a `tables` array.
    Json,
    /// One self-contained printable HTML page.
    Html,
}

/// Arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The case system's participant export (CSV).
    #[arg(long)]
    pub input: PathBuf,
    /// Reporting period: YYYY, YYYY-H1/H2, YYYY-Q1..Q4 or YYYY-MM.
    #[arg(long)]
    pub period: String,
    /// Project id (selects it in a multi-project file; names it when the file has no `project` column).
    #[arg(long)]
    pub project: Option<String>,
    /// The protection flags `submit` and `run` take too.
    #[command(flatten)]
    pub policy: crate::cli::policy::PolicyFlags,
    /// Agent configuration file: its `[policy]` (mode, suppression rules,
    /// ε or ρ, annual budget), definition and outbox apply; the flags win.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Outbox database whose privacy ledger gives the spent and remaining
    /// budget in the dp modes (default: the config's; read only when it exists).
    #[arg(long, value_name = "PATH")]
    pub outbox: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write to this file instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<u8> {
    if let Err(e) = Period::parse(&args.period) {
        return Err(CodedError {
            code: exit::USAGE,
            message: format!("--period: {e}"),
        }
        .into());
    }
    let config = crate::cli::outbox::load_config(args.config.as_deref())?;
    let protection = args.policy.protection(&config)?;
    let def = args.policy.definition(&config)?;
    let project = args.project.as_deref().or_else(|| config.single_project());
    // With a helper the report leaves only as secret shares, and its id is
    // keyed with the agent's signing key: the preview shows exactly that.
    let sharing = config.secure_aggregation.helper_key.is_some();
    let signer = match (&config.key, sharing) {
        (Some(path), true) => Some(crate::keys::load_signer(path)?),
        (None, true) => {
            return Err(CodedError {
                code: exit::USAGE,
                message: "[secure_aggregation] is configured: the preview of a report sent as \
                          secret shares needs the agent's signing key (`key` in the config) for its report id"
                    .into(),
            }
            .into());
        }
        _ => None,
    };
    let prepared = match &signer {
        Some(signer) => crate::report::prepare_shared(
            &def,
            &args.input,
            &args.period,
            project,
            &protection,
            signer,
        ),
        None => prepare_with(&def, &args.input, &args.period, project, &protection),
    }
    .map_err(|e| {
        let code = match e {
            ReportError::Period(_) => exit::USAGE,
            _ => exit::INPUT,
        };
        CodedError {
            code,
            message: e.to_string(),
        }
    })?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let created = i64::try_from(now).unwrap_or(0);
    let mut p = preview::preview(&def, &prepared, created);
    if sharing {
        p = p.with_min_projects(&def, config.secure_aggregation.min_projects());
    }
    if let Some(d) = &prepared.dp {
        let year = prepared.period.first.year();
        let path = args.outbox.clone().or_else(|| config.outbox.clone());
        let status = match path.filter(|p| p.exists()) {
            Some(path) => {
                Outbox::open(&path)?.budget_status(&prepared.project, year, d.annual_budget)?
            }
            // No ledger yet: nothing has been spent.
            None => crate::outbox::BudgetStatus {
                year,
                budget: d.annual_budget,
                spent: prikk_privacy::dp::Rational::ZERO,
                remaining: d.annual_budget.amount(),
                releases: 0,
            },
        };
        p = p.with_budget(&status);
    }
    let mut text = match args.format {
        Format::Text => preview::to_text(&p),
        Format::Json => preview::to_json(&p),
        Format::Html => preview::to_html(&p),
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    match &args.out {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            // A closed pipe (`| head`) is not an error worth a message.
            let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
        }
    }
    Ok(exit::OK)
}
