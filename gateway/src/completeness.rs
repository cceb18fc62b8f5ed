//! Which registered projects have reported for a period, when, and which revision.

use std::io::Write;

use serde_json::json;

use crate::clock::format_unix;
use crate::store::Completeness;

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
    writeln!(
        out,
        "{:<w_id$}  {:<w_region$}  {:<8}  {:>8}  {:<20}  report",
        "project", "region", "status", "revision", "accepted"
    )?;
    for r in rows {
        match &r.latest {
            Some(l) => writeln!(
                out,
                "{:<w_id$}  {:<w_region$}  {:<8}  {:>8}  {:<20}  {}",
                r.project.id,
                r.project.region,
                "reported",
                l.revision,
                format_unix(l.accepted_unix),
                l.report_id
            )?,
            None => writeln!(
                out,
                "{:<w_id$}  {:<w_region$}  {:<8}  {:>8}  {:<20}  -",
                r.project.id, r.project.region, "missing", "-", "-"
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
        })).collect::<Vec<_>>(),
    })
}
