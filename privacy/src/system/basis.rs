//! The basis of a known span, grown one reduced vector at a time, and the
//! choice of pivots that keeps elimination sparse.
#![allow(
    clippy::indexing_slicing,
    reason = "elimination on a dense accumulator: `touch` sizes it before a column is read, and pivot and vector indices are the basis's own"
)]

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use super::sparse::{Coef, SVec, gcd};
use crate::policy::ProtectError;

/// Basis of the known span, each vector reduced against all earlier ones at
/// insertion, so every nonzero combination is nonzero at some pivot and a
/// reduced vector is zero exactly when it lies in the span.
#[derive(Default)]
pub(crate) struct Basis {
    /// Vectors shared with other bases (a system's links), before `vecs`.
    base: Arc<Vec<SVec>>,
    /// This basis's own vectors, after `base`.
    vecs: Vec<SVec>,
    pivots: Vec<u32>,
    /// Per column: index of the basis vector pivoting on it, or `NONE`.
    pivot_of: Vec<u32>,
    /// Per column: how many of this basis's own vectors were inserted holding it.
    count: Vec<u32>,
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
    pub(crate) fn len(&self) -> usize {
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
    pub(crate) fn reduce(&self, v: &SVec) -> Result<SVec, ProtectError> {
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
            let mut vc = w.dense[col as usize];
            if vc == 0 {
                continue;
            }
            let b = self.vector(i);
            let bc = b.get(col);
            let mut g = gcd(bc, vc);
            let large = {
                // Entries this large would leave little room after scaling.
                let limit = (1 << 100) / (bc / g).abs();
                bc / g != 1 && w.touched.iter().any(|&t| w.dense[t as usize].abs() > limit)
            };
            if large {
                // Before scaling up that far, divide out the accumulator's
                // content: the result is normalised in the end, so only the
                // direction matters.
                let mut content: Coef = 0;
                for &t in &w.touched {
                    content = gcd(content, w.dense[t as usize]);
                    if content == 1 {
                        break;
                    }
                }
                if content > 1 {
                    for &t in &w.touched {
                        w.dense[t as usize] /= content;
                    }
                    vc /= content;
                    g = gcd(bc, vc);
                }
            }
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

    /// A point `d` of the kernel (every basis vector's product with `d` is
    /// zero) over columns `0..n`: `free` gives the value of each column that
    /// is no pivot, up to one common positive factor; the pivot columns
    /// follow by back-substitution in exact integer arithmetic, last vector
    /// first (each vector is zero at every earlier pivot).
    pub(crate) fn kernel_point(
        &self,
        n: usize,
        free: impl Fn(u32) -> Coef,
    ) -> Result<Vec<Coef>, ProtectError> {
        let n = n.max(self.pivot_of.len());
        let mut d: Vec<Coef> = (0..n as u32)
            .map(|c| {
                if self.pivot_index(c).is_some() {
                    0
                } else {
                    free(c)
                }
            })
            .collect();
        for i in (0..self.len()).rev() {
            let col = self.pivots[i] as usize;
            let b = self.vector(i);
            let mut sum: Coef = 0;
            let mut pv: Coef = 0;
            for &(c, x) in &b.0 {
                if c as usize == col {
                    pv = x;
                    continue;
                }
                let y = d.get(c as usize).copied().unwrap_or(0);
                sum = x
                    .checked_mul(y)
                    .and_then(|p| sum.checked_add(p))
                    .ok_or(ProtectError::Overflow)?;
            }
            if pv == 0 {
                return Err(ProtectError::Unsafe(
                    "a basis vector lacks its pivot".into(),
                ));
            }
            let g = gcd(sum, pv);
            let scale = (pv / g).abs();
            if scale != 1 {
                for x in &mut d {
                    *x = x.checked_mul(scale).ok_or(ProtectError::Overflow)?;
                }
                sum = sum.checked_mul(scale).ok_or(ProtectError::Overflow)?;
            }
            d[col] = -(sum / pv);
        }
        Ok(d)
    }

    /// Inserts a vector already reduced against the basis, pivoting on `col`
    /// (an entry of `r`).
    pub(crate) fn insert_at(&mut self, r: SVec, col: u32) {
        if self.pivot_of.len() <= col as usize {
            self.pivot_of.resize(col as usize + 1, NONE);
        }
        self.pivot_of[col as usize] = self.len() as u32;
        for &(c, _) in &r.0 {
            let c = c as usize;
            if self.count.len() <= c {
                self.count.resize(c + 1, 0);
            }
            self.count[c] += 1;
        }
        self.pivots.push(col);
        self.vecs.push(r);
    }

    /// How many of this basis's own vectors were inserted holding column
    /// `c`: what a reduction meeting a pivot on `c` may have to work through.
    pub(crate) fn holding(&self, c: u32) -> usize {
        self.count.get(c as usize).map_or(0, |&n| n as usize)
    }

    /// Inserts a vector already reduced against the basis, pivoting on its first entry.
    pub(crate) fn insert(&mut self, r: SVec) {
        let col = r.0[0].0;
        self.insert_at(r, col);
    }

    /// The basis without its scratch space, to start other bases from.
    pub(crate) fn freeze(self) -> Spanned {
        Spanned {
            vecs: Arc::new(self.vecs),
            pivots: self.pivots,
            pivot_of: self.pivot_of,
        }
    }
}

/// Chooses pivots that later vectors rarely contain, so eliminating them
/// adds few entries (fill-in) to later vectors.
pub(crate) struct PivotChooser {
    /// Per column: vectors still to come that contain it.
    remaining: HashMap<u32, u32>,
}

impl PivotChooser {
    pub(crate) fn new<'v>(upcoming: impl IntoIterator<Item = &'v SVec>) -> Self {
        let mut remaining = HashMap::new();
        for v in upcoming {
            for &(c, _) in &v.0 {
                *remaining.entry(c).or_insert(0) += 1;
            }
        }
        PivotChooser { remaining }
    }

    /// Marks an original vector as processed.
    pub(crate) fn done(&mut self, v: &SVec) {
        for &(c, _) in &v.0 {
            if let Some(n) = self.remaining.get_mut(&c) {
                *n = n.saturating_sub(1);
            }
        }
    }

    pub(crate) fn pick(&self, r: &SVec) -> u32 {
        r.0.iter()
            .map(|&(c, _)| c)
            .min_by_key(|c| (self.remaining.get(c).copied().unwrap_or(0), *c))
            .unwrap_or(0)
    }
}

/// A basis without its scratch space, to start each audit from.
#[derive(Clone)]
pub(crate) struct Spanned {
    vecs: Arc<Vec<SVec>>,
    pivots: Vec<u32>,
    pivot_of: Vec<u32>,
}

impl Spanned {
    /// How many vectors span it.
    pub(crate) fn len(&self) -> usize {
        self.vecs.len()
    }

    /// A basis starting from this span, sharing its vectors.
    pub(crate) fn basis(&self) -> Basis {
        Basis {
            base: self.vecs.clone(),
            vecs: Vec::new(),
            pivots: self.pivots.clone(),
            pivot_of: self.pivot_of.clone(),
            count: Vec::new(),
            work: Default::default(),
        }
    }
}
