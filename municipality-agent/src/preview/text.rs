//! The text form of the preview.

use std::fmt::Write as _;

use super::LISTED_REJECTIONS;
use super::layout::{dp_lines, grid, list_or_none, policy_text};
use super::model::Preview;

/// The text form: one aligned grid per table, then the facts a DPO checks.
pub fn to_text(p: &Preview) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "PREVIEW: what would leave the municipality");
    let _ = writeln!(
        o,
        "project {}  period {}  definition {} v{}",
        p.project, p.period, p.definition.id, p.definition.version
    );
    let _ = writeln!(o, "report id       {}", p.report_id);
    let _ = writeln!(
        o,
        "payload sha256  {} (created_unix {})",
        p.payload_sha256, p.created_unix
    );
    let _ = writeln!(o);
    let _ = writeln!(o, "release: {}", p.release.statement);
    for t in &p.release.tables {
        let _ = writeln!(o, "  {} ({} level): {}", t.id, t.level, t.leaves);
    }
    let _ = writeln!(o, "policy: {}", policy_text(&p.policy));
    let _ = writeln!(
        o,
        "suppression: {} primary, {} secondary (distinct quantities; shown as `:`); {}",
        p.suppression.primary,
        p.suppression.secondary,
        p.suppression.share()
    );
    if let Some(note) = &p.suppression.note {
        let _ = writeln!(o, "note: {note}");
    }
    if let Some(l) = &p.suppression.loss {
        let _ = writeln!(o, "information loss: {}", l.summary());
        for level in &l.hidden_levels {
            let _ = writeln!(o, "  {level}");
        }
        for m in &l.hidden_margins {
            let _ = writeln!(o, "  margin {} hidden: {}", m.cell, m.reason);
        }
    }
    let _ = writeln!(
        o,
        "audit: {}; {} suppressed quantities; narrowest interval {}",
        if p.audit.passed {
            "PASSED, no suppressed cell can be derived"
        } else {
            "FAILED"
        },
        p.audit.suppressed_quantities,
        p.audit
            .narrowest_interval
            .map_or("-".to_string(), |w| w.to_string())
    );
    for f in &p.audit.failures {
        let _ = writeln!(o, "  audit finding: {f}");
    }
    if let Some(note) = &p.audit.engine_note {
        let _ = writeln!(o, "  audit method: {note}");
    }
    if let Some(d) = &p.dp {
        for l in dp_lines(d) {
            let _ = writeln!(o, "{l}");
        }
    }
    let _ = writeln!(o);
    let i = &p.input;
    let _ = writeln!(
        o,
        "input: {} ({}, delimiter `{}`)",
        i.file, i.decoding, i.delimiter
    );
    let _ = writeln!(
        o,
        "rows: {} read, {} accepted, {} rejected, {} of other projects skipped",
        i.rows_read, i.rows_accepted, i.rows_rejected, i.rows_other_projects
    );
    let _ = writeln!(
        o,
        "dropped columns (never read): {}",
        list_or_none(&p.dropped_columns)
    );
    let _ = writeln!(
        o,
        "allowlisted columns not in the file (counted as unknown): {}",
        list_or_none(&i.absent_columns)
    );
    if p.rejected_rows.is_empty() {
        let _ = writeln!(o, "rejected rows: none");
    } else {
        let _ = writeln!(o, "rejected rows (kept out of every count):");
        for r in p.rejected_rows.iter().take(LISTED_REJECTIONS) {
            let _ = writeln!(
                o,
                "  line {:>7}  {:<24} {}",
                r.line,
                r.column.as_deref().unwrap_or("(row)"),
                r.reason
            );
        }
        if p.rejected_rows.len() > LISTED_REJECTIONS {
            let more = p.rejected_rows.len() - LISTED_REJECTIONS;
            let _ = writeln!(
                o,
                "  ... and {more} more problems (the JSON form lists them all)"
            );
        }
    }
    for t in &p.tables {
        let _ = writeln!(o);
        let _ = writeln!(o, "{} - {}", t.id, t.title);
        if t.measure.starts_with("sum:") {
            let _ = writeln!(
                o,
                "(cells: {}, people contributing in parentheses)",
                t.measure
            );
        }
        let g = grid(t);
        let lw = g
            .rows
            .iter()
            .map(|r| r.0.chars().count())
            .max()
            .unwrap_or(0)
            .max(1);
        let cw: Vec<usize> = g
            .header
            .iter()
            .enumerate()
            .map(|(j, head)| {
                g.rows
                    .iter()
                    .filter_map(|r| r.1.get(j))
                    .map(|s| s.chars().count())
                    .chain(std::iter::once(head.chars().count()))
                    .max()
                    .unwrap_or(1)
            })
            .collect();
        let _ = write!(o, "  {:lw$}", "");
        for (h, w) in g.header.iter().zip(&cw) {
            let _ = write!(o, "  {h:>w$}");
        }
        let _ = writeln!(o);
        for (label, cells) in &g.rows {
            let _ = write!(o, "  {label:lw$}");
            for (c, w) in cells.iter().zip(&cw) {
                let _ = write!(o, "  {c:>w$}");
            }
            let _ = writeln!(o);
        }
    }
    o
}
