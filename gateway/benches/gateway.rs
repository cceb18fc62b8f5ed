//! Gateway benchmarks (a plain binary; `cargo bench -p prikk-gateway --bench gateway`):
//! raw Ed25519 verifications per second on one core, full report
//! verification on one core, sustained accepted reports per second with many
//! concurrent submitters over TLS on loopback (p50/p99 latency), and the
//! national merge of 400 projects.

#[allow(dead_code, unreachable_pub)]
#[path = "../tests/gateway/support.rs"]
mod support;

/// The allocator the gateway binary uses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::{Duration, Instant};

use prikk_gateway::FixedClock;
use prikk_gateway::store::{RegisteredKey, StoredReport};
use prikk_gateway::verify::Verifier;
use prikk_privacy::Definition;
use prikk_proto::sign_report;
use prost::Message;
use support::*;

/// A realistic report: groups of 1-7 people (so many small cells), protected
/// by the same `prikk_privacy::protect` the agent uses.
fn protected_report(project: &str, id: &str, seed: u64) -> prikk_proto::pb::Report {
    let def = Definition::embedded();
    let exact = exact_tables(&def, seed, 40, |g| 1 + ((g as u64 * 7 + seed) % 7) as i64);
    let p = prikk_privacy::protect(&exact, &prikk_privacy::Policy::default()).expect("protect");
    let mut tables = Vec::new();
    for (ti, t) in exact.iter().enumerate() {
        let sup = &p.suppressed[ti];
        let mut one = pb_tables(std::slice::from_ref(t), |_, k| {
            let i = t.shape.cell_by_codes(k).unwrap();
            sup[i]
        });
        tables.append(&mut one);
    }
    report(project, "2006", id, tables)
}

fn per_second(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn ed25519_verifications() {
    let s = signer();
    let r = valid_report("bench", "2006", "r", 1);
    let env = sign_report(&s, &r);
    let mut msg = prikk_proto::REPORT_DOMAIN.to_vec();
    msg.extend_from_slice(&env.report);
    let key =
        ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, s.public_key().to_vec());
    let small = b"prikk.report.v1\0a short message";
    let sig_small = {
        let pkcs8 = prikk_proto::Signer::generate_pkcs8().unwrap();
        let pair = ring::signature::Ed25519KeyPair::from_pkcs8(&pkcs8).unwrap();
        use ring::signature::KeyPair;
        (
            pair.sign(small).as_ref().to_vec(),
            pair.public_key().as_ref().to_vec(),
        )
    };
    let small_key =
        ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, sig_small.1.clone());
    rate("short message", small.len(), || {
        small_key.verify(small, &sig_small.0).is_ok()
    });
    rate("full report payload", msg.len(), || {
        key.verify(&msg, &env.signature).is_ok()
    });
}

fn rate(what: &str, bytes: usize, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < Duration::from_secs(2) {
        for _ in 0..100 {
            assert!(f());
        }
        n += 100;
    }
    println!(
        "ed25519 verify ({what}, {bytes} bytes), one core: {:.0}/s",
        per_second(n, start.elapsed())
    );
}

fn full_verification() {
    let def = Arc::new(Definition::embedded());
    let v = Verifier::new(
        def,
        5,
        prikk_gateway::period::PeriodKind::ALL.to_vec(),
        1 << 20,
    );
    let s = signer();
    let key = RegisteredKey {
        key_id: s.key_id().into(),
        project: "bench".into(),
        public_key: s.public_key().to_vec(),
        added_unix: 0,
        revoked_unix: None,
    };
    for (what, r) in [
        ("nothing suppressed", valid_report("bench", "2006", "r", 1)),
        (
            "protected, with suppressions",
            protected_report("bench", "r", 1),
        ),
    ] {
        if protected_only() && !what.starts_with("protected") {
            continue;
        }
        let suppressed = r
            .tables
            .iter()
            .flat_map(|t| &t.cells)
            .filter(|c| matches!(c.value, Some(prikk_proto::pb::cell::Value::Suppressed(_))))
            .count();
        let env = sign_report(&s, &r);
        let start = Instant::now();
        let mut n = 0;
        while start.elapsed() < Duration::from_secs(2) {
            v.verify(&env, Some(&key)).unwrap();
            n += 1;
        }
        println!(
            "full verification ({what}: {} tables, {} bytes, {suppressed} suppressed cells), one core: {:.0} reports/s",
            r.tables.len(),
            env.report.len(),
            per_second(n, start.elapsed())
        );
    }
    if protected_only() {
        return;
    }
    // The disclosure audit alone, on the same report's published tables.
    let def = Definition::embedded();
    let exact = exact_tables(&def, 1, 24, |_| 5);
    let published: Vec<prikk_privacy::PublishedTable> = exact
        .iter()
        .map(|t| prikk_privacy::PublishedTable {
            shape: t.shape.clone(),
            cells: t.values.iter().map(|&v| Some(v)).collect(),
        })
        .collect();
    let policy = prikk_privacy::Policy::default();
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < Duration::from_secs(2) {
        assert!(prikk_privacy::audit(&published, &policy, None, true).passed);
        n += 1;
    }
    println!(
        "disclosure audit alone (nothing suppressed), one core: {:.0} reports/s",
        per_second(n, start.elapsed())
    );
    let auditor = prikk_privacy::audit::Auditor::new(def.shapes());
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < Duration::from_secs(1) {
        assert!(auditor.verdict(&published, &policy).passed);
        n += 1;
    }
    println!(
        "audit verdict with the definition's auditor (nothing suppressed), one core: {:.0} reports/s",
        per_second(n, start.elapsed())
    );
}

/// Where the verification time of a protected report goes: the rank test
/// alone, and the full audit with integer intervals.
fn audit_breakdown() {
    let def = Definition::embedded();
    let policy = prikk_privacy::Policy::default();
    let auditor = prikk_privacy::audit::Auditor::new(def.shapes());
    for seed in [1u64, 2, 3] {
        let exact = exact_tables(&def, seed, 40, |g| 1 + ((g as u64 * 7 + seed) % 7) as i64);
        let p = prikk_privacy::protect(&exact, &policy).expect("protect");
        let published: Vec<prikk_privacy::PublishedTable> = exact
            .iter()
            .zip(&p.suppressed)
            .map(|(t, sup)| prikk_privacy::PublishedTable {
                shape: t.shape.clone(),
                cells: t
                    .values
                    .iter()
                    .zip(sup)
                    .map(|(&v, &s)| (!s).then_some(v))
                    .collect(),
            })
            .collect();
        let suppressed: usize = p.suppressed.iter().flatten().filter(|&&s| s).count();
        let time = |f: &dyn Fn() -> bool| {
            let start = Instant::now();
            let mut n = 0;
            while n < 3 || start.elapsed() < Duration::from_millis(700) {
                assert!(f());
                n += 1;
            }
            start.elapsed().as_secs_f64() * 1e3 / n as f64
        };
        let rank = time(&|| prikk_privacy::audit(&published, &policy, None, false).passed);
        let full = time(&|| prikk_privacy::audit(&published, &policy, None, true).passed);
        let verdict = time(&|| prikk_privacy::audit_verdict(&published, &policy).passed);
        let kept = time(&|| auditor.verdict(&published, &policy).passed);
        println!(
            "audit of a protected report (seed {seed}, {suppressed} suppressed cells): rank test {rank:.2} ms, rank + exact intervals {full:.2} ms, verdict (rank + witnesses) {verdict:.2} ms, verdict with the definition's auditor kept (as the gateway runs it) {kept:.2} ms"
        );
    }
}

/// Whether every submission is a project's first report for its period (as
/// in a period's ordinary intake) or a correction of the project's latest one.
#[derive(Clone, Copy, PartialEq)]
enum Intake {
    FirstRevisions,
    Corrections,
}

/// What a report built to be expensive costs the gateway's verdict: the
/// definition's tables with many cells hidden in patterns no agent would
/// produce (the verdict's work grows with the blocks of hidden cells).
fn hostile_patterns() {
    let def = Definition::embedded();
    let policy = prikk_privacy::Policy::default();
    let auditor = prikk_privacy::audit::Auditor::new(def.shapes());
    let exact = exact_tables(&def, 1, 40, |g| 1 + (g as i64 % 7));
    type Hide = Box<dyn Fn(&prikk_privacy::Table, usize) -> bool>;
    let patterns: Vec<(&str, Hide)> = vec![
        ("every cell", Box::new(|_, _| true)),
        ("every inner cell", Box::new(|t, i| t.shape.is_inner(i))),
        (
            "every other cell",
            Box::new(|t, i| (i + t.shape.id.len()) % 2 == 0),
        ),
        (
            "every cell of 1-4",
            Box::new(|t, i| (1..5).contains(&t.values[i])),
        ),
    ];
    let tiny = exact_tables(&def, 7, 3, |_| 1);
    let patterns = patterns
        .into_iter()
        .map(|(what, hide)| (what, &exact, hide))
        .chain(std::iter::once((
            "a three-person project, every non-zero cell",
            &tiny,
            Box::new(|t: &prikk_privacy::Table, i: usize| t.values[i] != 0) as Hide,
        )));
    for (what, exact, hide) in patterns {
        // A quantity has one status in every table it is in.
        let hidden: std::collections::HashSet<String> = exact
            .iter()
            .flat_map(|t| {
                (0..t.values.len())
                    .filter(|&i| hide(t, i))
                    .map(|i| t.shape.quantity(i))
                    .collect::<Vec<_>>()
            })
            .collect();
        let published: Vec<prikk_privacy::PublishedTable> = exact
            .iter()
            .map(|t| prikk_privacy::PublishedTable {
                shape: t.shape.clone(),
                cells: (0..t.values.len())
                    .map(|i| (!hidden.contains(&t.shape.quantity(i))).then_some(t.values[i]))
                    .collect(),
            })
            .collect();
        let start = Instant::now();
        let mut n = 0;
        let mut passed = false;
        while n < 3 || start.elapsed() < Duration::from_millis(500) {
            passed = auditor.verdict(&published, &policy).passed;
            n += 1;
        }
        println!(
            "verdict of a hostile pattern ({what} hidden): {:.2} ms, passed: {passed}",
            start.elapsed().as_secs_f64() * 1e3 / n as f64
        );
    }
}

async fn loopback_throughput(
    reports: usize,
    submitters: usize,
    connections: usize,
    realistic: bool,
    intake: Intake,
) {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(
        dir.path(),
        config(dir.path()),
        Arc::new(FixedClock::new(T0)),
    )
    .await;
    let projects = 64;
    let signers: Vec<_> = (0..projects)
        .map(|i| enrol(&gw.store, &format!("p{i:03}"), "vest"))
        .collect();
    let bases: Vec<_> = (0..projects)
        .map(|i| {
            if realistic {
                protected_report("x", "x", i as u64)
            } else {
                valid_report("x", "2006", "x", i as u64)
            }
        })
        .collect();
    let envs: Vec<_> = (0..reports)
        .map(|i| {
            let mut r = bases[i % projects].clone();
            r.project = format!("p{:03}", i % projects);
            r.report_id = format!("r-{i}");
            if intake == Intake::FirstRevisions {
                // Each project's n-th report goes to its n-th half-year.
                let n = i / projects;
                r.period = format!("{}-H{}", 1950 + n / 2, 1 + n % 2);
            }
            sign_report(&signers[i % projects], &r)
        })
        .collect();
    let mut clients = Vec::new();
    for _ in 0..connections {
        clients.push(gw.client().await);
    }
    let queue = Arc::new(std::sync::Mutex::new(envs));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for s in 0..submitters {
        let mut c = clients[s % connections].clone();
        let q = queue.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let Some(env) = q.lock().unwrap().pop() else {
                    break;
                };
                let t = Instant::now();
                c.submit_report(env).await.unwrap();
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    let wall = start.elapsed();
    lat.sort();
    let q = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    assert_eq!(gw.store.report_count().unwrap() as usize, reports);
    println!(
        "loopback TLS, {} reports, {}, {submitters} submitters on {connections} connections: {reports} reports in {:.2} s = {:.0} accepted reports/s; latency p50 {:.1} ms, p99 {:.1} ms",
        if realistic {
            "protected"
        } else {
            "fully published"
        },
        match intake {
            Intake::FirstRevisions => "first revisions",
            Intake::Corrections => "corrections",
        },
        wall.as_secs_f64(),
        per_second(reports, wall),
        q(0.50).as_secs_f64() * 1e3,
        q(0.99).as_secs_f64() * 1e3
    );
    gw.stop().await;
}

fn merge_400() {
    let def = Definition::embedded();
    let reports: Vec<StoredReport> = (0..400)
        .map(|i| {
            let exact = exact_tables(&def, i as u64, 30, |_| 5);
            // Every tenth project suppresses its births row.
            let tables = normal_tables(&exact, |t, k| {
                i % 10 == 0 && t == "status" && k[0] == "admitted.terminated.birth"
            });
            StoredReport {
                report_id: format!("r{i}"),
                project: format!("p{i:03}"),
                region: format!("region{}", i % 8),
                period: "2006".into(),
                revision: 1,
                accepted_unix: T0,
                definition_id: def.id.clone(),
                definition_version: def.version,
                tables,
            }
        })
        .collect();
    let mut times = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        let n = prikk_gateway::merge::national(&def, &reports, 5);
        times.push(t.elapsed());
        assert_eq!(n.len(), def.tables.len());
    }
    times.sort();
    println!(
        "national merge of 400 projects (in memory): median {:.2} ms, max {:.2} ms",
        times[15].as_secs_f64() * 1e3,
        times[29].as_secs_f64() * 1e3
    );

    // The same from SQLite: load the latest revisions, then merge.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("g.db");
    let store = prikk_gateway::Store::open(&db).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (intake, writer) =
        prikk_gateway::store::Intake::start(&db, Arc::new(signer()), Arc::new(FixedClock::new(T0)))
            .unwrap();
    rt.block_on(async {
        for r in &reports {
            let s = enrol(&store, &r.project, &r.region);
            intake
                .submit(new_report(
                    &r.project,
                    "2006",
                    &r.report_id,
                    &s,
                    r.tables.clone(),
                ))
                .await
                .unwrap();
        }
    });
    drop(intake);
    writer.join().unwrap();
    let mut times = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let latest = store.latest_reports("2006").unwrap();
        let n = prikk_gateway::merge::national(&def, &latest, 5);
        times.push(t.elapsed());
        assert_eq!((latest.len(), n.len()), (400, def.tables.len()));
    }
    times.sort();
    println!(
        "national merge of 400 projects (load from SQLite + merge): median {:.1} ms",
        times[5].as_secs_f64() * 1e3
    );
    let env_len = sign_report(&signer(), &valid_report("x", "2006", "x", 1))
        .encode_to_vec()
        .len();
    println!("(stored envelope per report: {env_len} bytes)");
}

/// `--protected`: only the protected reports (for profiling).
fn protected_only() -> bool {
    std::env::args().any(|a| a == "--protected")
}

/// `--first-revisions` or `--corrections`: only that intake; both by default.
fn intakes() -> Vec<Intake> {
    let has = |f: &str| std::env::args().any(|a| a == f);
    match (has("--first-revisions"), has("--corrections")) {
        (true, false) => vec![Intake::FirstRevisions],
        (false, true) => vec![Intake::Corrections],
        _ => vec![Intake::FirstRevisions, Intake::Corrections],
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this too, so keep a quick mode.
    let quick =
        std::env::args().any(|a| a == "--quick") || !std::env::args().any(|a| a == "--bench");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("machine: {cores} cores; quick mode: {quick}");
    if std::env::args().any(|a| a == "--verify-only") {
        full_verification();
        return;
    }
    if std::env::args().any(|a| a == "--loopback-only") {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        for intake in intakes() {
            if !protected_only() {
                rt.block_on(loopback_throughput(10_000, 64, 8, false, intake));
            }
            rt.block_on(loopback_throughput(5_000, 64, 8, true, intake));
        }
        return;
    }
    if std::env::args().any(|a| a == "--audit-only") {
        audit_breakdown();
        hostile_patterns();
        return;
    }
    ed25519_verifications();
    full_verification();
    audit_breakdown();
    hostile_patterns();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let n = if quick { 500 } else { 10_000 };
    for intake in [Intake::FirstRevisions, Intake::Corrections] {
        rt.block_on(loopback_throughput(n, 64, 8, false, intake));
        rt.block_on(loopback_throughput(n / 2, 64, 8, true, intake));
    }
    merge_400();
}
