//! Exports of project, regional and national tables as CSV, JSON, XLSX and
//! text, with Statistics Norway's symbols: `:` not shown for
//! confidentiality, `-` zero, and lower bounds written `≥12 (2 :)`.
//!
//! Cells with noise from differentially private reports carry a standard
//! deviation: JSON adds `"sd"` and `"ci90": [lo, hi]` (unclamped, the normal
//! approximation `value ± 1.645 sd`) and keeps the signed value; CSV, text
//! and XLSX show `1234 ± 56`, with a negative noisy value shown as 0 (for
//! display only; sums are always of the signed values).

use std::io::Write;

use prikk_privacy::table::Dimension;
use serde_json::{Map, Value, json};

use crate::merge::{MergedCell, MergedTable};

/// Symbol legend, shown with CSV, text and XLSX exports.
pub const LEGEND: [(&str, &str); 4] = [
    (":", "not shown for confidentiality"),
    ("-", "zero"),
    (
        "≥n (m :)",
        "at least n: the sum of the published parts; m contributing projects suppressed theirs",
    ),
    (
        "n ± s",
        "differentially private noisy count n (negative shown as 0) with noise standard deviation s",
    ),
];

/// Errors while writing an export.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// Writing failed.
    #[error("write: {0}")]
    Io(#[from] std::io::Error),
    /// CSV writing failed.
    #[error("csv: {0}")]
    Csv(#[from] csv::Error),
    /// XLSX writing failed.
    #[error("xlsx: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    /// JSON writing failed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

/// A cell as people read it.
pub fn display(cell: &MergedCell) -> String {
    match *cell {
        MergedCell::Exact(0) => "-".into(),
        MergedCell::Exact(v) => v.to_string(),
        MergedCell::Suppressed => ":".into(),
        MergedCell::LowerBound { value, suppressed } => format!("≥{value} ({suppressed} :)"),
    }
}

/// A cell of a table as people read it, with `± sd` for noisy cells (whose
/// negative values are shown as 0).
#[allow(
    clippy::indexing_slicing,
    reason = "callers pass a cell of `t.shape`, and a merged table holds one cell per cell of its shape"
)]
pub fn display_cell(t: &MergedTable, i: usize) -> String {
    let c = &t.cells[i];
    match t.sd.as_ref().and_then(|s| s.get(i).copied().flatten()) {
        None => display(c),
        Some(sd) => {
            let shown = match *c {
                MergedCell::Exact(v) => v.max(0).to_string(),
                MergedCell::LowerBound { value, suppressed } => {
                    format!("≥{} ({suppressed} :)", value.max(0))
                }
                MergedCell::Suppressed => return ":".into(),
            };
            format!("{shown} ± {}", sd.round() as i64)
        }
    }
}

/// `dim=cat;dim=cat` for a cell.
fn key_text(t: &MergedTable, cell: usize) -> String {
    t.shape
        .dimensions
        .iter()
        .zip(t.shape.key_codes(cell))
        .map(|(d, c)| format!("{}={c}", d.id))
        .collect::<Vec<_>>()
        .join(";")
}

/// Long CSV: one row per cell (`table,key,value`), then the legend as rows
/// whose table is `legend`.
pub fn write_csv(tables: &[MergedTable], out: impl Write) -> Result<(), ExportError> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(["table", "key", "value"])?;
    for t in tables {
        for i in 0..t.cells.len() {
            w.write_record([t.shape.id.as_str(), &key_text(t, i), &display_cell(t, i)])?;
        }
    }
    for (sym, meaning) in LEGEND {
        w.write_record(["legend", sym, meaning])?;
    }
    w.flush()?;
    Ok(())
}

/// The agent preview's JSON shape, with lower bounds as
/// `{"lower_bound": n, "suppressed_contributions": m}`.
pub fn to_json(tables: &[MergedTable], meta: Map<String, Value>) -> Value {
    let tables: Vec<Value> = tables
        .iter()
        .map(|t| {
            let cells: Vec<Value> = t
                .cells
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let key: Map<String, Value> = t
                        .shape
                        .dimensions
                        .iter()
                        .zip(t.shape.key_codes(i))
                        .map(|(d, code)| (d.id.clone(), Value::from(code)))
                        .collect();
                    let mut cell = Map::new();
                    cell.insert("key".into(), Value::Object(key));
                    match *c {
                        MergedCell::Exact(v) => {
                            cell.insert("value".into(), v.into());
                        }
                        MergedCell::Suppressed => {
                            cell.insert("suppressed".into(), true.into());
                        }
                        MergedCell::LowerBound { value, suppressed } => {
                            cell.insert("lower_bound".into(), value.into());
                            cell.insert("suppressed_contributions".into(), suppressed.into());
                        }
                    }
                    // Per-cell lists are read as `ci90` reads them.
                    if let Some(n) = t
                        .contributors
                        .as_ref()
                        .and_then(|c| c.get(i).copied().flatten())
                    {
                        cell.insert("contributors".into(), n.into());
                    }
                    if let (Some(sd), Some((lo, hi))) = (
                        t.sd.as_ref().and_then(|s| s.get(i).copied().flatten()),
                        t.ci90(i),
                    ) {
                        let r1 = |x: f64| (x * 10.0).round() / 10.0;
                        cell.insert("sd".into(), r1(sd).into());
                        cell.insert("ci90".into(), json!([r1(lo), r1(hi)]));
                    }
                    Value::Object(cell)
                })
                .collect();
            json!({
                "id": t.shape.id,
                "title": t.title,
                "dimensions": t.shape.dimensions.iter().map(|d| d.id.clone()).collect::<Vec<_>>(),
                "cells": cells,
            })
        })
        .collect();
    let mut top = meta;
    top.insert("tables".into(), Value::Array(tables));
    Value::Object(top)
}

/// A table laid out for people: rows are the first dimension's categories
/// (indented by hierarchy depth), columns the second's with `total` last.
/// Tables with more than two dimensions fall back to one row per cell.
pub fn grid(t: &MergedTable) -> Vec<Vec<String>> {
    let dims = &t.shape.dimensions;
    #[allow(
        clippy::indexing_slicing,
        reason = "`c` is a category position of `dim`, and parents are positions in the same dimension's categories"
    )]
    let label = |dim: &Dimension, c: usize| {
        let mut depth = 0;
        let mut p = dim.categories[c].parent;
        while let Some(q) = p {
            depth += 1;
            p = dim.categories[q].parent;
        }
        let code = &dim.categories[c].code;
        let short = code.rsplit('.').next().unwrap_or(code);
        format!("{}{}", "  ".repeat(depth), short)
    };
    // The category positions with `total` (first in an additive dimension) last.
    let total_last = |dim: &Dimension| {
        let mut order: Vec<usize> = (0..dim.categories.len()).collect();
        if dim.additive && order.len() > 1 {
            order.rotate_left(1);
        }
        order
    };
    match dims.as_slice() {
        [] => vec![vec!["value".into()], vec![display_cell(t, 0)]],
        [d0] => {
            let mut rows = vec![vec![d0.id.clone(), "value".into()]];
            for c in 0..d0.categories.len() {
                rows.push(vec![label(d0, c), display_cell(t, t.shape.index(&[c]))]);
            }
            rows
        }
        [d0, d1] => {
            let cols = total_last(d1);
            let mut head = vec![d0.id.clone()];
            head.extend(
                cols.iter()
                    .filter_map(|&c| d1.categories.get(c))
                    .map(|cat| cat.code.clone()),
            );
            let mut rows = vec![head];
            for r in 0..d0.categories.len() {
                let mut row = vec![label(d0, r)];
                row.extend(
                    cols.iter()
                        .map(|&c| display_cell(t, t.shape.index(&[r, c]))),
                );
                rows.push(row);
            }
            rows
        }
        _ => {
            let mut rows = vec![vec!["key".into(), "value".into()]];
            for i in 0..t.cells.len() {
                rows.push(vec![key_text(t, i), display_cell(t, i)]);
            }
            rows
        }
    }
}

/// One table as a wide CSV (the layout of [`grid`]).
pub fn write_grid_csv(t: &MergedTable, out: impl Write) -> Result<(), ExportError> {
    let mut w = csv::Writer::from_writer(out);
    for row in grid(t) {
        w.write_record(&row)?;
    }
    w.flush()?;
    Ok(())
}

/// Tables as aligned text for a terminal, each under its title, then the legend.
pub fn write_text(
    tables: &[MergedTable],
    heading: &str,
    mut out: impl Write,
) -> Result<(), ExportError> {
    writeln!(out, "{heading}")?;
    for t in tables {
        writeln!(out, "\n{} ({})", t.title, t.shape.id)?;
        let rows = grid(t);
        let ncols = rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..ncols)
            .map(|c| {
                rows.iter()
                    .filter_map(|r| r.get(c))
                    .map(|s| s.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for row in &rows {
            let mut line = String::new();
            // `widths` has an entry per column of the widest row.
            for (c, (cell, width)) in row.iter().zip(&widths).enumerate() {
                let pad = width.saturating_sub(cell.chars().count());
                if c == 0 {
                    line.push_str(cell);
                    line.push_str(&" ".repeat(pad));
                } else {
                    line.push_str("  ");
                    line.push_str(&" ".repeat(pad));
                    line.push_str(cell);
                }
            }
            writeln!(out, "{}", line.trim_end())?;
        }
    }
    writeln!(out)?;
    for (sym, meaning) in LEGEND {
        writeln!(out, "{sym}  {meaning}")?;
    }
    Ok(())
}

/// An XLSX workbook: one sheet per table in the [`grid`] layout (exact
/// non-zero values as numbers, symbols as text), plus a legend sheet.
pub fn to_xlsx(tables: &[MergedTable], heading: &str) -> Result<Vec<u8>, ExportError> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let right = Format::new().set_align(rust_xlsxwriter::FormatAlign::Right);
    for t in tables {
        let ws = wb.add_worksheet();
        let name: String = t.shape.id.chars().take(31).collect();
        ws.set_name(&name)?;
        ws.write_string_with_format(0, 0, format!("{heading}: {}", t.title), &bold)?;
        for (r, row) in grid(t).iter().enumerate() {
            let r = u32::try_from(r + 2).unwrap_or(u32::MAX);
            for (c, cell) in row.iter().enumerate() {
                let c = u16::try_from(c).unwrap_or(u16::MAX);
                if r == 2 {
                    ws.write_string_with_format(r, c, cell, &bold)?;
                } else if let (true, Ok(v)) = (c > 0, cell.parse::<i64>()) {
                    ws.write_number(r, c, v as f64)?;
                } else if c > 0 {
                    ws.write_string_with_format(r, c, cell, &right)?;
                } else {
                    ws.write_string(r, c, cell)?;
                }
            }
        }
        ws.set_column_width(0, 28)?;
    }
    let ws = wb.add_worksheet();
    ws.set_name("legend")?;
    for (r, (sym, meaning)) in LEGEND.iter().enumerate() {
        let r = u32::try_from(r).unwrap_or(0);
        ws.write_string(r, 0, *sym)?;
        ws.write_string(r, 1, *meaning)?;
    }
    Ok(wb.save_to_buffer()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prikk_privacy::Definition;

    fn status() -> MergedTable {
        let def = Definition::embedded();
        let spec = def.table("status").unwrap();
        let n = spec.shape.len();
        let mut cells = vec![MergedCell::Exact(7); n];
        cells[1] = MergedCell::Suppressed;
        cells[2] = MergedCell::LowerBound {
            value: 12,
            suppressed: 2,
        };
        cells[3] = MergedCell::Exact(0);
        MergedTable {
            shape: spec.shape.clone(),
            title: spec.title.clone(),
            cells,
            contributors: None,
            sd: None,
        }
    }

    #[test]
    fn symbols() {
        assert_eq!(display(&MergedCell::Exact(0)), "-");
        assert_eq!(display(&MergedCell::Exact(12)), "12");
        assert_eq!(display(&MergedCell::Suppressed), ":");
        assert_eq!(
            display(&MergedCell::LowerBound {
                value: 12,
                suppressed: 2
            }),
            "≥12 (2 :)"
        );
    }

    #[test]
    fn status_grid_is_table_three_shaped() {
        let g = grid(&status());
        assert_eq!(g[0], vec!["status", "female", "male", "total"]);
        assert_eq!(g.len(), 1 + 26);
        assert_eq!(g[1][0], "total");
        assert_eq!(g[2][0], "  admitted");
        assert!(g.iter().any(|r| r[0] == "      birth"), "{g:?}");
        // Row `total`: cells (total,total)=0 .. the total column is last.
        assert_eq!(g[1][3], "7");
        assert_eq!(g[1][1], ":");
        assert_eq!(g[1][2], "≥12 (2 :)");
    }

    #[test]
    fn csv_and_json_round_trip() {
        let t = status();
        let mut buf = Vec::new();
        write_csv(std::slice::from_ref(&t), &mut buf).unwrap();
        let mut r = csv::Reader::from_reader(buf.as_slice());
        let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), t.cells.len() + LEGEND.len());
        assert_eq!(&rows[0][1], "status=total;gender=total");
        assert_eq!(&rows[1][2], ":");
        let v = to_json(std::slice::from_ref(&t), Map::new());
        let cells = v["tables"][0]["cells"].as_array().unwrap();
        assert_eq!(cells[1]["suppressed"], true);
        assert_eq!(cells[2]["lower_bound"], 12);
        assert_eq!(cells[2]["suppressed_contributions"], 2);
        assert_eq!(cells[3]["value"], 0);
        assert_eq!(cells[0]["key"]["status"], "total");
    }
}
