//! The HTML form of the preview: one self-contained, printable page.

use std::fmt::Write as _;

use super::LISTED_REJECTIONS;
use super::layout::{dp_lines, grid, list_or_none, policy_text};
use super::model::Preview;

/// Escapes text for HTML.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#111}\
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em;page-break-after:avoid}\
table{border-collapse:collapse;margin:.4em 0;page-break-inside:avoid}\
td,th{border:1px solid #999;padding:.2em .6em}td.n{text-align:right;font-variant-numeric:tabular-nums}\
td.s{text-align:center;background:#eee}th{background:#f4f4f4;text-align:left}\
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dt{font-weight:bold}\
code{font-size:.95em}.fail{color:#a00;font-weight:bold}.ok{color:#060;font-weight:bold}\
@media print{body{margin:0}}";

/// The HTML form: one self-contained, printable page, no scripts.
pub fn to_html(p: &Preview) -> String {
    let e = escape;
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Preview {} {}</title><style>{CSS}</style></head><body>\n",
        e(&p.project),
        e(&p.period)
    );
    let _ = writeln!(
        o,
        "<h1>What would leave the municipality: {} {}</h1>",
        e(&p.project),
        e(&p.period)
    );
    let _ = writeln!(o, "<dl>");
    let mut item = |k: &str, v: String| {
        let _ = writeln!(o, "<dt>{}</dt><dd>{}</dd>", e(k), v);
    };
    item("Report id", format!("<code>{}</code>", e(&p.report_id)));
    item(
        "Payload SHA-256",
        format!(
            "<code>{}</code> (created_unix {})",
            e(&p.payload_sha256),
            p.created_unix
        ),
    );
    item(
        "Definition",
        format!("{} v{}", e(&p.definition.id), p.definition.version),
    );
    item(
        "Release",
        std::iter::once(e(&p.release.statement))
            .chain(p.release.tables.iter().map(|t| {
                format!(
                    "<code>{}</code> ({} level): {}",
                    e(&t.id),
                    e(&t.level),
                    e(&t.leaves)
                )
            }))
            .collect::<Vec<_>>()
            .join("<br>"),
    );
    item("Policy", e(&policy_text(&p.policy)));
    if let Some(d) = &p.dp {
        item(
            "Differential privacy",
            dp_lines(d)
                .iter()
                .map(|l| e(l))
                .collect::<Vec<_>>()
                .join("<br>"),
        );
    }
    item(
        "Suppressions",
        format!(
            "{} primary, {} secondary (shown as <b>:</b>); {}{}",
            p.suppression.primary,
            p.suppression.secondary,
            e(&p.suppression.share()),
            p.suppression
                .note
                .as_ref()
                .map(|n| format!("<br><b>Note:</b> {}", e(n)))
                .unwrap_or_default()
        ),
    );
    if let Some(l) = &p.suppression.loss {
        let mut lines = vec![e(&l.summary())];
        lines.extend(l.hidden_levels.iter().map(|x| e(x)));
        lines.extend(
            l.hidden_margins
                .iter()
                .map(|m| format!("<b>{}</b> hidden: {}", e(&m.cell), e(&m.reason))),
        );
        item("Information loss", lines.join("<br>"));
    }
    item(
        "Audit",
        if p.audit.passed {
            format!(
                "<span class=\"ok\">passed</span>: no suppressed cell can be derived; narrowest interval {}{}",
                p.audit
                    .narrowest_interval
                    .map_or("-".into(), |w| w.to_string()),
                p.audit
                    .engine_note
                    .as_ref()
                    .map(|n| format!("<br><b>Method:</b> {}", e(n)))
                    .unwrap_or_default()
            )
        } else {
            format!(
                "<span class=\"fail\">FAILED</span>: {}",
                e(&p.audit.failures.join("; "))
            )
        },
    );
    item(
        "Input",
        e(&format!(
            "{} ({}, delimiter `{}`)",
            p.input.file, p.input.decoding, p.input.delimiter
        )),
    );
    item(
        "Rows",
        format!(
            "{} read, {} accepted, {} rejected, {} of other projects skipped",
            p.input.rows_read,
            p.input.rows_accepted,
            p.input.rows_rejected,
            p.input.rows_other_projects
        ),
    );
    item(
        "Dropped columns (never read)",
        e(&list_or_none(&p.dropped_columns)),
    );
    item(
        "Allowlisted columns not in the file",
        e(&list_or_none(&p.input.absent_columns)),
    );
    let _ = writeln!(o, "</dl>");
    let _ = writeln!(o, "<h2>Rejected rows (kept out of every count)</h2>");
    if p.rejected_rows.is_empty() {
        let _ = writeln!(o, "<p>None.</p>");
    } else {
        let _ = writeln!(
            o,
            "<table><tr><th>Line</th><th>Column</th><th>Reason</th></tr>"
        );
        for r in p.rejected_rows.iter().take(LISTED_REJECTIONS) {
            let _ = writeln!(
                o,
                "<tr><td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>",
                r.line,
                e(r.column.as_deref().unwrap_or("(row)")),
                e(&r.reason)
            );
        }
        let _ = writeln!(o, "</table>");
        if p.rejected_rows.len() > LISTED_REJECTIONS {
            let more = p.rejected_rows.len() - LISTED_REJECTIONS;
            let _ = writeln!(
                o,
                "<p>... and {more} more problems (the JSON form lists them all).</p>"
            );
        }
    }
    for t in &p.tables {
        let _ = writeln!(o, "<h2>{} <small>({})</small></h2>", e(&t.title), e(&t.id));
        let g = grid(t);
        let _ = write!(o, "<table><tr><th></th>");
        for h in &g.header {
            let _ = write!(o, "<th>{}</th>", e(h));
        }
        let _ = writeln!(o, "</tr>");
        for (label, cells) in &g.rows {
            let _ = write!(o, "<tr><th>{}</th>", e(label));
            for c in cells {
                let class = if c == ":" { "s" } else { "n" };
                let _ = write!(o, "<td class=\"{class}\">{}</td>", e(c));
            }
            let _ = writeln!(o, "</tr>");
        }
        let _ = writeln!(o, "</table>");
    }
    let _ = writeln!(o, "</body></html>");
    o
}
