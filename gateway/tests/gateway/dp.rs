//! Reports made in the differential-privacy modes: verification (noise
//! parameters required and at least the gateway's minimum, small noisy
//! counts allowed), and merged cells with a standard deviation and a 90 %
//! interval from the public parameters.

use std::sync::Arc;

use prikk_gateway::error::Refusal;
use prikk_gateway::export;
use prikk_gateway::merge::{self, MergedCell, Scope};
use prikk_gateway::period::PeriodKind;
use prikk_gateway::store::RegisteredKey;
use prikk_gateway::verify::{DpMinimum, Verifier};
use prikk_privacy::dp::{
    BitSource, DpPolicy, LossUnit, OsRandom, PrivacyLoss, Rational, noise_report,
};
use prikk_privacy::{Definition, Measure, Table};
use prikk_proto::{Signer, pb};

use crate::support::*;

/// A dp-mode report: exact tables of small groups (many counts of 1..4)
/// noised with ε per report (the operating system's generator: the gateway
/// crate has no seeded one, and nothing below depends on the draw beyond
/// events of negligible probability), every table with its public parameters.
fn dp_report(project: &str, id: &str, seed: u64, epsilon: &str) -> (pb::Report, Vec<Table>) {
    let def = Definition::embedded();
    let exact = exact_tables(&def, seed, 12, |g| 1 + (g % 3) as i64);
    let policy = DpPolicy {
        loss: PrivacyLoss::parse(LossUnit::Epsilon, epsilon).unwrap(),
        max_contributions: None,
    };
    let mut bits = BitSource::new(OsRandom::new());
    let noised = noise_report(&exact, &policy, &mut bits).unwrap();
    let mut tables = pb_tables(&noised.tables, |_, _| false);
    for (t, n) in tables.iter_mut().zip(&noised.noise) {
        assert_eq!(t.id, n.table);
        t.dp = Some(pb::DpParameters {
            mechanism: n.values.name().into(),
            scale: n.values.parameter().to_string(),
            contributors_scale: n
                .contributors
                .map(|m| m.parameter().to_string())
                .unwrap_or_default(),
        });
    }
    let mut r = report(project, "2006", id, tables);
    r.policy.as_mut().unwrap().method = "dp".into();
    (r, noised.tables)
}

fn verifier() -> Verifier {
    Verifier::new(
        Arc::new(Definition::embedded()),
        5,
        PeriodKind::ALL.to_vec(),
        4 << 20,
    )
}

fn key_of(project: &str, s: &Signer) -> RegisteredKey {
    RegisteredKey {
        key_id: s.key_id().to_string(),
        project: project.into(),
        public_key: s.public_key().to_vec(),
        added_unix: T0,
        revoked_unix: None,
    }
}

#[test]
fn a_dp_report_with_small_and_negative_noisy_counts_passes_verification() {
    let s = signer();
    let (r, noisy) = dp_report("a", "dp-a-1", 7, "1");
    // The point of the test: the payload publishes counts a suppression
    // report could not (1..4 and negative values).
    let published: Vec<i64> = noisy.iter().flat_map(|t| t.values.clone()).collect();
    assert!(published.iter().any(|v| (1..5).contains(v)));
    assert!(published.iter().any(|v| *v < 0));
    let env = prikk_proto::sign_report(&s, &r);
    let stored = verifier().verify(&env, Some(&key_of("a", &s))).unwrap();
    assert_eq!(stored.report_id, "dp-a-1");
    // Stored as published, signed values included.
    let status = stored.tables.iter().find(|t| t.id == "status").unwrap();
    let exact_status = noisy.iter().find(|t| t.shape.id == "status").unwrap();
    let want: Vec<Option<i64>> = exact_status.values.iter().map(|&v| Some(v)).collect();
    assert_eq!(status.values, want);

    // The same counts in suppression mode are refused as unprotected.
    let mut plain = r.clone();
    plain.policy.as_mut().unwrap().method = "suppression".into();
    for t in &mut plain.tables {
        t.dp = None;
    }
    let e = verifier()
        .verify(
            &prikk_proto::sign_report(&s, &plain),
            Some(&key_of("a", &s)),
        )
        .unwrap_err();
    assert!(
        matches!(e, Refusal::Tables(_) | Refusal::Unprotected(_)),
        "{e:?}"
    );
}

#[test]
fn a_dp_report_without_parameters_or_with_weak_noise_is_refused() {
    let s = signer();
    let key = key_of("a", &s);
    let (r, _) = dp_report("a", "dp-a-2", 8, "1");

    let mut missing = r.clone();
    missing.tables[3].dp = None;
    let e = verifier()
        .verify(&prikk_proto::sign_report(&s, &missing), Some(&key))
        .unwrap_err();
    match &e {
        Refusal::WeakPolicy(why) => assert!(why.contains("no noise mechanism"), "{why}"),
        other => panic!("unexpected {other:?}"),
    }

    let mut garbled = r.clone();
    garbled.tables[0].dp.as_mut().unwrap().scale = "1e3".into();
    assert!(matches!(
        verifier().verify(&prikk_proto::sign_report(&s, &garbled), Some(&key)),
        Err(Refusal::WeakPolicy(_))
    ));

    let children = r.tables.iter().position(|t| t.id == "children").unwrap();
    let mut no_contrib = r.clone();
    no_contrib.tables[children]
        .dp
        .as_mut()
        .unwrap()
        .contributors_scale
        .clear();
    assert!(matches!(
        verifier().verify(&prikk_proto::sign_report(&s, &no_contrib), Some(&key)),
        Err(Refusal::WeakPolicy(_))
    ));

    // ε = 1 over 19 releases gives scale 19 for ordinary tables: accepted
    // under a minimum of 19, refused under a minimum of 20.
    let env = prikk_proto::sign_report(&s, &r);
    let at = |scale: u64| {
        verifier().with_dp_minimum(DpMinimum {
            laplace_scale: Rational::integer(scale),
            gaussian_sigma2: Rational::ONE,
        })
    };
    at(19).verify(&env, Some(&key)).unwrap();
    match at(20).verify(&env, Some(&key)).unwrap_err() {
        Refusal::WeakPolicy(why) => assert!(why.contains("below the required 20"), "{why}"),
        other => panic!("unexpected {other:?}"),
    }

    // Noise parameters do not belong in a suppression report.
    let mut mixed = r.clone();
    mixed.policy.as_mut().unwrap().method = "suppression".into();
    assert!(
        verifier()
            .verify(&prikk_proto::sign_report(&s, &mixed), Some(&key))
            .is_err()
    );
    // An unknown mode is refused.
    let mut unknown = r;
    unknown.policy.as_mut().unwrap().method = "noise".into();
    assert!(matches!(
        verifier().verify(&prikk_proto::sign_report(&s, &unknown), Some(&key)),
        Err(Refusal::WeakPolicy(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_noisy_cells_get_the_root_of_the_summed_variances() {
    let dir = tempfile::tempdir().unwrap();
    let (store, intake, writer) = store_and_intake(dir.path());
    let def = Definition::embedded();
    // a and b report with noise of different strength; c by suppression.
    let mut expected_noisy = Vec::new();
    for (p, eps, seed) in [("a", "1", 11u64), ("b", "2", 12)] {
        let s = enrol(&store, p, "vest");
        let (r, noisy) = dp_report(p, &format!("{p}-1"), seed, eps);
        let nr = verifier()
            .verify(&prikk_proto::sign_report(&s, &r), Some(&key_of(p, &s)))
            .unwrap();
        intake.submit(nr).await.unwrap();
        expected_noisy.push((r, noisy));
    }
    let c = enrol(&store, "c", "ost");
    let tc = exact_tables(&def, 13, 24, |_| 5);
    let rc = report("c", "2006", "c-1", pb_tables(&tc, |_, _| false));
    let nr = verifier()
        .verify(&prikk_proto::sign_report(&c, &rc), Some(&key_of("c", &c)))
        .unwrap();
    intake.submit(nr).await.unwrap();

    let reports = store.latest_reports("2006").unwrap();
    assert_eq!(reports.len(), 3);
    let mut nat = merge::for_scope(&def, &reports, &Scope::National, 1).unwrap();
    merge::attach_noise(&store, &reports, &Scope::National, &mut nat).unwrap();

    let status = nat.iter().find(|t| t.shape.id == "status").unwrap();
    let shape = &status.shape;
    let sd = status.sd.as_ref().expect("noisy contributions give an sd");
    // Variance of one draw, per report, for the status table.
    let var_of = |r: &pb::Report| {
        let t = r.tables.iter().find(|t| t.id == "status").unwrap();
        let dp = t.dp.as_ref().unwrap();
        prikk_privacy::dp::DpMechanism::parse(&dp.mechanism, &dp.scale)
            .unwrap()
            .variance()
    };
    let (va, vb) = (var_of(&expected_noisy[0].0), var_of(&expected_noisy[1].0));
    assert!(va > vb, "ε = 1 is noisier than ε = 2");
    for cell in [
        shape
            .cell_by_codes(&["admitted.terminated.birth", "female"])
            .unwrap(),
        shape.cell_by_codes(&["admitted", "male"]).unwrap(),
        shape.cell_by_codes(&["total", "total"]).unwrap(),
    ] {
        let inner = if shape.is_inner(cell) {
            1.0
        } else {
            shape.inner_cells_under(cell).len() as f64
        };
        let want = ((va + vb) * inner).sqrt();
        let got = sd[cell].expect("published noisy cell has an sd");
        assert!((got - want).abs() < 1e-9 * want, "{got} vs {want}");
        // The merged value is the signed sum: noisy a + noisy b + exact c.
        let value = |t: &[Table]| t.iter().find(|t| t.shape.id == "status").unwrap().values[cell];
        let sum = value(&expected_noisy[0].1) + value(&expected_noisy[1].1) + value(&tc);
        assert_eq!(status.cells[cell], MergedCell::Exact(sum));
        let (lo, hi) = status.ci90(cell).unwrap();
        assert!((hi - lo - 2.0 * merge::Z90 * want).abs() < 1e-6);
    }

    // Exports: JSON carries sd and ci90; text shows `±`.
    let json = export::to_json(&nat, serde_json::Map::new());
    let cells = json["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "status")
        .unwrap()["cells"]
        .as_array()
        .unwrap()
        .clone();
    let total = cells
        .iter()
        .find(|c| c["key"]["status"] == "total" && c["key"]["gender"] == "total")
        .unwrap();
    let ci = total["ci90"].as_array().unwrap();
    assert!(total["sd"].as_f64().unwrap() > 0.0);
    assert!(ci[0].as_f64().unwrap() < total["value"].as_f64().unwrap());
    assert!(ci[1].as_f64().unwrap() > total["value"].as_f64().unwrap());
    let mut text = Vec::new();
    export::write_text(&nat, "Norway, 2006", &mut text).unwrap();
    assert!(String::from_utf8(text).unwrap().contains(" ± "));

    // Suppression-only scope: no sd.
    let mut east = merge::for_scope(&def, &reports, &Scope::Region("ost".into()), 1).unwrap();
    merge::attach_noise(&store, &reports, &Scope::Region("ost".into()), &mut east).unwrap();
    assert!(east.iter().all(|t| t.sd.is_none()));
    // Sum tables have contributor noise too, and a contributors scale on the wire.
    assert!(
        def.tables
            .iter()
            .any(|t| matches!(t.shape.measure, Measure::Sum(_)))
    );
    drop(intake);
    writer.join().unwrap();
}
