//! The report definition: which tables a report holds, their dimensions and
//! categories, and from that the allowlist of input columns.
//!
//! The definition is data (a TOML file in `definitions/`), loaded the same way
//! by the agent and the gateway. Loading validates everything up front, so a
//! malformed file is refused as a whole with the line and column of the fault.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

use crate::table::{Category, Dimension, Measure, TableShape};

/// The definition the agent and gateway ship with.
pub const EMBEDDED_NY_SJANSE_V1: &str = include_str!("../../definitions/ny-sjanse-v1.toml");

/// Columns the agent needs regardless of the tables, for the status hierarchy
/// and the reporting period. `person_ref` is read only to find duplicates.
pub const CORE_COLUMNS: &[&str] = &[
    "person_ref",
    "project",
    "referred_on",
    "intake",
    "not_admitted_reason",
    "started_on",
    "ended_on",
    "outcome",
    "gender",
];

/// A definition that could not be loaded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum DefinitionError {
    /// The file is not valid TOML or does not have the expected shape.
    #[error("{origin}:{line}:{column}: {message}")]
    Syntax {
        /// File name or other origin.
        origin: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What was expected.
        message: String,
    },
}

/// How a dimension gets its category from a participant.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DimensionSource {
    /// The status hierarchy as of the period's last day.
    Status,
    /// One code column.
    Code {
        /// Input column.
        column: String,
        /// Category for valid codes that are not listed.
        other: Option<String>,
        /// Category for a missing value.
        unknown: Option<String>,
    },
    /// An integer column cut into buckets.
    Bucket {
        /// Input column.
        column: String,
        /// How the integer is turned into the bucketed quantity.
        derive: Derive,
        /// Lower bounds of the second and later buckets.
        edges: Vec<i64>,
        /// Smallest valid value after deriving.
        minimum: i64,
        /// Category for a missing value.
        unknown: Option<String>,
    },
    /// A `|`-separated list of codes; a person counts in each listed category.
    Multi {
        /// Input column.
        column: String,
    },
    /// Yes/no facts, one category each.
    Flags {
        /// One per category, in category order.
        flags: Vec<Flag>,
    },
}

/// How a bucketed integer is derived from its column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Derive {
    /// The value itself.
    Value,
    /// The period's year minus the value (a year).
    YearsSince,
    /// Whole years from a number of months.
    MonthsAsYears,
}

/// One yes/no fact of a `flags` dimension.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flag {
    /// Category code.
    pub category: String,
    /// Input column.
    pub source: String,
    /// For code columns: the value that means yes. Boolean columns when absent.
    #[serde(default)]
    pub equals: Option<String>,
}

/// A dimension as the definition declares it, with its value source.
#[derive(Debug, Clone)]
pub struct DimensionSpec {
    /// The categories and hierarchy.
    pub dimension: Arc<Dimension>,
    /// Where its values come from.
    pub source: DimensionSource,
}

/// How a table is released.
///
/// A project-level table leaves the municipality protected (suppressed and
/// audited) and is stored per project by the directorate. An aggregate-level
/// table, when the agent has a secure-aggregation helper configured, leaves
/// only as secret shares: the directorate sees it only summed over a batch of
/// projects (at least the helper's minimum in every region group) and
/// protected at that level. Without a helper an agent has no way to send a
/// share, and releases every table per project, protected, as before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Release {
    /// Protected per project.
    #[default]
    Project,
    /// Only as secret shares, summed over projects.
    Aggregate,
}

impl Release {
    /// The level as the definition file writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Project => "project",
            Self::Aggregate => "aggregate",
        }
    }
}

/// A table of the definition.
#[derive(Debug, Clone)]
pub struct TableSpec {
    /// Shape used by aggregation, protection and audit.
    pub shape: Arc<TableShape>,
    /// Human title.
    pub title: String,
    /// Dimension specs, in the table's dimension order.
    pub dimensions: Vec<DimensionSpec>,
    /// How the table is released.
    pub release: Release,
}

/// A loaded, validated report definition.
#[derive(Debug, Clone)]
pub struct Definition {
    /// Definition id, e.g. `ny-sjanse`.
    pub id: String,
    /// Version; reports name the id and version they were built with.
    pub version: u32,
    /// Human title.
    pub title: String,
    /// Tables in report order.
    pub tables: Vec<TableSpec>,
    /// The source text, byte for byte.
    pub source_text: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefinition {
    id: String,
    version: u32,
    #[serde(default)]
    title: String,
    dimensions: Vec<Spanned<RawDimension>>,
    tables: Vec<Spanned<RawTable>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum RawKind {
    Status,
    Code,
    Bucket,
    Multi,
    Flags,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDimension {
    id: String,
    kind: RawKind,
    #[serde(default)]
    source: Option<String>,
    categories: Vec<String>,
    #[serde(default)]
    other: Option<String>,
    #[serde(default)]
    unknown: Option<String>,
    #[serde(default)]
    derive: Option<Derive>,
    #[serde(default)]
    edges: Vec<i64>,
    #[serde(default)]
    minimum: Option<i64>,
    #[serde(default)]
    flags: Vec<Flag>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    id: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    population: Option<String>,
    dimensions: Vec<String>,
    #[serde(default = "yes")]
    by_gender: bool,
    #[serde(default)]
    sum: Option<String>,
    #[serde(default)]
    release: Release,
}

fn yes() -> bool {
    true
}

/// Columns whose values are integers, with their valid range.
pub const INTEGER_COLUMNS: &[(&str, i64, i64)] = &[
    ("birth_year", 1900, 2100),
    ("arrival_year", 1900, 2100),
    ("children_under_18", 0, 20),
    ("education_years_abroad", 0, 30),
    ("work_years_abroad", 0, 60),
    ("work_years_norway", 0, 60),
    ("years_without_work", 0, 60),
    ("assistance_months", 0, 1200),
    ("contact_persons", 0, 100),
];

/// Range of a summed column: a sum is clamped to nothing, values are validated
/// against this range on ingest.
pub fn integer_range(column: &str) -> Option<(i64, i64)> {
    INTEGER_COLUMNS
        .iter()
        .find(|(c, _, _)| *c == column)
        .map(|&(_, lo, hi)| (lo, hi))
}

struct Ctx<'a> {
    origin: &'a str,
    text: &'a str,
}

impl Ctx<'_> {
    fn err_at(&self, offset: usize, message: impl Into<String>) -> DefinitionError {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        DefinitionError::Syntax {
            origin: self.origin.to_string(),
            line,
            column,
            message: message.into(),
        }
    }
}

impl Definition {
    /// The embedded Ny sjanse v1 definition.
    pub fn embedded() -> Self {
        // The embedded file is validated by a unit test; failing here is a build defect.
        Self::parse(EMBEDDED_NY_SJANSE_V1, "definitions/ny-sjanse-v1.toml")
            .unwrap_or_else(|e| panic!("embedded definition is invalid: {e}"))
    }

    /// Parses and validates a definition. `origin` names the file in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, DefinitionError> {
        let ctx = Ctx { origin, text };
        let raw: RawDefinition = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            ctx.err_at(offset, e.message().to_string())
        })?;
        if raw.id.is_empty() {
            return Err(ctx.err_at(0, "definition id must not be empty"));
        }
        let mut dims: HashMap<String, DimensionSpec> = HashMap::new();
        for d in &raw.dimensions {
            let at = d.span().start;
            let spec = build_dimension(d.get_ref()).map_err(|m| ctx.err_at(at, m))?;
            if dims.insert(d.get_ref().id.clone(), spec).is_some() {
                return Err(
                    ctx.err_at(at, format!("dimension `{}` declared twice", d.get_ref().id))
                );
            }
        }
        let gender = dims.get("gender").cloned();
        let mut tables = Vec::new();
        let mut seen = BTreeSet::new();
        for t in &raw.tables {
            let at = t.span().start;
            let rt = t.get_ref();
            if !seen.insert(rt.id.clone()) {
                return Err(ctx.err_at(at, format!("table `{}` declared twice", rt.id)));
            }
            let mut specs = Vec::new();
            for d in &rt.dimensions {
                let spec = dims.get(d).ok_or_else(|| {
                    ctx.err_at(at, format!("table `{}`: unknown dimension `{d}`", rt.id))
                })?;
                specs.push(spec.clone());
            }
            if rt.by_gender {
                let g = gender.clone().ok_or_else(|| {
                    ctx.err_at(
                        at,
                        format!(
                            "table `{}` is by gender but no `gender` dimension is declared",
                            rt.id
                        ),
                    )
                })?;
                if rt.dimensions.iter().any(|d| d == "gender") {
                    return Err(ctx.err_at(at, format!("table `{}` names gender twice", rt.id)));
                }
                specs.push(g);
            }
            let population = rt.population.clone().unwrap_or_else(|| "total".into());
            if population != "total" {
                let status = dims.get("status").ok_or_else(|| {
                    ctx.err_at(
                        at,
                        format!("table `{}`: population needs a `status` dimension", rt.id),
                    )
                })?;
                if status.dimension.index_of(&population).is_none() {
                    return Err(ctx.err_at(
                        at,
                        format!("table `{}`: unknown population `{population}`", rt.id),
                    ));
                }
            }
            let measure = match &rt.sum {
                None => Measure::Count,
                Some(col) => {
                    if integer_range(col).is_none() {
                        return Err(ctx.err_at(
                            at,
                            format!("table `{}`: `{col}` is not an integer column", rt.id),
                        ));
                    }
                    Measure::Sum(col.clone())
                }
            };
            let shape = TableShape::new(
                rt.id.clone(),
                specs.iter().map(|s| s.dimension.clone()).collect(),
                measure,
                population,
            );
            tables.push(TableSpec {
                shape: Arc::new(shape),
                title: rt.title.clone(),
                dimensions: specs,
                release: rt.release,
            });
        }
        if tables.is_empty() {
            return Err(ctx.err_at(0, "a definition needs at least one table"));
        }
        // Every table counts people of the same project, so a table released
        // per project bounds that project's contribution to every exact sum
        // of an aggregate-level table (5 published work exits mean at least
        // 5 people in the status cell). Next to an exact regional sum that
        // can pin a project's small cells, so one definition never mixes
        // the two levels.
        if let (Some(p), Some(a)) = (
            raw.tables
                .iter()
                .find(|t| t.get_ref().release == Release::Project),
            raw.tables
                .iter()
                .find(|t| t.get_ref().release == Release::Aggregate),
        ) {
            let (first, second) = if p.span().start > a.span().start {
                (p, a)
            } else {
                (a, p)
            };
            return Err(ctx.err_at(
                first.span().start,
                format!(
                    "table `{}` is released at {} level but table `{}` at {} level; \
                     a definition releases every table at one level (a count published per \
                     project bounds the same people's share of an exact aggregate)",
                    first.get_ref().id,
                    first.get_ref().release.as_str(),
                    second.get_ref().id,
                    second.get_ref().release.as_str(),
                ),
            ));
        }
        Ok(Definition {
            id: raw.id,
            version: raw.version,
            title: raw.title,
            tables,
            source_text: text.to_string(),
        })
    }

    /// The input columns the agent may read: the allowlist.
    pub fn allowed_columns(&self) -> BTreeSet<String> {
        let mut cols: BTreeSet<String> = CORE_COLUMNS.iter().map(|s| s.to_string()).collect();
        for t in &self.tables {
            if let Measure::Sum(c) = &t.shape.measure {
                cols.insert(c.clone());
            }
            for d in &t.dimensions {
                match &d.source {
                    DimensionSource::Status => {}
                    DimensionSource::Code { column, .. }
                    | DimensionSource::Bucket { column, .. }
                    | DimensionSource::Multi { column } => {
                        cols.insert(column.clone());
                    }
                    DimensionSource::Flags { flags } => {
                        cols.extend(flags.iter().map(|f| f.source.clone()));
                    }
                }
            }
        }
        cols
    }

    /// The table with this id.
    pub fn table(&self, id: &str) -> Option<&TableSpec> {
        self.tables.iter().find(|t| t.shape.id == id)
    }

    /// Whether the tables are released only as secret shares, summed over
    /// projects, when the agent has a helper (the definition releases every
    /// table at one level).
    pub fn aggregate_only(&self) -> bool {
        self.tables.iter().all(|t| t.release == Release::Aggregate)
    }

    /// All table shapes in report order.
    pub fn shapes(&self) -> Vec<Arc<TableShape>> {
        self.tables.iter().map(|t| t.shape.clone()).collect()
    }
}

fn build_dimension(d: &RawDimension) -> Result<DimensionSpec, String> {
    let id = &d.id;
    if d.categories.is_empty() {
        return Err(format!("dimension `{id}` has no categories"));
    }
    let mut codes = d.categories.clone();
    let mut unique = BTreeSet::new();
    for c in &codes {
        if c.is_empty() || c == "total" {
            return Err(format!(
                "dimension `{id}`: `{c}` is not a valid category code"
            ));
        }
        if !unique.insert(c.clone()) {
            return Err(format!("dimension `{id}`: category `{c}` listed twice"));
        }
    }
    let need_source = || {
        d.source
            .clone()
            .ok_or_else(|| format!("dimension `{id}` needs a `source` column"))
    };
    let (source, additive, hierarchical) = match d.kind {
        RawKind::Status => (DimensionSource::Status, true, true),
        RawKind::Code => {
            if let Some(o) = &d.other {
                codes.push(o.clone());
            }
            if let Some(u) = &d.unknown {
                codes.push(u.clone());
            }
            let column = need_source()?;
            (
                DimensionSource::Code {
                    column,
                    other: d.other.clone(),
                    unknown: d.unknown.clone(),
                },
                true,
                false,
            )
        }
        RawKind::Bucket => {
            if d.edges.len() + 1 != d.categories.len() {
                return Err(format!(
                    "dimension `{id}`: {} edges make {} buckets, but {} categories are listed",
                    d.edges.len(),
                    d.edges.len() + 1,
                    d.categories.len()
                ));
            }
            if d.edges.windows(2).any(|w| w[0] >= w[1]) {
                return Err(format!("dimension `{id}`: edges must increase"));
            }
            let minimum = d.minimum.unwrap_or(0);
            if d.edges.first().is_some_and(|&e| e <= minimum) {
                return Err(format!(
                    "dimension `{id}`: the first edge must be above the minimum {minimum}"
                ));
            }
            if let Some(u) = &d.unknown {
                codes.push(u.clone());
            }
            let column = need_source()?;
            if integer_range(&column).is_none() {
                return Err(format!(
                    "dimension `{id}`: `{column}` is not an integer column"
                ));
            }
            (
                DimensionSource::Bucket {
                    column,
                    derive: d.derive.unwrap_or(Derive::Value),
                    edges: d.edges.clone(),
                    minimum,
                    unknown: d.unknown.clone(),
                },
                true,
                false,
            )
        }
        RawKind::Multi => (
            DimensionSource::Multi {
                column: need_source()?,
            },
            false,
            false,
        ),
        RawKind::Flags => {
            let names: Vec<&String> = d.flags.iter().map(|f| &f.category).collect();
            if names != d.categories.iter().collect::<Vec<_>>() {
                return Err(format!(
                    "dimension `{id}`: `flags` must list one flag per category, in order"
                ));
            }
            (
                DimensionSource::Flags {
                    flags: d.flags.clone(),
                },
                false,
                false,
            )
        }
    };
    let mut cats: Vec<Category> = Vec::new();
    if additive {
        cats.push(Category {
            code: "total".into(),
            parent: None,
            children: vec![],
        });
    }
    for code in &codes {
        let parent = if !additive {
            None
        } else if hierarchical && code.contains('.') {
            let (p, _) = code.rsplit_once('.').unwrap_or((code, ""));
            let pi = cats.iter().position(|c| c.code == p).ok_or_else(|| {
                format!("dimension `{id}`: `{code}` is listed before its parent `{p}`")
            })?;
            Some(pi)
        } else {
            if !hierarchical && code.contains('.') {
                return Err(format!(
                    "dimension `{id}`: only status categories may contain `.`"
                ));
            }
            Some(0)
        };
        let idx = cats.len();
        cats.push(Category {
            code: code.clone(),
            parent,
            children: vec![],
        });
        if let Some(p) = parent {
            cats[p].children.push(idx);
        }
    }
    let variable = if matches!(d.kind, RawKind::Status) {
        "status".to_string()
    } else {
        id.clone()
    };
    Ok(DimensionSpec {
        dimension: Arc::new(Dimension::new(id.clone(), variable, cats, additive)),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_definition_loads() {
        let d = Definition::embedded();
        assert_eq!(d.id, "ny-sjanse");
        assert_eq!(d.tables.len(), 18);
        let status = d.table("status").unwrap();
        assert_eq!(status.shape.dimensions[0].categories.len(), 26);
        assert_eq!(status.shape.dimensions[1].id, "gender");
        let cols = d.allowed_columns();
        for forbidden in [
            "name",
            "national_id",
            "health_notes",
            "diagnosis",
            "caseworker_notes",
            "phone",
            "address",
        ] {
            assert!(
                !cols.contains(forbidden),
                "{forbidden} must never be allowlisted"
            );
        }
        assert!(cols.contains("country_of_birth"));
        assert!(!cols.contains("birth_year"), "birth_year is in no table");
    }

    #[test]
    fn malformed_definition_names_line_and_column() {
        let text = "id = \"x\"\nversion = 1\n[[dimensions]]\nid = \"gender\"\nkind = \"cod\"\ncategories=[\"a\"]\n";
        let e = Definition::parse(text, "bad.toml").unwrap_err();
        let DefinitionError::Syntax { origin, line, .. } = &e;
        assert_eq!(origin, "bad.toml");
        assert_eq!(*line, 5, "{e}");
    }

    #[test]
    fn unknown_dimension_in_table_is_refused() {
        let text = EMBEDDED_NY_SJANSE_V1
            .replace("dimensions = [\"country\"]", "dimensions = [\"countri\"]");
        let e = Definition::parse(&text, "d.toml").unwrap_err().to_string();
        assert!(e.contains("unknown dimension `countri`"), "{e}");
        assert!(e.starts_with("d.toml:"), "{e}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let text = EMBEDDED_NY_SJANSE_V1.replace("title = \"Ny sjanse", "titel = \"Ny sjanse");
        assert!(Definition::parse(&text, "d.toml").is_err());
    }
}
