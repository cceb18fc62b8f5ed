//! The guard of the protected quantities during the publishing pass: their
//! vectors, kept reduced against the published span, and the singleton
//! check, so that publishing a candidate is refused exactly when it would
//! make a protected quantity derivable.
#![allow(
    clippy::indexing_slicing,
    reason = "guard slots index `reduced`, `protected` and `retired`, which grow together; quantity indices are the system's"
)]

use std::collections::HashMap;

use crate::audit::holds_singleton;
use crate::policy::ProtectError;
use crate::system::{Basis, SVec, System, gcd};
use crate::table::Table;

/// Tracks the reduced vectors of the protected quantities while candidates
/// are published one by one.
pub(super) struct Guard<'a> {
    pub(super) basis: Basis,
    pub(super) protected: Vec<usize>,
    pub(super) reduced: Vec<SVec>,
    pub(super) by_col: HashMap<u32, Vec<usize>>,
    by_vec: HashMap<u64, Vec<usize>>,
    /// Singleton knowledge: exact tables and values, when the policy asks for it.
    singletons: Option<(&'a System, &'a [Table], &'a [i64])>,
    /// Protected entries no longer guarded (a cell being tried for publication).
    pub(super) retired: Vec<bool>,
    /// The protected quantity the last refused publication would have exposed.
    pub(super) exposed: Option<usize>,
}

impl<'a> Guard<'a> {
    pub(super) fn new(
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
            exposed: None,
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
    pub(super) fn protect(&mut self, q: usize, r: SVec) {
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
            |q: usize, s: usize| one(s) && !(values[q] == 1 && holds_singleton(sys, q, s, exact));
        reveals(qi, qk) || reveals(qk, qi)
    }

    /// Publishes the reduced, nonzero vector `r` unless that would expose a
    /// protected quantity (directly, or through a singleton); returns whether it did.
    /// With `force`, publishes regardless (published zeros).
    pub(super) fn try_publish(
        &mut self,
        r: SVec,
        col: u32,
        force: bool,
    ) -> Result<bool, ProtectError> {
        // A guarded vector becomes zero exactly when it is parallel to `r`:
        // look that up before any arithmetic.
        self.exposed = None;
        if !force
            && let Some(&k) = self.by_vec.get(&r.fingerprint()).and_then(|list| {
                list.iter()
                    .find(|&&k| !self.retired[k] && self.reduced[k] == r)
            })
        {
            self.exposed = Some(self.protected[k]);
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
                self.exposed = Some(self.protected[i]);
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
                    // Parallel before as well: not this publication's doing
                    // (and which pairs hold the pivot column is the pivot's
                    // choice, not the span's).
                    .filter(|&k| {
                        k != *i && new_of[&k] == nr && self.reduced[k] != self.reduced[*i]
                    });
                for k in unchanged.chain(changed) {
                    if self.pair_exposes(*i, k) {
                        self.exposed = Some(self.protected[*i]);
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
