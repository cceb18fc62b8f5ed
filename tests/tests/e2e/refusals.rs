//! Tampered, replayed and wrongly signed submissions, sent straight over
//! TLS to the gateway: each is refused (or, for an exact replay, answered
//! with the original receipt) and leaves no trace in the stored reports or
//! the merged tables.

use municipality_agent::synthetic::PROJECTS;
use prikk_gateway::{Store, export, merge};
use prikk_proto::{Signer, pb, sign_report, verify_receipt};
use prost::Message;
use tonic::Code;

use crate::world::{PERIOD, World, delivered};

#[derive(Debug, PartialEq)]
struct Snapshot {
    reports: u64,
    latest: Vec<(String, u32)>,
    national: serde_json::Value,
}

fn snapshot(w: &World, store: &Store) -> Snapshot {
    let latest = store.latest_reports(PERIOD).unwrap();
    let national = merge::national(&w.def, &latest, w.gateway().config().min_count);
    Snapshot {
        reports: store.report_count().unwrap(),
        latest: latest
            .iter()
            .map(|r| (r.report_id.clone(), r.revision))
            .collect(),
        national: export::to_json(&national, serde_json::Map::new()),
    }
}

fn refusal(s: &tonic::Status) -> String {
    s.metadata()
        .get("prikk-refusal")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_replayed_and_wrongly_signed_submissions_leave_no_trace() {
    let chosen = ["bergen", "oslo-alna", "trondheim"];
    let projects: Vec<_> = PROJECTS
        .iter()
        .filter(|p| chosen.contains(&p.id))
        .copied()
        .collect();
    let w = World::new(&projects);
    let ok = delivered(w.submit_all(&w.access()).await, 2);
    let store = w.gateway().store();
    let before = snapshot(&w, &store);
    assert_eq!(before.reports as usize, ok.len());
    let (a, first) = &ok[0];
    let (b, second) = &ok[1];
    let original = first.sent.envelope.clone();
    let mut client = w.client().await;

    let mut attempts: Vec<(&str, pb::SignedReport, Code, &str)> = Vec::new();

    // Tampered: one published count raised, the original signature kept.
    let mut report = pb::Report::decode(original.report.as_slice()).unwrap();
    let cell = report
        .tables
        .iter_mut()
        .flat_map(|t| t.cells.iter_mut())
        .find(|c| matches!(c.value, Some(pb::cell::Value::Count(v)) if v >= 5))
        .expect("a published count");
    if let Some(pb::cell::Value::Count(v)) = &mut cell.value {
        *v += 5;
    }
    let tampered = pb::SignedReport {
        report: report.encode_to_vec(),
        ..original.clone()
    };
    attempts.push((
        "raised count",
        tampered,
        Code::Unauthenticated,
        "bad_signature",
    ));
    // Tampered: one byte of the signed payload flipped.
    let mut flipped = original.clone();
    let mid = flipped.report.len() / 2;
    flipped.report[mid] ^= 0x01;
    attempts.push((
        "flipped byte",
        flipped,
        Code::Unauthenticated,
        "bad_signature",
    ));

    // Wrongly signed: a key nobody registered.
    let stranger = Signer::from_pkcs8(&Signer::generate_pkcs8().unwrap()).unwrap();
    let original_report = pb::Report::decode(original.report.as_slice()).unwrap();
    attempts.push((
        "unregistered key",
        sign_report(&stranger, &original_report),
        Code::NotFound,
        "unknown_key",
    ));
    // Wrongly signed: another project's registered key signing a new report
    // for this project.
    let other = b.signer().unwrap();
    let mut later = original_report.clone();
    later.created_unix += 60;
    attempts.push((
        "another project's key",
        sign_report(&other, &later),
        Code::PermissionDenied,
        "wrong_project",
    ));
    // Wrongly signed: the other key's signature under this project's key id.
    let mut forged = sign_report(&other, &original_report);
    forged.key_id = original.key_id.clone();
    attempts.push((
        "signature under the wrong key id",
        forged,
        Code::Unauthenticated,
        "bad_signature",
    ));
    // Another project's report replayed under this project's key id.
    let mut swapped = second.sent.envelope.clone();
    swapped.key_id = original.key_id.clone();
    attempts.push((
        "replayed under another key id",
        swapped,
        Code::Unauthenticated,
        "bad_signature",
    ));

    for (what, env, code, label) in attempts {
        let err = client.submit_report(env).await.expect_err(what);
        assert_eq!(
            (err.code(), refusal(&err).as_str()),
            (code, label),
            "{what}: {err:?}"
        );
        assert_eq!(snapshot(&w, &store), before, "{what} left a trace");
    }

    // Wrongly signed: the stored report's exact bytes signed by another
    // project's key are refused, not answered with the original receipt.
    let err = client
        .submit_report(sign_report(&other, &original_report))
        .await
        .expect_err("a stored report signed by another project's key must be refused");
    assert_eq!(
        (err.code(), refusal(&err).as_str()),
        (Code::PermissionDenied, "wrong_project")
    );
    assert_eq!(
        snapshot(&w, &store),
        before,
        "a copy signed by another project's key left a trace"
    );

    // Replayed exactly: the original receipt again, nothing new stored.
    let again = client
        .submit_report(original.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, first.receipt.receipt);
    assert_eq!(snapshot(&w, &store), before, "an exact replay left a trace");

    // A correction for the same period becomes revision 2 ...
    let corrected = w.correction(a, &original);
    let signed = sign_report(
        &a.signer().unwrap(),
        &corrected.report_at(prikk_e2e::now_unix()),
    );
    let receipt = client.submit_report(signed).await.unwrap().into_inner();
    let body = verify_receipt(&w.gateway().receipt_key(), &receipt).unwrap();
    assert_eq!(body.revision, 2);
    let corrected_state = snapshot(&w, &store);
    assert_ne!(
        corrected_state.national, before.national,
        "the correction changes the national tables"
    );

    // ... and replaying the superseded revision 1 brings it back nowhere.
    let replay = client.submit_report(original).await.unwrap().into_inner();
    assert_eq!(
        replay, first.receipt.receipt,
        "the replay gets revision 1's receipt"
    );
    assert_eq!(
        snapshot(&w, &store),
        corrected_state,
        "replaying revision 1 changed what is served"
    );
    assert_eq!(store.revisions(&a.project, PERIOD).unwrap().len(), 2);
}
