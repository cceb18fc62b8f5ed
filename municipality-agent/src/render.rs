//! The preview for the data protection officer: exactly what would leave the
//! municipality, as text, JSON or one self-contained HTML page.
//!
//! The tables are rendered from the wire report itself, so what is shown is
//! what would be signed: a suppressed cell is `:` (Statistics Norway's symbol
//! for "not shown for confidentiality"), and nothing says whether a
//! suppression is primary or secondary.
//!
//! The JSON form is one object:
//!
//! ```text
//! { "report_id": "<32 hex>", "payload_sha256": "<64 hex>", "created_unix": n,
//!   "project": "..", "period": "..", "definition": {"id": "..", "version": n},
//!   "policy": {"method", "min_count", "protect_zeros", "min_interval_width", "singletons"},
//!   "input": {"file", "decoding", "delimiter", "rows_read", "rows_accepted",
//!             "rows_rejected", "rows_other_projects", "absent_columns": [..]},
//!   "dropped_columns": ["name", ...],
//!   "rejected_rows": [{"line": 7, "column": "gender", "reason": ".."}],
//!   "suppression": {"primary": n, "secondary": n, "published_cells": n, "cells": n,
//!                   "nonzero_cells": n, "published_nonzero_cells": n, "note": null | "..."},
//!   "audit": {"passed", "narrowest_interval", "suppressed_quantities", "intervals_computed", "failures"},
//!   "tables": [{"id", "title", "dimensions": ["status", "gender"], "measure": "count" | "sum:<column>",
//!               "cells": [{"key": {"status": "admitted", "gender": "total"}, "value": 513},
//!                         {"key": {"status": "assessing", "gender": "male"}, "suppressed": true},
//!                         {"key": {"gender": "female"}, "value": 538, "contributors": 214}]}] }
//! ```
//!
//! Margins use the category `total`; `contributors` appears only on
//! published cells of sum tables.
//!
//! In the dp modes (`policy.method` is `dp` or `dp+suppression`) values are
//! noisy signed integers, and a top-level `"dp"` object adds the loss, each
//! table's public mechanism and scale, and the project's budget:
//! `{"loss": "ε = 0.5", "unit": "epsilon", "amount": "0.5", "tables": [{"id",
//! "mechanism", "scale", "contributors_scale"?, "loss"}], "budget": {"year",
//! "annual", "spent", "remaining", "remaining_after", "releases"} | null}`.
//! The noise is drawn afresh for every preview and every submission: a
//! preview shows one draw, not the one that will be sent.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use prikk_privacy::definition::Definition;
use prikk_proto::pb;
use serde::Serialize;

use crate::outbox::BudgetStatus;
use crate::report::Prepared;

/// Rejected-row problems listed in the text and HTML forms; JSON lists all.
pub const LISTED_REJECTIONS: usize = 1000;

/// The preview document, in the shape of its JSON form.
#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    /// Content-derived report id.
    pub report_id: String,
    /// SHA-256 (hex) of the payload that would be signed at `created_unix`.
    pub payload_sha256: String,
    /// The creation time the payload hash is for.
    pub created_unix: i64,
    /// Project.
    pub project: String,
    /// Period.
    pub period: String,
    /// Definition id and version.
    pub definition: DefinitionRef,
    /// The protection policy.
    pub policy: PolicyView,
    /// The input file and how it was read.
    pub input: InputView,
    /// Names of the columns dropped on read.
    pub dropped_columns: Vec<String>,
    /// Problems of rejected rows, by line and column; never values.
    pub rejected_rows: Vec<RejectedView>,
    /// Suppressed quantities.
    pub suppression: SuppressionView,
    /// The disclosure audit.
    pub audit: AuditView,
    /// Every table, as it would leave.
    pub tables: Vec<TableView>,
    /// The dp modes: loss, noise parameters and budget.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dp: Option<DpView>,
}

/// What a dp-mode report spends and how it is noised.
#[derive(Debug, Clone, Serialize)]
pub struct DpView {
    /// The loss, e.g. `ε = 0.5`.
    pub loss: String,
    /// `epsilon` or `rho`.
    pub unit: String,
    /// The amount, exact.
    pub amount: String,
    /// Per table: public noise parameters.
    pub tables: Vec<DpTableView>,
    /// The project's budget as the ledger stands (when known).
    pub budget: Option<BudgetView>,
}

/// A table's public noise parameters.
#[derive(Debug, Clone, Serialize)]
pub struct DpTableView {
    /// Table id.
    pub id: String,
    /// Mechanism name.
    pub mechanism: String,
    /// Scale (Laplace) or σ² (Gaussian) of the values' noise.
    pub scale: String,
    /// The same for the contributor counts of a sum table.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contributors_scale: Option<String>,
    /// Share of the report's loss.
    pub loss: String,
}

/// Spent and remaining budget of the project in the period's year.
#[derive(Debug, Clone, Serialize)]
pub struct BudgetView {
    /// Budget year.
    pub year: i32,
    /// The annual budget.
    pub annual: String,
    /// Spent so far this year.
    pub spent: String,
    /// Left before this report.
    pub remaining: String,
    /// Left after sending this report, or null when it would not fit.
    pub remaining_after: Option<String>,
    /// Releases charged this year.
    pub releases: usize,
}

impl Preview {
    /// Adds the ledger's budget status (dp modes only).
    pub fn with_budget(mut self, status: &BudgetStatus) -> Self {
        if let Some(d) = self.dp.as_mut() {
            let after = d
                .amount
                .parse::<prikk_privacy::dp::Rational>()
                .ok()
                .filter(|a| *a <= status.remaining)
                .and_then(|a| status.remaining.checked_sub(a).ok());
            d.budget = Some(BudgetView {
                year: status.year,
                annual: status.budget.amount().to_string(),
                spent: status.spent.to_string(),
                remaining: status.remaining.to_string(),
                remaining_after: after.map(|a| a.to_string()),
                releases: status.releases,
            });
        }
        self
    }
}

/// Definition id and version.
#[derive(Debug, Clone, Serialize)]
pub struct DefinitionRef {
    /// Id.
    pub id: String,
    /// Version.
    pub version: u32,
}

/// The policy in force.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyView {
    /// Protection method.
    pub method: String,
    /// Smallest count published (k).
    pub min_count: u32,
    /// Zeros suppressed too.
    pub protect_zeros: bool,
    /// Narrowest interval an attacker may compute.
    pub min_interval_width: u32,
    /// Singletons treated as known to their member.
    pub singletons: bool,
}

/// How the input was read.
#[derive(Debug, Clone, Serialize)]
pub struct InputView {
    /// File.
    pub file: String,
    /// Decoding used.
    pub decoding: String,
    /// Delimiter.
    pub delimiter: String,
    /// Data rows.
    pub rows_read: usize,
    /// Rows accepted.
    pub rows_accepted: usize,
    /// Rows rejected.
    pub rows_rejected: usize,
    /// Rows of other projects, skipped.
    pub rows_other_projects: usize,
    /// Allowlisted optional columns missing from the file.
    pub absent_columns: Vec<String>,
}

/// One problem of a rejected row.
#[derive(Debug, Clone, Serialize)]
pub struct RejectedView {
    /// Physical line (header = 1).
    pub line: u64,
    /// Column, or null for the whole row.
    pub column: Option<String>,
    /// Why.
    pub reason: String,
}

/// Suppression counts (distinct quantities) and what is left to publish.
#[derive(Debug, Clone, Serialize)]
pub struct SuppressionView {
    /// By the minimum-count rule.
    pub primary: usize,
    /// To protect those.
    pub secondary: usize,
    /// Table cells that would leave with a value (margins included).
    pub published_cells: usize,
    /// All table cells of the report.
    pub cells: usize,
    /// Table cells that count somebody (local knowledge: never sent).
    pub nonzero_cells: usize,
    /// Of those, the ones that would leave with a value.
    pub published_nonzero_cells: usize,
    /// Said when most cells that count somebody are hidden, so the officer
    /// knows why.
    pub note: Option<String>,
}

/// Below this share of published non-zero cells the preview says why so
/// much is hidden.
const FEW_PUBLISHED: f64 = 1.0 / 3.0;

impl SuppressionView {
    fn new(p: &prikk_privacy::Protected, people: usize, min_count: u32) -> Self {
        let (mut cells, mut published_cells, mut nonzero, mut published_nonzero) = (0, 0, 0, 0);
        for (t, hidden) in p.tables.iter().zip(&p.suppressed) {
            for (&v, &h) in t.values.iter().zip(hidden) {
                cells += 1;
                published_cells += usize::from(!h);
                nonzero += usize::from(v != 0);
                published_nonzero += usize::from(v != 0 && !h);
            }
        }
        let few = nonzero > 0 && (published_nonzero as f64) < FEW_PUBLISHED * nonzero as f64;
        let note = few.then(|| {
            format!(
                "only {published_nonzero} of the {nonzero} cells that count somebody can be \
                 published: with {people} people in the export most cells count fewer than \
                 {min_count}, and their neighbours must be hidden with them; a longer period or \
                 a coarser table publishes more"
            )
        });
        Self {
            primary: p.primary_count,
            secondary: p.secondary_count,
            published_cells,
            cells,
            nonzero_cells: nonzero,
            published_nonzero_cells: published_nonzero,
            note,
        }
    }

    /// `n of m cells published, k of l that count somebody (p %)`.
    fn share(&self) -> String {
        let pct = if self.nonzero_cells == 0 {
            100.0
        } else {
            100.0 * self.published_nonzero_cells as f64 / self.nonzero_cells as f64
        };
        format!(
            "{} of {} cells published; {} of the {} that count somebody ({pct:.0} %)",
            self.published_cells, self.cells, self.published_nonzero_cells, self.nonzero_cells
        )
    }
}

/// The audit's result.
#[derive(Debug, Clone, Serialize)]
pub struct AuditView {
    /// No suppressed cell can be derived.
    pub passed: bool,
    /// Narrowest interval width over suppressed cells.
    pub narrowest_interval: Option<i64>,
    /// Suppressed quantities examined.
    pub suppressed_quantities: usize,
    /// Whether integer intervals were computed.
    pub intervals_computed: bool,
    /// Findings.
    pub failures: Vec<String>,
}

/// One table as it would leave.
#[derive(Debug, Clone, Serialize)]
pub struct TableView {
    /// Table id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Dimension ids, in order.
    pub dimensions: Vec<String>,
    /// `count`, or `sum:<column>`.
    pub measure: String,
    /// Every cell, margins included.
    pub cells: Vec<CellView>,
}

/// One cell.
#[derive(Debug, Clone, Serialize)]
pub struct CellView {
    /// Dimension id → category code (`total` for margins).
    pub key: BTreeMap<String, String>,
    /// Published value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<i64>,
    /// Present (and true) when the cell is suppressed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<bool>,
    /// For sum tables: people contributing to a published sum.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contributors: Option<i64>,
}

/// Builds the preview of a prepared report for a creation time.
pub fn preview(def: &Definition, prepared: &Prepared, created_unix: i64) -> Preview {
    let report = prepared.report_at(created_unix);
    let payload_sha256 = hex::encode(prepared.payload_sha256(created_unix));
    let s = &prepared.summary;
    let p = &prepared.policy;
    let a = &prepared.protected.audit;
    let tables = report
        .tables
        .iter()
        .map(|t| {
            let spec = def.table(&t.id);
            TableView {
                id: t.id.clone(),
                title: spec.map(|s| s.title.clone()).unwrap_or_default(),
                dimensions: t.dimensions.clone(),
                measure: match spec.map(|s| &s.shape.measure) {
                    Some(prikk_privacy::table::Measure::Sum(c)) => format!("sum:{c}"),
                    _ => "count".into(),
                },
                cells: t
                    .cells
                    .iter()
                    .map(|c| cell_view(&t.dimensions, c))
                    .collect(),
            }
        })
        .collect();
    Preview {
        report_id: report.report_id.clone(),
        payload_sha256,
        created_unix,
        project: report.project.clone(),
        period: report.period.clone(),
        definition: DefinitionRef {
            id: report.definition_id.clone(),
            version: report.definition_version,
        },
        policy: PolicyView {
            method: prepared.mode.to_string(),
            min_count: p.min_count,
            protect_zeros: p.protect_zeros,
            min_interval_width: p.min_interval_width,
            singletons: p.singletons,
        },
        input: InputView {
            file: s.origin.clone(),
            decoding: s.decoding.to_string(),
            delimiter: s.delimiter.to_string(),
            rows_read: s.rows_read,
            rows_accepted: s.rows_accepted,
            rows_rejected: s.rows_rejected,
            rows_other_projects: s.rows_other_projects,
            absent_columns: s.absent_columns.clone(),
        },
        dropped_columns: s.dropped_columns.clone(),
        rejected_rows: s
            .rejections
            .iter()
            .map(|r| RejectedView {
                line: r.line,
                column: r.column.clone(),
                reason: r.reason.to_string(),
            })
            .collect(),
        suppression: SuppressionView::new(
            &prepared.protected,
            s.rows_accepted,
            prepared.policy.min_count,
        ),
        audit: AuditView {
            passed: a.passed,
            narrowest_interval: a.narrowest_width,
            suppressed_quantities: a.suppressed_quantities,
            intervals_computed: a.intervals_computed,
            failures: a.failures.clone(),
        },
        tables,
        dp: prepared.dp.as_ref().map(|d| DpView {
            loss: d.loss.to_string(),
            unit: d.loss.unit().to_string(),
            amount: d.loss.amount().to_string(),
            tables: d
                .noise
                .iter()
                .map(|n| DpTableView {
                    id: n.table.clone(),
                    mechanism: n.values.name().to_string(),
                    scale: n.values.parameter().to_string(),
                    contributors_scale: n.contributors.map(|m| m.parameter().to_string()),
                    loss: n.loss.to_string(),
                })
                .collect(),
            budget: None,
        }),
    }
}

/// The policy in one line.
fn policy_text(p: &PolicyView) -> String {
    match p.method.as_str() {
        "dp" => "dp: noise from a differentially private mechanism protects every cell; nothing is suppressed".into(),
        "dp+suppression" => format!(
            "dp+suppression: noise protects every cell; noisy values below {} are then shown as `:` (no audit needed)",
            p.min_count
        ),
        _ => format!(
            "{}; counts of 1 to {} are never published; zeros {}; minimum interval width {}; singletons {}",
            p.method,
            p.min_count.saturating_sub(1),
            if p.protect_zeros { "suppressed" } else { "published" },
            p.min_interval_width,
            if p.singletons { "protected" } else { "not considered" }
        ),
    }
}

/// One line on the dp settings and budget, for the text and HTML forms.
fn dp_lines(d: &DpView) -> Vec<String> {
    let mut out = vec![format!(
        "differential privacy: {} per report, split over the tables; values are noisy (signed), margins are sums of noisy cells",
        d.loss
    )];
    for t in &d.tables {
        out.push(format!(
            "  {}: {} scale {}{} ({})",
            t.id,
            t.mechanism,
            t.scale,
            t.contributors_scale
                .as_ref()
                .map_or(String::new(), |c| format!(", contributors scale {c}")),
            t.loss
        ));
    }
    out.push(match &d.budget {
        Some(b) => format!(
            "budget {}: {} {} spent of {} by {} release(s); {} remains; after this report: {}",
            b.year,
            d.unit,
            b.spent,
            b.annual,
            b.releases,
            b.remaining,
            b.remaining_after.as_deref().map_or(
                "REFUSED, it would exceed the budget".to_string(),
                str::to_string
            )
        ),
        None => "budget: unknown (no outbox given)".into(),
    });
    out
}

fn cell_view(dims: &[String], c: &pb::Cell) -> CellView {
    let key = dims.iter().cloned().zip(c.key.iter().cloned()).collect();
    match &c.value {
        Some(pb::cell::Value::Count(v)) => CellView {
            key,
            value: Some(*v),
            suppressed: None,
            contributors: c.contributors,
        },
        _ => CellView {
            key,
            value: None,
            suppressed: Some(true),
            contributors: None,
        },
    }
}

/// The JSON form.
pub fn to_json(p: &Preview) -> String {
    // Serializing plain structs of strings and integers cannot fail.
    serde_json::to_string_pretty(p).unwrap_or_default()
}

fn shown(c: &CellView) -> String {
    match (c.value, c.contributors) {
        (Some(v), Some(n)) => format!("{v} ({n})"),
        (Some(v), None) => v.to_string(),
        _ => ":".into(),
    }
}

/// A table laid out as a grid: rows are the first dimension(s), columns the last.
struct Grid {
    header: Vec<String>,
    rows: Vec<(String, Vec<String>)>,
}

fn grid(t: &TableView) -> Grid {
    let dims = &t.dimensions;
    let cat = |c: &CellView, d: &str| c.key.get(d).cloned().unwrap_or_default();
    match dims.len() {
        0 => Grid {
            header: vec!["value".into()],
            rows: t
                .cells
                .iter()
                .map(|c| (String::new(), vec![shown(c)]))
                .collect(),
        },
        1 if dims[0] == "gender" => Grid {
            header: t.cells.iter().map(|c| cat(c, &dims[0])).collect(),
            rows: vec![(t.measure.clone(), t.cells.iter().map(shown).collect())],
        },
        1 => Grid {
            header: vec![t.measure.clone()],
            rows: t
                .cells
                .iter()
                .map(|c| (cat(c, &dims[0]), vec![shown(c)]))
                .collect(),
        },
        _ => {
            let last = &dims[dims.len() - 1];
            let mut header: Vec<String> = Vec::new();
            let mut rows: Vec<(String, Vec<String>)> = Vec::new();
            for c in &t.cells {
                let col = cat(c, last);
                if !header.contains(&col) {
                    header.push(col);
                }
                let label = dims[..dims.len() - 1]
                    .iter()
                    .map(|d| cat(c, d))
                    .collect::<Vec<_>>()
                    .join(" / ");
                match rows.last_mut() {
                    Some((l, cells)) if *l == label => cells.push(shown(c)),
                    _ => rows.push((label, vec![shown(c)])),
                }
            }
            Grid { header, rows }
        }
    }
}

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
        let cw: Vec<usize> = (0..g.header.len())
            .map(|j| {
                g.rows
                    .iter()
                    .filter_map(|r| r.1.get(j))
                    .map(|s| s.chars().count())
                    .chain(std::iter::once(g.header[j].chars().count()))
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

fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

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
    item(
        "Audit",
        if p.audit.passed {
            format!(
                "<span class=\"ok\">passed</span>: no suppressed cell can be derived; narrowest interval {}",
                p.audit
                    .narrowest_interval
                    .map_or("-".into(), |w| w.to_string())
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
