//! `run`: the long-running service mode.
//!
//! Each round it (1) picks up new export files from the watch folder and
//! queues their reports, then (2) tries every queued report whose back-off has
//! expired. Between rounds it sleeps until the next report is due or the poll
//! interval passes, whichever comes first. SIGTERM or Ctrl-C stops it between
//! steps; an attempt in flight finishes first, and nothing is lost either way
//! because the outbox is committed before any network I/O.
//!
//! Watch folder: files ending in `.csv` (not hidden, not changed for
//! `run.settle_secs`) are processed once each; the outbox database records
//! path, size, modification time and SHA-256, so a file is never processed
//! twice, and the same content under another name is skipped too. A file
//! named `<project>_<period>.csv` (for example `bergen_2006-H1.csv`) is
//! reported for that project and period; other names use `run.period` and the
//! config's only project. A file that cannot be turned into a report is
//! logged and recorded as refused, and not retried until it changes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use prikk_proto::Signer;

use crate::cli::submit::{Common, Settings, queue_report};
use crate::deliver::{Outcome, Selection, deliver_pass};
use crate::exit;
use crate::outbox::{Enqueued, Outbox};

/// Arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    common: Common,
    /// Do one round — pick up new files, try every queued report now — and exit
    /// (0 all delivered, 3 some still queued, 1 some rejected).
    #[arg(long)]
    pub once: bool,
    /// Folder to watch for new exports (overrides run.watch_folder).
    #[arg(long, value_name = "DIR")]
    pub watch: Option<PathBuf>,
    /// Seconds between rounds (overrides run.poll_secs).
    #[arg(long, value_name = "SECS")]
    pub poll_secs: Option<u64>,
}

struct Watch {
    dir: PathBuf,
    settle_secs: u64,
    period: Option<String>,
    signer: Signer,
}

/// Project and period for an export file name, per the rules in the module docs.
pub(crate) fn project_period_for(
    file_name: &str,
    configured: &[String],
    fallback_period: Option<&str>,
    fallback_project: Option<&str>,
) -> Result<(Option<String>, String), String> {
    let stem = file_name.rsplit_once('.').map_or(file_name, |(s, _)| s);
    if let Some((project, period)) = stem.rsplit_once('_')
        && !project.is_empty()
        && crate::period::Period::parse(period).is_ok()
        && (configured.is_empty() || configured.iter().any(|p| p == project))
    {
        return Ok((Some(project.to_string()), period.to_string()));
    }
    match fallback_period {
        Some(p) => Ok((fallback_project.map(str::to_string), p.to_string())),
        None => Err(format!(
            "{file_name}: cannot tell the reporting period; name the file <project>_<period>.csv \
             (for example bergen_2006-H1.csv) or set run.period in the config"
        )),
    }
}

fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Queues reports for new files in the watch folder. Returns how many were queued.
fn scan(s: &Settings, w: &Watch, outbox: &Outbox) -> anyhow::Result<usize> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(&w.dir)
        .map_err(|e| anyhow::anyhow!("watch folder {}: {e}", w.dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            !name.starts_with('.') && name.to_ascii_lowercase().ends_with(".csv") && p.is_file()
        })
        .collect();
    files.sort();
    let configured: Vec<String> = s.config.projects.iter().map(|p| p.id.clone()).collect();
    let now = std::time::SystemTime::now();
    let mut queued = 0;
    for path in files {
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        let age = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .unwrap_or_default();
        if age < Duration::from_secs(w.settle_secs) {
            continue; // may still be being written
        }
        let key = path.display().to_string();
        let size = i64::try_from(meta.len()).unwrap_or(i64::MAX);
        let mtime = mtime_ns(&meta);
        if outbox.file_processed(&key, size, mtime, None)? {
            continue;
        }
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(file = %key, error = %e, "cannot read export; will try again");
                continue;
            }
        };
        let sha = prikk_proto::payload_sha256(&bytes);
        if outbox.file_processed(&key, size, mtime, Some(&sha))? {
            outbox.record_file(
                &key,
                size,
                mtime,
                &sha,
                "same content as a file processed before",
            )?;
            tracing::info!(file = %key, "same content as an export processed before; skipped");
            continue;
        }
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let outcome = project_period_for(
            name,
            &configured,
            w.period.as_deref(),
            s.config.single_project(),
        )
        .map_err(anyhow::Error::msg)
        .and_then(|(project, period)| {
            queue_report(s, &w.signer, outbox, &path, &period, project.as_deref())
                .map(|e| (e, period))
        });
        let recorded = match outcome {
            Ok((Enqueued::New(r), period)) => {
                tracing::info!(file = %key, report_id = %r.report_id, project = %r.project, %period, "export queued");
                queued += 1;
                format!("queued report {}", r.report_id)
            }
            Ok((Enqueued::Existing(r), _)) => {
                tracing::info!(file = %key, report_id = %r.report_id, "report already in the outbox");
                format!("report {} already in the outbox", r.report_id)
            }
            Err(e) => {
                tracing::error!(file = %key, error = %format!("{e:#}"), "export refused");
                format!("refused: {e:#}")
            }
        };
        outbox.record_file(&key, size, mtime, &sha, &recorded)?;
    }
    Ok(queued)
}

/// Resolves when SIGTERM (registered by the caller before it reports
/// readiness) or Ctrl-C arrives, then tells the loop to stop.
async fn shutdown_signal(
    #[cfg(unix)] mut term: Option<tokio::signal::unix::Signal>,
    tx: tokio::sync::watch::Sender<bool>,
) {
    #[cfg(unix)]
    {
        let sigterm = async {
            match term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = sigterm => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutdown requested; finishing the current step");
    let _ = tx.send(true);
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<u8> {
    let s = Arc::new(Settings::resolve(&args.common)?);
    let outbox = s.open_outbox()?;
    let watch_dir = args
        .watch
        .clone()
        .or_else(|| s.config.run.watch_folder.clone());
    let watch = match watch_dir {
        Some(dir) => {
            if !dir.is_dir() {
                anyhow::bail!(
                    "watch folder {} does not exist or is not a folder",
                    dir.display()
                );
            }
            Some(Arc::new(Watch {
                dir,
                settle_secs: s.config.run.settle_secs.unwrap_or(30),
                period: s.config.run.period.clone(),
                signer: s.signer()?,
            }))
        }
        None => None,
    };
    let poll = Duration::from_secs(
        args.poll_secs
            .or(s.config.run.poll_secs)
            .unwrap_or(60)
            .max(1),
    );
    let mut gateway = s.gateway()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let (tx, mut stop) = tokio::sync::watch::channel(false);
        if !args.once {
            #[cfg(unix)]
            {
                use tokio::signal::unix::{SignalKind, signal};
                let term = signal(SignalKind::terminate())
                    .map_err(|e| tracing::warn!(error = %e, "cannot listen for SIGTERM"))
                    .ok();
                tokio::spawn(shutdown_signal(term, tx));
            }
            #[cfg(not(unix))]
            tokio::spawn(shutdown_signal(tx));
        }
        tracing::info!(outbox = %outbox.path().display(), watch = ?watch.as_ref().map(|w| w.dir.clone()), "agent running");
        loop {
            if let Some(w) = &watch {
                let (s2, w2, o2) = (Arc::clone(&s), Arc::clone(w), Arc::clone(&outbox));
                match tokio::task::spawn_blocking(move || scan(&s2, &w2, &o2)).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) if args.once => return Err(e),
                    Ok(Err(e)) => tracing::error!(error = %format!("{e:#}"), "scanning the watch folder failed"),
                    Err(e) => std::panic::resume_unwind(e.into_panic()),
                }
            }
            let which = if args.once { Selection::AllQueued } else { Selection::Due };
            let outcomes = deliver_pass(&outbox, &mut gateway, which).await?;
            if args.once {
                return summarize(&outcomes, &outbox);
            }
            if *stop.borrow() {
                break;
            }
            let now = outbox.now_unix();
            let next_due = {
                let o = Arc::clone(&outbox);
                tokio::task::spawn_blocking(move || o.next_due_unix()).await.map_err(|e| anyhow::anyhow!("{e}"))??
            };
            let wait = next_due
                .map(|t| Duration::from_secs(u64::try_from(t.saturating_sub(now)).unwrap_or(0)))
                .map_or(poll, |d| d.min(poll))
                .max(Duration::from_millis(200));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                break;
            }
        }
        tracing::info!("agent stopped");
        Ok(exit::OK)
    })
}

fn summarize(outcomes: &[Outcome], outbox: &Outbox) -> anyhow::Result<u8> {
    let mut rejected = 0;
    for o in outcomes {
        match o {
            Outcome::Delivered {
                report_id,
                revision,
                ..
            } => println!("delivered {report_id} revision {revision}"),
            Outcome::Queued {
                report_id, error, ..
            } => println!("queued {report_id}: {error}"),
            Outcome::Rejected { report_id, reason } => {
                rejected += 1;
                println!("rejected {report_id}: {reason}");
            }
        }
    }
    let still_queued = outbox.queued()?.len();
    Ok(if rejected > 0 {
        exit::INPUT
    } else if still_queued > 0 {
        eprintln!("{still_queued} report(s) still queued, not delivered");
        exit::QUEUED
    } else {
        exit::OK
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_from_file_name() {
        let none: Vec<String> = vec![];
        assert_eq!(
            project_period_for("bergen_2006-H1.csv", &none, None, None).unwrap(),
            (Some("bergen".into()), "2006-H1".into())
        );
        assert_eq!(
            project_period_for("oslo_gamle_oslo_2006.csv", &none, None, None).unwrap(),
            (Some("oslo_gamle_oslo".into()), "2006".into())
        );
        let cfg = vec!["bergen".to_string()];
        // Not a configured project: falls back to run.period and the single project.
        assert_eq!(
            project_period_for("export_2006.csv", &cfg, Some("2006-Q1"), Some("bergen")).unwrap(),
            (Some("bergen".into()), "2006-Q1".into())
        );
        assert!(project_period_for("export.csv", &cfg, None, Some("bergen")).is_err());
        assert!(project_period_for("bergen_notaperiod.csv", &none, None, None).is_err());
    }
}
