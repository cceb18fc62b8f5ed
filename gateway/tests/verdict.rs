//! The verifier's protection check (the audit verdict) against the full
//! audit, on whole reports of the embedded definition: it accepts what the
//! audit passes and refuses what it fails, including intervals narrower than
//! the report's own minimum width.

#[allow(dead_code, unreachable_pub)]
#[path = "gateway/support.rs"]
mod support;

use std::sync::Arc;

use prikk_gateway::error::Refusal;
use prikk_gateway::period::PeriodKind;
use prikk_gateway::store::RegisteredKey;
use prikk_gateway::verify::Verifier;
use prikk_privacy::{Definition, Policy, PublishedTable, Table, audit};
use prikk_proto::{pb, sign_report};
use support::*;

fn verifier() -> Verifier {
    Verifier::new(
        Arc::new(Definition::embedded()),
        5,
        PeriodKind::ALL.to_vec(),
        1 << 20,
    )
}

fn check(r: &pb::Report) -> Result<(), Refusal> {
    let s = signer();
    let key = RegisteredKey {
        key_id: s.key_id().into(),
        project: r.project.clone(),
        public_key: s.public_key().to_vec(),
        added_unix: 0,
        revoked_unix: None,
    };
    verifier()
        .verify(&sign_report(&s, r), Some(&key))
        .map(|_| ())
}

fn published(exact: &[Table], hide: impl Fn(&str, &[&str]) -> bool) -> Vec<PublishedTable> {
    exact
        .iter()
        .map(|t| PublishedTable {
            shape: t.shape.clone(),
            cells: (0..t.shape.len())
                .map(|i| (!hide(&t.shape.id, &t.shape.key_codes(i))).then_some(t.values[i]))
                .collect(),
        })
        .collect()
}

#[test]
fn protected_reports_are_accepted_as_the_full_audit_passes_them() {
    let def = Definition::embedded();
    let policy = Policy::default();
    for seed in 1..4u64 {
        let exact = exact_tables(&def, seed, 40, |g| 1 + ((g as u64 * 7 + seed) % 7) as i64);
        let p = prikk_privacy::protect(&exact, &policy).unwrap();
        let hidden = |t: &str, k: &[&str]| {
            let ti = exact.iter().position(|x| x.shape.id == t).unwrap();
            p.suppressed[ti][exact[ti].shape.cell_by_codes(k).unwrap()]
        };
        assert!(audit(&published(&exact, hidden), &policy, None, true).passed);
        let r = report("p", "2006", "r", pb_tables(&exact, hidden));
        assert!(check(&r).is_ok(), "seed {seed}: {:?}", check(&r));
        // The same people, nothing suppressed: small counts are refused.
        let r = report("p", "2006", "r", pb_tables(&exact, |_, _| false));
        assert!(matches!(check(&r), Err(Refusal::Unprotected(_))));
    }
}

#[test]
fn the_reports_minimum_width_is_enforced_as_by_the_full_audit() {
    let def = Definition::embedded();
    let exact = exact_tables(&def, 11, 40, |_| 5);
    let rect = ["admitted.terminated.birth", "admitted.terminated.moved"];
    let hide = |t: &str, k: &[&str]| t == "status" && rect.contains(&k[0]) && k[1] != "total";
    // The narrowest interval the full audit finds for the hidden rectangle.
    let full = audit(&published(&exact, hide), &Policy::default(), None, true);
    assert!(full.passed, "{:?}", full.failures);
    let width = full.narrowest_width.expect("the rectangle is bounded");
    assert!(width >= 1);
    for (w, passes) in [(width, true), (width + 1, false)] {
        let mut r = report("p", "2006", "r", pb_tables(&exact, hide));
        if let Some(p) = r.policy.as_mut() {
            p.min_interval_width = u32::try_from(w).unwrap();
        }
        let policy = Policy {
            min_interval_width: u32::try_from(w).unwrap(),
            ..Policy::default()
        };
        assert_eq!(
            audit(&published(&exact, hide), &policy, None, true).passed,
            passes
        );
        match check(&r) {
            Ok(()) => assert!(passes, "width {w} accepted"),
            Err(Refusal::Unprotected(why)) => {
                assert!(!passes, "width {w} refused: {why}");
                assert!(why.contains("narrower"), "{why}");
            }
            Err(e) => panic!("unexpected refusal {e:?}"),
        }
    }
    // A single hidden cell in the rectangle is derivable and refused.
    let one = |t: &str, k: &[&str]| t == "status" && k[0] == rect[0] && k[1] == "female";
    let r = report("p", "2006", "r", pb_tables(&exact, one));
    assert!(matches!(check(&r), Err(Refusal::Unprotected(_))));
}

#[test]
fn cheap_checks_come_first_and_unended_periods_are_refused() {
    let def = Definition::embedded();
    let exact = exact_tables(&def, 5, 40, |g| 1 + (g as i64 % 3));
    // Nothing suppressed: this report would fail the audit. A key of
    // another project is refused for that, before any audit runs.
    let unprotected = report("p", "2006", "r", pb_tables(&exact, |_, _| false));
    let s = signer();
    let other = RegisteredKey {
        key_id: s.key_id().into(),
        project: "q".into(),
        public_key: s.public_key().to_vec(),
        added_unix: 0,
        revoked_unix: None,
    };
    assert!(matches!(
        verifier().verify(&sign_report(&s, &unprotected), Some(&other)),
        Err(Refusal::WrongProject { .. })
    ));
    // A period whose last day has not passed has no as-of status yet.
    let own = RegisteredKey {
        project: "p".into(),
        ..other
    };
    let policy = Policy::default();
    let p = prikk_privacy::protect(&exact, &policy).unwrap();
    let hidden = |t: &str, k: &[&str]| {
        let ti = exact.iter().position(|x| x.shape.id == t).unwrap();
        p.suppressed[ti][exact[ti].shape.cell_by_codes(k).unwrap()]
    };
    let protected = report("p", "2006", "r", pb_tables(&exact, hidden));
    let env = sign_report(&s, &protected);
    let at = |unix: i64| verifier().with_clock(Arc::new(prikk_gateway::FixedClock::new(unix)));
    let mid_2006 = 1_150_000_000; // 2006-06-11
    assert!(matches!(
        at(mid_2006).verify(&env, Some(&own)),
        Err(Refusal::InvalidPeriod(m)) if m.contains("has not ended")
    ));
    let new_year_2007 = 1_167_609_600; // 2007-01-01 00:00 UTC
    assert!(at(new_year_2007).verify(&env, Some(&own)).is_ok());
    assert!(at(new_year_2007 - 1).verify(&env, Some(&own)).is_err());
}
