//! Regional and national tables released at aggregate level.
//!
//! For a table released as an aggregate only, a project's exact cells leave
//! the municipality as secret shares, and the directorate (the leader)
//! learns nothing but exact sums over region groups, each of at least
//! `min_projects` projects. The nation is the sum of the groups. This module
//! protects those sums for publication ([`protect_geography`]) and checks
//! what the leader's own knowledge tells it about single projects
//! ([`leader_knowledge_audit`]).
//!
//! Regions are protected as one stacked table per table of the definition,
//! with a `region` dimension in front (`total` is the nation, the children
//! are the group codes). The dimension's variable is `region`, so a quantity
//! that several tables share stays one quantity on every region row, and
//! the engine links it across tables as it does within one report.

use std::collections::HashMap;
use std::sync::Arc;

use crate::audit::{AuditReport, PublishedTable, audit};
use crate::policy::{Policy, ProtectError};
use crate::suppress::{protect, protect_keeping};
use crate::table::{Dimension, Measure, Relation, Table, TableShape};

mod leader;

pub use leader::{LeaderKnowledge, leader_knowledge_audit};

/// Dimension and variable of the geography in stacked tables.
const REGION: &str = "region";
/// The root category of an additive dimension; no group may take its code.
const TOTAL: &str = "total";

/// One region group's exact tables, as the helper's sum over its projects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionGroup {
    /// Group code: one region (`oslo`) or merged regions (`agder+rogaland`).
    pub code: String,
    /// Every aggregate-level table of the definition, in definition order.
    pub tables: Vec<Table>,
}

/// Suppressions, counted in cells: a quantity that several tables share
/// counts once per table it appears in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Cells hidden by the primary rule.
    pub primary: usize,
    /// Cells hidden to protect other cells.
    pub secondary: usize,
    /// All hidden cells (`primary + secondary`).
    pub suppressed_cells: usize,
}

impl Counts {
    /// Counts over `(suppressed, primary)` flags, one pair per cell.
    fn of<'a>(cells: impl Iterator<Item = (&'a bool, &'a bool)>) -> Self {
        let mut out = Self::default();
        for (&hidden, &primary) in cells {
            if primary {
                out.primary += 1;
            } else if hidden {
                out.secondary += 1;
            }
        }
        out.suppressed_cells = out.primary + out.secondary;
        out
    }

    fn plus(self, other: Self) -> Self {
        Self {
            primary: self.primary + other.primary,
            secondary: self.secondary + other.secondary,
            suppressed_cells: self.suppressed_cells + other.suppressed_cells,
        }
    }
}

/// The national and regional publication of one collection.
#[derive(Debug, Clone)]
pub struct GeographyProtection {
    /// The exact national tables (the sum of the groups). In memory only:
    /// publish them through `nation_suppressed`.
    pub nation: Vec<Table>,
    /// Per table, per cell: hidden in the national tables.
    pub nation_suppressed: Vec<Vec<bool>>,
    /// Per group (in input order), per table, per cell: hidden in that group's tables.
    pub groups_suppressed: Vec<Vec<Vec<bool>>>,
    /// Every region row is hidden: publishing regions would have cost
    /// national cells, so only the nation is published.
    pub regions_withheld: bool,
    /// Suppressions of the nation protected on its own.
    pub national_alone: Counts,
    /// Suppressions of everything published, nation and group rows; the
    /// nation's alone when there is one group (it is the nation).
    pub joint: Counts,
    /// The audit of the pattern chosen.
    pub audit: AuditReport,
}

/// Why regional and national tables could not be protected. Messages name
/// tables and cells, never values or bounds.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum GeographyError {
    /// Groups, projects and shapes do not line up, or a group or project
    /// code is missing, repeated or `total`.
    #[error("the tables do not match the definition's shapes, or a group code is invalid")]
    Shape,
    /// A table's margins do not add up.
    #[error("table {0}: margins do not add up")]
    Margins(String),
    /// A sum over groups or a margin leaves the 64-bit range.
    #[error("a sum leaves the 64-bit range")]
    Overflow,
    /// The leader-knowledge attack did not reach every hidden cell.
    #[error("the attack did not reach every hidden cell")]
    Incomplete,
    /// The suppression engine failed; its findings have their bounds removed.
    #[error("protection failed: {0}")]
    Protect(ProtectError),
}

impl GeographyError {
    /// The engine's error without the bounds its findings quote (a bound of
    /// a hidden cell is as sensitive as its value).
    fn engine(e: ProtectError) -> Self {
        Self::Protect(match e {
            ProtectError::Unsafe(findings) => ProtectError::Unsafe(
                findings
                    .split("; ")
                    .map(|f| match f.find(" is pinned to ") {
                        Some(i) => format!("{} is pinned too narrowly", &f[..i]),
                        None => f.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            other => other,
        })
    }
}

/// Checks that `tables` have exactly `shapes`, and that every margin is the
/// sum of its parts, summed with checked arithmetic (a lying input must not
/// pass by wrapping around).
fn check_tables(
    shapes: &[Arc<TableShape>],
    relations: &[Vec<Relation>],
    tables: &[Table],
) -> Result<(), GeographyError> {
    if tables.len() != shapes.len() {
        return Err(GeographyError::Shape);
    }
    for ((t, s), rels) in tables.iter().zip(shapes).zip(relations) {
        let same = Arc::ptr_eq(&t.shape, s) || *t.shape == **s;
        if !same || t.values.len() != s.len() || t.contributors.len() != s.len() {
            return Err(GeographyError::Shape);
        }
        check_margins(t, rels)?;
    }
    Ok(())
}

/// Every relation holds, in values and contributors. The parts are summed in
/// the order the engine sums them, so the engine's own check cannot overflow
/// once this one passed.
fn check_margins(table: &Table, relations: &[Relation]) -> Result<(), GeographyError> {
    for r in relations {
        for column in [&table.values, &table.contributors] {
            let mut sum = 0i64;
            for &p in &r.parts {
                sum = sum.checked_add(column[p]).ok_or(GeographyError::Overflow)?;
            }
            if sum != column[r.total] {
                return Err(GeographyError::Margins(table.shape.id.clone()));
            }
        }
    }
    Ok(())
}

/// The cell-by-cell sum of table sets of `shapes`, values and contributors,
/// with checked arithmetic.
fn sum_tables<'a>(
    shapes: &[Arc<TableShape>],
    sets: impl Iterator<Item = &'a [Table]>,
) -> Result<Vec<Table>, GeographyError> {
    let mut out: Vec<Table> = shapes.iter().map(|s| Table::zeros(s.clone())).collect();
    for set in sets {
        for (acc, t) in out.iter_mut().zip(set) {
            for (a, b) in [
                (&mut acc.values, &t.values),
                (&mut acc.contributors, &t.contributors),
            ] {
                for (x, &y) in a.iter_mut().zip(b) {
                    *x = x.checked_add(y).ok_or(GeographyError::Overflow)?;
                }
            }
        }
    }
    Ok(out)
}

/// `shape` with `dim` as a new first dimension: one row of the original
/// table per category of `dim`.
fn stacked_shape(dim: &Arc<Dimension>, shape: &TableShape) -> Arc<TableShape> {
    let mut dims = Vec::with_capacity(shape.dimensions.len() + 1);
    dims.push(dim.clone());
    dims.extend(shape.dimensions.iter().cloned());
    Arc::new(TableShape::new(
        shape.id.clone(),
        dims,
        shape.measure.clone(),
        shape.population.clone(),
    ))
}

/// A stacked table whose rows are `rows`, in the stacked dimension's category order.
fn stack_rows<'a>(shape: Arc<TableShape>, rows: impl Iterator<Item = &'a Table>) -> Table {
    let mut t = Table {
        values: Vec::with_capacity(shape.len()),
        contributors: Vec::with_capacity(shape.len()),
        shape,
    };
    for r in rows {
        t.values.extend_from_slice(&r.values);
        t.contributors.extend_from_slice(&r.contributors);
    }
    t
}

/// Whether a stacked pattern hides a national cell beyond `nation`.
fn beyond(stacked: &[Vec<bool>], nation: &[Vec<bool>]) -> bool {
    stacked
        .iter()
        .zip(nation)
        .any(|(s, n)| s[..n.len()] != n[..])
}

/// Whether `code` can be a category beside `seen` in an additive dimension.
fn fresh_code(code: &str, seen: &mut HashMap<String, usize>) -> bool {
    let n = seen.len();
    !code.is_empty() && code != TOTAL && seen.insert(code.to_string(), n).is_none()
}

/// Protects the national and regional tables of one collection.
///
/// `groups` are the helper's exact sums, one per region group, each with
/// every table of `shapes`. The nation is their sum. The nation is first
/// protected on its own (pattern N). With one group, the group is the
/// nation and N is published for both. Otherwise nation and groups are
/// protected as stacked tables with a `region` dimension, keeping N hidden on
/// the nation rows. Where the engine hid national cells beyond N, they are
/// published again and the group cells that then follow from published
/// cells are published too, if the audit then passes. The nation comes out
/// exactly as it would alone.
///
/// If regional detail would cost national cells (or the engine finds no
/// safe pattern with regions), the nation is published with N and every
/// region row is withheld (`regions_withheld`). That is
/// safe: only national figures are published then, the region rows add
/// nothing an attacker can use, and N passed the audit on its own
/// (`audit` is N's audit).
pub fn protect_geography(
    shapes: &[Arc<TableShape>],
    groups: &[RegionGroup],
    policy: &Policy,
) -> Result<GeographyProtection, GeographyError> {
    let mut seen = HashMap::new();
    if groups.is_empty() || !groups.iter().all(|g| fresh_code(&g.code, &mut seen)) {
        return Err(GeographyError::Shape);
    }
    let relations: Vec<Vec<Relation>> = shapes.iter().map(|s| s.relations()).collect();
    for g in groups {
        check_tables(shapes, &relations, &g.tables)?;
    }
    let nation = sum_tables(shapes, groups.iter().map(|g| g.tables.as_slice()))?;
    check_tables(shapes, &relations, &nation)?;
    let alone = protect(&nation, policy).map_err(GeographyError::engine)?;
    let national_alone = Counts::of(
        alone
            .suppressed
            .iter()
            .flatten()
            .zip(alone.primary.iter().flatten()),
    );
    if groups.len() == 1 {
        return Ok(GeographyProtection {
            nation,
            nation_suppressed: alone.suppressed.clone(),
            groups_suppressed: vec![alone.suppressed],
            regions_withheld: false,
            national_alone,
            joint: national_alone,
            audit: alone.audit,
        });
    }
    let codes: Vec<&str> = groups.iter().map(|g| g.code.as_str()).collect();
    let region = Arc::new(Dimension::flat(REGION, &codes));
    let rows = groups.len() + 1;
    let stacked: Vec<Table> = shapes
        .iter()
        .enumerate()
        .map(|(t, s)| {
            let tables = std::iter::once(&nation[t]).chain(groups.iter().map(|g| &g.tables[t]));
            stack_rows(stacked_shape(&region, s), tables)
        })
        .collect();
    // The nation row first, in the nation's own cell order.
    let keep: Vec<Vec<bool>> = alone
        .suppressed
        .iter()
        .map(|n| {
            let mut k = n.clone();
            k.resize(n.len() * rows, false);
            k
        })
        .collect();
    // Per stacked table, per cell: breaks the primary rule.
    let primary: Vec<Vec<bool>> = stacked
        .iter()
        .map(|x| {
            let is_sum = matches!(x.shape.measure, Measure::Sum(_));
            x.values
                .iter()
                .zip(&x.contributors)
                .map(|(&v, &c)| policy.is_primary(v, c, is_sum))
                .collect()
        })
        .collect();
    let chosen = match protect_keeping(&stacked, policy, &keep) {
        Ok(joint) if beyond(&joint.suppressed, &alone.suppressed) => restore_nation(
            &stacked,
            joint.suppressed,
            &primary,
            &alone.suppressed,
            policy,
        ),
        Ok(joint) => Some((joint.suppressed, joint.audit)),
        // No safe pattern with regions: the nation alone is safe.
        Err(ProtectError::Unsafe(_)) => None,
        Err(e) => return Err(GeographyError::engine(e)),
    };
    // Group rows of a stacked per-table vector, per group, per table.
    let split = |flags: &[Vec<bool>]| -> Vec<Vec<Vec<bool>>> {
        (1..rows)
            .map(|g| {
                flags
                    .iter()
                    .zip(shapes)
                    .map(|(f, s)| f[g * s.len()..(g + 1) * s.len()].to_vec())
                    .collect()
            })
            .collect()
    };
    let group_primary = split(&primary);
    let Some((suppressed, report)) = chosen else {
        let groups_suppressed: Vec<Vec<Vec<bool>>> = group_primary
            .iter()
            .map(|g| g.iter().map(|t| vec![true; t.len()]).collect())
            .collect();
        let regions = Counts::of(
            groups_suppressed
                .iter()
                .flatten()
                .flatten()
                .zip(group_primary.iter().flatten().flatten()),
        );
        return Ok(GeographyProtection {
            nation,
            nation_suppressed: alone.suppressed,
            groups_suppressed,
            regions_withheld: true,
            national_alone,
            joint: national_alone.plus(regions),
            audit: alone.audit,
        });
    };
    let joint_counts = Counts::of(suppressed.iter().flatten().zip(primary.iter().flatten()));
    Ok(GeographyProtection {
        nation,
        nation_suppressed: alone.suppressed,
        groups_suppressed: split(&suppressed),
        regions_withheld: false,
        national_alone,
        joint: joint_counts,
        audit: report,
    })
}

/// The joint pattern with the nation as it is alone: every national cell
/// the engine hid beyond `nation` is published again, and then, round by
/// round, every hidden cell the audit finds derivable that is neither
/// primary nor in `nation` (it tells nothing the published cells do not).
/// The engine's greedy search sometimes spends a national cell where group
/// cells would do; this recovers such patterns. Returns the pattern and its
/// audit when it passes, `None` when a protected cell would be given away.
fn restore_nation(
    stacked: &[Table],
    mut hidden: Vec<Vec<bool>>,
    primary: &[Vec<bool>],
    nation: &[Vec<bool>],
    policy: &Policy,
) -> Option<(Vec<Vec<bool>>, AuditReport)> {
    // A quantity has one status in every table it appears in.
    let mut cells_of: HashMap<String, Vec<(usize, usize)>> = HashMap::new();
    for (t, table) in stacked.iter().enumerate() {
        for c in 0..table.values.len() {
            cells_of
                .entry(table.shape.quantity(c))
                .or_default()
                .push((t, c));
        }
    }
    let publish = |hidden: &mut Vec<Vec<bool>>, t: usize, c: usize| {
        for &(t2, c2) in cells_of
            .get(&stacked[t].shape.quantity(c))
            .into_iter()
            .flatten()
        {
            hidden[t2][c2] = false;
        }
    };
    let extra: Vec<(usize, usize)> = nation
        .iter()
        .enumerate()
        .flat_map(|(t, n)| (0..n.len()).filter(move |&c| !n[c]).map(move |c| (t, c)))
        .filter(|&(t, c)| hidden[t][c])
        .collect();
    for (t, c) in extra {
        publish(&mut hidden, t, c);
    }
    let index: HashMap<&str, usize> = stacked
        .iter()
        .enumerate()
        .map(|(t, x)| (x.shape.id.as_str(), t))
        .collect();
    // Each round publishes at least one quantity, so this ends.
    loop {
        let view: Vec<PublishedTable> = stacked
            .iter()
            .zip(&hidden)
            .map(|(x, h)| PublishedTable {
                shape: x.shape.clone(),
                cells: x
                    .values
                    .iter()
                    .zip(h)
                    .map(|(&v, &h)| (!h).then_some(v))
                    .collect(),
            })
            .collect();
        let report = audit(&view, policy, Some(stacked), true);
        if report.passed {
            return Some((hidden, report));
        }
        let mut more = false;
        for iv in report.intervals.iter().filter(|iv| iv.exact) {
            let t = *index.get(iv.table.as_str())?;
            let c = stacked[t].shape.cell_by_codes(&iv.key)?;
            let kept = nation[t].get(c).copied().unwrap_or(false);
            if primary[t][c] || kept {
                return None;
            }
            if hidden[t][c] {
                publish(&mut hidden, t, c);
                more = true;
            }
        }
        if !more {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Births by gender (total, female, male).
    pub(super) fn births(values: [i64; 2]) -> Table {
        let shape = Arc::new(TableShape::new(
            "births".into(),
            vec![Arc::new(Dimension::flat("gender", &["female", "male"]))],
            Measure::Count,
            "total".into(),
        ));
        let mut t = Table::zeros(shape);
        t.add_inner(&[1], values[0]);
        t.add_inner(&[2], values[1]);
        t
    }

    fn group(code: &str, values: [i64; 2]) -> RegionGroup {
        RegionGroup {
            code: code.into(),
            tables: vec![births(values)],
        }
    }

    #[test]
    fn engine_findings_lose_their_bounds() {
        let e = GeographyError::engine(ProtectError::Unsafe(
            "t[a, b] is pinned to 3 by whole-number bounds; \
             t[c] is pinned to [1, 2], narrower than the policy allows; \
             t[d] can be computed from the published cells"
                .into(),
        ));
        let text = e.to_string();
        assert!(!text.chars().any(|c| c.is_ascii_digit()), "{text}");
        assert!(text.contains("t[a, b] is pinned too narrowly"));
        assert!(text.contains("t[d] can be computed"));
    }

    #[test]
    fn group_codes_must_be_distinct_and_not_total() {
        let shapes = vec![births([0, 0]).shape];
        let p = Policy::default();
        for codes in [["oslo", "oslo"], ["oslo", "total"], ["oslo", ""]] {
            let groups = [group(codes[0], [6, 7]), group(codes[1], [8, 9])];
            assert_eq!(
                protect_geography(&shapes, &groups, &p).unwrap_err(),
                GeographyError::Shape
            );
        }
    }

    #[test]
    fn large_groups_are_published_beside_the_nation() {
        let shapes = vec![births([0, 0]).shape];
        let groups = [group("oslo", [6, 7]), group("agder+rogaland", [8, 9])];
        let g = protect_geography(&shapes, &groups, &Policy::default()).unwrap();
        assert_eq!(g.nation[0].values, vec![30, 14, 16]);
        assert!(!g.regions_withheld && g.audit.passed);
        assert_eq!(g.joint, Counts::default());
        assert!(g.groups_suppressed.iter().flatten().flatten().all(|&h| !h));
    }

    #[test]
    fn a_small_group_cell_is_hidden_with_a_complement_in_the_groups() {
        // Oslo's 2 women are primary; the nation's 9 women are not, so the
        // complement must come from the other group's women.
        let shapes = vec![births([0, 0]).shape];
        let groups = [group("oslo", [2, 7]), group("vestland", [7, 9])];
        let g = protect_geography(&shapes, &groups, &Policy::default()).unwrap();
        assert!(g.audit.passed && !g.regions_withheld);
        assert_eq!(g.nation_suppressed, vec![vec![false; 3]]);
        assert!(g.groups_suppressed[0][0][1] && g.groups_suppressed[1][0][1]);
        assert_eq!(g.joint.primary, 1);
    }
}
