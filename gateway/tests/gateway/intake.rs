//! Submissions over TLS: acceptance, receipts, replay, revisions, every
//! refusal with its own status and nothing stored, restart, shutdown.

use std::sync::Arc;

use prikk_gateway::period::PeriodKind;
use prikk_gateway::{Config, FixedClock};
use prikk_privacy::Definition;
use prikk_proto::{pb, sign_report, verify_receipt};
use prost::Message;
use tonic::Code;

use crate::support::*;

fn refusal(s: &tonic::Status) -> String {
    s.metadata()
        .get("prikk-refusal")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_report_gets_a_signed_receipt_and_replay_returns_it_again() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(
        dir.path(),
        config(dir.path()),
        Arc::new(FixedClock::new(T0 + 60)),
    )
    .await;
    let bergen = enrol(&gw.store, "bergen", "vest");
    let mut client = gw.client().await;

    let report = valid_report("bergen", "2006", "r-bergen-2006-a", 1);
    let env = sign_report(&bergen, &report);
    let receipt = client
        .submit_report(env.clone())
        .await
        .unwrap()
        .into_inner();
    let body = verify_receipt(&gw.receipt_key, &receipt).unwrap();
    assert_eq!(body.report_id, "r-bergen-2006-a");
    assert_eq!(
        body.payload_sha256,
        prikk_proto::payload_sha256(&env.report).to_vec()
    );
    assert_eq!(body.revision, 1);
    assert_eq!(body.accepted_unix, T0 + 60);
    assert_eq!(
        (body.project.as_str(), body.period.as_str()),
        ("bergen", "2006")
    );
    assert_eq!(gw.store.report_count().unwrap(), 1);
    // The raw envelope is stored byte for byte.
    assert_eq!(
        gw.store.envelope("r-bergen-2006-a").unwrap().unwrap(),
        env.encode_to_vec()
    );

    // Replay: the same receipt, stored once.
    let again = client
        .submit_report(env.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, receipt);
    assert_eq!(gw.store.report_count().unwrap(), 1);

    // Same id, different bytes: refused, nothing new stored.
    let mut changed = report.clone();
    changed.created_unix += 1;
    let err = client
        .submit_report(sign_report(&bergen, &changed))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), refusal(&err).as_str()),
        (Code::AlreadyExists, "conflict")
    );
    assert_eq!(gw.store.report_count().unwrap(), 1);

    // A corrected report for the same project and period is revision 2.
    let second = valid_report("bergen", "2006", "r-bergen-2006-b", 2);
    let r2 = client
        .submit_report(sign_report(&bergen, &second))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(verify_receipt(&gw.receipt_key, &r2).unwrap().revision, 2);
    let other_period = valid_report("bergen", "2006-H2", "r-bergen-2006h2", 3);
    let r3 = client
        .submit_report(sign_report(&bergen, &other_period))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(verify_receipt(&gw.receipt_key, &r3).unwrap().revision, 1);
    assert_eq!(
        gw.store.revisions("bergen", "2006").unwrap(),
        vec![
            ("r-bergen-2006-a".to_string(), 1),
            ("r-bergen-2006-b".to_string(), 2)
        ]
    );
    let latest = gw.store.latest_reports("2006").unwrap();
    assert_eq!(latest.len(), 1);
    assert_eq!(latest[0].revision, 2);
    assert_eq!(gw.metrics.accepted(), 3);

    // The definition the gateway collects.
    let def = client
        .get_report_definition(pb::GetReportDefinitionRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(def.toml, Definition::embedded().source_text);
    assert_eq!(
        def.sha256,
        prikk_proto::payload_sha256(def.toml.as_bytes()).to_vec()
    );
    let missing = client
        .get_report_definition(pb::GetReportDefinitionRequest {
            definition_id: "other".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);

    // Health service reports serving.
    let mut health = tonic_health::pb::health_client::HealthClient::new(gw.channel().await);
    let h = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "prikk.v1.ReportGateway".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        h.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_has_its_own_status_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config {
        periods: vec![PeriodKind::Year, PeriodKind::Half],
        max_report_bytes: 256 * 1024,
        ..config(dir.path())
    };
    let gw = start(dir.path(), cfg, Arc::new(FixedClock::new(T0))).await;
    let bergen = enrol(&gw.store, "bergen", "vest");
    let oslo = enrol(&gw.store, "oslo", "ost");
    let revoked = crate::support::signer();
    let revoked_id =
        prikk_gateway::registry::rotate_key(&gw.store, "bergen", revoked.public_key(), T0)
            .unwrap()
            .0;
    prikk_gateway::registry::revoke_key(&gw.store, &revoked_id, T0).unwrap();
    let stranger = crate::support::signer();
    let mut client = gw.client().await;
    let good = valid_report("bergen", "2006", "r-1", 1);

    let mut cases: Vec<(&str, pb::SignedReport, Code, &str)> = Vec::new();
    let mut tampered = sign_report(&bergen, &good);
    let mid = tampered.report.len() / 2;
    tampered.report[mid] ^= 0x01;
    cases.push((
        "tampered payload",
        tampered,
        Code::Unauthenticated,
        "bad_signature",
    ));
    let mut bad_sig = sign_report(&bergen, &good);
    bad_sig.signature[10] ^= 0x80;
    cases.push((
        "bad signature",
        bad_sig,
        Code::Unauthenticated,
        "bad_signature",
    ));
    cases.push((
        "unknown key",
        sign_report(&stranger, &good),
        Code::NotFound,
        "unknown_key",
    ));
    cases.push((
        "revoked key",
        sign_report(&revoked, &good),
        Code::PermissionDenied,
        "revoked_key",
    ));
    cases.push((
        "another project's key",
        sign_report(&oslo, &good),
        Code::PermissionDenied,
        "wrong_project",
    ));
    let mut v2 = good.clone();
    v2.definition_version = 99;
    cases.push((
        "unknown definition version",
        sign_report(&bergen, &v2),
        Code::Unimplemented,
        "unknown_definition",
    ));
    // Groups of 5 plus one group of 3: some published counts are 3.
    let def = Definition::embedded();
    let small = exact_tables(&def, 7, 24, |g| if g == 0 { 3 } else { 5 });
    let small_report = report("bergen", "2006", "r-small", pb_tables(&small, |_, _| false));
    cases.push((
        "unprotected small cell",
        sign_report(&bergen, &small_report),
        Code::FailedPrecondition,
        "unprotected",
    ));
    let mut weak = good.clone();
    weak.policy.as_mut().unwrap().min_count = 3;
    cases.push((
        "weak policy",
        sign_report(&bergen, &weak),
        Code::FailedPrecondition,
        "weak_policy",
    ));
    let mut missing_table = good.clone();
    missing_table.tables.pop();
    cases.push((
        "missing table",
        sign_report(&bergen, &missing_table),
        Code::InvalidArgument,
        "table_mismatch",
    ));
    let mut bad_period = good.clone();
    bad_period.period = "2006-Q5".into();
    cases.push((
        "invalid period",
        sign_report(&bergen, &bad_period),
        Code::InvalidArgument,
        "invalid_period",
    ));
    let mut monthly = good.clone();
    monthly.period = "2006-03".into();
    cases.push((
        "period not collected",
        sign_report(&bergen, &monthly),
        Code::OutOfRange,
        "period_not_collected",
    ));
    // Garbage with a signature that cannot match.
    let mut garbage = sign_report(&bergen, &good);
    garbage.report = (0..5000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    garbage.signature = vec![0; 64];
    cases.push((
        "garbage payload",
        garbage,
        Code::Unauthenticated,
        "bad_signature",
    ));
    let mut short_sig = sign_report(&bergen, &good);
    short_sig.signature.truncate(10);
    cases.push((
        "short signature",
        short_sig,
        Code::InvalidArgument,
        "envelope",
    ));
    let mut no_key = sign_report(&bergen, &good);
    no_key.key_id.clear();
    cases.push(("no key id", no_key, Code::InvalidArgument, "envelope"));
    let mut oversized = sign_report(&bergen, &good);
    oversized.report = vec![0x0a; 256 * 1024 + 1];
    cases.push((
        "oversized payload",
        oversized,
        Code::ResourceExhausted,
        "too_large",
    ));

    for (what, env, code, label) in cases {
        let err = client.submit_report(env).await.expect_err(what);
        assert_eq!(err.code(), code, "{what}: {err:?}");
        assert_eq!(refusal(&err), label, "{what}: {err:?}");
        assert!(gw.metrics.rejected(label) >= 1, "{what}: metric {label}");
        assert_eq!(
            gw.store.report_count().unwrap(),
            0,
            "{what}: nothing stored"
        );
    }

    // A message beyond the transport limit never reaches the service.
    let mut huge = sign_report(&bergen, &good);
    huge.report = vec![0x0a; 2 << 20];
    let err = client.submit_report(huge).await.unwrap_err();
    assert!(
        matches!(err.code(), Code::OutOfRange | Code::ResourceExhausted),
        "{err:?}"
    );

    // Bytes that are not a SignedReport at all (field 3 as a varint).
    let channel = gw.channel().await;
    let mut raw = tonic::client::Grpc::new(channel);
    raw.ready().await.unwrap();
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(
        "/prikk.v1.ReportGateway/SubmitReport",
    );
    let codec = tonic_prost::ProstCodec::<pb::ReceiptBody, pb::Receipt>::default();
    let not_an_envelope = pb::ReceiptBody {
        accepted_unix: 5,
        ..Default::default()
    };
    let err = raw
        .unary(tonic::Request::new(not_an_envelope), path, codec)
        .await
        .unwrap_err();
    assert_ne!(err.code(), Code::Ok);
    assert_eq!(gw.store.report_count().unwrap(), 0);

    // And after all that, the good report still goes through.
    client
        .submit_report(sign_report(&bergen, &good))
        .await
        .unwrap();
    assert_eq!(gw.store.report_count().unwrap(), 1);
    gw.stop().await;
}

/// Signs arbitrary bytes as a report payload, to test what happens after the signature holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_garbage_is_a_malformed_report() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(
        dir.path(),
        config(dir.path()),
        Arc::new(FixedClock::new(T0)),
    )
    .await;
    let pkcs8 = prikk_proto::Signer::generate_pkcs8().unwrap();
    let bergen = prikk_proto::Signer::from_pkcs8(&pkcs8).unwrap();
    prikk_gateway::registry::register(
        &gw.store,
        "bergen",
        "Bergen",
        "vest",
        bergen.public_key(),
        T0,
    )
    .unwrap();
    let pair = ring::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pkcs8).unwrap();
    // A valid report followed by trailing bytes, and pure garbage: both signed correctly.
    let mut trailing = valid_report("bergen", "2006", "r-1", 1).encode_to_vec();
    trailing.extend_from_slice(&[0x08, 0x01]);
    let garbage: Vec<u8> = (0..3000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let mut client = gw.client().await;
    for payload in [trailing, garbage] {
        let mut msg = prikk_proto::REPORT_DOMAIN.to_vec();
        msg.extend_from_slice(&payload);
        let env = pb::SignedReport {
            signature: pair.sign(&msg).as_ref().to_vec(),
            report: payload,
            key_id: bergen.key_id().to_string(),
        };
        let err = client.submit_report(env).await.unwrap_err();
        assert_eq!(
            (err.code(), refusal(&err).as_str()),
            (Code::InvalidArgument, "malformed_report"),
            "{err:?}"
        );
    }
    assert_eq!(gw.store.report_count().unwrap(), 0);
    gw.stop().await;
}

/// A protected report with a suppressed 2x2 rectangle inside `terminated`
/// (every margin published): the audit must let it through, and a report that
/// suppresses one cell whose row total is published must be refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protection_is_rechecked_with_the_audit() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(
        dir.path(),
        config(dir.path()),
        Arc::new(FixedClock::new(T0)),
    )
    .await;
    let bergen = enrol(&gw.store, "bergen", "vest");
    let mut client = gw.client().await;
    let def = Definition::embedded();
    let exact = exact_tables(&def, 11, 40, |_| 5);
    let rect = ["admitted.terminated.birth", "admitted.terminated.moved"];
    let protected = pb_tables(&exact, |t, k| {
        t == "status" && rect.contains(&k[0]) && k[1] != "total"
    });
    let derivable = pb_tables(&exact, |t, k| {
        t == "status" && k[0] == rect[0] && k[1] == "female"
    });
    let bad = client
        .submit_report(sign_report(
            &bergen,
            &report("bergen", "2006", "r-derivable", derivable),
        ))
        .await
        .unwrap_err();
    assert_eq!(
        (bad.code(), refusal(&bad).as_str()),
        (Code::FailedPrecondition, "unprotected"),
        "{bad:?}"
    );
    assert_eq!(gw.store.report_count().unwrap(), 0);
    client
        .submit_report(sign_report(
            &bergen,
            &report("bergen", "2006", "r-protected", protected),
        ))
        .await
        .unwrap();
    assert_eq!(gw.store.report_count().unwrap(), 1);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_stores_every_acknowledged_report_and_restart_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let gw = start(dir.path(), cfg.clone(), Arc::new(FixedClock::new(T0))).await;
    let signers: Vec<_> = (0..8)
        .map(|i| enrol(&gw.store, &format!("p{i}"), "vest"))
        .collect();
    let envs: Vec<pb::SignedReport> = (0..40)
        .map(|i| {
            sign_report(
                &signers[i % 8],
                &valid_report(&format!("p{}", i % 8), "2006", &format!("r-{i}"), i as u64),
            )
        })
        .collect();
    let client = gw.client().await;
    let mut tasks = Vec::new();
    for env in envs.clone() {
        let mut c = client.clone();
        tasks.push(tokio::spawn(async move {
            c.submit_report(env).await.map(|r| r.into_inner())
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let store = gw.store.clone();
    let key = gw.receipt_key.clone();
    gw.stop().await;
    let mut acknowledged = Vec::new();
    for t in tasks {
        if let Ok(receipt) = t.await.unwrap() {
            acknowledged.push(verify_receipt(&key, &receipt).unwrap());
        }
    }
    // Every acknowledged report is stored with the receipt it was given; nothing half-stored.
    for body in &acknowledged {
        let stored = store
            .receipt(&body.report_id)
            .unwrap()
            .expect("acknowledged report is stored");
        assert_eq!(stored.payload_sha256, body.payload_sha256);
        let stored = verify_receipt(
            &key,
            &pb::Receipt::decode(stored.receipt.as_slice()).unwrap(),
        )
        .unwrap();
        assert_eq!(&stored, body);
    }
    let stored_count = store.report_count().unwrap() as usize;
    assert!(stored_count >= acknowledged.len());
    drop(store);

    // Restart on the same files: same receipt key, every report still there,
    // and a resubmission gets the receipt it had.
    let gw = start(dir.path(), cfg, Arc::new(FixedClock::new(T0 + 3600))).await;
    assert_eq!(gw.receipt_key, key);
    assert_eq!(gw.store.report_count().unwrap() as usize, stored_count);
    let mut client = gw.client().await;
    let again = client
        .submit_report(envs[0].clone())
        .await
        .unwrap()
        .into_inner();
    let body = verify_receipt(&key, &again).unwrap();
    if let Some(first) = acknowledged.iter().find(|b| b.report_id == "r-0") {
        assert_eq!(&body, first);
    }
    for env in &envs {
        client.submit_report(env.clone()).await.unwrap();
    }
    assert_eq!(gw.store.report_count().unwrap(), 40);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_endpoint_and_plaintext_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let maddr = metrics.local_addr().unwrap();
    let gw = start_with(
        config(dir.path()),
        Arc::new(FixedClock::new(T0)),
        prikk_gateway::Transport::Plaintext,
        None,
        Some(metrics),
    )
    .await;
    let bergen = enrol(&gw.store, "bergen", "vest");
    let mut client = gw.client().await;
    client
        .submit_report(sign_report(
            &bergen,
            &valid_report("bergen", "2006", "r-1", 1),
        ))
        .await
        .unwrap();
    let mut bad = sign_report(&bergen, &valid_report("bergen", "2006", "r-2", 2));
    bad.signature[0] ^= 1;
    client.submit_report(bad).await.unwrap_err();

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(maddr).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).await.unwrap();
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    assert!(body.contains("prikk_reports_accepted_total 1\n"), "{body}");
    assert!(
        body.contains("prikk_reports_rejected_total{reason=\"bad_signature\"} 1\n"),
        "{body}"
    );
    assert!(
        body.contains("prikk_submit_latency_seconds_count 2\n"),
        "{body}"
    );
    gw.stop().await;
}

#[test]
fn example_config_loads() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("gateway.example.toml");
    let c = Config::load(&path).unwrap();
    assert_eq!(c.min_count, 5);
    assert!(c.tls_cert.is_some() && !c.insecure_plaintext);
    assert_eq!(c.periods.len(), 4);
}
