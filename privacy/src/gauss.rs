//! The exact elimination engine behind suppression and the audit.
//!
//! Every cell of every table is a sum of the table's inner cells (the leaf
//! combinations), so a cell is a sparse 0/1 vector over all tables' inner
//! cells. Cells that stand for the same quantity in two tables give a link:
//! the difference of their vectors is known to be zero. An attacker who sees
//! the published cells knows the projection of the inner cells onto the span
//! of the published vectors and the links; a suppressed cell is derivable
//! exactly when its vector lies in that span.
//!
//! Arithmetic is exact: fraction-free elimination on 128-bit integers with
//! gcd normalisation; an overflow is an error, never a silent wrap.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::sync::Arc;

use crate::audit::{AuditReport, CellInterval, PublishedTable};
use crate::bounds::{Bounds, Fixed};
use crate::protect::{Policy, ProtectError, Protected};
use crate::table::{Measure, Table, TableShape};

type Coef = i128;

/// A sparse vector sorted by column, normalised so that its entries have gcd 1
/// and its first entry is positive (so parallel vectors compare equal).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub(crate) struct SVec(Vec<(u32, Coef)>);

fn gcd(mut a: Coef, mut b: Coef) -> Coef {
    a = a.abs();
    b = b.abs();
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl SVec {
    /// A cheap fingerprint for finding equal (parallel, once normalised) vectors.
    fn fingerprint(&self) -> u64 {
        self.0.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &(c, x)| {
            (h.rotate_left(5) ^ u64::from(c) ^ ((x as u64) << 32))
                .wrapping_mul(0x517c_c1b7_2722_0a95)
        })
    }

    fn ones(cols: impl IntoIterator<Item = u32>) -> Self {
        let mut v: Vec<(u32, Coef)> = cols.into_iter().map(|c| (c, 1)).collect();
        v.sort_unstable_by_key(|e| e.0);
        v.dedup_by_key(|e| e.0);
        SVec(v)
    }

    fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    fn get(&self, col: u32) -> Coef {
        self.0
            .binary_search_by_key(&col, |e| e.0)
            .map_or(0, |i| self.0[i].1)
    }

    fn normalize(&mut self) {
        let Some(&(_, first)) = self.0.first() else {
            return;
        };
        // Most entries are 1 or -1: stop as soon as the gcd is 1.
        let mut g: Coef = 0;
        for &(_, c) in &self.0 {
            g = if c == 1 || c == -1 { 1 } else { gcd(g, c) };
            if g == 1 {
                break;
            }
        }
        let g = if first < 0 { -g } else { g };
        if g != 1 {
            for e in &mut self.0 {
                e.1 /= g;
            }
        }
    }

    /// `a * self - b * other`, normalised.
    fn combine(&self, a: Coef, other: &SVec, b: Coef) -> Result<SVec, ProtectError> {
        let (x, y) = (&self.0, &other.0);
        let mut out = Vec::with_capacity(x.len() + y.len());
        let (mut i, mut j) = (0, 0);
        let mul = |c: Coef, k: Coef| c.checked_mul(k).ok_or(ProtectError::Overflow);
        while i < x.len() || j < y.len() {
            let (col, v) = if j >= y.len() || (i < x.len() && x[i].0 < y[j].0) {
                i += 1;
                (x[i - 1].0, mul(x[i - 1].1, a)?)
            } else if i >= x.len() || y[j].0 < x[i].0 {
                j += 1;
                (y[j - 1].0, -mul(y[j - 1].1, b)?)
            } else {
                i += 1;
                j += 1;
                let v = mul(x[i - 1].1, a)?
                    .checked_sub(mul(y[j - 1].1, b)?)
                    .ok_or(ProtectError::Overflow)?;
                (x[i - 1].0, v)
            };
            if v != 0 {
                out.push((col, v));
            }
        }
        let mut s = SVec(out);
        s.normalize();
        Ok(s)
    }
}

/// Basis of the known span, each vector reduced against all earlier ones at
/// insertion, so every nonzero combination is nonzero at some pivot and a
/// reduced vector is zero exactly when it lies in the span.
#[derive(Default)]
struct Basis {
    /// Vectors shared with other bases (a system's links), before `vecs`.
    base: Arc<Vec<SVec>>,
    /// This basis's own vectors, after `base`.
    vecs: Vec<SVec>,
    pivots: Vec<u32>,
    /// Per column: index of the basis vector pivoting on it, or `NONE`.
    pivot_of: Vec<u32>,
    work: std::cell::RefCell<Work>,
}

const NONE: u32 = u32::MAX;

/// Scratch space for one reduction: a dense accumulator and the columns it touched.
#[derive(Default)]
struct Work {
    dense: Vec<Coef>,
    touched: Vec<u32>,
    seen: Vec<bool>,
    queued: Vec<bool>,
}

impl Work {
    fn touch(&mut self, c: u32) {
        let c = c as usize;
        if c >= self.dense.len() {
            self.dense.resize(c + 1, 0);
            self.seen.resize(c + 1, false);
        }
        if !self.seen[c] {
            self.seen[c] = true;
            self.touched.push(c as u32);
        }
    }
}

impl Basis {
    fn len(&self) -> usize {
        self.base.len() + self.vecs.len()
    }

    fn vector(&self, i: usize) -> &SVec {
        match i.checked_sub(self.base.len()) {
            Some(j) => &self.vecs[j],
            None => &self.base[i],
        }
    }

    fn pivot_index(&self, c: u32) -> Option<usize> {
        match self.pivot_of.get(c as usize) {
            Some(&i) if i != NONE => Some(i as usize),
            _ => None,
        }
    }

    /// Reduces `v` against the basis: eliminates every pivot column, in
    /// insertion order, with fraction-free integer steps.
    fn reduce(&self, v: &SVec) -> Result<SVec, ProtectError> {
        let mut guard = self.work.borrow_mut();
        let w = &mut *guard;
        if w.queued.len() < self.len() {
            w.queued.resize(self.len(), false);
        }
        let mut heap = BinaryHeap::new();
        let mut queued_list = Vec::new();
        for &(c, x) in &v.0 {
            w.touch(c);
            w.dense[c as usize] = x;
            if let Some(i) = self.pivot_index(c)
                && !w.queued[i]
            {
                w.queued[i] = true;
                queued_list.push(i);
                heap.push(Reverse(i));
            }
        }
        let mut result = Ok(());
        'outer: while let Some(Reverse(i)) = heap.pop() {
            let col = self.pivots[i];
            let vc = w.dense[col as usize];
            if vc == 0 {
                continue;
            }
            let b = self.vector(i);
            let bc = b.get(col);
            let g = gcd(bc, vc);
            let (scale, m) = (bc / g, vc / g);
            if scale != 1 {
                for k in 0..w.touched.len() {
                    let t = w.touched[k] as usize;
                    match w.dense[t].checked_mul(scale) {
                        Some(x) => w.dense[t] = x,
                        None => {
                            result = Err(ProtectError::Overflow);
                            break 'outer;
                        }
                    }
                }
            }
            for &(c, x) in &b.0 {
                w.touch(c);
                let next = m
                    .checked_mul(x)
                    .and_then(|d| w.dense[c as usize].checked_sub(d));
                match next {
                    Some(y) => w.dense[c as usize] = y,
                    None => {
                        result = Err(ProtectError::Overflow);
                        break 'outer;
                    }
                }
                if let Some(k) = self.pivot_index(c)
                    && k > i
                    && !w.queued[k]
                {
                    w.queued[k] = true;
                    queued_list.push(k);
                    heap.push(Reverse(k));
                }
            }
        }
        for i in queued_list {
            w.queued[i] = false;
        }
        let mut touched = std::mem::take(&mut w.touched);
        touched.sort_unstable();
        let mut out = Vec::new();
        for &c in &touched {
            let x = std::mem::take(&mut w.dense[c as usize]);
            w.seen[c as usize] = false;
            if x != 0 {
                out.push((c, x));
            }
        }
        touched.clear();
        w.touched = touched;
        result?;
        let mut s = SVec(out);
        s.normalize();
        Ok(s)
    }

    /// Inserts a vector already reduced against the basis, pivoting on `col`
    /// (an entry of `r`).
    fn insert_at(&mut self, r: SVec, col: u32) {
        if self.pivot_of.len() <= col as usize {
            self.pivot_of.resize(col as usize + 1, NONE);
        }
        self.pivot_of[col as usize] = self.len() as u32;
        self.pivots.push(col);
        self.vecs.push(r);
    }

    /// Inserts a vector already reduced against the basis, pivoting on its first entry.
    fn insert(&mut self, r: SVec) {
        let col = r.0[0].0;
        self.insert_at(r, col);
    }
}

/// The basis spanned by the links and the vectors of the `published`
/// quantities: sparse vectors first (margins then shrink to their
/// unpublished parts), with fill-reducing pivots.
fn published_basis(
    sys: &System,
    published: impl Iterator<Item = usize>,
) -> Result<Basis, ProtectError> {
    let mut basis = sys.link_basis()?;
    let mut vectors: Vec<&SVec> = published.map(|q| sys.vector_ref(q)).collect();
    vectors.sort_by_key(|v| v.0.len());
    let mut pivots = PivotChooser::new(vectors.iter().copied());
    for v in vectors {
        pivots.done(v);
        let r = basis.reduce(v)?;
        if !r.is_zero() {
            let col = pivots.pick(&r);
            basis.insert_at(r, col);
        }
    }
    Ok(basis)
}

/// Chooses pivots that later vectors rarely contain, so eliminating them
/// adds few entries (fill-in) to later vectors.
struct PivotChooser {
    /// Per column: vectors still to come that contain it.
    remaining: HashMap<u32, u32>,
}

impl PivotChooser {
    fn new<'v>(upcoming: impl IntoIterator<Item = &'v SVec>) -> Self {
        let mut remaining = HashMap::new();
        for v in upcoming {
            for &(c, _) in &v.0 {
                *remaining.entry(c).or_insert(0) += 1;
            }
        }
        PivotChooser { remaining }
    }

    /// Marks an original vector as processed.
    fn done(&mut self, v: &SVec) {
        for &(c, _) in &v.0 {
            if let Some(n) = self.remaining.get_mut(&c) {
                *n = n.saturating_sub(1);
            }
        }
    }

    fn pick(&self, r: &SVec) -> u32 {
        r.0.iter()
            .map(|&(c, _)| c)
            .min_by_key(|c| (self.remaining.get(c).copied().unwrap_or(0), *c))
            .unwrap_or(0)
    }
}

/// One quantity: every cell, in any table, that counts the same people.
#[derive(Debug, Clone)]
pub(crate) struct Quantity {
    pub(crate) cells: Vec<(usize, usize)>,
    pub(crate) is_sum: bool,
}

/// All tables of a report as one system of quantities and relations.
pub(crate) struct System {
    pub(crate) shapes: Vec<Arc<TableShape>>,
    pub(crate) quantities: Vec<Quantity>,
    /// Per table, per cell: quantity index.
    pub(crate) cell_q: Vec<Vec<usize>>,
    /// Relations in quantity indices: (total, parts), deduplicated.
    pub(crate) relations: Vec<(usize, Vec<usize>)>,
    offsets: Vec<u32>,
    /// What depends on the shapes alone, worked out on first use: kept by a
    /// system that audits many reports of one definition (the gateway).
    fixed: std::sync::OnceLock<ShapeWork>,
    /// Whether the relations span every linear dependency of the
    /// quantities' vectors, worked out on first use.
    complete: std::sync::OnceLock<bool>,
}

/// The parts of the rank test that are the same for every report of one
/// set of shapes.
struct ShapeWork {
    /// Per quantity, its vector over inner cells.
    vectors: Vec<SVec>,
    /// The basis spanned by the links (cells of one quantity in several
    /// tables differ by zero), or why it could not be built.
    links: Result<Spanned, ProtectError>,
}

/// A basis without its scratch space, to start each audit from.
#[derive(Clone)]
struct Spanned {
    vecs: Arc<Vec<SVec>>,
    pivots: Vec<u32>,
    pivot_of: Vec<u32>,
}

impl System {
    pub(crate) fn new(shapes: Vec<Arc<TableShape>>) -> Self {
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut quantities: Vec<Quantity> = Vec::new();
        let mut cell_q = Vec::with_capacity(shapes.len());
        let mut offsets = Vec::with_capacity(shapes.len());
        let mut offset = 0u32;
        for (t, s) in shapes.iter().enumerate() {
            offsets.push(offset);
            offset += s.len() as u32;
            let mut qs = Vec::with_capacity(s.len());
            for c in 0..s.len() {
                let name = s.quantity(c);
                let q = *index.entry(name).or_insert_with(|| {
                    quantities.push(Quantity {
                        cells: vec![],
                        is_sum: s.measure != Measure::Count,
                    });
                    quantities.len() - 1
                });
                quantities[q].cells.push((t, c));
                qs.push(q);
            }
            cell_q.push(qs);
        }
        let mut seen = BTreeSet::new();
        let mut relations = Vec::new();
        for (t, s) in shapes.iter().enumerate() {
            for r in s.relations() {
                let total = cell_q[t][r.total];
                let mut parts: Vec<usize> = r.parts.iter().map(|&p| cell_q[t][p]).collect();
                parts.sort_unstable();
                if parts == [total] {
                    continue;
                }
                if seen.insert((total, parts.clone())) {
                    relations.push((total, parts));
                }
            }
        }
        System {
            shapes,
            quantities,
            cell_q,
            relations,
            offsets,
            fixed: std::sync::OnceLock::new(),
            complete: std::sync::OnceLock::new(),
        }
    }

    /// Whether every linear dependency among the quantities (modulo the
    /// links) is a combination of the relations. When it is, a suppressed
    /// quantity is derivable by rank exactly when every direction that keeps
    /// the relations on the suppressed quantities leaves it unchanged, so
    /// the kernel the witnesses compute anyway decides the rank test.
    ///
    /// Every relation is a true dependency, so the relations' span lies in
    /// the dependency space; the two are equal exactly when their dimensions
    /// are: rank(relations) = quantities - (inner cells - rank(links)),
    /// since the quantities' vectors and the links together span every
    /// inner cell.
    pub(crate) fn relations_span_dependencies(&self) -> bool {
        *self.complete.get_or_init(|| {
            let Ok(links) = &self.fixed().links else {
                return false;
            };
            let inner: usize = self
                .shapes
                .iter()
                .map(|s| (0..s.len()).filter(|&c| s.is_inner(c)).count())
                .sum();
            let mut basis = Basis::default();
            for (total, parts) in &self.relations {
                let mut entries: Vec<(u32, Coef)> = std::iter::once((*total as u32, -1))
                    .chain(parts.iter().map(|&p| (p as u32, 1)))
                    .collect();
                entries.sort_unstable_by_key(|e| e.0);
                let mut merged: Vec<(u32, Coef)> = Vec::with_capacity(entries.len());
                for (c, x) in entries {
                    match merged.last_mut() {
                        Some(last) if last.0 == c => last.1 += x,
                        _ => merged.push((c, x)),
                    }
                }
                merged.retain(|e| e.1 != 0);
                let mut v = SVec(merged);
                v.normalize();
                match basis.reduce(&v) {
                    Ok(r) if !r.is_zero() => basis.insert(r),
                    Ok(_) => {}
                    Err(_) => return false,
                }
            }
            let dependencies = (self.quantities.len() + links.vecs.len()).checked_sub(inner);
            dependencies == Some(basis.len())
        })
    }

    fn fixed(&self) -> &ShapeWork {
        self.fixed.get_or_init(|| {
            let vectors = (0..self.quantities.len())
                .map(|q| {
                    let (t, c) = self.quantities[q].cells[0];
                    self.cell_vector(t, c)
                })
                .collect();
            let links = self.links().and_then(|links| {
                let mut basis = Basis::default();
                for l in links {
                    let r = basis.reduce(&l)?;
                    if !r.is_zero() {
                        basis.insert(r);
                    }
                }
                Ok(Spanned {
                    vecs: Arc::new(basis.vecs),
                    pivots: basis.pivots,
                    pivot_of: basis.pivot_of,
                })
            });
            ShapeWork { vectors, links }
        })
    }

    /// A basis of the links, to add a report's published vectors to.
    fn link_basis(&self) -> Result<Basis, ProtectError> {
        let s = self.fixed().links.clone()?;
        Ok(Basis {
            base: s.vecs,
            vecs: Vec::new(),
            pivots: s.pivots,
            pivot_of: s.pivot_of,
            work: Default::default(),
        })
    }

    /// Quantity `q`'s vector over inner cells.
    fn vector_ref(&self, q: usize) -> &SVec {
        &self.fixed().vectors[q]
    }

    fn cell_vector(&self, t: usize, c: usize) -> SVec {
        let off = self.offsets[t];
        SVec::ones(
            self.shapes[t]
                .inner_cells_under(c)
                .into_iter()
                .map(|i| off + i as u32),
        )
    }

    /// Links: for a quantity in several tables, its vectors differ by zero.
    fn links(&self) -> Result<Vec<SVec>, ProtectError> {
        let mut out = Vec::new();
        for q in &self.quantities {
            let Some(&(t0, c0)) = q.cells.first() else {
                continue;
            };
            let first = self.cell_vector(t0, c0);
            for &(t, c) in &q.cells[1..] {
                let d = first.combine(1, &self.cell_vector(t, c), 1)?;
                if !d.is_zero() {
                    out.push(d);
                }
            }
        }
        Ok(out)
    }

    fn describe(&self, q: usize) -> (String, Vec<String>) {
        let (t, c) = self.quantities[q].cells[0];
        let s = &self.shapes[t];
        (
            s.id.clone(),
            s.key_codes(c).iter().map(|x| x.to_string()).collect(),
        )
    }

    /// The audit's finding for a suppressed quantity derivable by rank.
    pub(crate) fn derivable(&self, q: usize) -> String {
        format!("{} can be computed from the published cells", self.label(q))
    }

    fn label(&self, q: usize) -> String {
        let (t, k) = self.describe(q);
        format!("{t}[{}]", k.join(", "))
    }

    /// Whether the one person of singleton `s` is inside cell `q` (so a
    /// derived `q` of 1 is that same person, not somebody else).
    fn holds_singleton(&self, q: usize, s: usize, exact: &[Table]) -> bool {
        let common_table = self.quantities[q]
            .cells
            .iter()
            .any(|&(tq, _)| self.quantities[s].cells.iter().any(|&(ts, _)| ts == tq));
        if !common_table {
            // Different tables: the one person of `s` can be the one of `q`
            // when the two describe compatible people (each shared variable
            // in the same or a nested category).
            return self.compatible(q, s);
        }
        for &(tq, cq) in &self.quantities[q].cells {
            for &(ts, cs) in &self.quantities[s].cells {
                if tq != ts {
                    continue;
                }
                let shape = &self.shapes[ts];
                let member = shape
                    .inner_cells_under(cs)
                    .into_iter()
                    .find(|&i| exact[ts].values[i] > 0);
                if let Some(i) = member {
                    return shape.inner_cells_under(cq).contains(&i);
                }
            }
        }
        false
    }

    /// Whether some person could be counted in both quantities.
    fn compatible(&self, a: usize, b: usize) -> bool {
        let name = |q: usize| {
            let (t, c) = self.quantities[q].cells[0];
            self.shapes[t].quantity(c)
        };
        let (na, nb) = (name(a), name(b));
        let parts = |n: &str| -> Vec<(String, String)> {
            n.split('|')
                .skip(1)
                .filter_map(|p| p.split_once('='))
                .map(|(v, c)| (v.into(), c.into()))
                .collect()
        };
        let (pa, pb) = (parts(&na), parts(&nb));
        pa.iter().all(|(v, c)| {
            pb.iter().filter(|(w, _)| w == v).all(|(_, d)| {
                c == d
                    || (v == "status"
                        && (c.starts_with(&format!("{d}.")) || d.starts_with(&format!("{c}."))))
            })
        })
    }

    /// Quantities sharing a relation with `q`.
    fn neighbours(&self) -> Vec<Vec<usize>> {
        let mut n: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); self.quantities.len()];
        for (total, parts) in &self.relations {
            let all: Vec<usize> = std::iter::once(*total)
                .chain(parts.iter().copied())
                .collect();
            for &a in &all {
                for &b in &all {
                    if a != b {
                        n[a].insert(b);
                    }
                }
            }
        }
        n.into_iter().map(|s| s.into_iter().collect()).collect()
    }
}

/// Tracks the reduced vectors of the protected quantities while candidates
/// are published one by one.
struct Guard<'a> {
    basis: Basis,
    protected: Vec<usize>,
    reduced: Vec<SVec>,
    by_col: HashMap<u32, Vec<usize>>,
    by_vec: HashMap<u64, Vec<usize>>,
    /// Singleton knowledge: exact tables and values, when the policy asks for it.
    singletons: Option<(&'a System, &'a [Table], &'a [i64])>,
    /// Protected entries no longer guarded (a cell being tried for publication).
    retired: Vec<bool>,
}

impl<'a> Guard<'a> {
    fn new(
        basis: Basis,
        sys: &System,
        protected: Vec<usize>,
        singletons: Option<(&'a System, &'a [Table], &'a [i64])>,
    ) -> Result<Self, ProtectError> {
        let mut g = Guard {
            basis,
            protected: vec![],
            reduced: vec![],
            by_col: HashMap::new(),
            by_vec: HashMap::new(),
            singletons,
            retired: Vec::new(),
        };
        for q in protected {
            let r = g.basis.reduce(sys.vector_ref(q))?;
            let i = g.reduced.len();
            g.index(i, &r);
            g.reduced.push(r);
            g.protected.push(q);
            g.retired.push(false);
        }
        Ok(g)
    }

    /// Protects one more quantity, given its vector reduced against the basis.
    fn protect(&mut self, q: usize, r: SVec) {
        let i = self.reduced.len();
        self.index(i, &r);
        self.reduced.push(r);
        self.protected.push(q);
        self.retired.push(false);
    }

    fn index(&mut self, i: usize, r: &SVec) {
        for &(c, _) in &r.0 {
            self.by_col.entry(c).or_default().push(i);
        }
        self.by_vec.entry(r.fingerprint()).or_default().push(i);
    }

    /// Whether protected `i` and `k` with parallel reduced vectors expose
    /// someone: the member of a singleton among them can then compute the other,
    /// unless the other is that same person.
    fn pair_exposes(&self, i: usize, k: usize) -> bool {
        let Some((sys, exact, values)) = self.singletons else {
            return false;
        };
        let (qi, qk) = (self.protected[i], self.protected[k]);
        let one = |q: usize| values[q] == 1 && !sys.quantities[q].is_sum;
        let reveals =
            |q: usize, s: usize| one(s) && !(values[q] == 1 && sys.holds_singleton(q, s, exact));
        reveals(qi, qk) || reveals(qk, qi)
    }

    /// Publishes the reduced, nonzero vector `r` unless that would expose a
    /// protected quantity (directly, or through a singleton); returns whether it did.
    /// With `force`, publishes regardless (published zeros).
    fn try_publish(&mut self, r: SVec, col: u32, force: bool) -> Result<bool, ProtectError> {
        // A guarded vector becomes zero exactly when it is parallel to `r`:
        // look that up before any arithmetic.
        if !force
            && self.by_vec.get(&r.fingerprint()).is_some_and(|list| {
                list.iter()
                    .any(|&k| !self.retired[k] && self.reduced[k] == r)
            })
        {
            return Ok(false);
        }
        let bc = r.get(col);
        // The index keeps stale and repeated entries; compact this column's.
        let mut listed: Vec<usize> = self.by_col.remove(&col).unwrap_or_default();
        listed.sort_unstable();
        listed.dedup();
        listed.retain(|&i| self.reduced[i].get(col) != 0);
        let touched: Vec<usize> = listed
            .iter()
            .copied()
            .filter(|&i| !self.retired[i])
            .collect();
        self.by_col.insert(col, listed);
        let mut updated: Vec<(usize, SVec)> = Vec::with_capacity(touched.len());
        for &i in &touched {
            let v = self.reduced[i].get(col);
            let g = gcd(bc, v);
            let nr = self.reduced[i].combine(bc / g, &r, v / g)?;
            if nr.is_zero() && !force {
                return Ok(false);
            }
            updated.push((i, nr));
        }
        if self.singletons.is_some() && !force {
            let mut fresh: HashMap<u64, Vec<usize>> = HashMap::new();
            let prints: Vec<u64> = updated.iter().map(|(_, nr)| nr.fingerprint()).collect();
            for ((i, _), &f) in updated.iter().zip(&prints) {
                fresh.entry(f).or_default().push(*i);
            }
            let new_of: HashMap<usize, &SVec> = updated.iter().map(|(i, nr)| (*i, nr)).collect();
            for ((i, nr), f) in updated.iter().zip(&prints) {
                let unchanged = self
                    .by_vec
                    .get(f)
                    .into_iter()
                    .flatten()
                    .copied()
                    .filter(|&k| {
                        !self.retired[k]
                            && touched.binary_search(&k).is_err()
                            && self.reduced[k] == *nr
                    });
                let changed = fresh
                    .get(f)
                    .into_iter()
                    .flatten()
                    .copied()
                    .filter(|&k| k != *i && new_of[&k] == nr);
                for k in unchanged.chain(changed) {
                    if self.pair_exposes(*i, k) {
                        return Ok(false);
                    }
                }
            }
        }
        self.basis.insert_at(r, col);
        for (i, nr) in updated {
            if let Some(list) = self.by_vec.get_mut(&self.reduced[i].fingerprint()) {
                list.retain(|&k| k != i);
            }
            // Only columns new to this vector: the others are listed already.
            for &(c, _) in &nr.0 {
                if self.reduced[i].get(c) == 0 {
                    self.by_col.entry(c).or_default().push(i);
                }
            }
            self.by_vec.entry(nr.fingerprint()).or_default().push(i);
            self.reduced[i] = nr;
        }
        Ok(true)
    }
}

/// Exact values per quantity, checked to agree across tables.
fn quantity_values(sys: &System, tables: &[Table]) -> Result<(Vec<i64>, Vec<i64>), ProtectError> {
    let mut values = vec![0; sys.quantities.len()];
    let mut contributors = vec![0; sys.quantities.len()];
    for (q, quantity) in sys.quantities.iter().enumerate() {
        let (t0, c0) = quantity.cells[0];
        values[q] = tables[t0].values[c0];
        contributors[q] = tables[t0].contributors[c0];
        for &(t, c) in &quantity.cells[1..] {
            if tables[t].values[c] != values[q] || tables[t].contributors[c] != contributors[q] {
                return Err(ProtectError::Inconsistent {
                    quantity: sys.label(q),
                    first: sys.shapes[t0].id.clone(),
                    second: sys.shapes[t].id.clone(),
                });
            }
        }
    }
    Ok((values, contributors))
}

/// Protects all tables of a report with one suppression pattern.
pub fn protect(tables: &[Table], policy: &Policy) -> Result<Protected, ProtectError> {
    protect_keeping(tables, policy, &[])
}

/// Protects all tables of a report with one suppression pattern that keeps
/// the cells marked in `keep` (per table, per cell; missing entries mean
/// "not kept") hidden, for instance the cells an earlier revision of the
/// same report suppressed. Kept cells are protected like primary cells
/// (they stay underivable), but are counted as secondary suppressions.
pub fn protect_keeping(
    tables: &[Table],
    policy: &Policy,
    keep: &[Vec<bool>],
) -> Result<Protected, ProtectError> {
    for t in tables {
        if !t.margins_add_up() {
            return Err(ProtectError::Margins(t.shape.id.clone()));
        }
    }
    let sys = System::new(tables.iter().map(|t| t.shape.clone()).collect());
    let (values, contributors) = quantity_values(&sys, tables)?;
    let n = sys.quantities.len();
    let weight: Vec<i64> = (0..n)
        .map(|q| {
            if sys.quantities[q].is_sum {
                contributors[q]
            } else {
                values[q]
            }
        })
        .collect();
    let primary: Vec<bool> = (0..n)
        .map(|q| policy.is_primary(values[q], contributors[q], sys.quantities[q].is_sum))
        .collect();
    let zero_published: Vec<bool> = (0..n)
        .map(|q| weight[q] == 0 && !policy.protect_zeros)
        .collect();
    let neighbours = sys.neighbours();
    let size: Vec<usize> = (0..n)
        .map(|q| {
            let (t, c) = sys.quantities[q].cells[0];
            sys.shapes[t].inner_cells_under(c).len()
        })
        .collect();
    let relations_of: Vec<Vec<usize>> = {
        let mut r = vec![Vec::new(); n];
        for (i, (total, parts)) in sys.relations.iter().enumerate() {
            r[*total].push(i);
            for &p in parts {
                r[p].push(i);
            }
        }
        r
    };
    let mut forced: BTreeSet<usize> = BTreeSet::new();
    for (t, flags) in keep.iter().enumerate().take(sys.cell_q.len()) {
        for (c, &k) in flags.iter().enumerate() {
            if let (true, Some(&q)) = (k, sys.cell_q[t].get(c)) {
                forced.insert(q);
            }
        }
    }
    let ctx = Greedy {
        weight: &weight,
        size: &size,
        primary: &primary,
        forced: &forced,
        singletons: policy.singletons,
        relations_of: &relations_of,
        lower: if policy.protect_zeros { 0 } else { 1 },
        min_width: i64::from(policy.min_interval_width.max(1)),
    };
    // Start from everything hidden (published zeros aside) and publish
    // cells largest first while nothing hidden becomes derivable, by rank,
    // by a singleton or by whole-number bounds.
    let everything: Vec<bool> = (0..n)
        .map(|q| !zero_published[q] || forced.contains(&q))
        .collect();
    let guarded: Vec<bool> = (0..n).map(|q| primary[q] || forced.contains(&q)).collect();
    let mut suppressed = publish_pass(&sys, tables, &values, &everything, &guarded, &ctx)?;
    // Hiding more never reveals more, so cells the audit still flags (mostly
    // cells pinned by whole-number bounds) are fixed by adding complementary
    // suppressions to this pattern, round by round, without starting over.
    let mut tried: BTreeSet<usize> = BTreeSet::new();
    for _ in 0..1000 {
        let published = published_view(&sys, tables, &suppressed);
        let (report, failing) = audit_system(&sys, &published, policy, Some(tables), true)?;
        if report.passed {
            return Ok(finish(tables, &sys, suppressed, &primary, report));
        }
        let failing_set: BTreeSet<usize> = failing.iter().copied().collect();
        let mut added = false;
        let mut added_now: BTreeSet<usize> = BTreeSet::new();
        let budget = (failing.len() / 8).max(1);
        for &q in &failing {
            if added_now.len() >= budget {
                break;
            }
            // One new hidden cell often frees a whole chain of pinned cells:
            // leave cells next to this round's additions for the next audit.
            if relations_of[q].iter().any(|&ri| {
                let (t, p) = &sys.relations[ri];
                added_now.contains(t) || p.iter().any(|m| added_now.contains(m))
            }) {
                added = true;
                continue;
            }
            // Prefer a relation whose hidden members are all flagged: that is
            // the one pinning them, and one more hidden cell there frees them.
            let members = |ri: usize| {
                let (t, p) = &sys.relations[ri];
                std::iter::once(*t).chain(p.iter().copied())
            };
            let pinning = relations_of[q]
                .iter()
                .copied()
                .filter(|&ri| members(ri).all(|m| !suppressed[m] || failing_set.contains(&m)));
            let open = |c: &usize| !suppressed[*c] && !zero_published[*c] && !tried.contains(c);
            let pick = pinning
                .flat_map(members)
                .filter(open)
                .min_by_key(|&c| (weight[c], Reverse(c)))
                .or_else(|| {
                    neighbours[q]
                        .iter()
                        .copied()
                        .filter(open)
                        .min_by_key(|&c| (weight[c], Reverse(c)))
                });
            // Everything next to it already hidden: look further out, through
            // hidden cells, for the nearest cells that can still be hidden
            // (in a very small project this reaches the grand totals).
            let pick = pick.or_else(|| {
                let mut seen: BTreeSet<usize> = BTreeSet::from([q]);
                let mut layer = vec![q];
                while !layer.is_empty() {
                    let mut next = Vec::new();
                    for &x in &layer {
                        for &y in &neighbours[x] {
                            if seen.insert(y) {
                                next.push(y);
                            }
                        }
                    }
                    if let Some(c) = next
                        .iter()
                        .copied()
                        .filter(open)
                        .min_by_key(|&c| (weight[c], Reverse(c)))
                    {
                        return Some(c);
                    }
                    layer = next.into_iter().filter(|&y| suppressed[y]).collect();
                }
                None
            });
            if let Some(c) = pick {
                suppressed[c] = true;
                tried.insert(c);
                added_now.insert(c);
                added = true;
            }
        }
        if !added {
            return Err(ProtectError::Unsafe(report.failures.join("; ")));
        }
    }
    Err(ProtectError::Unsafe(
        "no safe pattern within 1000 rounds of complementary suppression".into(),
    ))
}

fn finish(
    tables: &[Table],
    sys: &System,
    suppressed: Vec<bool>,
    primary: &[bool],
    audit: AuditReport,
) -> Protected {
    let per_table = |flags: &[bool]| -> Vec<Vec<bool>> {
        sys.cell_q
            .iter()
            .map(|qs| qs.iter().map(|&q| flags[q]).collect())
            .collect()
    };
    let primary_count = primary.iter().filter(|&&p| p).count();
    let secondary_count = suppressed
        .iter()
        .zip(primary)
        .filter(|&(&s, &p)| s && !p)
        .count();
    Protected {
        tables: tables.to_vec(),
        suppressed: per_table(&suppressed),
        primary: per_table(primary),
        primary_count,
        secondary_count,
        audit,
    }
}

fn published_view(sys: &System, tables: &[Table], suppressed: &[bool]) -> Vec<PublishedTable> {
    tables
        .iter()
        .enumerate()
        .map(|(t, table)| PublishedTable {
            shape: table.shape.clone(),
            cells: table
                .values
                .iter()
                .enumerate()
                .map(|(c, &v)| (!suppressed[sys.cell_q[t][c]]).then_some(v))
                .collect(),
        })
        .collect()
}

/// Publishes hidden cells one by one, largest first, as long as every
/// guarded cell stays underivable (rank, and singletons: the member of a
/// hidden 1 may subtract it)
/// and no guarded cell becomes narrower than the policy allows under
/// whole-number bound propagation (every hidden cell at least the lower
/// bound, relations propagated to their fixed point).
///
/// `guarded` marks the hidden cells protected from the start: the primary
/// cells when starting from everything hidden, or every hidden cell when
/// thinning a pattern that already passed the audit. A candidate that
/// cannot be published joins them. A candidate that has become derivable
/// meanwhile is published, as it tells nothing new.
fn publish_pass(
    sys: &System,
    tables: &[Table],
    values: &[i64],
    start: &[bool],
    guarded: &[bool],
    ctx: &Greedy<'_>,
) -> Result<Vec<bool>, ProtectError> {
    let n = sys.quantities.len();
    let basis = published_basis(sys, (0..n).filter(|&q| !start[q]))?;
    let mut watched: Vec<bool> = (0..n).map(|q| start[q] && guarded[q]).collect();
    let guarded_list: Vec<usize> = (0..n).filter(|&q| watched[q]).collect();
    let singles = ctx.singletons.then_some((sys, tables, values));
    let mut guard = Guard::new(basis, sys, guarded_list, singles)?;
    let mut slot: HashMap<usize, usize> = guard
        .protected
        .iter()
        .enumerate()
        .map(|(i, &q)| (q, i))
        .collect();
    let mut hidden = start.to_vec();
    let mut bounds = Bounds::new(
        n,
        &sys.relations,
        ctx.relations_of,
        ctx.lower,
        ctx.min_width,
    );
    for q in 0..n {
        if hidden[q] {
            bounds.hide(q, &watched);
        } else {
            bounds.fix(q, values[q], &watched, true);
            bounds.commit();
        }
    }
    if bounds.narrow_count(&watched) > 0 {
        // Not clean under propagation to begin with: nothing to build on.
        return Ok(start.to_vec());
    }
    let mut candidates: Vec<usize> = (0..n)
        .filter(|&q| start[q] && !ctx.primary[q] && !ctx.forced.contains(&q))
        .collect();
    candidates.sort_by_key(|&q| (Reverse(ctx.weight[q]), Reverse(ctx.size[q]), q));
    for q in candidates {
        let own = slot.get(&q).copied();
        let r = match own {
            // The guard keeps its vectors reduced against the published span.
            Some(i) => guard.reduced[i].clone(),
            None => guard.basis.reduce(sys.vector_ref(q))?,
        };
        if r.is_zero() {
            if own.is_none() {
                bounds.fix(q, values[q], &watched, true);
                bounds.commit();
                hidden[q] = false;
            }
            continue;
        }
        if let Some(i) = own {
            guard.retired[i] = true;
            watched[q] = false;
        }
        let publish = bounds.fix(q, values[q], &watched, false) == Fixed::Safe && {
            // Pivot where the fewest guarded vectors need updating.
            let col =
                r.0.iter()
                    .map(|&(c, _)| c)
                    .min_by_key(|c| (guard.by_col.get(c).map_or(0, Vec::len), *c))
                    .unwrap_or(0);
            guard.try_publish(r.clone(), col, false)?
        };
        if publish {
            bounds.commit();
            hidden[q] = false;
            continue;
        }
        bounds.undo();
        watched[q] = true;
        match own {
            Some(i) => guard.retired[i] = false,
            None => {
                slot.insert(q, guard.protected.len());
                guard.protect(q, r);
            }
        }
    }
    Ok(hidden)
}

/// What a publishing pass needs besides the system.
struct Greedy<'a> {
    weight: &'a [i64],
    size: &'a [usize],
    primary: &'a [bool],
    forced: &'a BTreeSet<usize>,
    singletons: bool,
    /// Per quantity, the relations it is a member of.
    relations_of: &'a [Vec<usize>],
    /// Smallest value of a hidden quantity an attacker may assume.
    lower: i64,
    /// Narrowest interval the policy allows (at least 1).
    min_width: i64,
}

/// Audits published tables (the public entry point).
pub(crate) fn audit_published(
    tables: &[PublishedTable],
    policy: &Policy,
    exact: Option<&[Table]>,
    intervals: bool,
) -> AuditReport {
    let sys = System::new(tables.iter().map(|t| t.shape.clone()).collect());
    audit_in(&sys, tables, policy, exact, intervals)
}

/// [`audit_published`] over a system built before, whose table `k` is
/// `tables[k]`.
pub(crate) fn audit_in(
    sys: &System,
    tables: &[PublishedTable],
    policy: &Policy,
    exact: Option<&[Table]>,
    intervals: bool,
) -> AuditReport {
    if tables.len() != sys.shapes.len() {
        return AuditReport {
            failures: vec!["the tables are not the system's".into()],
            ..AuditReport::default()
        };
    }
    if let Some(e) = exact {
        let same = e.len() == tables.len() && e.iter().zip(tables).all(|(a, b)| a.shape == b.shape);
        if !same {
            return AuditReport {
                failures: vec!["exact tables do not match the published tables".into()],
                ..AuditReport::default()
            };
        }
    }
    match audit_system(sys, tables, policy, exact, intervals) {
        Ok((r, _)) => r,
        Err(e) => AuditReport {
            failures: vec![e.to_string()],
            ..AuditReport::default()
        },
    }
}

/// The audit. Returns the report and the failing quantities.
fn audit_system(
    sys: &System,
    tables: &[PublishedTable],
    policy: &Policy,
    exact: Option<&[Table]>,
    intervals: bool,
) -> Result<(AuditReport, Vec<usize>), ProtectError> {
    let n = sys.quantities.len();
    let mut failures = Vec::new();
    let mut failing = BTreeSet::new();
    // Published value per quantity; the same quantity must have one status and value everywhere.
    let mut value: Vec<Option<i64>> = vec![None; n];
    for (q, quantity) in sys.quantities.iter().enumerate() {
        let (t0, c0) = quantity.cells[0];
        value[q] = tables[t0].cells[c0];
        for &(t, c) in &quantity.cells[1..] {
            if tables[t].cells[c] != value[q] {
                failures.push(format!(
                    "{} is published differently in tables {} and {}",
                    sys.label(q),
                    sys.shapes[t0].id,
                    sys.shapes[t].id
                ));
                failing.insert(q);
            }
        }
    }
    let suppressed: Vec<usize> = (0..n).filter(|&q| value[q].is_none()).collect();
    let basis = published_basis(sys, (0..n).filter(|&q| value[q].is_some()))?;
    let mut reduced: HashMap<usize, SVec> = HashMap::new();
    for &q in &suppressed {
        let r = basis.reduce(sys.vector_ref(q))?;
        if r.is_zero() {
            failures.push(sys.derivable(q));
            failing.insert(q);
        }
        reduced.insert(q, r);
    }
    // Singletons: the member of a suppressed 1 knows it and may subtract it.
    if let (Some(exact), true) = (exact, policy.singletons) {
        let (values, exact_contributors) = quantity_values(sys, exact)?;
        let mut by_vec: HashMap<&SVec, Vec<usize>> = HashMap::new();
        for &q in &suppressed {
            by_vec.entry(&reduced[&q]).or_default().push(q);
        }
        for &s in &suppressed {
            if sys.quantities[s].is_sum || values[s] != 1 || reduced[&s].is_zero() {
                continue;
            }
            for &q in by_vec.get(&reduced[&s]).into_iter().flatten() {
                // A cell of 1 nested with the singleton's own cell is that same person.
                let sensitive =
                    policy.is_primary(values[q], exact_contributors[q], sys.quantities[q].is_sum);
                if q == s || !sensitive || (values[q] == 1 && sys.holds_singleton(q, s, exact)) {
                    continue;
                }
                if failing.insert(q) {
                    failures.push(format!(
                        "{} can be computed by the one person in {}",
                        sys.label(q),
                        sys.label(s)
                    ));
                }
            }
        }
    }
    let mut report = AuditReport {
        passed: false,
        suppressed_quantities: suppressed.len(),
        intervals: vec![],
        failures: vec![],
        narrowest_width: None,
        intervals_computed: intervals,
        interval_skipped: 0,
    };
    if intervals && !suppressed.is_empty() {
        let (found, skipped) = crate::interval::intervals(sys, &value, policy)?;
        report.interval_skipped = skipped;
        let truth = exact.map(|e| quantity_values(sys, e)).transpose()?;
        for (q, lower, upper) in found {
            let (table, key) = sys.describe(q);
            let exact_cell = upper == Some(lower);
            if let (Some((vals, _)), Some(u)) = (&truth, upper) {
                debug_assert!(
                    vals[q] >= lower && vals[q] <= u,
                    "interval misses the true value"
                );
            }
            if let Some(u) = upper {
                let w = u - lower;
                report.narrowest_width = Some(report.narrowest_width.map_or(w, |m: i64| m.min(w)));
                if w < i64::from(policy.min_interval_width) && failing.insert(q) {
                    failures.push(if exact_cell {
                        format!(
                            "{} is pinned to {lower} by whole-number bounds",
                            sys.label(q)
                        )
                    } else {
                        format!(
                            "{} is pinned to [{lower}, {u}], narrower than the policy allows",
                            sys.label(q)
                        )
                    });
                }
            }
            report.intervals.push(CellInterval {
                table,
                key,
                lower,
                upper,
                exact: exact_cell,
            });
        }
    }
    report.passed = failures.is_empty();
    report.failures = failures;
    Ok((report, failing.into_iter().collect()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::Dimension;

    #[test]
    fn combine_and_normalize() {
        let a = SVec(vec![(0, 2), (3, 4)]);
        let b = SVec(vec![(0, 1), (1, 1)]);
        let c = a.combine(1, &b, 2).unwrap();
        assert_eq!(
            c,
            SVec(vec![(1, -1), (3, 2)])
                .combine(-1, &SVec::default(), 0)
                .unwrap()
        );
        let mut n = SVec(vec![(2, -6), (5, 9)]);
        n.normalize();
        assert_eq!(n, SVec(vec![(2, 2), (5, -3)]));
    }

    #[test]
    fn basis_detects_span() {
        let mut b = Basis::default();
        for v in [SVec::ones([0, 1]), SVec::ones([1, 2])] {
            let r = b.reduce(&v).unwrap();
            b.insert(r);
        }
        assert!(b.reduce(&SVec(vec![(0, 1), (2, -1)])).unwrap().is_zero());
        assert!(!b.reduce(&SVec::ones([0, 2])).unwrap().is_zero());
    }

    #[test]
    fn the_relations_span_every_dependency_of_the_embedded_definition() {
        let sys = System::new(crate::Definition::embedded().shapes());
        assert!(sys.relations_span_dependencies());
        // Without one relation, a dependency of the vectors is missing: the
        // check must notice, or the verdict would skip the rank test on
        // too little.
        let mut short = System::new(crate::Definition::embedded().shapes());
        let total = short.relations[0].0;
        short.relations.retain(|(t, _)| *t != total);
        assert!(!short.relations_span_dependencies());
    }

    #[test]
    fn the_relations_span_every_dependency_of_hierarchical_linked_tables() {
        // Status (with a hierarchy) x gender, and country x gender for the
        // admitted only: the second table's margins are cells of the first.
        let gender = Arc::new(Dimension::flat("gender", &["f", "m"]));
        let status = Arc::new(Dimension::hierarchy(
            "status",
            &[
                ("admitted", "total"),
                ("assessing", "total"),
                ("a.x", "admitted"),
                ("a.y", "admitted"),
            ],
        ));
        let country = Arc::new(Dimension::flat("country", &["IQ", "SO"]));
        let shapes = vec![
            Arc::new(TableShape::new(
                "s".into(),
                vec![status, gender.clone()],
                Measure::Count,
                "total".into(),
            )),
            Arc::new(TableShape::new(
                "c".into(),
                vec![country, gender],
                Measure::Count,
                "admitted".into(),
            )),
        ];
        let sys = System::new(shapes);
        assert!(
            sys.quantities.iter().any(|q| q.cells.len() > 1),
            "tables are linked"
        );
        assert!(sys.relations_span_dependencies());
    }

    #[test]
    fn two_hidden_ones_get_room_to_move() {
        // total 7 = a 1 + b 1 + c 5: publishing c and the total would pin
        // a and b to 1 (they must sum to 2 and each is at least 1).
        let d = Arc::new(Dimension::flat("d", &["a", "b", "c"]));
        let shape = Arc::new(TableShape::new(
            "t".into(),
            vec![d.clone()],
            Measure::Count,
            "total".into(),
        ));
        let mut t = Table::zeros(shape.clone());
        for (code, n) in [("a", 1), ("b", 1), ("c", 5)] {
            let i = d.index_of(code).unwrap();
            t.add_inner(&[i], n);
        }
        let policy = Policy::default();
        let p = protect(std::slice::from_ref(&t), &policy).unwrap();
        assert!(p.audit.passed, "{:?}", p.audit.failures);
        let c = shape.cell_by_codes(&["c"]).unwrap();
        let total = shape.cell_by_codes(&["total"]).unwrap();
        assert!(p.suppressed[0][c] || p.suppressed[0][total]);
        for i in p.audit.intervals {
            assert!(i.upper.is_none_or(|u| u > i.lower), "{i:?}");
        }
    }

    #[test]
    fn kept_cells_stay_hidden_and_protected() {
        let d = Arc::new(Dimension::flat("d", &["a", "b", "c", "e"]));
        let shape = Arc::new(TableShape::new(
            "t".into(),
            vec![d.clone()],
            Measure::Count,
            "total".into(),
        ));
        let mut t = Table::zeros(shape.clone());
        for (code, n) in [("a", 9), ("b", 8), ("c", 20), ("e", 30)] {
            let i = d.index_of(code).unwrap();
            t.add_inner(&[i], n);
        }
        let policy = Policy::default();
        let free = protect(std::slice::from_ref(&t), &policy).unwrap();
        assert_eq!(free.secondary_count, 0);
        let b = shape.cell_by_codes(&["b"]).unwrap();
        let mut keep = vec![vec![false; shape.len()]];
        keep[0][b] = true;
        let p = protect_keeping(std::slice::from_ref(&t), &policy, &keep).unwrap();
        assert!(p.audit.passed, "{:?}", p.audit.failures);
        assert!(p.suppressed[0][b]);
        // b alone hidden would follow from the total: a complement is needed.
        assert!(p.secondary_count >= 2);
    }

    #[test]
    fn linked_quantities_are_one() {
        let g = Arc::new(Dimension::flat("gender", &["female", "male"]));
        let s = Arc::new(Dimension::hierarchy(
            "status",
            &[("a", "total"), ("b", "total")],
        ));
        let t1 = Arc::new(TableShape::new(
            "s".into(),
            vec![s, g.clone()],
            Measure::Count,
            "total".into(),
        ));
        let t2 = Arc::new(TableShape::new(
            "c".into(),
            vec![g],
            Measure::Count,
            "a".into(),
        ));
        let sys = System::new(vec![t1, t2]);
        // 9 cells in s, 3 in c; the 3 cells of c are the `a` row of s.
        assert_eq!(sys.quantities.len(), 9);
        assert_eq!(sys.links().unwrap().len(), 3);
    }
}
