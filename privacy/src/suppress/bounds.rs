//! Incremental whole-number bound propagation for choosing suppressions.
//!
//! While secondary cells are chosen one candidate at a time, this keeps, for
//! every quantity, the bounds an attacker gets by propagating the relations
//! one at a time: each unknown is at least the policy's lower bound (1 when
//! zeros are published), published cells are constants, and every relation
//! `total = sum of parts` bounds each of its unknowns by the others' bounds.
//! Publishing a candidate fixes its value and propagates the change; if a
//! hidden cell's interval becomes narrower than the policy allows, the
//! change is undone and the candidate is hidden instead.
//!
//! Propagation is run to its fixed point, so it is at least as strong as the
//! audit's propagation for blocks too large for integer programming; the
//! audit still decides (and integer programming on small blocks is
//! stronger, which the repair rounds handle).
#![allow(
    clippy::indexing_slicing,
    reason = "per-quantity bounds sized at construction and relation indices from the same relations; this loop is the inner loop of the publishing pass"
)]

/// Visits of one relation in one change that count as a creep.
const CREEP_LIMIT: u32 = 32;

/// No upper bound.
const INF: i64 = i64::MAX;

/// A bound in range, kept off `INF` and far from overflow.
fn clamp(x: i128) -> i64 {
    i64::try_from(x.clamp(i128::from(i64::MIN / 4), i128::from(i64::MAX / 4))).unwrap_or(0)
}

/// Result of fixing a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fixed {
    /// No hidden cell became narrower than allowed.
    Safe,
    /// Some hidden cell became narrower than allowed (or the work limit was hit).
    Pins,
}

/// Bounds per quantity, with a trail to undo a tentative change.
pub(crate) struct Bounds<'a> {
    relations: &'a [(usize, Vec<usize>)],
    relations_of: &'a [Vec<usize>],
    lo: Vec<i64>,
    hi: Vec<i64>,
    /// Per relation, members not yet decided (published or hidden). A
    /// relation bounds nothing until all its members are decided: an
    /// undecided cell is treated as free.
    open: Vec<u32>,
    decided: Vec<bool>,
    trail: Vec<(usize, i64, i64)>,
    decisions: Vec<usize>,
    queue: std::collections::VecDeque<usize>,
    queued: Vec<bool>,
    min_width: i64,
    /// Visits of one relation allowed for one change before giving up: a
    /// bound creeping one step at a time around a cycle of relations.
    /// A change that spreads over the whole table (the first large
    /// margins published) visits every relation once or a few times, so
    /// the limit is per relation, not a total.
    creep_limit: u32,
    /// Per relation, visits during the current change.
    visits: Vec<u32>,
    /// Relations visited during the current change.
    visited: Vec<usize>,
    /// The hidden quantity the last refused change made too narrow.
    pub(crate) narrowed: Option<usize>,
}

impl<'a> Bounds<'a> {
    /// Every quantity unknown, at least `lower`, unbounded above; nothing
    /// decided yet.
    pub(crate) fn new(
        n: usize,
        relations: &'a [(usize, Vec<usize>)],
        relations_of: &'a [Vec<usize>],
        lower: i64,
        min_width: i64,
    ) -> Self {
        Bounds {
            relations,
            relations_of,
            lo: vec![lower; n],
            hi: vec![INF; n],
            open: relations.iter().map(|(_, p)| p.len() as u32 + 1).collect(),
            decided: vec![false; n],
            trail: Vec::new(),
            decisions: Vec::new(),
            queue: std::collections::VecDeque::new(),
            queued: vec![false; relations.len()],
            min_width,
            creep_limit: CREEP_LIMIT,
            visits: vec![0; relations.len()],
            visited: Vec::new(),
            narrowed: None,
        }
    }

    /// Hidden quantities currently narrower than allowed.
    pub(crate) fn narrow_count(&self, hidden: &[bool]) -> usize {
        (0..self.lo.len())
            .filter(|&q| hidden[q] && self.narrow(q))
            .count()
    }

    fn narrow(&self, q: usize) -> bool {
        self.hi[q] != INF && self.hi[q].saturating_sub(self.lo[q]) < self.min_width
    }

    /// Fixes quantity `q` at `value` (it is published) and propagates.
    /// Returns `Pins` as soon as a quantity with `hidden[q]` becomes too
    /// narrow, unless `force` (then it propagates to the end regardless).
    /// The change stays tentative until [`Bounds::commit`] or [`Bounds::undo`].
    pub(crate) fn fix(&mut self, q: usize, value: i64, hidden: &[bool], force: bool) -> Fixed {
        self.decide(q);
        if self.lo[q] != value || self.hi[q] != value {
            self.set(q, value, value);
            for &ri in &self.relations_of[q] {
                if self.open[ri] == 0 {
                    self.push(ri);
                }
            }
        }
        self.run(hidden, force)
    }

    /// Marks quantity `q` hidden (decided but unknown) and propagates the
    /// relations this completes. Kept at once.
    pub(crate) fn hide(&mut self, q: usize, hidden: &[bool]) {
        self.decide(q);
        self.run(hidden, true);
        self.commit();
    }

    fn decide(&mut self, q: usize) {
        if self.decided[q] {
            return;
        }
        self.decided[q] = true;
        self.decisions.push(q);
        for &ri in &self.relations_of[q] {
            self.open[ri] -= 1;
            if self.open[ri] == 0 {
                self.push(ri);
            }
        }
    }

    fn run(&mut self, hidden: &[bool], force: bool) -> Fixed {
        let mut outcome = Fixed::Safe;
        self.narrowed = None;
        while let Some(ri) = self.queue.pop_front() {
            self.queued[ri] = false;
            if self.visits[ri] == 0 {
                self.visited.push(ri);
            }
            self.visits[ri] += 1;
            if self.visits[ri] > self.creep_limit {
                // Sound either way: unsure counts as pinned.
                outcome = Fixed::Pins;
                break;
            }
            if let Some(q) = self.revise(ri, hidden)
                && !force
            {
                self.narrowed = Some(q);
                outcome = Fixed::Pins;
                break;
            }
        }
        for ri in self.queue.drain(..) {
            self.queued[ri] = false;
        }
        for ri in self.visited.drain(..) {
            self.visits[ri] = 0;
        }
        outcome
    }

    fn push(&mut self, ri: usize) {
        if !self.queued[ri] {
            self.queued[ri] = true;
            self.queue.push_back(ri);
        }
    }

    fn set(&mut self, q: usize, lo: i64, hi: i64) {
        self.trail.push((q, self.lo[q], self.hi[q]));
        self.lo[q] = lo;
        self.hi[q] = hi;
    }

    /// Tightens the members of relation `ri` from the others' bounds;
    /// queues the relations of every member that changed. Returns a hidden
    /// member that became too narrow, if any.
    fn revise(&mut self, ri: usize, hidden: &[bool]) -> Option<usize> {
        let (total, parts) = &self.relations[ri];
        // sum(parts) - total = 0, as terms with coefficient +1 or -1.
        let terms = || {
            parts
                .iter()
                .map(|&p| (p, 1i8))
                .chain(std::iter::once((*total, -1i8)))
        };
        let term_range = |q: usize, c: i8| -> (Option<i128>, Option<i128>) {
            let (lo, hi) = (i128::from(self.lo[q]), self.hi[q]);
            let hi = (hi != INF).then_some(i128::from(hi));
            if c > 0 {
                (Some(lo), hi)
            } else {
                (hi.map(|h| -h), Some(-lo))
            }
        };
        let (mut min_sum, mut min_inf, mut max_sum, mut max_inf) = (0i128, 0u32, 0i128, 0u32);
        for (q, c) in terms() {
            let (a, b) = term_range(q, c);
            match a {
                Some(a) => min_sum += a,
                None => min_inf += 1,
            }
            match b {
                Some(b) => max_sum += b,
                None => max_inf += 1,
            }
        }
        let mut changes: Vec<(usize, i64, i64)> = Vec::new();
        for (q, c) in terms() {
            let (a, b) = term_range(q, c);
            // The others' terms sum to minus this term.
            let others_min = match a {
                Some(a) if min_inf == 0 => Some(min_sum - a),
                None if min_inf == 1 => Some(min_sum),
                _ => None,
            };
            let others_max = match b {
                Some(b) if max_inf == 0 => Some(max_sum - b),
                None if max_inf == 1 => Some(max_sum),
                _ => None,
            };
            // term in [-others_max, -others_min]; x = term (c = 1) or -term.
            let (new_lo, new_hi) = if c > 0 {
                (others_max.map(|m| -m), others_min.map(|m| -m))
            } else {
                (others_min, others_max)
            };
            let mut lo = self.lo[q];
            let mut hi = self.hi[q];
            if let Some(l) = new_lo
                && l > i128::from(lo)
            {
                lo = clamp(l);
            }
            if let Some(h) = new_hi
                && (hi == INF || h < i128::from(hi))
            {
                hi = clamp(h);
            }
            if lo != self.lo[q] || hi != self.hi[q] {
                changes.push((q, lo, hi));
            }
        }
        let mut narrow = None;
        for (q, lo, hi) in changes {
            self.set(q, lo, hi);
            if hidden[q] && self.narrow(q) {
                narrow = Some(q);
            }
            for &rj in &self.relations_of[q] {
                if rj != ri && self.open[rj] == 0 {
                    self.push(rj);
                }
            }
        }
        narrow
    }

    /// Keeps the tentative changes.
    pub(crate) fn commit(&mut self) {
        self.trail.clear();
        self.decisions.clear();
    }

    /// Reverts the tentative changes.
    pub(crate) fn undo(&mut self) {
        while let Some((q, lo, hi)) = self.trail.pop() {
            self.lo[q] = lo;
            self.hi[q] = hi;
        }
        while let Some(q) = self.decisions.pop() {
            self.decided[q] = false;
            for &ri in &self.relations_of[q] {
                self.open[ri] += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_hidden_ones_are_pinned() {
        // 0 = 1 + 2 + 3 (quantity 0 is the total); 1 and 2 are hidden ones.
        let relations = vec![(0usize, vec![1usize, 2, 3])];
        let of = vec![vec![0], vec![0], vec![0], vec![0]];
        let hidden = [false, true, true, false];
        let mut b = Bounds::new(4, &relations, &of, 1, 1);
        b.hide(1, &hidden);
        b.hide(2, &hidden);
        b.hide(3, &hidden);
        // A relation bounds nothing while a member is undecided.
        assert_eq!(b.fix(0, 7, &hidden, false), Fixed::Safe);
        b.commit();
        assert_eq!(b.hi[1], 5);
        // Publishing quantity 3 as 5 leaves 1 + 1 = 2: both pinned.
        assert_eq!(b.fix(3, 5, &hidden, false), Fixed::Pins);
        b.undo();
        assert_eq!((b.lo[1], b.hi[1]), (1, 5));
        // As 4, the two hidden cells sum to 3: each in [1, 2].
        assert_eq!(b.fix(3, 4, &hidden, false), Fixed::Safe);
        assert_eq!((b.lo[1], b.hi[1]), (1, 2));
    }

    #[test]
    fn undecided_cells_bound_nothing() {
        let relations = vec![(0usize, vec![1usize, 2])];
        let of = vec![vec![0], vec![0], vec![0]];
        let hidden = [false, true, false];
        let mut b = Bounds::new(3, &relations, &of, 1, 1);
        b.hide(1, &hidden);
        assert_eq!(b.fix(0, 2, &hidden, false), Fixed::Safe);
        b.commit();
        assert_eq!(b.hi[1], INF);
        // Deciding the last member completes the relation: 1 = 2 - 1.
        assert_eq!(b.fix(2, 1, &hidden, false), Fixed::Pins);
    }

    #[test]
    fn chains_propagate() {
        // 0 = 1 + 2 and 1 = 3 + 4, all hidden but 0.
        let relations = vec![(0usize, vec![1usize, 2]), (1, vec![3, 4])];
        let of = vec![vec![0], vec![0, 1], vec![0], vec![1], vec![1]];
        let hidden = [false, true, true, true, true];
        let mut b = Bounds::new(5, &relations, &of, 1, 1);
        for q in 1..5 {
            b.hide(q, &hidden);
        }
        // 1 + 2 = 3 alone leaves [1, 2] each, but 1 = 3 + 4 forces
        // quantity 1 >= 2, so 1 = 2 and 2 = 1.
        assert_eq!(b.fix(0, 3, &hidden, false), Fixed::Pins);
        b.undo();
        assert_eq!((b.lo[1], b.hi[1]), (2, INF));
        assert_eq!(b.fix(0, 3, &hidden, true), Fixed::Safe);
        assert_eq!((b.lo[1], b.hi[1]), (2, 2));
        assert_eq!((b.lo[2], b.hi[2]), (1, 1));
        // And 3 + 4 = 2 pins both of those as well.
        assert_eq!(b.narrow_count(&hidden), 4);
    }

    #[test]
    fn a_change_that_spreads_over_a_whole_table_is_not_taken_for_a_creep() {
        // G = T_0 + ... + T_{n-1}, T_i = a_i + b_i, everything hidden; then
        // G is published. The change reaches every relation once or twice,
        // far more relation visits in all than any one relation gets: it
        // must not count as pinning anything.
        let n = 60_000usize;
        let g = 0usize;
        let t = |i: usize| 1 + 3 * i;
        let mut relations = vec![(g, (0..n).map(t).collect::<Vec<_>>())];
        for i in 0..n {
            relations.push((t(i), vec![t(i) + 1, t(i) + 2]));
        }
        let m = 1 + 3 * n;
        let mut of = vec![Vec::new(); m];
        for (ri, (total, parts)) in relations.iter().enumerate() {
            of[*total].push(ri);
            for &p in parts {
                of[p].push(ri);
            }
        }
        let mut hidden = vec![true; m];
        hidden[g] = false;
        let mut b = Bounds::new(m, &relations, &of, 1, 1);
        for q in 1..m {
            b.hide(q, &hidden);
        }
        assert_eq!(b.fix(g, 10 * n as i64, &hidden, false), Fixed::Safe);
        b.commit();
        assert_eq!(b.lo[t(0)], 2);
        assert_eq!(b.hi[t(0)], 10 * n as i64 - 2 * (n as i64 - 1));
    }
}
