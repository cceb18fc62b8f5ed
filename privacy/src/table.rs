//! Tables with margins: dimensions with hierarchies, the cells of every
//! combination of categories (totals included), the additive relations
//! between them, and the quantity each cell stands for.
#![allow(
    clippy::indexing_slicing,
    reason = "cell positions, keys and strides belong to the shape (built together in `TableShape::new`); a key from outside the shape is a caller's bug, as with a slice"
)]

use std::sync::Arc;

/// One category of a dimension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    /// Code as it appears on the wire, e.g. `admitted.terminated.birth`.
    pub code: String,
    /// Parent category (`None` for the root `total`, and in non-additive dimensions).
    pub parent: Option<usize>,
    /// Child categories.
    pub children: Vec<usize>,
}

/// A dimension: categories in a hierarchy whose root is `total` when additive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dimension {
    /// Dimension id.
    pub id: String,
    /// The variable it classifies; dimensions with the same variable describe
    /// the same quantities (`status` and `intake` both classify status).
    pub variable: String,
    /// Categories; index 0 is `total` in an additive dimension.
    pub categories: Vec<Category>,
    /// Whether a parent is the sum of its children. Multi-response and flag
    /// dimensions are not: one person may count in several categories.
    pub additive: bool,
}

impl Dimension {
    /// A dimension from its parts.
    pub fn new(id: String, variable: String, categories: Vec<Category>, additive: bool) -> Self {
        Self {
            id,
            variable,
            categories,
            additive,
        }
    }

    /// A flat additive dimension `total` -> codes.
    pub fn flat(id: &str, codes: &[&str]) -> Self {
        let mut cats = vec![Category {
            code: "total".into(),
            parent: None,
            children: vec![],
        }];
        for c in codes {
            let i = cats.len();
            cats.push(Category {
                code: (*c).into(),
                parent: Some(0),
                children: vec![],
            });
            cats[0].children.push(i);
        }
        Self::new(id.into(), id.into(), cats, true)
    }

    /// An additive hierarchy from `(code, parent code)` pairs; the root `total` is implied.
    /// Parents must be listed before their children.
    pub fn hierarchy(id: &str, nodes: &[(&str, &str)]) -> Self {
        let mut cats = vec![Category {
            code: "total".into(),
            parent: None,
            children: vec![],
        }];
        for (code, parent) in nodes {
            let p = cats.iter().position(|c| c.code == *parent).unwrap_or(0);
            let i = cats.len();
            cats.push(Category {
                code: (*code).into(),
                parent: Some(p),
                children: vec![],
            });
            cats[p].children.push(i);
        }
        Self::new(id.into(), id.into(), cats, true)
    }

    /// Index of a category code.
    pub fn index_of(&self, code: &str) -> Option<usize> {
        self.categories.iter().position(|c| c.code == code)
    }

    /// Leaves at or below a category (the category itself when not additive).
    pub fn leaves_under(&self, cat: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut stack = vec![cat];
        while let Some(c) = stack.pop() {
            let ch = &self.categories[c].children;
            if ch.is_empty() || !self.additive {
                out.push(c);
            } else {
                stack.extend(ch.iter().rev());
            }
        }
        out.sort_unstable();
        out
    }

    /// Whether a category has no children.
    pub fn is_leaf(&self, cat: usize) -> bool {
        self.categories[cat].children.is_empty()
    }
}

/// What a table's cells hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Measure {
    /// Number of people.
    Count,
    /// Sum of an integer column over people; cells also carry the number of
    /// people with a non-zero value (contributors).
    Sum(String),
}

/// An additive relation: `total` equals the sum of `parts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    /// The cell that is the sum.
    pub total: usize,
    /// The cells that add up to it.
    pub parts: Vec<usize>,
}

/// The shape of a table: dimensions, measure and population. Cells are laid
/// out row-major over the dimensions' categories, margins included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableShape {
    /// Table id.
    pub id: String,
    /// Dimensions in order.
    pub dimensions: Vec<Arc<Dimension>>,
    /// What the cells hold.
    pub measure: Measure,
    /// Status path of the people the table counts (`total` for everyone referred).
    pub population: String,
    strides: Vec<usize>,
    len: usize,
}

impl TableShape {
    /// A shape from its parts.
    pub fn new(
        id: String,
        dimensions: Vec<Arc<Dimension>>,
        measure: Measure,
        population: String,
    ) -> Self {
        let mut strides = vec![0; dimensions.len()];
        let mut len = 1;
        for (i, d) in dimensions.iter().enumerate().rev() {
            strides[i] = len;
            len *= d.categories.len();
        }
        Self {
            id,
            dimensions,
            measure,
            population,
            strides,
            len,
        }
    }

    /// Number of cells.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the table has no cells (never, for a valid shape).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Category index per dimension of a cell.
    pub fn key(&self, cell: usize) -> Vec<usize> {
        self.dimensions
            .iter()
            .zip(&self.strides)
            .map(|(d, s)| (cell / s) % d.categories.len())
            .collect()
    }

    /// Cell index of a key.
    pub fn index(&self, key: &[usize]) -> usize {
        key.iter().zip(&self.strides).map(|(k, s)| k * s).sum()
    }

    /// Category codes of a cell.
    pub fn key_codes(&self, cell: usize) -> Vec<&str> {
        self.key(cell)
            .iter()
            .zip(&self.dimensions)
            .map(|(&k, d)| d.categories[k].code.as_str())
            .collect()
    }

    /// Cell index from category codes, one per dimension.
    pub fn cell_by_codes<S: AsRef<str>>(&self, codes: &[S]) -> Option<usize> {
        if codes.len() != self.dimensions.len() {
            return None;
        }
        let mut key = Vec::with_capacity(codes.len());
        for (c, d) in codes.iter().zip(&self.dimensions) {
            key.push(d.index_of(c.as_ref())?);
        }
        Some(self.index(&key))
    }

    /// Whether every additive dimension of the cell is at a leaf category.
    pub fn is_inner(&self, cell: usize) -> bool {
        self.key(cell)
            .iter()
            .zip(&self.dimensions)
            .all(|(&k, d)| !d.additive || d.is_leaf(k))
    }

    /// Every additive relation of the table: for each dimension, each
    /// category with children, and each combination of the other
    /// dimensions' categories, the parent cell is the sum of the child cells.
    pub fn relations(&self) -> Vec<Relation> {
        let mut out = Vec::new();
        for (di, d) in self.dimensions.iter().enumerate() {
            if !d.additive {
                continue;
            }
            for cell in 0..self.len {
                let key = self.key(cell);
                let cat = &d.categories[key[di]];
                if cat.children.is_empty() {
                    continue;
                }
                let parts = cat
                    .children
                    .iter()
                    .map(|&ch| {
                        let mut k = key.clone();
                        k[di] = ch;
                        self.index(&k)
                    })
                    .collect();
                out.push(Relation { total: cell, parts });
            }
        }
        out
    }

    /// The inner cells (leaf combinations) whose sum a cell is.
    pub fn inner_cells_under(&self, cell: usize) -> Vec<usize> {
        let key = self.key(cell);
        let mut acc = vec![0usize];
        for (di, d) in self.dimensions.iter().enumerate() {
            let leaves = d.leaves_under(key[di]);
            let mut next = Vec::with_capacity(acc.len() * leaves.len());
            for a in &acc {
                for l in &leaves {
                    next.push(a + l * self.strides[di]);
                }
            }
            acc = next;
        }
        acc
    }

    /// A canonical name of the quantity a cell stands for, shared by every
    /// cell in any table that counts the same people: the measure, then each
    /// variable's category except totals, with the table's population folded
    /// into the status variable.
    pub fn quantity(&self, cell: usize) -> String {
        let key = self.key(cell);
        let mut status: Option<&str> =
            (self.population != "total").then_some(self.population.as_str());
        let mut parts: Vec<(String, String)> = Vec::new();
        for (d, &k) in self.dimensions.iter().zip(&key) {
            let code = d.categories[k].code.as_str();
            if d.additive && k == 0 {
                continue;
            }
            if d.variable == "status" {
                status = Some(match status {
                    Some(p) if p.len() > code.len() && p.starts_with(code) => p,
                    _ => code,
                });
            } else {
                parts.push((d.variable.clone(), code.to_string()));
            }
        }
        if let Some(s) = status {
            parts.push(("status".into(), s.to_string()));
        }
        parts.sort();
        let measure = match &self.measure {
            Measure::Count => "count".to_string(),
            Measure::Sum(c) => format!("sum:{c}"),
        };
        let mut q = measure;
        for (v, c) in parts {
            q.push('|');
            q.push_str(&v);
            q.push('=');
            q.push_str(&c);
        }
        q
    }
}

/// A table of exact values, margins included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Shape.
    pub shape: Arc<TableShape>,
    /// Value per cell (a count, or a sum for sum tables).
    pub values: Vec<i64>,
    /// People with a non-zero value per cell; equals `values` for counts.
    pub contributors: Vec<i64>,
}

impl Table {
    /// An all-zero table.
    pub fn zeros(shape: Arc<TableShape>) -> Self {
        let n = shape.len();
        Self {
            shape,
            values: vec![0; n],
            contributors: vec![0; n],
        }
    }

    /// Adds to an inner cell and every margin above it: `value` people to a
    /// count table, or one person's `value` to a sum table (a contributor when
    /// `value != 0`).
    pub fn add_inner(&mut self, key: &[usize], value: i64) {
        let contributes = match self.shape.measure {
            Measure::Count => value,
            Measure::Sum(_) => i64::from(value != 0),
        };
        self.add_inner_totals(key, value, contributes);
    }

    /// Adds the totals of an inner cell, `value` and `contributors` summed
    /// over many people, to it and every margin above it: the same walk as
    /// [`Table::add_inner`], done once per cell instead of once per person.
    pub fn add_inner_totals(&mut self, key: &[usize], value: i64, contributors: i64) {
        // Walk every combination of ancestors (including self) per dimension.
        let mut acc = vec![0usize];
        for (di, d) in self.shape.dimensions.iter().enumerate() {
            let mut chain = vec![key[di]];
            if d.additive {
                let mut c = key[di];
                while let Some(p) = d.categories[c].parent {
                    chain.push(p);
                    c = p;
                }
            }
            let stride = self.shape.strides[di];
            acc = acc
                .iter()
                .flat_map(|a| chain.iter().map(move |c| a + c * stride))
                .collect();
        }
        for cell in acc {
            self.values[cell] += value;
            self.contributors[cell] += contributors;
        }
    }

    /// Whether every relation holds.
    /// Sums are taken in 128 bits, so values near the ends of `i64` cannot
    /// wrap into a false "adds up".
    pub fn margins_add_up(&self) -> bool {
        let sum = |v: &[i64], cells: &[usize]| -> Option<i128> {
            cells
                .iter()
                .map(|&p| v.get(p).map(|&x| i128::from(x)))
                .sum()
        };
        let one = |v: &[i64], cell: usize| v.get(cell).map(|&x| i128::from(x));
        self.shape.relations().iter().all(|r| {
            let holds = |v: &[i64]| {
                matches!((sum(v, &r.parts), one(v, r.total)), (Some(a), Some(b)) if a == b)
            };
            holds(&self.values) && holds(&self.contributors)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> TableShape {
        let status = Dimension::hierarchy(
            "status",
            &[("a", "total"), ("a.x", "a"), ("a.y", "a"), ("b", "total")],
        );
        let gender = Dimension::flat("gender", &["female", "male"]);
        TableShape::new(
            "t".into(),
            vec![Arc::new(status), Arc::new(gender)],
            Measure::Count,
            "total".into(),
        )
    }

    #[test]
    fn margins_follow_inner_cells() {
        let s = Arc::new(shape());
        let mut t = Table::zeros(s.clone());
        t.add_inner(&[2, 1], 3); // a.x female
        t.add_inner(&[4, 2], 2); // b male
        assert_eq!(t.values[s.cell_by_codes(&["total", "total"]).unwrap()], 5);
        assert_eq!(t.values[s.cell_by_codes(&["a", "female"]).unwrap()], 3);
        assert_eq!(t.values[s.cell_by_codes(&["a", "total"]).unwrap()], 3);
        assert!(t.margins_add_up());
        t.values[0] += 1;
        assert!(!t.margins_add_up());
    }

    #[test]
    fn margins_that_only_add_up_after_wrapping_do_not_add_up() {
        let gender = Arc::new(Dimension::flat("gender", &["female", "male"]));
        let s = Arc::new(TableShape::new(
            "w".into(),
            vec![gender],
            Measure::Count,
            "total".into(),
        ));
        let mut t = Table::zeros(s.clone());
        // i64::MAX + 2 wraps to i64::MIN + 1 in 64 bits.
        t.values = vec![i64::MIN + 1, i64::MAX, 2];
        t.contributors = t.values.clone();
        assert!(!t.margins_add_up());
    }

    #[test]
    fn relations_and_inner_cells() {
        let s = shape();
        assert_eq!(s.len(), 15);
        // status: total and `a` have children (2 parents x 3 gender cats); gender: 5 status cats.
        assert_eq!(s.relations().len(), 6 + 5);
        assert_eq!(s.inner_cells_under(0).len(), 6);
        assert!(s.is_inner(s.cell_by_codes(&["a.y", "male"]).unwrap()));
        assert!(!s.is_inner(s.cell_by_codes(&["a", "male"]).unwrap()));
    }

    #[test]
    fn quantities_fold_population_into_status() {
        let s = shape();
        let q = s.quantity(s.cell_by_codes(&["a", "female"]).unwrap());
        assert_eq!(q, "count|gender=female|status=a");
        let gender = Arc::new(Dimension::flat("gender", &["female", "male"]));
        let pop = TableShape::new("c".into(), vec![gender], Measure::Count, "a".into());
        assert_eq!(pop.quantity(pop.cell_by_codes(&["female"]).unwrap()), q);
        assert_eq!(s.quantity(0), "count");
    }
}
