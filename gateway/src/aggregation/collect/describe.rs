//! What `gateway collect` prints. Never a value.

use super::CollectSummary;

/// What `gateway collect` prints: the batch, its groups, who was left out
/// and why, and how much the protection hid. Never a value.
pub fn describe(period: &str, s: &CollectSummary) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "collected the {} aggregate for {period}: batch {}, {} projects in {} region groups",
        s.scope,
        s.batch_id,
        s.projects.len(),
        s.groups.len()
    );
    for g in &s.groups {
        let merged = if g.regions.len() > 1 {
            " (regions merged: each has fewer projects than the minimum)"
        } else {
            ""
        };
        let _ = writeln!(out, "  group {}: {} projects{merged}", g.code, g.projects);
    }
    for d in &s.dropped {
        let _ = writeln!(
            out,
            "dropped {} (report {}): {}",
            d.project, d.report_id, d.reason
        );
    }
    if !s.without_shares.is_empty() {
        let _ = writeln!(
            out,
            "not in the batch (no secret shares; their published tables count as lower bounds): {}",
            s.without_shares.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "{} reports' shares checked; {} of {} national cells suppressed (the nation protected alone hides {})",
        s.checked, s.national_suppressed, s.cells, s.national_alone.suppressed_cells,
    );
    let _ = writeln!(
        out,
        "national tables: {} grand totals and {} of {} one-way margins hidden",
        s.national_loss.grand_totals_hidden,
        s.national_loss.one_way_hidden,
        s.national_loss.one_way_cells
    );
    for l in s.national_loss.hidden_levels() {
        let _ = writeln!(out, "  {l}");
    }
    if let Some(note) = &s.engine_note {
        let _ = writeln!(out, "audit method: {note}");
    }
    if s.regions_withheld {
        let _ = writeln!(
            out,
            "regional tables withheld: protecting them would have hidden national cells"
        );
    } else if s.regional_cells > 0 {
        let _ = writeln!(
            out,
            "{} of {} regional cells suppressed",
            s.regional_suppressed, s.regional_cells
        );
    }
    out
}
