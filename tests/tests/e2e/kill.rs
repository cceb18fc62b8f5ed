//! The real `gateway serve` process is killed with SIGKILL while 21 agents
//! submit concurrently, restarted on the same database, and after the
//! agents retry with the real `municipality-agent run --once`, every report
//! is stored exactly once.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use municipality_agent::deliver::{self, Selection};
use municipality_agent::outbox::{Outbox, QueuedReport, State};
use municipality_agent::synthetic::PROJECTS;
use prikk_e2e::agent::{AgentState, GatewayAccess};
use prikk_e2e::{GatewayProcess, LocalCa, bins, gateway};
use prikk_gateway::Store;
use prikk_privacy::{Definition, Policy};

use crate::world::{SEED, is_refusal_to_protect};

const PERIODS: [&str; 2] = ["2006-H1", "2006"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkilled_gateway_restarts_and_every_report_is_stored_exactly_once() {
    let gateway_bin = bins::binary(bins::GATEWAY).unwrap();
    let agent_bin = bins::binary(bins::AGENT).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = LocalCa::create(&dir.path().join("pki")).unwrap();
    let gw_dir = dir.path().join("gateway");
    std::fs::create_dir_all(&gw_dir).unwrap();
    let config = gateway::config(&gw_dir, &ca);
    let receipt_key = gateway::receipt_key(&config).unwrap();
    let receipt_key_file = dir.path().join("gateway-receipt.pub");
    std::fs::write(&receipt_key_file, format!("{}\n", hex::encode(receipt_key))).unwrap();

    // 21 agents, each with its reports prepared, signed and durably queued.
    let def = Arc::new(Definition::embedded());
    let agents: Vec<AgentState> = PROJECTS
        .iter()
        .map(|p| AgentState::create(&dir.path().join("agents"), p, SEED).unwrap())
        .collect();
    let mut queued: Vec<(AgentState, Arc<Outbox>, Vec<QueuedReport>)> = Vec::new();
    let prepared = agents.iter().map(|a| {
        let (a, def) = (a.clone(), def.clone());
        tokio::task::spawn_blocking(move || {
            let outbox = a.open_outbox().unwrap();
            let mut reports = Vec::new();
            for period in PERIODS {
                match a.queue(&outbox, &def, period, &Policy::default()) {
                    Ok((_, r)) => reports.push(r),
                    Err(e) if is_refusal_to_protect(&e) => {}
                    Err(e) => panic!("{} {period}: {e}", a.project),
                }
            }
            (a, outbox, reports)
        })
    });
    for p in prepared.collect::<Vec<_>>() {
        queued.push(p.await.unwrap());
    }
    queued.retain(|(_, _, r)| !r.is_empty());
    let total: usize = queued.iter().map(|(_, _, r)| r.len()).sum();
    assert!(
        queued.len() >= 20 && total >= 30,
        "{} agents with {total} reports",
        queued.len()
    );
    {
        let store = Store::open(&config.db).unwrap();
        gateway::register_all(&store, &agents).unwrap();
    }

    let log = gateway::log_path(&config);
    let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
    let first = GatewayProcess::spawn(&gateway_bin, &config, any_port, &log).unwrap();
    let access = GatewayAccess {
        url: first.url(),
        ca_cert: ca.ca_cert.clone(),
        receipt_key,
    };

    // Every agent delivers its outbox at once.
    let tasks: Vec<_> = queued
        .iter()
        .map(|(a, outbox, _)| {
            let (outbox, access, project) = (outbox.clone(), access.clone(), a.project.clone());
            tokio::spawn(async move {
                let mut client = access.client().unwrap();
                let outcomes =
                    deliver::deliver_pass(&outbox, &mut client, Selection::AllQueued).await;
                (project, outcomes.unwrap())
            })
        })
        .collect();

    // Kill it as soon as the first reports are committed.
    let reader = Store::open(&config.db).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while reader.report_count().unwrap() < 2 {
        assert!(
            Instant::now() < deadline,
            "no report was stored within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    first.kill().unwrap();
    let mut delivered_before = 0;
    for t in tasks {
        let (_, outcomes) = t.await.unwrap();
        delivered_before += outcomes
            .iter()
            .filter(|o| matches!(o, deliver::Outcome::Delivered { .. }))
            .count();
    }
    let stored_at_kill = reader.report_count().unwrap() as usize;
    assert!(stored_at_kill >= 2);
    assert!(
        delivered_before < total,
        "the kill came after every report was acknowledged ({delivered_before} of {total})"
    );
    assert!(
        delivered_before <= stored_at_kill,
        "an acknowledged report is missing after the kill"
    );

    eprintln!(
        "killed with {stored_at_kill} of {total} reports stored, {delivered_before} acknowledged, {} agents",
        queued.len()
    );

    // Restart on the same database; the agents retry with the real binary.
    let second = GatewayProcess::spawn(&gateway_bin, &config, any_port, &log).unwrap();
    let mut pending: Vec<&(AgentState, Arc<Outbox>, Vec<QueuedReport>)> = queued.iter().collect();
    for round in 0..3 {
        let children: Vec<_> = pending
            .iter()
            .map(|(a, _, _)| {
                Command::new(&agent_bin)
                    .args(["run", "--once", "--gateway", &second.url()])
                    .arg("--ca")
                    .arg(&ca.ca_cert)
                    .arg("--key")
                    .arg(&a.key_path)
                    .arg("--gateway-key")
                    .arg(&receipt_key_file)
                    .arg("--outbox")
                    .arg(&a.outbox_path)
                    .env_remove("PRIKK_AGENT_CONFIG")
                    .env("RUST_LOG", "warn")
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut still = Vec::new();
        for (entry, out) in pending.iter().zip(children) {
            let out = out.wait_with_output().unwrap();
            match out.status.code() {
                Some(0) => {}
                Some(3) if round < 2 => still.push(*entry),
                _ => panic!(
                    "{}: run --once exited {:?}\n{}",
                    entry.0.project,
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                ),
            }
        }
        pending = still;
        if pending.is_empty() {
            break;
        }
    }
    assert!(pending.is_empty());

    // Exactly once: one stored row per report, revision 1, receipts in every outbox.
    let store = Store::open(&config.db).unwrap();
    assert_eq!(store.report_count().unwrap() as usize, total);
    let mut per_period: BTreeMap<&str, usize> = BTreeMap::new();
    for (a, outbox, reports) in &queued {
        for r in reports {
            assert_eq!(
                store.revisions(&a.project, &r.period).unwrap(),
                vec![(r.report_id.clone(), 1)],
                "{} {}",
                a.project,
                r.period
            );
            let now = outbox.get(&r.report_id).unwrap().unwrap();
            assert_eq!(now.state, State::Delivered, "{} {}", a.project, r.period);
            let receipt = outbox.receipt(&r.report_id).unwrap().unwrap();
            assert_eq!(receipt.revision, 1);
            *per_period.entry(r.period.as_str()).or_default() += 1;
        }
    }

    // The directorate's view, from the real binary.
    for (period, n) in per_period {
        let out = Command::new(&gateway_bin)
            .args(["completeness", "--period", period, "--db"])
            .arg(&config.db)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = format!(
            "period {period}: {n} of {} registered projects reported",
            agents.len()
        );
        assert!(text.contains(&line), "expected `{line}` in:\n{text}");
    }
    second.kill().unwrap();
}
