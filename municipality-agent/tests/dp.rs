//! The differential-privacy modes of the agent: the policy in the config
//! file, noised payloads whose margins add up, the privacy-loss ledger in the
//! outbox (charged once per report id, refusal over budget before anything
//! is queued, spend in the journal) and the budget in `preview`.

use std::path::{Path, PathBuf};
use std::process::Command;

use municipality_agent::config::AgentConfig;
use municipality_agent::outbox::{Charge, Enqueued, Outbox, OutboxError};
use municipality_agent::report::{ProtectionPolicy, prepare_with, prepare_with_rng};
use municipality_agent::synthetic::{SyntheticOptions, write_export};
use prikk_privacy::definition::Definition;
use prikk_privacy::dp::{LedgerError, ProtectionMode, Rational};
use prikk_privacy::table::Measure;
use prikk_proto::{Signer, pb};
use prost::Message;
use rand::SeedableRng;
use rand::rngs::StdRng;

const BIN: &str = env!("CARGO_BIN_EXE_municipality-agent");

fn export(dir: &Path, project: &str, rows: usize) -> PathBuf {
    let path = dir.join(format!("{project}.csv"));
    write_export(&path, project, rows, 5, &SyntheticOptions::default()).unwrap();
    path
}

fn protection(text: &str) -> ProtectionPolicy {
    AgentConfig::parse(text, Path::new("agent.toml"))
        .unwrap()
        .protection
}

#[test]
fn config_policy_modes_and_their_errors() {
    let p = protection("");
    assert_eq!(p.mode, ProtectionMode::Suppression);
    assert!(p.dp.is_none());
    let p = protection(
        "[policy]\nmode = \"dp\"\nepsilon = 0.5\nannual_budget = \"2\"\nmin_count = 3\n",
    );
    assert_eq!(p.mode, ProtectionMode::Dp);
    assert_eq!(p.suppression.min_count, 3);
    let dp = p.dp.unwrap();
    assert_eq!(dp.policy.loss.amount(), Rational::new(1, 2).unwrap());
    assert_eq!(dp.annual_budget.amount(), Rational::integer(2));
    let p = protection("[policy]\nmode = \"dp+suppression\"\nrho = \"1/8\"\nannual_budget = 1\n");
    assert_eq!(p.mode, ProtectionMode::DpAndSuppression);
    assert_eq!(p.dp.unwrap().policy.loss.unit().to_string(), "rho");

    for (text, expect) in [
        (
            "[policy]\nmode = \"dp\"\nannual_budget = 1\n",
            "epsilon or policy.rho",
        ),
        ("[policy]\nmode = \"dp\"\nepsilon = 1\n", "annual_budget"),
        (
            "[policy]\nmode = \"dp\"\nepsilon = 3\nannual_budget = 2\n",
            "exceeds the annual budget",
        ),
        ("[policy]\nmode = \"noise\"\n", "policy.mode"),
        (
            "[policy]\nmode = \"dp\"\nepsilon = 1\nrho = 1\nannual_budget = 2\n",
            "not both",
        ),
        (
            "[policy]\nmode = \"dp\"\nepsilon = 1\nmechanism = \"discrete-gaussian\"\nannual_budget = 2\n",
            "does not match",
        ),
        (
            "[policy]\nmode = \"dp\"\nepsilon = \"-1\"\nannual_budget = 2\n",
            "policy.epsilon",
        ),
        (
            "[policy]\nmode = \"dp\"\nepsilon = 0\nannual_budget = 2\n",
            "positive",
        ),
    ] {
        let e = AgentConfig::parse(text, Path::new("agent.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(expect) && e.contains("agent.toml"),
            "{text}: {e}"
        );
    }
    // Unknown keys in [policy] are still refused with line and column.
    let e = AgentConfig::parse(
        "[policy]\nmode = \"dp\"\nepsilom = 1\n",
        Path::new("a.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("line 3") && e.contains("epsilom"), "{e}");
}

#[test]
fn dp_payload_is_noisy_signed_with_parameters_and_margins_that_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let input = export(dir.path(), "bergen", 200);
    let def = Definition::embedded();
    let exact =
        municipality_agent::report::prepare(&def, &input, "2006", None, &Default::default())
            .unwrap();
    let p = protection("[policy]\nmode = \"dp\"\nepsilon = 1\nannual_budget = 4\n");
    let prepared =
        prepare_with_rng(&def, &input, "2006", None, &p, StdRng::seed_from_u64(3)).unwrap();
    // What leaves is the decoded payload.
    let report = pb::Report::decode(prepared.payload(0).as_slice()).unwrap();
    assert_eq!(report.policy.as_ref().unwrap().method, "dp");
    let mut differs = 0;
    let mut negative = 0;
    for (t, spec) in report.tables.iter().zip(&def.tables) {
        let shape = &spec.shape;
        let dp =
            t.dp.as_ref()
                .expect("every table carries its noise parameters");
        assert_eq!(dp.mechanism, "discrete-laplace");
        let scale = Rational::parse_decimal(&dp.scale).unwrap();
        assert!(scale > Rational::ZERO);
        let is_sum = matches!(shape.measure, Measure::Sum(_));
        assert_eq!(is_sum, !dp.contributors_scale.is_empty(), "{}", t.id);
        let values: Vec<i64> = t
            .cells
            .iter()
            .map(|c| match c.value {
                Some(pb::cell::Value::Count(v)) => v,
                _ => panic!("dp mode suppresses nothing ({})", t.id),
            })
            .collect();
        assert_eq!(values.len(), shape.len());
        negative += values.iter().filter(|&&v| v < 0).count();
        // Every margin and subtotal is the sum of its parts, in the payload.
        for r in shape.relations() {
            let parts: i64 = r.parts.iter().map(|&i| values[i]).sum();
            assert_eq!(
                values[r.total],
                parts,
                "table {} cell {:?}",
                t.id,
                shape.key_codes(r.total)
            );
        }
        if is_sum {
            let contributors: Vec<i64> = t.cells.iter().map(|c| c.contributors.unwrap()).collect();
            for r in shape.relations() {
                let parts: i64 = r.parts.iter().map(|&i| contributors[i]).sum();
                assert_eq!(contributors[r.total], parts);
            }
        }
        let exact_t = exact
            .protected
            .tables
            .iter()
            .find(|x| x.shape.id == t.id)
            .unwrap();
        differs += values
            .iter()
            .zip(&exact_t.values)
            .filter(|(a, b)| a != b)
            .count();
    }
    assert!(differs > 100, "noise was added ({differs} cells differ)");
    assert!(negative > 0, "noisy counts are signed, never clamped");
    // The local view keeps the exact tables.
    assert_eq!(prepared.protected.tables, exact.protected.tables);
    let dp = prepared.dp.as_ref().unwrap();
    assert_eq!(dp.loss.amount(), Rational::ONE);
    assert_eq!(dp.noise.len(), def.tables.len());

    // Fresh noise each time: a new report id, so a new release.
    let again = prepare_with(&def, &input, "2006", None, &p).unwrap();
    assert_ne!(again.report.report_id, prepared.report.report_id);
}

#[test]
fn dp_plus_suppression_hides_every_small_noisy_value() {
    let dir = tempfile::tempdir().unwrap();
    let input = export(dir.path(), "bergen", 200);
    let def = Definition::embedded();
    let p = protection(
        "[policy]\nmode = \"dp+suppression\"\nrho = \"0.5\"\nannual_budget = 4\nmin_count = 4\n",
    );
    let prepared =
        prepare_with_rng(&def, &input, "2006", None, &p, StdRng::seed_from_u64(9)).unwrap();
    let report = pb::Report::decode(prepared.payload(0).as_slice()).unwrap();
    assert_eq!(report.policy.as_ref().unwrap().method, "dp+suppression");
    let (mut shown, mut hidden) = (0, 0);
    for t in &report.tables {
        let dp = t.dp.as_ref().unwrap();
        assert_eq!(dp.mechanism, "discrete-gaussian");
        let is_sum = !dp.contributors_scale.is_empty();
        for c in &t.cells {
            match c.value {
                Some(pb::cell::Value::Count(v)) => {
                    shown += 1;
                    let n = if is_sum { c.contributors.unwrap() } else { v };
                    assert!(
                        n >= 4,
                        "table {}: a published noisy {n} is below min_count",
                        t.id
                    );
                }
                Some(pb::cell::Value::Suppressed(_)) => hidden += 1,
                None => panic!("cell without value"),
            }
        }
    }
    assert!(shown > 0 && hidden > 0, "{shown} shown, {hidden} hidden");
}

/// A signed dp report for `project` (fresh noise each call).
fn signed(
    def: &Definition,
    input: &Path,
    p: &ProtectionPolicy,
    s: &Signer,
) -> (pb::SignedReport, Charge) {
    let prepared = prepare_with(def, input, "2006", None, p).unwrap();
    let d = prepared.dp.as_ref().unwrap();
    let charge = Charge {
        year: 2006,
        loss: d.loss,
        annual_budget: d.annual_budget,
    };
    (prikk_proto::sign_report(s, &prepared.report), charge)
}

#[test]
fn the_ledger_charges_a_report_once_and_refuses_over_budget_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let input = export(dir.path(), "bergen", 120);
    let def = Definition::embedded();
    let s = Signer::from_pkcs8(&Signer::generate_pkcs8().unwrap()).unwrap();
    let p = protection("[policy]\nmode = \"dp\"\nepsilon = \"0.75\"\nannual_budget = 2\n");
    let db = dir.path().join("outbox.sqlite");
    let outbox = Outbox::open(&db).unwrap();

    let (env, charge) = signed(&def, &input, &p, &s);
    assert!(matches!(
        outbox.enqueue_charged(&env, Some(&charge)).unwrap(),
        Enqueued::New(_)
    ));
    // The same report again: not queued twice, not charged twice.
    assert!(matches!(
        outbox.enqueue_charged(&env, Some(&charge)).unwrap(),
        Enqueued::Existing(_)
    ));
    let st = outbox
        .budget_status("bergen", 2006, charge.annual_budget)
        .unwrap();
    assert_eq!(
        (st.spent.to_string(), st.remaining.to_string(), st.releases),
        ("0.75".into(), "1.25".into(), 1)
    );

    let (env2, _) = signed(&def, &input, &p, &s);
    outbox.enqueue_charged(&env2, Some(&charge)).unwrap();
    let (env3, _) = signed(&def, &input, &p, &s);
    match outbox.enqueue_charged(&env3, Some(&charge)) {
        Err(OutboxError::Budget(LedgerError::Exceeded { remaining, .. })) => {
            assert_eq!(remaining.to_string(), "0.5");
        }
        other => panic!("unexpected {other:?}"),
    }
    // Nothing of the refused release was written.
    assert_eq!(outbox.list().unwrap().len(), 2);
    assert_eq!(outbox.journal_entries().unwrap().len(), 2);
    // Another year has its own budget.
    assert!(
        outbox
            .check_budget(
                "bergen",
                &Charge {
                    year: 2007,
                    ..charge
                }
            )
            .is_ok()
    );
    // The ledger survives reopening, and the journal records each spend.
    drop(outbox);
    let outbox = Outbox::open(&db).unwrap();
    assert_eq!(
        outbox
            .budget_status("bergen", 2006, charge.annual_budget)
            .unwrap()
            .spent,
        Rational::new(3, 2).unwrap()
    );
    let entries = outbox.journal_entries().unwrap();
    assert!(
        entries
            .iter()
            .all(|e| e.detail.contains("privacy loss ε = 0.75 spent")),
        "{entries:?}"
    );
    assert!(
        entries[1].detail.contains("0.5 of 2"),
        "{}",
        entries[1].detail
    );
    assert!(outbox.verify_journal().unwrap().problem.is_none());
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn submit_refuses_a_report_over_budget_with_exit_1_and_queues_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = export(d, "bergen", 120);
    let (code, _, err) = run(&["keygen", "--out", d.join("agent.key").to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(&["keygen", "--out", d.join("gateway.key").to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    // A gateway that is not there: a report within budget is queued (exit 3).
    let config = d.join("agent.toml");
    std::fs::write(
        &config,
        "key = \"agent.key\"\noutbox = \"outbox.sqlite\"\n\
         [gateway]\nurl = \"http://127.0.0.1:9\"\nreceipt_key = \"gateway.key.pub\"\ninsecure_plaintext = true\nconnect_timeout_secs = 2\n\
         [[projects]]\nid = \"bergen\"\n\
         [policy]\nmode = \"dp\"\nepsilon = \"1\"\nannual_budget = \"1.5\"\n",
    )
    .unwrap();
    let cfg = config.to_str().unwrap();
    let inp = input.to_str().unwrap();
    let (code, _, err) = run(&[
        "submit", "--config", cfg, "--input", inp, "--period", "2006",
    ]);
    assert_eq!(code, 3, "{err}");

    // The preview shows the spend.
    let (code, out, err) = run(&[
        "preview", "--config", cfg, "--input", inp, "--period", "2006", "--format", "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["policy"]["method"], "dp");
    let b = &v["dp"]["budget"];
    assert_eq!(
        (
            b["spent"].as_str(),
            b["remaining"].as_str(),
            b["releases"].as_u64()
        ),
        (Some("1"), Some("0.5"), Some(1))
    );
    assert!(
        b["remaining_after"].is_null(),
        "the next report would not fit: {b}"
    );
    let (_, text, _) = run(&[
        "preview", "--config", cfg, "--input", inp, "--period", "2006",
    ]);
    assert!(
        text.contains("epsilon 1 spent of 1.5") && text.contains("REFUSED"),
        "{text}"
    );

    // A second release (fresh noise, new report id) would exceed the budget.
    let (code, out, err) = run(&[
        "submit", "--config", cfg, "--input", inp, "--period", "2006",
    ]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains("budget")
            && err.contains("only 0.5 of 1.5 remains")
            && err.contains("Nothing was queued"),
        "{err}"
    );
    let outbox = Outbox::open(&d.join("outbox.sqlite")).unwrap();
    assert_eq!(outbox.list().unwrap().len(), 1, "nothing new queued");
    assert_eq!(outbox.journal_entries().unwrap().len(), 1);
}
