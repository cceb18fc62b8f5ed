//! Tabulation: the accepted participants of one project become every table
//! of the report definition, margins included, as of a period's last day.
//!
//! A person counts when referred on or before that day. Their status is
//! evaluated as of the same day (DOMAIN.md, "Reports"): someone whose
//! programme ends after it is still active, someone admitted with a start
//! after it is still being assessed. A table counts the people at or below
//! its population in the status hierarchy.
//!
//! Each person is added to one inner cell per table (one leaf category per
//! additive dimension); in multi-response and flag dimensions a person is
//! added once per category that applies. Margins are then filled in from the
//! inner cells by [`Table::add_inner_totals`], the walk [`Table::add_inner`]
//! itself uses.

use std::sync::Arc;

use prikk_privacy::definition::{Definition, Derive, DimensionSource};
use prikk_privacy::table::{Measure, Table, TableShape};
use time::Date;

use crate::ingest::{ColumnKind, Ingested, Intake, Participant, derive_value};

/// The leaves of the status hierarchy, in hierarchy order.
pub const STATUS_LEAVES: [&str; 22] = [
    "admitted.active",
    "admitted.work_or_education",
    "admitted.other_discharge",
    "admitted.terminated.birth",
    "admitted.terminated.invalid_absence",
    "admitted.terminated.moved",
    "admitted.terminated.referred_elsewhere",
    "admitted.terminated.full_time_not_feasible",
    "admitted.terminated.other",
    "admitted.missing_data",
    "assessing",
    "not_admitted.other_measure",
    "not_admitted.work_or_education",
    "not_admitted.self_supporting",
    "not_admitted.no_show",
    "not_admitted.moved",
    "not_admitted.no_childcare",
    "not_admitted.disability_pension",
    "not_admitted.residence_under_2y",
    "not_admitted.assistance_under_6m",
    "not_admitted.no_need",
    "not_admitted.other",
];

const ACTIVE: usize = 0;
const MISSING_DATA: usize = 9;
const ASSESSING: usize = 10;
const NOT_ADMITTED: usize = 11;

/// A person's status as of `day`: an index into [`STATUS_LEAVES`].
pub fn status_at(p: &Participant, day: Date) -> usize {
    match p.intake {
        Intake::Admitted => match p.started_on {
            Some(s) if s <= day => match p.ended_on {
                Some(e) if e <= day => match p.outcome {
                    // Outcome order follows the hierarchy: work_or_education .. other_termination.
                    Some(o) => 1 + o as usize,
                    None => MISSING_DATA,
                },
                _ => ACTIVE,
            },
            _ => ASSESSING,
        },
        Intake::Assessing => ASSESSING,
        Intake::NotAdmitted => match p.not_admitted_reason {
            Some(r) => NOT_ADMITTED + r as usize,
            // Ingest rejects this; counted as "other" rather than lost if it ever happens.
            None => NOT_ADMITTED + 10,
        },
    }
}

/// Whether `leaf` is at or below `population` (`total` takes everyone).
fn within(leaf: &str, population: &str) -> bool {
    population == "total"
        || leaf == population
        || (leaf.len() > population.len()
            && leaf.starts_with(population)
            && leaf.as_bytes().get(population.len()) == Some(&b'.'))
}

/// Data that does not fit the definition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TabulateError {
    /// A status has no leaf category in a status dimension.
    #[error("table {table}: status {status} has no leaf category in dimension {dimension}")]
    StatusNotInDimension {
        /// Table.
        table: String,
        /// Dimension.
        dimension: String,
        /// Status code.
        status: String,
    },
    /// A valid code with no category and no `other` category.
    #[error(
        "table {table}: a code of column {column} has no category in dimension {dimension}, which has no `other`"
    )]
    CodeNotInDimension {
        /// Table.
        table: String,
        /// Dimension.
        dimension: String,
        /// Column.
        column: String,
    },
    /// A missing value and no `unknown` category.
    #[error(
        "table {table}: a value of column {column} is missing and dimension {dimension} has no `unknown`"
    )]
    MissingValue {
        /// Table.
        table: String,
        /// Dimension.
        dimension: String,
        /// Column.
        column: String,
    },
    /// A derived value below the dimension's minimum.
    #[error(
        "table {table}: a value of column {column} is below the minimum of dimension {dimension}"
    )]
    BelowMinimum {
        /// Table.
        table: String,
        /// Dimension.
        dimension: String,
        /// Column.
        column: String,
    },
    /// A column the definition reads was not read.
    #[error("column {0} was not read from the export")]
    ColumnNotRead(String),
}

const NONE: usize = usize::MAX;

enum DimPlan {
    /// Category per status leaf (NONE when there is none).
    Status(Vec<usize>),
    Code {
        col: usize,
        map: Vec<usize>,
        other: usize,
        unknown: usize,
    },
    Country {
        col: usize,
        map: Vec<usize>,
        other: usize,
        unknown: usize,
    },
    Bucket {
        col: usize,
        lo: i64,
        derive: Derive,
        edges: Vec<i64>,
        minimum: i64,
        cats: Vec<usize>,
        unknown: usize,
    },
    Multi {
        col: usize,
        map: Vec<usize>,
    },
    Flags(Vec<(usize, Option<u32>, usize)>),
}

struct TablePlan {
    shape: Arc<TableShape>,
    population: [bool; STATUS_LEAVES.len()],
    dims: Vec<(DimPlan, usize)>,
    sum: Option<(usize, i64)>,
}

fn country_slot(a: u8, b: u8) -> Option<usize> {
    (a.is_ascii_uppercase() && b.is_ascii_uppercase())
        .then(|| usize::from(a - b'A') * 26 + usize::from(b - b'A'))
}

#[allow(
    clippy::indexing_slicing,
    reason = "column positions come from `column_index` on the same `data`; `unit` has one slot per dimension of the shape the table's dimensions were built into; country slots are below 26 * 26, the map's length"
)]
fn plan(def: &Definition, data: &Ingested) -> Result<Vec<TablePlan>, TabulateError> {
    let mut plans = Vec::with_capacity(def.tables.len());
    for spec in &def.tables {
        let shape = spec.shape.clone();
        let table = shape.id.clone();
        let mut population = [false; STATUS_LEAVES.len()];
        for (slot, leaf) in population.iter_mut().zip(STATUS_LEAVES) {
            *slot = within(leaf, &shape.population);
        }
        let col_of = |name: &str| {
            data.column_index(name)
                .ok_or_else(|| TabulateError::ColumnNotRead(name.into()))
        };
        let mut dims = Vec::new();
        for (di, d) in spec.dimensions.iter().enumerate() {
            let dim = &d.dimension;
            let cat = |code: &Option<String>| {
                code.as_deref()
                    .and_then(|c| dim.index_of(c))
                    .unwrap_or(NONE)
            };
            let mut unit = vec![0; shape.dimensions.len()];
            unit[di] = 1;
            let stride = shape.index(&unit);
            let p = match &d.source {
                DimensionSource::Status => {
                    let mut map = vec![NONE; STATUS_LEAVES.len()];
                    for (slot, leaf) in map.iter_mut().zip(STATUS_LEAVES) {
                        // The deepest category the leaf falls under, if it is a leaf of the dimension.
                        let best = dim
                            .categories
                            .iter()
                            .enumerate()
                            .filter(|(_, c)| c.code != "total" && within(leaf, &c.code))
                            .max_by_key(|(_, c)| c.code.len());
                        if let Some((ci, _)) = best
                            && dim.is_leaf(ci)
                        {
                            *slot = ci;
                        }
                    }
                    DimPlan::Status(map)
                }
                DimensionSource::Code {
                    column,
                    other,
                    unknown,
                } => {
                    let col = col_of(column)?;
                    let kind = &data.columns[col].kind;
                    if matches!(kind, ColumnKind::Country) {
                        let mut map = vec![NONE; 26 * 26];
                        for (ci, c) in dim.categories.iter().enumerate() {
                            if let [a, b] = c.code.as_bytes()
                                && let Some(s) = country_slot(*a, *b)
                            {
                                map[s] = ci;
                            }
                        }
                        DimPlan::Country {
                            col,
                            map,
                            other: cat(other),
                            unknown: cat(unknown),
                        }
                    } else {
                        let map = (0..kind.code_count())
                            .map(|i| dim.index_of(kind.code_name(i as u16)).unwrap_or(NONE))
                            .collect();
                        DimPlan::Code {
                            col,
                            map,
                            other: cat(other),
                            unknown: cat(unknown),
                        }
                    }
                }
                DimensionSource::Bucket {
                    column,
                    derive,
                    edges,
                    minimum,
                    unknown,
                } => {
                    let col = col_of(column)?;
                    let lo = match data.columns[col].kind {
                        ColumnKind::Int { lo, .. } => lo,
                        _ => return Err(TabulateError::ColumnNotRead(column.clone())),
                    };
                    // Bucket i is the i-th listed category (index i + 1 after `total`).
                    let cats = (0..=edges.len()).map(|i| i + 1).collect();
                    DimPlan::Bucket {
                        col,
                        lo,
                        derive: *derive,
                        edges: edges.clone(),
                        minimum: *minimum,
                        cats,
                        unknown: cat(unknown),
                    }
                }
                DimensionSource::Multi { column } => {
                    let col = col_of(column)?;
                    let kind = &data.columns[col].kind;
                    let map = (0..kind.code_count())
                        .map(|i| dim.index_of(kind.code_name(i as u16)).unwrap_or(NONE))
                        .collect();
                    DimPlan::Multi { col, map }
                }
                DimensionSource::Flags { flags } => {
                    let mut out = Vec::new();
                    for f in flags {
                        let col = col_of(&f.source)?;
                        let kind = &data.columns[col].kind;
                        let want = match &f.equals {
                            None => None,
                            Some(code) => {
                                let idx = (0..kind.code_count())
                                    .find(|&i| kind.code_name(i as u16) == code.to_lowercase())
                                    .ok_or_else(|| {
                                        TabulateError::ColumnNotRead(f.source.clone())
                                    })?;
                                Some(idx as u32)
                            }
                        };
                        let ci = dim.index_of(&f.category).unwrap_or(NONE);
                        out.push((col, want, ci));
                    }
                    DimPlan::Flags(out)
                }
                _ => {
                    return Err(TabulateError::ColumnNotRead(format!(
                        "dimension {}",
                        dim.id
                    )));
                }
            };
            dims.push((p, stride));
        }
        let sum = match &shape.measure {
            Measure::Sum(c) => {
                let col = col_of(c)?;
                let lo = match data.columns[col].kind {
                    ColumnKind::Int { lo, .. } => lo,
                    _ => return Err(TabulateError::ColumnNotRead(c.clone())),
                };
                Some((col, lo))
            }
            _ => None,
        };
        let _ = table;
        plans.push(TablePlan {
            shape,
            population,
            dims,
            sum,
        });
    }
    Ok(plans)
}

const RAW_MISSING: u32 = u32::MAX;

/// Calls `add(table, inner cell, value)` for every contribution of every person.
#[allow(
    clippy::indexing_slicing,
    reason = "`leaf` is a `status_at` position in `STATUS_LEAVES`, the length of `population` and status maps; columns and dimensions are `plan`'s positions in `data` and the table's shape; a bucket's `partition_point` is at most `edges.len()`, and `cats` has one more entry; country slots are below 26 * 26"
)]
fn contributions(
    def: &Definition,
    data: &Ingested,
    as_of: Date,
    mut add: impl FnMut(usize, usize, i64),
) -> Result<(), TabulateError> {
    let plans = plan(def, data)?;
    let year = as_of.year();
    let mut acc: Vec<usize> = Vec::with_capacity(64);
    let mut next: Vec<usize> = Vec::with_capacity(64);
    for (person, p) in data.participants.iter().enumerate() {
        if p.referred_on > as_of {
            continue;
        }
        let leaf = status_at(p, as_of);
        for (ti, tp) in plans.iter().enumerate() {
            if !tp.population[leaf] {
                continue;
            }
            let err_ctx = |di: usize| (tp.shape.id.clone(), tp.shape.dimensions[di].id.clone());
            acc.clear();
            acc.push(0);
            for (di, (dp, stride)) in tp.dims.iter().enumerate() {
                next.clear();
                let mut push = |c: usize| {
                    for a in &acc {
                        next.push(a + c * stride);
                    }
                };
                match dp {
                    DimPlan::Status(map) => {
                        let c = map[leaf];
                        if c == NONE {
                            let (table, dimension) = err_ctx(di);
                            return Err(TabulateError::StatusNotInDimension {
                                table,
                                dimension,
                                status: STATUS_LEAVES[leaf].into(),
                            });
                        }
                        push(c);
                    }
                    DimPlan::Code {
                        col,
                        map,
                        other,
                        unknown,
                    } => {
                        let raw = data.raw(person, *col);
                        let c = if raw == RAW_MISSING {
                            if *unknown == NONE {
                                let (table, dimension) = err_ctx(di);
                                let column = data.columns[*col].name.clone();
                                return Err(TabulateError::MissingValue {
                                    table,
                                    dimension,
                                    column,
                                });
                            }
                            *unknown
                        } else {
                            match map.get(raw as usize) {
                                Some(&c) if c != NONE => c,
                                _ if *other != NONE => *other,
                                _ => {
                                    let (table, dimension) = err_ctx(di);
                                    let column = data.columns[*col].name.clone();
                                    return Err(TabulateError::CodeNotInDimension {
                                        table,
                                        dimension,
                                        column,
                                    });
                                }
                            }
                        };
                        push(c);
                    }
                    DimPlan::Country {
                        col,
                        map,
                        other,
                        unknown,
                    } => {
                        let raw = data.raw(person, *col);
                        let c = if raw == RAW_MISSING {
                            *unknown
                        } else {
                            match country_slot((raw >> 8) as u8, raw as u8).map(|s| map[s]) {
                                Some(c) if c != NONE => c,
                                _ => *other,
                            }
                        };
                        if c == NONE {
                            let (table, dimension) = err_ctx(di);
                            let column = data.columns[*col].name.clone();
                            return Err(if raw == RAW_MISSING {
                                TabulateError::MissingValue {
                                    table,
                                    dimension,
                                    column,
                                }
                            } else {
                                TabulateError::CodeNotInDimension {
                                    table,
                                    dimension,
                                    column,
                                }
                            });
                        }
                        push(c);
                    }
                    DimPlan::Bucket {
                        col,
                        lo,
                        derive,
                        edges,
                        minimum,
                        cats,
                        unknown,
                    } => {
                        let raw = data.raw(person, *col);
                        let c = if raw == RAW_MISSING {
                            *unknown
                        } else {
                            let v = derive_value(*derive, lo + i64::from(raw), year);
                            if v < *minimum {
                                let (table, dimension) = err_ctx(di);
                                let column = data.columns[*col].name.clone();
                                return Err(TabulateError::BelowMinimum {
                                    table,
                                    dimension,
                                    column,
                                });
                            }
                            cats[edges.partition_point(|&e| e <= v)]
                        };
                        if c == NONE {
                            let (table, dimension) = err_ctx(di);
                            let column = data.columns[*col].name.clone();
                            return Err(TabulateError::MissingValue {
                                table,
                                dimension,
                                column,
                            });
                        }
                        push(c);
                    }
                    DimPlan::Multi { col, map } => {
                        let raw = data.raw(person, *col);
                        if raw != RAW_MISSING {
                            for (bit, &c) in map.iter().enumerate() {
                                if raw & (1 << bit) != 0 {
                                    if c == NONE {
                                        let (table, dimension) = err_ctx(di);
                                        let column = data.columns[*col].name.clone();
                                        return Err(TabulateError::CodeNotInDimension {
                                            table,
                                            dimension,
                                            column,
                                        });
                                    }
                                    push(c);
                                }
                            }
                        }
                    }
                    DimPlan::Flags(flags) => {
                        for &(col, want, c) in flags {
                            let raw = data.raw(person, col);
                            let yes = match want {
                                None => raw == 1,
                                Some(code) => raw == code,
                            };
                            if yes && c != NONE {
                                push(c);
                            }
                        }
                    }
                }
                std::mem::swap(&mut acc, &mut next);
            }
            let value = match tp.sum {
                None => 1,
                Some((col, lo)) => {
                    let raw = data.raw(person, col);
                    if raw == RAW_MISSING {
                        0
                    } else {
                        lo + i64::from(raw)
                    }
                }
            };
            for &cell in &acc {
                add(ti, cell, value);
            }
        }
    }
    Ok(())
}

/// Builds every table of the definition for the people referred on or before
/// `as_of`, with status as of that day.
#[allow(
    clippy::indexing_slicing,
    reason = "`contributions` passes a table position in `def.tables` (one entry each in `inner` and `counts`) and an inner cell of that table's shape (the length of its vectors)"
)]
pub fn tabulate(
    def: &Definition,
    data: &Ingested,
    as_of: Date,
) -> Result<Vec<Table>, TabulateError> {
    let mut inner: Vec<(Vec<i64>, Vec<i64>)> = def
        .tables
        .iter()
        .map(|t| (vec![0; t.shape.len()], vec![0; t.shape.len()]))
        .collect();
    let counts: Vec<bool> = def
        .tables
        .iter()
        .map(|t| t.shape.measure == Measure::Count)
        .collect();
    contributions(def, data, as_of, |t, cell, value| {
        let (v, c) = &mut inner[t];
        v[cell] += value;
        c[cell] += i64::from(value != 0 || counts[t]);
    })?;
    let mut out = Vec::with_capacity(def.tables.len());
    for (spec, (values, contributors)) in def.tables.iter().zip(inner) {
        let mut table = Table::zeros(spec.shape.clone());
        for (cell, (&v, &c)) in values.iter().zip(&contributors).enumerate() {
            if v != 0 || c != 0 {
                let key = table.shape.key(cell);
                table.add_inner_totals(&key, v, c);
            }
        }
        out.push(table);
    }
    Ok(out)
}

/// The same tables built the slow, obvious way: one [`Table::add_inner`] per
/// person and cell. Used to check [`tabulate`].
#[allow(
    clippy::indexing_slicing,
    reason = "`contributions` passes a table position in `def.tables`, one table each"
)]
pub fn tabulate_per_person(
    def: &Definition,
    data: &Ingested,
    as_of: Date,
) -> Result<Vec<Table>, TabulateError> {
    let mut tables: Vec<Table> = def
        .tables
        .iter()
        .map(|t| Table::zeros(t.shape.clone()))
        .collect();
    contributions(def, data, as_of, |t, cell, value| {
        let key = tables[t].shape.key(cell);
        tables[t].add_inner(&key, value);
    })?;
    Ok(tables)
}
