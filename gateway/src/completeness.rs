//! Which registered projects have reported for a period, when, which
//! revision, and whether a secure-aggregation collection summed it.

use std::io::Write;

use serde_json::json;

use crate::clock::format_unix;
use crate::store::Completeness;

/// What the `collected` column says: `-`, the scope, or the scope with the
/// summed revision when a later one arrived since.
pub(crate) fn collected_text(r: &Completeness) -> String {
    match (&r.collected, &r.latest) {
        (None, _) => "-".into(),
        (Some(c), Some(l)) if c.revision != l.revision => {
            format!("{} (revision {}; latest not summed)", c.scope, c.revision)
        }
        (Some(c), _) => c.scope.clone(),
    }
}

/// Writes the completeness list as aligned text with a summary line.
pub fn write_text(period: &str, rows: &[Completeness], mut out: impl Write) -> std::io::Result<()> {
    let reported = rows.iter().filter(|r| r.latest.is_some()).count();
    writeln!(
        out,
        "period {period}: {reported} of {} registered projects reported",
        rows.len()
    )?;
    let w_id = rows
        .iter()
        .map(|r| r.project.id.len())
        .max()
        .unwrap_or(0)
        .max(7);
    let w_region = rows
        .iter()
        .map(|r| r.project.region.len())
        .max()
        .unwrap_or(0)
        .max(6);
    let w_col = rows
        .iter()
        .map(|r| collected_text(r).len())
        .max()
        .unwrap_or(0)
        .max(9);
    writeln!(
        out,
        "{:<w_id$}  {:<w_region$}  {:<8}  {:>8}  {:<20}  {:<w_col$}  report",
        "project", "region", "status", "revision", "accepted", "collected"
    )?;
    for r in rows {
        match &r.latest {
            Some(l) => writeln!(
                out,
                "{:<w_id$}  {:<w_region$}  {:<8}  {:>8}  {:<20}  {:<w_col$}  {}",
                r.project.id,
                r.project.region,
                "reported",
                l.revision,
                format_unix(l.accepted_unix),
                collected_text(r),
                l.report_id
            )?,
            None => writeln!(
                out,
                "{:<w_id$}  {:<w_region$}  {:<8}  {:>8}  {:<20}  {:<w_col$}  -",
                r.project.id, r.project.region, "missing", "-", "-", "-"
            )?,
        }
    }
    Ok(())
}

/// The completeness list as JSON.
pub fn to_json(period: &str, rows: &[Completeness]) -> serde_json::Value {
    json!({
        "period": period,
        "projects": rows.iter().map(|r| json!({
            "project": r.project.id,
            "name": r.project.name,
            "region": r.project.region,
            "reported": r.latest.is_some(),
            "revision": r.latest.as_ref().map(|l| l.revision),
            "accepted": r.latest.as_ref().map(|l| format_unix(l.accepted_unix)),
            "report_id": r.latest.as_ref().map(|l| l.report_id.clone()),
            "collected": r.collected.as_ref().map(|c| json!({
                "scope": c.scope,
                "batch": c.batch,
                "revision": c.revision,
                "latest_summed": r.latest.as_ref().is_some_and(|l| l.revision == c.revision),
            })),
        })).collect::<Vec<_>>(),
    })
}
