//! Secure-aggregation collection time for many projects with the full
//! definition: `cargo bench -p prikk-e2e --bench collect` (`PRIKK_PROJECTS`
//! sets the number of projects, default 400).
//!
//! Set-up (not timed): a leader and a helper gateway in-process over TLS
//! with their own SQLite files, and one agent per project that prepares,
//! shares, signs and delivers its report. Timed: each phase of
//! `gateway collect` — building the batch from the leader's store, the
//! helper's answer over TLS (statement checks, seed opening, expansion,
//! durable batch record), recombination with the checks against published
//! cells, and the joint protection across levels with storage.

use std::sync::Arc;
use std::time::Instant;

use municipality_agent::share::HelperKey;
use municipality_agent::synthetic::{self, SyntheticOptions};
use prikk_e2e::agent::{self, AgentState};
use prikk_e2e::{InProcessGateway, LocalCa, gateway};
use prikk_gateway::aggregation::collect;
use prikk_gateway::aggregation::helper::load_or_create_helper_key;
use prikk_gateway::config::{HelperEndpoint, Role};
use prikk_privacy::{Definition, Policy};
use prikk_proto::{share, sign_message};

const REGIONS: [&str; 11] = [
    "oslo",
    "vestland",
    "viken",
    "rogaland",
    "trondelag",
    "agder",
    "innlandet",
    "nordland",
    "troms",
    "vestfold",
    "more",
];
const PERIOD: &str = "2006";

fn main() {
    let n: usize = std::env::var("PRIKK_PROJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(n));
}

async fn run(n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let ca = LocalCa::create(&dir.path().join("pki")).unwrap();
    let leader_dir = dir.path().join("leader");
    let helper_dir = dir.path().join("helper");
    std::fs::create_dir_all(&leader_dir).unwrap();
    std::fs::create_dir_all(&helper_dir).unwrap();
    let leader = InProcessGateway::start(&gateway::config(&leader_dir, &ca)).unwrap();
    let mut hc = gateway::config(&helper_dir, &ca);
    hc.role = Role::Helper;
    let helper_secret = load_or_create_helper_key(&hc.helper_key_path()).unwrap();
    let helper = InProcessGateway::start(&hc).unwrap();
    helper
        .store()
        .add_leader("directorate", &leader.receipt_key(), 0)
        .unwrap();
    let key = HelperKey {
        public: helper_secret.public_key(),
    };
    let started = Instant::now();
    let agents: Vec<AgentState> = (0..n)
        .map(|i| {
            let id = format!("p{i:03}");
            let rows = synthetic::project_size(&id, 7);
            let mut a = AgentState::create_with(
                &dir.path().join("agents"),
                &id,
                &id,
                REGIONS[i % REGIONS.len()],
                rows,
                7,
                &SyntheticOptions::default(),
            )
            .unwrap();
            a.helper_key = Some(key);
            a
        })
        .collect();
    gateway::register_all(&leader.store(), &agents).unwrap();
    gateway::register_all(&helper.store(), &agents).unwrap();
    let def = Arc::new(Definition::embedded());
    let access = leader.access(&ca);
    let sem = Arc::new(tokio::sync::Semaphore::new(8));
    let tasks: Vec<_> = agents
        .iter()
        .map(|a| {
            let (a, def, access, sem) = (a.clone(), def.clone(), access.clone(), sem.clone());
            tokio::spawn(async move {
                let _permit = sem.acquire_owned().await.unwrap();
                agent::submit(&a, def, PERIOD, &Policy::default(), &access).await
            })
        })
        .collect();
    let mut delivered = 0;
    for t in tasks {
        if t.await.unwrap().is_ok() {
            delivered += 1;
        }
    }
    eprintln!(
        "set-up: {delivered} of {n} projects delivered shared reports in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let mut config = leader.config().clone();
    config.helper = Some(HelperEndpoint {
        url: helper.url(),
        ca_certificate: Some(ca.ca_cert.clone()),
        tls_server_name: None,
        insecure_plaintext: false,
        signing_key: hex::encode(helper.receipt_key()),
        encryption_key: hex::encode(helper_secret.public_key()),
    });
    let store = leader.store();
    let signer = prikk_gateway::registry::read_receipt_key(&config.receipt_key_path()).unwrap();
    let hep = config.helper.clone().unwrap();

    if std::env::var_os("PRIKK_CHECK_REPORTS").is_some() {
        // Each stored report on its own, with the full audit (rank test).
        let reports = store.latest_reports(PERIOD).unwrap();
        let mut bad = 0;
        for r in &reports {
            let tables: Vec<prikk_privacy::PublishedTable> = def
                .tables
                .iter()
                .map(|spec| prikk_privacy::PublishedTable {
                    shape: spec.shape.clone(),
                    cells: r
                        .tables
                        .iter()
                        .find(|t| t.id == spec.shape.id)
                        .unwrap()
                        .values
                        .clone(),
                })
                .collect();
            let a = prikk_privacy::audit(&tables, &Policy::default(), None, false);
            if !a.passed {
                bad += 1;
                eprintln!("{}: {:?}", r.project, a.failures);
            }
        }
        eprintln!("reports failing the rank test on their own: {bad}");
    }
    let regions = std::env::var("PRIKK_SCOPE").is_ok_and(|v| v == "regions");
    let scopes: Vec<Option<&str>> = if regions {
        REGIONS.iter().take(n).map(|r| Some(*r)).collect()
    } else {
        vec![None]
    };
    let total = Instant::now();
    let (mut t_batch, mut t_helper, mut t_recombine, mut t_protect) = (0.0, 0.0, 0.0, 0.0);
    let (mut projects, mut cells, mut primary, mut secondary, mut checked, mut rounds) =
        (0, 0, 0, 0, 0, 0);
    for region in scopes {
        let t = Instant::now();
        let batch = collect::prepare_batch(&store, &def, &hep, PERIOD, region, 0).unwrap();
        t_batch += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let mut client = collect::connect(&hep).await.unwrap();
        let answer = client
            .aggregate(sign_message(&signer, share::COLLECT_DOMAIN, &batch.request))
            .await
            .unwrap()
            .into_inner();
        t_helper += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let rec = collect::recombine(&def, &config, &batch, &answer).unwrap();
        t_recombine += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let summary =
            collect::protect_and_store(&store, &def, &config, batch, &answer, rec, 0).unwrap();
        t_protect += t.elapsed().as_secs_f64();
        projects += summary.projects.len();
        cells += summary.cells;
        primary += summary.primary;
        secondary += summary.secondary;
        checked += summary.checked;
        rounds = rounds.max(summary.rounds);
    }
    let t_total = total.elapsed().as_secs_f64();
    println!(
        "scope: {}; projects collected: {projects}",
        if regions {
            "one batch per region"
        } else {
            "one national batch"
        }
    );
    println!("batch from the leader's store: {:.0} ms", t_batch * 1e3);
    println!("helper answer over TLS:        {:.0} ms", t_helper * 1e3);
    println!("recombine and check:           {:.0} ms", t_recombine * 1e3);
    println!(
        "joint protection and storage:  {:.0} ms (at most {rounds} audit rounds; {primary} primary, {secondary} secondary of {cells} aggregate cells; {checked} checked against published cells)",
        t_protect * 1e3
    );
    println!("collection total:              {:.0} ms", t_total * 1e3);
}
