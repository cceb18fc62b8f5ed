//! Information loss of a suppression pattern, measured the way
//! statisticians judge one: not only how many cells are hidden, but how
//! many people they count, how large the complementary suppressions are,
//! and which margins a reader loses.
//!
//! Every measure here is computed from exact values, so it is for the data
//! protection officer's preview and for benchmarks. Sums of hidden counts
//! must never reach a party that sees the published table: with a published
//! total they give hidden cells back. [`Loss::shape_only`] keeps what any
//! party may see (how many cells and which margins are hidden).
#![allow(
    clippy::indexing_slicing,
    reason = "per-table flags are checked to have the shapes' lengths, and categories are the shape's own"
)]

use std::fmt;

use super::cost::{Levels, Standing, standing_in};
use crate::table::Table;

/// Hidden cells at one level of one dimension's hierarchy in one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelLoss {
    /// Table id.
    pub table: String,
    /// Dimension id.
    pub dimension: String,
    /// Levels below the dimension's total (0 is the total itself).
    pub depth: u32,
    /// Category codes at this level, for the reader (the first few).
    pub codes: Vec<String>,
    /// Cells with this dimension at this level, over all other categories.
    pub cells: usize,
    /// Of those, hidden.
    pub hidden: usize,
    /// Of the hidden, complementary (secondary) suppressions; `None` when
    /// withheld (it tells which hidden cells are not small).
    pub secondary: Option<usize>,
}

/// The information loss of one suppression pattern over a report's tables.
///
/// Cell counts are over table cells (a quantity shown in two tables is
/// hidden twice for a reader). People are the counts of hidden cells (for
/// sum tables, their contributors).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Loss {
    /// Hidden cells.
    pub suppressed_cells: usize,
    /// People in hidden cells; `None` when the measure is withheld.
    pub suppressed_people: Option<i64>,
    /// Complementary (secondary) suppressions; `None` when withheld.
    pub secondary_cells: Option<usize>,
    /// People in complementary suppressions; `None` when withheld.
    pub secondary_people: Option<i64>,
    /// The largest complementary suppression; `None` when there is none or
    /// the measure is withheld.
    pub largest_secondary: Option<i64>,
    /// Tables whose grand total is hidden.
    pub grand_totals_hidden: usize,
    /// One-way margins (a dimension's category over all the others) hidden.
    pub one_way_hidden: usize,
    /// One-way margins in all.
    pub one_way_cells: usize,
    /// Per table, dimension and level above the leaves.
    pub levels: Vec<LevelLoss>,
}

impl Loss {
    /// Measures the pattern `suppressed` (per table, per cell), of which
    /// `primary` marks the cells hidden by the primary rule.
    pub fn measure(tables: &[Table], suppressed: &[Vec<bool>], primary: &[Vec<bool>]) -> Loss {
        let mut loss = Loss {
            suppressed_people: Some(0),
            secondary_cells: Some(0),
            secondary_people: Some(0),
            ..Loss::default()
        };
        let mut people = 0i64;
        let mut secondary_people = 0i64;
        for (t, table) in tables.iter().enumerate() {
            let shape = &table.shape;
            let (Some(hidden), Some(prim)) = (suppressed.get(t), primary.get(t)) else {
                continue;
            };
            if hidden.len() != shape.len() || prim.len() != shape.len() {
                continue;
            }
            let first = loss.levels.len();
            let levels = Levels::of_shape(shape);
            for (d, lv) in shape.dimensions.iter().zip(&levels) {
                if !d.additive {
                    continue;
                }
                let below = lv.height[0];
                for k in 0..below {
                    let codes = (0..d.categories.len())
                        .filter(|&c| lv.depth[c] == k)
                        .map(|c| d.categories[c].code.clone())
                        .take(4)
                        .collect();
                    loss.levels.push(LevelLoss {
                        table: shape.id.clone(),
                        dimension: d.id.clone(),
                        depth: k,
                        codes,
                        cells: 0,
                        hidden: 0,
                        secondary: Some(0),
                    });
                }
            }
            let sum_table = shape.measure != crate::table::Measure::Count;
            for cell in 0..shape.len() {
                let (place, _) = standing_in(shape, &levels, cell);
                if place == Standing::OneWayMargin {
                    loss.one_way_cells += 1;
                }
                let key = shape.key(cell);
                let mut level = first;
                for ((d, &k), lv) in shape.dimensions.iter().zip(&key).zip(&levels) {
                    if !d.additive {
                        continue;
                    }
                    let below = lv.height[0] as usize;
                    let at = lv.depth[k] as usize;
                    if at < below {
                        let l = &mut loss.levels[level + at];
                        l.cells += 1;
                        l.hidden += usize::from(hidden[cell]);
                        l.secondary = l
                            .secondary
                            .map(|n| n + usize::from(hidden[cell] && !prim[cell]));
                    }
                    level += below;
                }
                if !hidden[cell] {
                    continue;
                }
                let count = if sum_table {
                    table.contributors.get(cell).copied().unwrap_or(0)
                } else {
                    table.values[cell]
                };
                loss.suppressed_cells += 1;
                people = people.saturating_add(count);
                match place {
                    Standing::GrandTotal => loss.grand_totals_hidden += 1,
                    Standing::OneWayMargin => loss.one_way_hidden += 1,
                    Standing::Ordinary => {}
                }
                if !prim[cell] {
                    loss.secondary_cells = loss.secondary_cells.map(|n| n + 1);
                    secondary_people = secondary_people.saturating_add(count);
                    loss.largest_secondary = Some(loss.largest_secondary.unwrap_or(0).max(count));
                }
            }
        }
        loss.suppressed_people = Some(people);
        loss.secondary_people = Some(secondary_people);
        loss
    }

    /// The measures any party may see: how many cells and which margins
    /// are hidden, without the people they count and without which of them
    /// are complementary (a complementary suppression is not small).
    pub fn shape_only(mut self) -> Loss {
        self.suppressed_people = None;
        self.secondary_cells = None;
        self.secondary_people = None;
        self.largest_secondary = None;
        for l in &mut self.levels {
            l.secondary = None;
        }
        self
    }

    /// [`Loss::shape_only`] of a pattern whose primary cells are not known
    /// or not to be told.
    pub fn of_hidden(tables: &[Table], suppressed: &[Vec<bool>]) -> Loss {
        let none: Vec<Vec<bool>> = suppressed.iter().map(|h| vec![false; h.len()]).collect();
        Loss::measure(tables, suppressed, &none).shape_only()
    }

    /// Hidden margins: levels with at least one hidden cell.
    pub fn hidden_levels(&self) -> impl Iterator<Item = &LevelLoss> {
        self.levels.iter().filter(|l| l.hidden > 0)
    }
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} cells hidden", self.suppressed_cells)?;
        if let Some(p) = self.suppressed_people {
            write!(f, " ({p} people)")?;
        }
        if let Some(n) = self.secondary_cells {
            write!(f, ", {n} of them complementary")?;
        }
        if let Some(p) = self.secondary_people {
            write!(f, " ({p} people")?;
            if let Some(m) = self.largest_secondary {
                write!(f, ", the largest {m}")?;
            }
            write!(f, ")")?;
        }
        write!(
            f,
            "; grand totals hidden: {}; one-way margins hidden: {} of {}",
            self.grand_totals_hidden, self.one_way_hidden, self.one_way_cells
        )
    }
}

impl fmt::Display for LevelLoss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = if self.depth == 0 {
            "total".to_string()
        } else {
            format!("level {} ({}", self.depth, self.codes.join(", "))
                + if self.codes.len() >= 4 { ", ...)" } else { ")" }
        };
        write!(
            f,
            "{} {} at {level}: {} of {} hidden",
            self.table, self.dimension, self.hidden, self.cells
        )?;
        match self.secondary {
            Some(n) => write!(f, " ({n} complementary)"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use crate::table::{Dimension, Measure, TableShape};

    fn loss_table() -> Table {
        let region = Arc::new(Dimension::hierarchy(
            "region",
            &[("C1", "total"), ("a", "C1"), ("b", "C1")],
        ));
        let sex = Arc::new(Dimension::flat("sex", &["f", "m"]));
        let shape = Arc::new(TableShape::new(
            "t".into(),
            vec![region.clone(), sex.clone()],
            Measure::Count,
            "total".into(),
        ));
        let mut t = Table::zeros(shape.clone());
        for (r, s, n) in [("a", "f", 2), ("a", "m", 7), ("b", "f", 6), ("b", "m", 9)] {
            t.add_inner(&[region.index_of(r).unwrap(), sex.index_of(s).unwrap()], n);
        }
        t
    }

    #[test]
    fn counts_people_levels_and_margins() {
        let t = loss_table();
        let shape = t.shape.clone();
        let cell = |r: &str, s: &str| shape.cell_by_codes(&[r, s]).unwrap();
        let mut hidden = vec![false; shape.len()];
        let mut primary = vec![false; shape.len()];
        for c in [
            cell("a", "f"),
            cell("a", "m"),
            cell("b", "f"),
            cell("b", "m"),
        ] {
            hidden[c] = true;
        }
        primary[cell("a", "f")] = true;
        let loss = Loss::measure(&[t], &[hidden], &[primary]);
        assert_eq!(loss.suppressed_cells, 4);
        assert_eq!(loss.suppressed_people, Some(24));
        assert_eq!(loss.secondary_cells, Some(3));
        assert_eq!(loss.secondary_people, Some(22));
        assert_eq!(loss.largest_secondary, Some(9));
        assert_eq!(loss.grand_totals_hidden, 0);
        // One-way margins: region a, b, C1 by sex total, and sex f, m by region total.
        assert_eq!((loss.one_way_hidden, loss.one_way_cells), (0, 5));
        // Region has levels total and C1 above the leaves; sex has total.
        let levels: Vec<(&str, u32, usize, usize)> = loss
            .levels
            .iter()
            .map(|l| (l.dimension.as_str(), l.depth, l.cells, l.hidden))
            .collect();
        assert_eq!(
            levels,
            vec![("region", 0, 3, 0), ("region", 1, 3, 0), ("sex", 0, 4, 0)]
        );
        let quiet = loss.clone().shape_only();
        assert_eq!(quiet.suppressed_people, None);
        assert_eq!(quiet.secondary_cells, None);
        assert!(!quiet.to_string().contains("24"), "{quiet}");
        assert!(!quiet.to_string().contains("complementary"), "{quiet}");
        assert_eq!(
            Loss::of_hidden(&[loss_table()], &[vec![true; 12]]).suppressed_cells,
            12
        );
        assert!(loss.to_string().contains("24 people"), "{loss}");
    }
}
