//! What the text and HTML forms share: the wording of the policy and dp
//! lines, and the layout of a table as a grid.

use super::model::{CellView, DpView, PolicyView, TableView};

/// The policy in one line.
pub(super) fn policy_text(p: &PolicyView) -> String {
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
pub(super) fn dp_lines(d: &DpView) -> Vec<String> {
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

fn shown(c: &CellView) -> String {
    match (c.value, c.contributors) {
        (Some(v), Some(n)) => format!("{v} ({n})"),
        (Some(v), None) => v.to_string(),
        _ => ":".into(),
    }
}

/// A table laid out as a grid: rows are the first dimension(s), columns the last.
pub(super) struct Grid {
    pub(super) header: Vec<String>,
    pub(super) rows: Vec<(String, Vec<String>)>,
}

pub(super) fn grid(t: &TableView) -> Grid {
    let dims = &t.dimensions;
    let cat = |c: &CellView, d: &str| c.key.get(d).cloned().unwrap_or_default();
    match dims.as_slice() {
        [] => Grid {
            header: vec!["value".into()],
            rows: t
                .cells
                .iter()
                .map(|c| (String::new(), vec![shown(c)]))
                .collect(),
        },
        [only] if only == "gender" => Grid {
            header: t.cells.iter().map(|c| cat(c, only)).collect(),
            rows: vec![(t.measure.clone(), t.cells.iter().map(shown).collect())],
        },
        [only] => Grid {
            header: vec![t.measure.clone()],
            rows: t
                .cells
                .iter()
                .map(|c| (cat(c, only), vec![shown(c)]))
                .collect(),
        },
        [rows_of @ .., last] => {
            let mut header: Vec<String> = Vec::new();
            let mut rows: Vec<(String, Vec<String>)> = Vec::new();
            for c in &t.cells {
                let col = cat(c, last);
                if !header.contains(&col) {
                    header.push(col);
                }
                let label = rows_of
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

pub(super) fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}
