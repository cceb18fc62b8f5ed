//! Which background columns the definition's tables read, how each is
//! typed, and parsing a field of such a column.

use std::collections::{BTreeSet, HashMap};

use prikk_privacy::definition::{CORE_COLUMNS, Definition, Derive, DimensionSource, integer_range};
use prikk_privacy::table::Measure;

use super::columns::{
    BOOL_COLUMNS, Reason, codes_of, list_codes_of, parse_bool, parse_code, parse_country,
    parse_def_code, parse_int, parse_list,
};
use super::{ColumnKind, IngestError, ValueColumn};

/// The columns the definition's tables read, with how each is used.
pub(super) fn value_columns(def: &Definition) -> Result<Vec<ValueColumn>, IngestError> {
    let mut used: BTreeSet<String> = BTreeSet::new();
    let mut def_codes: HashMap<String, Vec<String>> = HashMap::new();
    let mut def_lists: HashMap<String, Vec<String>> = HashMap::new();
    let mut plain_flags: BTreeSet<String> = BTreeSet::new();
    let mut valued_flags: BTreeSet<String> = BTreeSet::new();
    let mut required: BTreeSet<String> = BTreeSet::new();
    for t in &def.tables {
        if let Measure::Sum(c) = &t.shape.measure {
            used.insert(c.clone());
        }
        for d in &t.dimensions {
            let cats = || -> Vec<String> {
                d.dimension
                    .categories
                    .iter()
                    .filter(|c| c.code != "total")
                    .map(|c| c.code.to_lowercase())
                    .collect()
            };
            match &d.source {
                DimensionSource::Status => {}
                DimensionSource::Code {
                    column, unknown, ..
                } => {
                    used.insert(column.clone());
                    if unknown.is_none() {
                        required.insert(column.clone());
                    }
                    def_codes.entry(column.clone()).or_default().extend(cats());
                }
                DimensionSource::Bucket {
                    column, unknown, ..
                } => {
                    used.insert(column.clone());
                    if unknown.is_none() {
                        required.insert(column.clone());
                    }
                }
                DimensionSource::Multi { column } => {
                    used.insert(column.clone());
                    def_lists.entry(column.clone()).or_default().extend(cats());
                }
                DimensionSource::Flags { flags } => {
                    for f in flags {
                        used.insert(f.source.clone());
                        if f.equals.is_some() {
                            valued_flags.insert(f.source.clone());
                        } else {
                            plain_flags.insert(f.source.clone());
                        }
                    }
                }
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    for name in used {
        let kind = if let Some(c) = codes_of(&name) {
            ColumnKind::Code(c)
        } else if let Some(c) = list_codes_of(&name) {
            ColumnKind::List(c)
        } else if let Some((lo, hi)) = integer_range(&name) {
            ColumnKind::Int { lo, hi }
        } else if BOOL_COLUMNS.contains(&name.as_str()) || plain_flags.contains(&name) {
            ColumnKind::Bool
        } else if name == "country_of_birth" {
            ColumnKind::Country
        } else if let Some(mut v) = def_lists.remove(&name) {
            v.dedup();
            if v.len() > 31 {
                return Err(IngestError::UnsupportedColumn {
                    column: name,
                    message: "more than 31 codes".into(),
                });
            }
            ColumnKind::DefList(v)
        } else if let Some(mut v) = def_codes.remove(&name) {
            v.sort();
            v.dedup();
            ColumnKind::DefCode(v)
        } else {
            let message = if valued_flags.contains(&name) {
                "a flag with `equals` needs a code column".to_string()
            } else {
                "no type is known for it".to_string()
            };
            return Err(IngestError::UnsupportedColumn {
                column: name,
                message,
            });
        };
        if CORE_COLUMNS.contains(&name.as_str()) && !matches!(kind, ColumnKind::Code(_)) {
            return Err(IngestError::UnsupportedColumn {
                column: name,
                message: "a date column cannot be a dimension".into(),
            });
        }
        let required = required.contains(&name);
        out.push(ValueColumn {
            name,
            kind,
            required,
        });
    }
    Ok(out)
}

/// Per bucketed column: the smallest valid derived value.
pub(super) fn minimum_checks(
    def: &Definition,
    columns: &[ValueColumn],
) -> Vec<(usize, Derive, i64)> {
    let mut out = Vec::new();
    for t in &def.tables {
        for d in &t.dimensions {
            if let DimensionSource::Bucket {
                column,
                derive,
                minimum,
                ..
            } = &d.source
                && let Some(ci) = columns.iter().position(|c| &c.name == column)
                && !out.contains(&(ci, *derive, *minimum))
            {
                out.push((ci, *derive, *minimum));
            }
        }
    }
    out
}

pub(super) fn parse_value(raw: &[u8], kind: &ColumnKind) -> Result<u32, Reason> {
    Ok(match kind {
        ColumnKind::Code(c) => u32::from(parse_code(raw, c)?),
        ColumnKind::DefCode(v) => u32::from(parse_def_code(raw, v)?),
        ColumnKind::Int { lo, hi } => {
            let v = parse_int(raw, *lo, *hi)?;
            u32::try_from(v - lo).map_err(|_| Reason::OutOfRange { lo: *lo, hi: *hi })?
        }
        ColumnKind::Bool => u32::from(parse_bool(raw)?),
        ColumnKind::Country => {
            let [a, b] = parse_country(raw)?;
            (u32::from(a) << 8) | u32::from(b)
        }
        ColumnKind::List(c) => parse_list(raw, |item| parse_code(item, c).ok(), || c.expected())?,
        ColumnKind::DefList(v) => {
            parse_list(raw, |item| parse_def_code(item, v).ok(), || v.join(", "))?
        }
    })
}
