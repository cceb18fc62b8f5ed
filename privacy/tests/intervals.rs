//! Intervals from bound propagation (blocks above
//! `Policy::interval_block_limit`) must be sound: every reported interval
//! holds the true value, its lower end never exceeds its upper end, it is
//! never narrower than the exact interval, and arithmetic never wraps.

use prikk_privacy::{AuditReport, Policy, PublishedTable, Table, audit};
use proptest::prelude::*;

mod common;
use common::{fill, grid, publish};

type Interval = (Vec<String>, i64, Option<i64>);

fn intervals_of(view: &PublishedTable, t: &Table, policy: &Policy) -> Vec<Interval> {
    let r = audit(
        std::slice::from_ref(view),
        policy,
        Some(std::slice::from_ref(t)),
        true,
    );
    r.intervals
        .iter()
        .map(|i| (i.key.clone(), i.lower, i.upper))
        .collect()
}

/// The audit of `view` by propagation alone (limit 0) and by integer
/// programming (limit 400); every interval either reports is non-empty.
fn audit_both_ways(view: &PublishedTable) -> Vec<(u32, AuditReport)> {
    [0, 400]
        .into_iter()
        .map(|limit| {
            let policy = Policy {
                interval_block_limit: limit,
                ..Policy::default()
            };
            let r = audit(std::slice::from_ref(view), &policy, None, true);
            for i in &r.intervals {
                assert!(
                    i.upper.is_none_or(|u| u >= i.lower),
                    "limit {limit}: {i:?} ({:?})",
                    r.failures
                );
            }
            (limit, r)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn propagated_intervals_hold_the_truth_and_the_exact_interval(
        rows in 2usize..6, cols in 2usize..5, hierarchical in any::<bool>(),
        protect_zeros in any::<bool>(), limit in 0u32..2,
        values in proptest::collection::vec(prop_oneof![Just(0i64), 1i64..4, 4i64..30], 1..30),
        hide in proptest::collection::vec(any::<bool>(), 60),
    ) {
        let rows = if hierarchical { rows.max(4) } else { rows };
        let t = fill(grid("t", rows, cols, hierarchical), &values);
        // Zeros are hidden only when the policy hides zeros (otherwise every
        // hidden cell is known to be at least 1).
        let view = publish(&t, |i| hide[i % hide.len()] && (protect_zeros || t.values[i] != 0));
        let propagated = Policy { protect_zeros, interval_block_limit: limit, ..Policy::default() };
        let exact = Policy { protect_zeros, interval_block_limit: 400, ..Policy::default() };
        let found = intervals_of(&view, &t, &propagated);
        for (key, lower, upper) in &found {
            let v = t.values[t.shape.cell_by_codes(key).unwrap()];
            prop_assert!(*lower <= v, "{key:?}: lower {lower} above the true {v}");
            prop_assert!(upper.is_none_or(|u| u >= v), "{key:?}: upper {upper:?} below the true {v}");
            prop_assert!(upper.is_none_or(|u| u >= *lower), "{key:?}: empty [{lower}, {upper:?}]");
        }
        // Never narrower than what integer programming finds.
        let best = intervals_of(&view, &t, &exact);
        for (key, lower, upper) in &best {
            if let Some((_, pl, pu)) = found.iter().find(|(k, _, _)| k == key) {
                prop_assert!(pl <= lower, "{key:?}: propagated lower {pl} above exact {lower}");
                prop_assert!(
                    pu.is_none() || upper.is_some_and(|u| pu.is_some_and(|p| p >= u)),
                    "{key:?}: propagated upper {pu:?} below exact {upper:?}"
                );
            }
        }
    }
}

#[test]
fn hidden_zeros_the_policy_rules_out_are_reported_not_made_empty() {
    // A zero hidden although zeros are published (every hidden cell is then
    // taken to be at least 1): no whole-number table fits, and propagation
    // must say so as integer programming does, never report [1, -1].
    let t = fill(grid("t", 2, 2, false), &[0, 0, 3, 7]);
    let zero_row = |i: usize| t.values[i] == 0;
    let view = publish(&t, zero_row);
    for (limit, r) in audit_both_ways(&view) {
        assert!(!r.passed, "limit {limit}");
    }
}

#[test]
fn huge_published_values_do_not_wrap() {
    let shape = grid("t", 2, 2, false);
    let n = shape.len();
    // Hide the inner cells of the first row; publish huge margins.
    let cells: Vec<Option<i64>> = (0..n)
        .map(|i| {
            let key = shape.key(i);
            match (key[0], key[1]) {
                (1, 1) | (1, 2) => None,
                _ => Some(i64::MAX - 3),
            }
        })
        .collect();
    let view = PublishedTable { shape, cells };
    // Neither way may wrap, panic or report an empty interval.
    audit_both_ways(&view);
}
